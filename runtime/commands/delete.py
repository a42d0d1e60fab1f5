"""``pyrunc delete [-f] ID``: remove a stopped (or, forced, any) container and its cgroup."""
from .. import fastos as os
import time

from .. import log, state
from ..errors import NOT_EXIST, Error
from . import need_id


def destroy(c: state.Container) -> None:
    """Remove the cgroup and the state dir, then run poststop hooks (they only warn)."""
    mgr = c.cgroup_manager()
    if mgr is not None:
        mgr.destroy()
    state.remove_dir(c.dir)
    hooks = c.data.get("hooks", {}).get("poststop")
    if hooks:
        from ..hooks import run_hooks
        st = c.oci_state()
        st["status"] = "stopped"
        st["pid"] = 0
        run_hooks(hooks, "poststop", st, warn_only=True)


def wait_gone(c: state.Container, tries: int = 100) -> bool:
    for _ in range(tries):
        if not c.init_alive():
            return True
        time.sleep(0.1)
    return False


def kill_and_destroy(c: state.Container) -> None:
    mgr = c.cgroup_manager()
    try:
        if mgr is not None:
            mgr.signal_all(9)
        os.kill(c.pid, 9)
    except ProcessLookupError:
        pass
    if not wait_gone(c):
        raise Error(f"container init still running after SIGKILL: {c.pid}")
    destroy(c)


def delete(root: str, cid: str, force: bool) -> None:
    try:
        c = state.load(root, cid)
    except Error as e:
        if str(e) != NOT_EXIST:
            raise
        sdir = state.state_dir(root, cid)
        if os.path.isdir(sdir):  # an aborted create: nothing but the directory is left
            state.remove_dir(sdir)
            return
        if force:
            return
        raise
    fd = state.lock(c.dir)
    try:
        st = c.status()
        if st == "stopped":
            destroy(c)
        elif st == "created":
            kill_and_destroy(c)
        elif force:
            kill_and_destroy(c)
        else:
            raise Error(f"cannot delete container {cid} that is not stopped: {st}")
    finally:
        os.close(fd)
    log.debug(f"deleted {cid}")


def run(gopts, opts, args) -> int:
    delete(gopts.root, need_id(args, "delete"), bool(opts.force))
    return 0
