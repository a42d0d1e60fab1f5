"""``pyctr pause CONTAINER...``: freeze every process of the containers (``<runtime> pause ID``, the cgroup
freezer), like ``docker pause``."""
import sys

from ..containers import lifecycle
from ..containers.store import ContainerStore
from ..errors import EngineError

HELP = "Pause all processes within one or more containers"


def add_arguments(p) -> None:
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def run(ctx, args) -> int:
    store = ContainerStore(ctx)
    failed = 0
    for ref in args.containers:
        try:
            lifecycle.pause(store.get(ref))
            print(ref)
        except EngineError as e:
            print(f"Error response from daemon: {e}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0
