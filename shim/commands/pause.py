"""``pyctr pause CONTAINER...``: freeze every process of the containers (``<runtime> pause ID``, the cgroup
freezer), like ``docker pause``."""
from ..containers import lifecycle
from . import for_each_container

HELP = "Pause all processes within one or more containers"


def add_arguments(p) -> None:
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def run(ctx, args) -> int:
    return for_each_container(ctx, args.containers, lifecycle.pause)
