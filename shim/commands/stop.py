"""``pyctr stop [-t N] CONTAINER...``: the stop signal (SIGTERM unless the image says otherwise), SIGKILL after
N seconds (default 10), through ``<runtime> kill ID 15`` / ``kill ID 9`` like docker."""
from ..containers import lifecycle
from . import for_each_container

HELP = "Stop one or more running containers"


def add_arguments(p) -> None:
    p.add_argument("-t", "--time", type=float, default=10, help="seconds to wait before killing (default 10)")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def run(ctx, args) -> int:
    return for_each_container(ctx, args.containers, lambda c: lifecycle.stop(c, args.time))
