"""``pyctr update [--memory M] [--memory-swap M] [--cpus N] [--cpu-shares N] [--pids-limit N] CONTAINER...``:
change the limits of containers, like ``docker update``. The container's HostConfig keeps the new values (so
``inspect`` and the next start see them); a running or paused container also gets them at once through
``<runtime> update --resources - ID`` with a ``linux.resources`` object on stdin, as containerd's shim does."""
import sys

from ..containers import lifecycle
from ..containers.monitor import _host_info
from ..containers.store import ContainerStore
from ..errors import EngineError

HELP = "Update configuration of one or more containers"


def add_arguments(p) -> None:
    a = p.add_argument
    a("-m", "--memory", help="memory limit (e.g. 128m)")
    a("--memory-swap", help="memory + swap limit (-1: unlimited swap)")
    a("--cpus", help="number of CPUs (CFS quota)")
    a("-c", "--cpu-shares", type=int, help="CPU shares (relative weight)")
    a("--pids-limit", type=int, help="maximum number of processes (-1: unlimited)")
    a("containers", nargs="+", metavar="CONTAINER")


def run(ctx, args) -> int:
    limits = {k: getattr(args, k) for k in ("memory", "memory_swap", "cpus", "cpu_shares", "pids_limit")}
    if all(v is None for v in limits.values()):
        raise EngineError("you must provide one or more flags when using this command")
    store = ContainerStore(ctx)
    host = _host_info()
    failed = 0
    for ref in args.containers:
        try:
            c = store.get(ref)
        except EngineError as e:
            print(f"Error response from daemon: {e}", file=sys.stderr)
            failed += 1
            continue
        try:
            lifecycle.update(c, host, **limits)
            print(ref)
        except EngineError as e:
            print(f"Error response from daemon: Cannot update container {c.id}: {e}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0
