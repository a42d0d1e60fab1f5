"""``pyctr top CONTAINER [ps OPTIONS]``: the container's processes, as the runtime's ``ps ID [ps options]``
lists them (the host's ``ps``, default ``-ef``, filtered to the container's pids)."""
import argparse
import sys

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
    # the runtime's `ps ID [ps args]` runs the host's ps and keeps the container's rows (pyrunc, runc, crun)
    p = lifecycle.runtime_of(c).call("ps", c.id, *(args.ps_args or ["-ef"]))
    sys.stdout.write(p.stdout.decode(errors="replace"))
    return 0
