"""``pyctr kill [-s SIGNAL] CONTAINER...``: signal the container's init (``<runtime> kill ID SIG``)."""
import sys

from ..containers import lifecycle
from ..containers.store import ContainerStore
from ..errors import EngineError

HELP = "Kill one or more running containers"


def add_arguments(p) -> None:
    p.add_argument("-s", "--signal", default="KILL", help="signal name or number (default KILL)")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def run(ctx, args) -> int:
    sig = lifecycle.parse_signal(args.signal)
    store = ContainerStore(ctx)
    failed = False
    for ref in args.containers:
        try:
            lifecycle.kill(store.get(ref), sig)
            print(ref)
        except EngineError as e:
            print(f"Error response from daemon: {e}", file=sys.stderr)
            failed = True
    return 1 if failed else 0
