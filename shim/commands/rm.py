"""``pyctr rm [-f] CONTAINER...``: remove containers (their writable layer, metadata, logs)."""
from ..containers import lifecycle
from . import for_each_container

HELP = "Remove one or more containers"


def add_arguments(p) -> None:
    p.add_argument("-f", "--force", action="store_true", help="kill a running container first")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def run(ctx, args) -> int:
    return for_each_container(ctx, args.containers, lambda c: lifecycle.remove(ctx, c, force=args.force))
