"""``pyctr rmi [-f] IMAGE...``: untag names and delete images no name or container needs any more."""
import sys

from ..errors import EngineError
from ..images.store import ImageStore

HELP = "Remove one or more images"


def add_arguments(p) -> None:
    p.add_argument("-f", "--force", action="store_true", help="remove even if a container uses the image")
    p.add_argument("images", nargs="+", metavar="IMAGE")


def run(ctx, args) -> int:
    store = ImageStore(ctx)
    rc = 0
    for ref in args.images:
        try:
            for line in store.remove(ref, force=args.force):
                print(line, flush=True)
        except EngineError as e:
            print(f"Error: {e}", file=sys.stderr, flush=True)
            rc = 1
    return rc
