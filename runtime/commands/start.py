"""``pyrunc start``: release the init blocked on exec.fifo, then run poststart hooks."""
from .. import fastos as os

from .. import state
from ..errors import Error
from . import need_id


def start_container(c: state.Container) -> None:
    st = c.status()
    if st == "stopped":
        raise Error("cannot start a container that has stopped")
    if st == "running":
        raise Error("cannot start an already running container")
    if st != "created":
        raise Error(f"cannot start a container in the {st} state")
    fifo = c.dir + "/" + state.FIFO
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:  # ENXIO: nobody holds the read side: the init is gone
        raise Error("cannot start a container that has stopped") from None
    try:
        os.write(fd, b"0")
    finally:
        os.close(fd)
    os.unlink(fifo)
    hooks = c.data.get("hooks", {}).get("poststart")
    if hooks:
        from ..hooks import run_hooks
        st = c.oci_state()
        st["status"] = "running"
        try:
            run_hooks(hooks, "poststart", st)
        except Error:
            try:
                os.kill(c.pid, 9)
            except ProcessLookupError:
                pass
            raise


def run(gopts, opts, args) -> int:
    cid = need_id(args, "start")
    c = state.load(gopts.root, cid)
    fd = state.lock(c.dir)
    try:
        start_container(c)
    finally:
        os.close(fd)
    return 0
