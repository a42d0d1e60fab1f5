"""A foreground process of ``run`` / ``exec``: forward signals, relay a pty, reap, return the status."""
import os


def wait_forwarding(pid: int, master: int | None) -> int:
    import _signal as signal  # the signal module imports enum (~3 ms)

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
