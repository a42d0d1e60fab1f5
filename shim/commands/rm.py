"""``pyctr rm [-f] CONTAINER...``: remove containers (their writable layer, metadata, logs)."""
import sys

from ..containers import lifecycle
from ..containers.store import ContainerStore
from ..errors import EngineError

HELP = "Remove one or more containers"


def add_arguments(p) -> None:
    p.add_argument("-f", "--force", action="store_true", help="kill a running container first")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def run(ctx, args) -> int:
    store = ContainerStore(ctx)
    failed = False
    for ref in args.containers:
        try:
            lifecycle.remove(ctx, store.get(ref), force=args.force)
            print(ref)
        except EngineError as e:
            print(f"Error response from daemon: {e}", file=sys.stderr)
            failed = True
    return 1 if failed else 0
