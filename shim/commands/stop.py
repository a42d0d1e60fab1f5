"""``pyctr stop [-t N] CONTAINER...``: the stop signal (SIGTERM unless the image says otherwise), SIGKILL after
N seconds (default 10), through ``<runtime> kill ID 15`` / ``kill ID 9`` like docker."""
import sys

from ..containers import lifecycle
from ..containers.store import ContainerStore
from ..errors import EngineError

HELP = "Stop one or more running containers"


def add_arguments(p) -> None:
    p.add_argument("-t", "--time", type=float, default=10, help="seconds to wait before killing (default 10)")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def run(ctx, args) -> int:
    store = ContainerStore(ctx)
    failed = []
    for ref in args.containers:
        try:
            lifecycle.stop(store.get(ref), args.time)
            print(ref)
        except EngineError as e:
            print(f"Error response from daemon: {e}", file=sys.stderr)
            failed.append(ref)
    return 1 if failed else 0
