"""``pyctr load -i FILE|DIR``: import a docker-archive / oci-archive tar or an OCI layout directory."""
import os
import shutil
import sys
import tempfile

from ..errors import EngineError
from ..images.store import ImageStore

HELP = "Load images from a docker-archive or oci-archive tar (or an OCI layout directory)"


def add_arguments(p) -> None:
    p.add_argument("-i", "--input", default=None, metavar="FILE|DIR", help="read from FILE or DIR instead of stdin")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the loaded image lines")


def run(ctx, args) -> int:
    store = ImageStore(ctx)

    def progress(line: str) -> None:
        if not args.quiet or line.startswith("Loaded image"):
            print(line, flush=True)
    if args.input:
        store.load(args.input, progress=progress)
        return 0
    if sys.stdin.isatty():
        raise EngineError("requested load from stdin, but stdin is a terminal: use -i FILE")
    d = tempfile.mkdtemp(prefix="pyctr-load-")
    try:
        path = os.path.join(d, "stdin.tar")
        with open(path, "wb") as f:
            shutil.copyfileobj(sys.stdin.buffer, f, 1 << 20)
        if os.path.getsize(path) == 0:
            raise EngineError("requested load from stdin, but stdin is empty")
        store.load(path, progress=progress)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return 0
