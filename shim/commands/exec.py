"""``pyctr exec [-d] [-i] [-t] [-e K=V] [-u USER] [-w DIR] CONTAINER CMD...``: run a process in a running container
through ``<runtime> exec --process F --detach --pid-file P [--console-socket S] ID``, as containerd's shim does.

This pyctr process becomes a child subreaper, so the exec'd process is re-parented to it when the runtime exits:
without a terminal the process uses our stdin/stdout/stderr directly, with ``-t`` we copy between our terminal and
the pty master received on the console socket. Exits with the process's status (126/127 when it cannot start).
"""
import argparse
import contextlib
import errno
import json
import os
import select
import shutil
import signal
import socket
import struct
import tempfile
import termios
import time
import tty as ttymod

from ..containers import attach, lifecycle, spec, stream
from ..containers.monitor import _read_in_root, _set_subreaper, _exit_status
from ..containers.store import ContainerStore
from ..containers.users import resolve
from ..errors import EngineError

HELP = "Execute a command in a running container"
DRAIN = 2.0  # seconds to wait for the last output after the process exited


def add_arguments(p) -> None:
    p.add_argument("-d", "--detach", action="store_true", help="run the command in the background")
    p.add_argument("-i", "--interactive", action="store_true", help="keep STDIN open")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-TTY")
    p.add_argument("-e", "--env", action="append", default=[], help="set an environment variable")
    p.add_argument("-u", "--user", help="user[:group] or uid[:gid]")
    p.add_argument("-w", "--workdir", help="working directory inside the container")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("cmd", metavar="COMMAND", nargs=argparse.REMAINDER)


def process_spec(c, args) -> dict:
    """The exec'd process: the container's process with the command, env, user, cwd and terminal changed."""
    with open(os.path.join(c.bundle, "config.json")) as f:
        cfg = json.load(f)
    proc = dict(cfg["process"])
    proc["args"] = list(args.cmd)
    proc["terminal"] = bool(args.tty)
    proc.pop("consoleSize", None)
    env = [e if "=" in e else f"{e}={os.environ[e]}" for e in args.env if "=" in e or e in os.environ]
    base = list(proc.get("env") or [])
    if args.tty and not any(e.startswith("TERM=") for e in base):
        base.append("TERM=xterm")
    proc["env"] = spec.merge_env(base, env)
    if args.workdir:
        if not args.workdir.startswith("/"):
            raise EngineError(f"the working directory '{args.workdir}' is invalid, it needs to be an absolute path")
        proc["cwd"] = args.workdir
    if args.user:
        root = cfg["root"]["path"]
        u = resolve(args.user, _read_in_root(root, "etc/passwd"), _read_in_root(root, "etc/group"))
        proc["user"] = {"uid": u.uid, "gid": u.gid}
        if u.additional_gids:
            proc["user"]["additionalGids"] = u.additional_gids
    if args.tty:
        size = attach.terminal_size(0) or attach.terminal_size(1)
        if size:
            proc["consoleSize"] = {"height": size[0], "width": size[1]}
    return proc


def _wait(pid: int) -> int:
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            return _exit_status(status)
        except ChildProcessError:
            return 255  # not our child after all (should not happen: we are its subreaper)


def run(ctx, args) -> int:
    if not args.cmd:
        raise EngineError("exec needs a command", 125)
    c = ContainerStore(ctx).get(args.container)
    if not c.running():
        raise EngineError(f"Container {c.id} is not running", 1)
    proc = process_spec(c, args)
    rt = lifecycle.runtime_of(c)
    os.makedirs(c.state_dir, 0o700, exist_ok=True)
    work = tempfile.mkdtemp(prefix="exec-", dir=c.state_dir)
    console_dir = None
    try:
        pfile = os.path.join(work, "process.json")
        with open(pfile, "w") as f:
            json.dump(proc, f)
        pid_file = os.path.join(work, "exec.pid")
        null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        if args.detach:
            rt.exec(c.id, pfile, pid_file, None, null, null, null)
            return 0
        _set_subreaper()
        if not args.tty:
            # pipes, as containerd's shim uses: what the runtime prints about a failed exec stays out of our
            # output (we report it once), and the process's own output is copied to ours
            out_r, out_w = os.pipe2(os.O_CLOEXEC)
            err_r, err_w = os.pipe2(os.O_CLOEXEC)
            try:
                rt.exec(c.id, pfile, pid_file, None, 0 if args.interactive else null, out_w, err_w)
            except BaseException:
                for fd in (out_r, err_r):
                    os.close(fd)
                raise
            finally:
                os.close(out_w)
                os.close(err_w)
            pid = _read_pid(pid_file)
            for sig in attach.PROXIED:
                signal.signal(sig, lambda s, _f: _kill(pid, s))
            return _pipe_proxy(pid, {out_r: 1, err_r: 2})
        console_dir = tempfile.mkdtemp(prefix="pyctr-console-")
        csock_path = os.path.join(console_dir, "console.sock")
        csock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        csock.bind(csock_path)
        csock.listen(1)
        try:
            rt.exec(c.id, pfile, pid_file, csock_path, null, null, None)  # errors: reported once, by us
            csock.settimeout(10)
            conn, _ = csock.accept()
            with conn:
                master = stream.recv_fd(conn)
        finally:
            csock.close()
        pid = _read_pid(pid_file)
        return _tty_proxy(master, pid, args.interactive)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if console_dir:
            shutil.rmtree(console_dir, ignore_errors=True)


def _read_pid(path: str) -> int:
    with open(path) as f:
        return int(f.read().strip())


def _kill(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _pipe_proxy(pid: int, pipes: dict[int, int]) -> int:
    """Copy the process's output pipes to our fds until they close (at most DRAIN s after it exited)."""
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    code, deadline = None, None
    while pipes:
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            ready, _, _ = select.select(list(pipes) + [wake_r], [], [], timeout)
        except InterruptedError:
            continue
        if not ready and deadline is not None:
            break
        for fd in ready:
            if fd == wake_r:
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_r, 4096)
                if code is None:
                    with contextlib.suppress(ChildProcessError):
                        wpid, status = os.waitpid(pid, os.WNOHANG)
                        if wpid == pid:
                            code = _exit_status(status)
                            deadline = time.monotonic() + DRAIN
                continue
            data = os.read(fd, 65536)
            if not data:
                del pipes[fd]
                os.close(fd)
                continue
            _write_all(pipes[fd], data)
    for fd in pipes:
        os.close(fd)
    signal.set_wakeup_fd(-1)
    return code if code is not None else _wait(pid)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


def _tty_proxy(master: int, pid: int, interactive: bool) -> int:
    """Copy our terminal <-> the pty master until the process exits and its output is drained."""
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGWINCH, lambda *_: None)
    old = None
    if interactive and os.isatty(0):
        old = termios.tcgetattr(0)
        ttymod.setraw(0)
    code = None
    reading_stdin = interactive
    try:
        while True:
            fds = [master, wake_r] + ([0] if reading_stdin else [])
            try:
                ready, _, _ = select.select(fds, [], [], 0.5 if code is not None else None)
            except InterruptedError:
                continue
            if not ready and code is not None:
                break
            if wake_r in ready:
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_r, 4096)
                size = attach.terminal_size(0) or attach.terminal_size(1)
                if size:
                    with contextlib.suppress(OSError):
                        import fcntl
                        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))
                if code is None:
                    with contextlib.suppress(ChildProcessError):
                        wpid, status = os.waitpid(pid, os.WNOHANG)
                        if wpid == pid:
                            code = _exit_status(status)
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError as e:
                    if e.errno != errno.EIO:
                        raise
                    data = b""
                if not data:
                    break
                os.write(1, data)
            if reading_stdin and 0 in ready:
                data = os.read(0, 65536)
                if not data:
                    reading_stdin = False
                else:
                    os.write(master, data)
    finally:
        if old is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, old)
        os.close(master)
    if code is None:
        code = _wait(pid)
    return code
