"""``pyctr rm [-f] [-v] CONTAINER...``: remove containers (their writable layer, metadata, logs; with -v their
anonymous volumes)."""
from ..containers import lifecycle
from . import for_each_container

HELP = "Remove one or more containers"


def add_arguments(p) -> None:
    p.add_argument("-f", "--force", action="store_true", help="kill a running container first")
    p.add_argument("-v", "--volumes", action="store_true", help="remove the anonymous volumes of the container")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def run(ctx, args) -> int:
    def remove(c) -> None:
        lifecycle.remove(ctx, c, force=args.force, anonymous_volumes=args.volumes)
    return for_each_container(ctx, args.containers, remove)
