"""A foreground process of ``run`` / ``exec``: forward signals, relay a pty, reap, return the status."""
from . import fastos as os


class Forwarder:
    """Signal forwarding for a foreground ``run``/``exec``, installed before the container's process
    starts: signals are held until ``release(pid)`` and then forwarded (runc buffers them the same
    way), so one that arrives early neither kills pyrunc nor gets lost."""

    _SKIP = (9, 17, 19)  # SIGKILL, SIGCHLD, SIGSTOP

    def __init__(self) -> None:
        import _signal  # the signal module imports enum (~3 ms)
        self.pid: int | None = None
        self.held: list[int] = []
        for s in range(1, 32):
            if s not in self._SKIP:
                try:
                    _signal.signal(s, self._on_signal)
                except (OSError, ValueError):
                    pass

    def _on_signal(self, signum, _frame) -> None:
        if self.pid is None:
            self.held.append(signum)
            return
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            pass

    def release(self, pid: int) -> None:
        self.pid = pid
        held, self.held = self.held, []
        for s in held:
            self._on_signal(s, None)

    @classmethod
    def restore_defaults(cls) -> None:
        """In a forked child that will become a container process: default dispositions again."""
        import _signal
        for s in range(1, 32):
            if s not in cls._SKIP:
                try:
                    _signal.signal(s, _signal.SIG_DFL)
                except (OSError, ValueError):
                    pass


def wait_forwarding(fwd: Forwarder, pid: int, master: int | None) -> int:
    """Forward signals to ``pid`` (and relay the pty), reap, return its shell-style status."""
    fwd.release(pid)
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
