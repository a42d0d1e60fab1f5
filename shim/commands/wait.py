"""``pyctr wait CONTAINER...``: block until each container stops, then print its exit code (one per line, in
order), like ``docker wait``. A container that is not running answers at once with its last exit code."""
from ..containers import lifecycle
from . import for_each_container

HELP = "Block until one or more containers stop, then print their exit codes"


def add_arguments(p) -> None:
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def run(ctx, args) -> int:
    return for_each_container(ctx, args.containers, lifecycle.wait_code)
