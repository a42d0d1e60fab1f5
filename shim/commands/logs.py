"""``pyctr logs [-f] [-t] [--tail N] CONTAINER``: the container's output from its json-file log, stdout and
stderr to ours; ``-f`` follows until the container stops."""
import json
import os
import sys
import time

from ..containers.store import ContainerStore
from ..errors import EngineError

HELP = "Fetch the logs of a container"


def add_arguments(p) -> None:
    p.add_argument("-f", "--follow", action="store_true", help="follow log output")
    p.add_argument("-t", "--timestamps", action="store_true", help="show timestamps")
    p.add_argument("-n", "--tail", default="all", help="lines from the end to show (default all)")
    p.add_argument("container", metavar="CONTAINER")


def _emit(line: bytes, timestamps: bool) -> None:
    try:
        rec = json.loads(line)
    except ValueError:
        return
    data = rec.get("log", "")
    if timestamps:
        data = f"{rec.get('time', '')} {data}"
    out = sys.stderr if rec.get("stream") == "stderr" else sys.stdout
    out.buffer.write(data.encode())
    out.flush()


def run(ctx, args) -> int:
    c = ContainerStore(ctx).get(args.container)
    if args.tail != "all":
        try:
            tail = int(args.tail)
        except ValueError:
            raise EngineError(f"invalid --tail value: {args.tail}") from None
    else:
        tail = -1
    path = c.log_path
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        if not args.follow:
            return 0
        f = None
    pending = b""
    if f is not None:
        lines = f.read().splitlines(keepends=True)
        if lines and not lines[-1].endswith(b"\n"):
            pending = lines.pop()
        if tail >= 0:
            lines = lines[-tail:] if tail else []
        for line in lines:
            _emit(line, args.timestamps)
    if not args.follow:
        return 0
    while True:
        if f is None and os.path.exists(path):
            f = open(path, "rb")
        data = f.read() if f is not None else b""
        if data:
            pending += data
            *complete, pending = pending.split(b"\n")
            for line in complete:
                _emit(line, args.timestamps)
            continue
        try:
            c.refresh()
        except EngineError:
            return 0
        if not c.monitor_alive():
            rest = f.read() if f is not None else b""
            for line in (pending + rest).split(b"\n"):
                if line.strip():
                    _emit(line, args.timestamps)
            return 0
        time.sleep(0.1)
