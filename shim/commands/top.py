"""``pyctr top CONTAINER [ps OPTIONS]``: the container's processes: ``<runtime> ps --format json ID`` gives the
pids, the host's ``ps`` (default ``-ef``) gives the columns, filtered to those pids (as dockerd does)."""
import argparse
import subprocess

from ..containers import lifecycle
from ..containers.store import ContainerStore
from ..errors import EngineError

HELP = "Display the running processes of a container"


def add_arguments(p) -> None:
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("ps_args", nargs=argparse.REMAINDER, metavar="PS_OPTIONS")


def run(ctx, args) -> int:
    c = ContainerStore(ctx).get(args.container)
    if not c.running():
        raise EngineError(f"Container {c.id} is not running")
    pids = set(lifecycle.runtime_of(c).ps(c.id))
    ps_args = args.ps_args or ["-ef"]
    p = subprocess.run(["ps", *ps_args], capture_output=True, text=True)
    if p.returncode != 0:
        raise EngineError(f"ps: {p.stderr.strip()}")
    lines = p.stdout.splitlines()
    if not lines:
        return 0
    header = lines[0].split()
    if "PID" not in header:
        raise EngineError('Couldn\'t find PID field in ps output')
    col = header.index("PID")
    print(lines[0])
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > col and fields[col].isdigit() and int(fields[col]) in pids:
            print(line)
    return 0
