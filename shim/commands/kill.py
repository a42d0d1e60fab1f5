"""``pyctr kill [-s SIGNAL] CONTAINER...``: signal the container's init (``<runtime> kill ID SIG``)."""
from ..containers import lifecycle
from . import for_each_container

HELP = "Kill one or more running containers"


def add_arguments(p) -> None:
    p.add_argument("-s", "--signal", default="KILL", help="signal name or number (default KILL)")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def run(ctx, args) -> int:
    sig = lifecycle.parse_signal(args.signal)
    return for_each_container(ctx, args.containers, lambda c: lifecycle.kill(c, sig))
