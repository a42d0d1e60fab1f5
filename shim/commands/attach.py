"""``pyctr attach CONTAINER``: the running container's output from now on (and stdin if it was started with -i);
exits with the container's status. ^P^Q detaches from a -t container."""
from ..containers import lifecycle
from ..containers.store import ContainerStore

HELP = "Attach to a running container's input and output"


def add_arguments(p) -> None:
    p.add_argument("--no-stdin", action="store_true", help="do not attach stdin")
    p.add_argument("--sig-proxy", default="true", choices=["true", "false"], help="forward signals (not with -t)")
    p.add_argument("container", metavar="CONTAINER")


def run(ctx, args) -> int:
    c = ContainerStore(ctx).get(args.container)
    return lifecycle.attach_running(c, stdin=not args.no_stdin, sig_proxy=args.sig_proxy == "true")
