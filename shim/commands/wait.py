"""``pyctr wait CONTAINER...``: block until each container stops, then print its exit code (one per line, in
order), like ``docker wait``. A container that is not running answers at once with its last exit code."""
import sys

from ..containers import lifecycle
from ..containers.store import ContainerStore
from ..errors import EngineError

HELP = "Block until one or more containers stop, then print their exit codes"


def add_arguments(p) -> None:
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def run(ctx, args) -> int:
    store = ContainerStore(ctx)
    failed = 0
    for ref in args.containers:
        try:
            print(lifecycle.wait_code(store.get(ref)), flush=True)
        except EngineError as e:
            print(f"Error response from daemon: {e}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0
