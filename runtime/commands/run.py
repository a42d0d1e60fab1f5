"""``pyrunc run``: create + start, then (unless -d) forward signals, wait, delete, exit with the status."""
import os

from .. import linux as L
from ..create import create
from ..errors import Error
from .start import start_container


def _bundle_and_id(opts, args) -> tuple[str, str]:
    """``pyrunc run bundle/``: a directory holding config.json is a bundle, never an ID."""
    if not args:
        raise Error('"run" requires a minimum of 1 argument\nusage: pyrunc run <container-id>')
    arg = args[0]
    if "/" in arg or (not opts.bundle and os.path.isfile(os.path.join(arg, "config.json")) and arg not in (".", "..")):
        if os.path.isfile(os.path.join(arg, "config.json")):
            bundle = os.path.abspath(arg)
            base = os.path.basename(bundle.rstrip("/")) or "container"
            cid = "".join(ch if ch.isalnum() or ch in "_+-." else "-" for ch in base)
            return bundle, cid
    return opts.bundle or ".", arg


def run(gopts, opts, args) -> int:
    bundle, cid = _bundle_and_id(opts, args)
    tty_pair = None
    if not opts.detach and not opts.console_socket:
        tty_pair = _maybe_console(bundle, opts)
    created = create(gopts, cid, bundle, opts, for_run=True)
    c = created.container
    master = None
    try:
        if tty_pair is not None:
            master = _receive_master(tty_pair)
        start_container(c)
    except BaseException:
        from .delete import delete
        try:
            delete(gopts.root, cid, True)
        except Error:
            pass
        raise
    if opts.detach:
        return 0
    status = _wait_forwarding(created.pid, master)
    if not opts.keep:
        from .delete import delete
        delete(gopts.root, cid, True)
    return status


def _maybe_console(bundle: str, opts):
    """For a foreground run with process.terminal, pyrunc itself receives the pty master."""
    from ..create import load_config
    cfg = load_config(os.path.abspath(bundle))
    if not cfg["process"].get("terminal"):
        return None
    import _socket
    a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    opts["console_conn"] = b
    return a


def _receive_master(sock) -> int:
    from .. import sync
    _tag, _payload, fds = sync.recv(sock)
    sock.close()
    if not fds:
        raise Error("console: no pty master received from the container")
    return fds[0]


def _wait_forwarding(pid: int, master: int | None) -> int:
    import signal

    def forward(signum, _frame):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for s in range(1, 32):
        if s in (signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD):
            continue
        try:
            signal.signal(s, forward)
        except (OSError, ValueError):
            pass
    if master is not None:
        return _copy_tty(pid, master)
    return _reap_until(pid)


def _reap_until(pid: int, block: bool = True) -> int:
    """Reap children (we are their subreaper) until ``pid`` exits; return its shell-style status."""
    while True:
        try:
            got, status = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return 255
        if got == 0:
            return -1
        if got == pid:
            return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def _copy_tty(pid: int, master: int) -> int:
    """Copy between our stdio and the pty master until the container exits."""
    import select
    import termios
    import tty
    old = None
    if os.isatty(0):
        old = termios.tcgetattr(0)
        tty.setraw(0)
    try:
        fds = [master, 0]
        while True:
            try:
                r, _, _ = select.select(fds, [], [], 0.1)
            except InterruptedError:
                continue
            if master in r:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    data = b""
                if data:
                    os.write(1, data)
                else:
                    fds.remove(master)
            if 0 in r:
                data = os.read(0, 65536)
                if data:
                    os.write(master, data)
                else:
                    fds.remove(0)
            st = _reap_until(pid, block=False)
            if st != -1:
                while True:  # drain what is left
                    try:
                        data = os.read(master, 65536)
                    except OSError:
                        break
                    if not data:
                        break
                    os.write(1, data)
                return st
    finally:
        if old is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, old)
        os.close(master)


__all__ = ["run", "L"]
