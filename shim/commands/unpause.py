"""``pyctr unpause CONTAINER...``: thaw paused containers (``<runtime> resume ID``), like ``docker unpause``."""
from ..containers import lifecycle
from . import for_each_container

HELP = "Unpause all processes within one or more containers"


def add_arguments(p) -> None:
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def run(ctx, args) -> int:
    return for_each_container(ctx, args.containers, lifecycle.unpause)
