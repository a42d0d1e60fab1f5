"""``pyctr start [-a] [-i] CONTAINER...``: start created or exited containers (again, with the same ID)."""
from ..containers import lifecycle
from ..containers.store import ContainerStore
from ..errors import EngineError

HELP = "Start one or more stopped containers"


def add_arguments(p) -> None:
    p.add_argument("-a", "--attach", action="store_true", help="attach stdout/stderr and wait for the exit")
    p.add_argument("-i", "--interactive", action="store_true", help="attach stdin")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def run(ctx, args) -> int:
    store = ContainerStore(ctx)
    if args.attach or args.interactive:
        if len(args.containers) > 1:
            raise EngineError("you cannot start and attach multiple containers at once")
        c = store.get(args.containers[0])
        stdin = args.interactive and bool(c.config["Config"].get("OpenStdin"))
        sock = lifecycle.start(ctx, c, {"stdin": stdin, "stdout": True, "stderr": True})
        if sock is None:
            return lifecycle.attach_running(c, stdin)
        return lifecycle.attach_session(c, sock, stdin)
    failed = False
    for ref in args.containers:
        try:
            lifecycle.start(ctx, store.get(ref))
            print(ref)
        except EngineError as e:
            print(f"Error response from daemon: {e}", file=__import__("sys").stderr)
            failed = True
    if failed:
        raise EngineError("failed to start containers: " + ", ".join(args.containers))
    return 0
