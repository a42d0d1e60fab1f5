"""``pyctr cp [-a] [-L] CONTAINER:SRC_PATH DEST_PATH|-`` and ``pyctr cp [-a] [-L] SRC_PATH|- CONTAINER:DEST_PATH``:
copy files between a container (running or not) and the host, with docker's path rules."""
import contextlib

from ..containers import copy
from ..containers.store import ContainerStore
from ..errors import EngineError

HELP = "Copy files/folders between a container and the local filesystem"


def add_arguments(p) -> None:
    p.add_argument("-a", "--archive", action="store_true", help="archive mode (keep uid/gid information)")
    p.add_argument("-L", "--follow-link", action="store_true", help="always follow a symbolic link SRC_PATH")
    p.add_argument("src", metavar="SRC")
    p.add_argument("dest", metavar="DEST")


def run(ctx, args) -> int:
    (src_c, src), (dest_c, dest) = copy.split_arg(args.src), copy.split_arg(args.dest)
    if src_c and dest_c:
        raise EngineError("copying between containers is not supported")
    if not (src_c or dest_c):
        raise EngineError("must specify at least one container source")
    c = ContainerStore(ctx).get(src_c or dest_c)
    with _root(ctx, c) as root:
        if src_c:
            copy.copy_out(root, src, dest, args.follow_link, args.archive)
        else:
            copy.copy_in(root, src, dest, args.follow_link, args.archive)
    return 0


@contextlib.contextmanager
def _root(ctx, c):
    """The container's root: its running init's mount namespace, or its writable layer mounted for the copy."""
    if c.running() and c.state.get("Pid"):
        yield ("pid", c.state["Pid"])
        return
    driver = ctx.driver()
    path = driver.get(c.id)
    try:
        yield ("dir", path)
    finally:
        driver.put(c.id)
