"""The per-container monitor (conmon / containerd-shim's job), one process per running container.

``spawn()`` double-forks a detached process (own session, stdio on ``<dir>/monitor.log``) that becomes a child
subreaper, mounts the container's layer, writes the bundle, runs ``<runtime> create`` then ``start``, and then:
holds the container's stdio (pipes, or the pty master received on the console socket for ``-t``), copies its
output into the json-file log ``<dir>/ctr.log`` and to attached clients, serves attach on
``ctx.state/containers/<id>/attach.sock``, reaps the init (re-parented to it when the runtime exits), records
the exit code, runs ``<runtime> delete``, unmounts the layer, and for ``--rm`` removes the container.

The launching CLI learns the outcome on a pipe, one JSON object per line: ``{"listening": true}`` (only when it
asked to attach before the start), then ``{"started": PID}`` or ``{"error": MSG, "code": N}``.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import selectors
import shutil
import signal
import socket
import struct
import sys
import tempfile
import termios
import time
import traceback

from .. import bridge, networking, ports
from . import stream
from .runtime import OCIRuntime, container_exit_code_for
from .spec import HostInfo, runtime_spec
from .volumes import VolumeStore
from .store import CREATED, EXITED, RUNNING, Container, ContainerStore, now

PR_SET_CHILD_SUBREAPER = 36
DRAIN_AFTER_EXIT = 2.0   # seconds to wait for the last output once the init has exited
ATTACH_WAIT = 60.0       # how long a start waits for the client that asked to attach first
CLIENT_SEND_TIMEOUT = 10.0


# ---- launching ------------------------------------------------------------------------------------------------
def spawn(ctx, c: Container, attach_first: bool = False) -> int:
    """Start the monitor of ``c`` and return the read end of its status pipe (see ``read_status``)."""
    sys.stdout.flush()
    sys.stderr.flush()
    r, w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # child: new session, fork again so the monitor is nobody's child but the subreaper/init above
        code = 1
        try:
            os.close(r)
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            code = Monitor(ctx, c, w, attach_first).main()
        except BaseException:
            with contextlib.suppress(Exception):
                traceback.print_exc()
        finally:
            os._exit(code)
    os.close(w)
    os.waitpid(pid, 0)
    return r


class StatusReader:
    """Line-by-line reader of the monitor's status pipe."""

    def __init__(self, fd: int) -> None:
        self.f = os.fdopen(fd, "rb", buffering=0)
        self.buf = b""

    def next(self) -> dict:
        while b"\n" not in self.buf:
            chunk = self.f.read(4096)
            if not chunk:
                return {"error": "the container's monitor exited unexpectedly (see its monitor.log)", "code": 125}
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def close(self) -> None:
        self.f.close()


# ---- helpers --------------------------------------------------------------------------------------------------
def _set_subreaper() -> None:
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def _proc_start(pid: int) -> str | None:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[19]


def _read_in_root(root: str, rel: str) -> str | None:
    """A file of the container's rootfs, resolved inside it (a symlinked /etc/passwd cannot read host files)."""
    from pyrunc.graphdriver import syscalls
    try:
        dfd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fd = syscalls.openat2(dfd, rel, os.O_RDONLY | os.O_CLOEXEC, syscalls.RESOLVE_IN_ROOT)
    except OSError:
        return None
    finally:
        os.close(dfd)
    with os.fdopen(fd, "rb") as f:
        return f.read(4 << 20).decode(errors="replace")


def _host_info() -> HostInfo:
    import resource
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    memsw = os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
    return HostInfo(nofile_hard=hard if hard != resource.RLIM_INFINITY else 1 << 20, memsw=memsw)


def _exit_status(status: int) -> int:
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return 255


class JsonFileLog:
    """docker's json-file driver: one ``{"log","stream","time"}`` object per line of output."""

    MAX_PARTIAL = 16 * 1024

    def __init__(self, path: str) -> None:
        self.f = open(path, "ab", buffering=0)
        self.partial: dict[str, bytes] = {}

    def _entry(self, stream_name: str, data: bytes) -> None:
        rec = {"log": data.decode(errors="replace"), "stream": stream_name, "time": now()}
        self.f.write(json.dumps(rec).encode() + b"\n")

    def write(self, stream_name: str, data: bytes) -> None:
        buf = self.partial.get(stream_name, b"") + data
        while True:
            i = buf.find(b"\n")
            if i < 0:
                break
            self._entry(stream_name, buf[:i + 1])
            buf = buf[i + 1:]
        if len(buf) >= self.MAX_PARTIAL:
            self._entry(stream_name, buf)
            buf = b""
        self.partial[stream_name] = buf

    def close(self) -> None:
        for name, buf in self.partial.items():
            if buf:
                self._entry(name, buf)
        self.partial.clear()
        self.f.close()


class Client:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = stream.FrameReader()
        self.opts: dict | None = None   # the attach request, once received

    def wants(self, key: str) -> bool:
        return bool(self.opts and self.opts.get(key))

    def send(self, data: bytes) -> bool:
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False


class StartError(Exception):
    def __init__(self, msg: str, code: int) -> None:
        super().__init__(msg)
        self.code = code


# ---- the monitor ----------------------------------------------------------------------------------------------
class Monitor:
    def __init__(self, ctx, c: Container, status_fd: int, attach_first: bool) -> None:
        self.ctx = ctx
        self.c = c
        self.status_fd = status_fd
        self.attach_first = attach_first
        self.rt = OCIRuntime(c.runtime_path, c.runtime_root, c.runtime_log)
        self.sel: selectors.BaseSelector | None = None   # made after the inherited fds are closed
        self.clients: list[Client] = []
        self.outputs: dict[int, str] = {}      # fd -> "stdout" / "stderr" (the pty master is "stdout")
        self.stdin_fd: int | None = None       # our end of the container's stdin (pipe or pty master)
        self.stdin_pending = b""
        self.stdin_close_pending = False
        self.master: int | None = None
        self.init_pid = 0
        self.exit_code: int | None = None
        self.mounted = False
        self.bridge_ip: str | None = None   # --network bridge: this start's address, and what attach made
        self.network: dict | None = None
        self.proxy = None                   # -p: the published ports' listeners (shim/ports.py)
        self.log: JsonFileLog | None = None

    # -- plumbing --
    def _status(self, **msg) -> None:
        if self.status_fd < 0:
            return
        try:
            os.write(self.status_fd, json.dumps(msg).encode() + b"\n")
        except OSError:
            pass

    def _close_status(self) -> None:
        if self.status_fd >= 0:
            os.close(self.status_fd)
            self.status_fd = -1

    def _detach_stdio(self) -> None:
        """stdin /dev/null, stdout/stderr the monitor's log; every other inherited fd closed."""
        null = os.open(os.devnull, os.O_RDWR)
        logfd = os.open(os.path.join(self.c.dir, "monitor.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(null, 0)
        os.dup2(logfd, 1)
        os.dup2(logfd, 2)
        keep = {0, 1, 2, self.status_fd}
        for fd in (null, logfd):
            if fd not in keep:
                os.close(fd)
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd not in keep:
                with contextlib.suppress(OSError):
                    os.close(fd)
        os.set_inheritable(self.status_fd, False)
        sys.stdout = open(1, "w", buffering=1, closefd=False)
        sys.stderr = open(2, "w", buffering=1, closefd=False)

    def main(self) -> int:
        self._detach_stdio()
        os.chdir("/")  # hold no directory of the caller busy (it may be on a filesystem about to be unmounted)
        os.umask(0o022)
        for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU):
            signal.signal(sig, signal.SIG_IGN)
        self.sel = selectors.DefaultSelector()
        self.ctx._driver = None  # reopen the driver in this process
        try:
            _set_subreaper()
            os.makedirs(self.c.state_dir, 0o700, exist_ok=True)
            self.listener = stream.listen(self.c.attach_socket)
            self.c.update(MonitorPid=os.getpid(), MonitorStart=_proc_start(os.getpid()))
            self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
            signal.set_wakeup_fd(self.wake_w)
            signal.signal(signal.SIGCHLD, lambda *_: None)
            if self.attach_first:
                self._status(listening=True)
                self._accept_first()
            self._start()
        except StartError as e:
            self._failed(str(e), e.code)
            return 0
        except Exception as e:  # noqa: BLE001 - anything else is an engine error shown to the user
            traceback.print_exc()
            self._failed(f"failed to start container: {e}", 125)
            return 0
        self._status(started=self.init_pid)
        self._close_status()
        try:
            self._loop()
        except Exception:  # noqa: BLE001 - still record the end and release the layer
            traceback.print_exc()
        finally:
            self._finish()
        return 0

    def _accept_first(self) -> None:
        self.listener.settimeout(ATTACH_WAIT)
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return  # nobody came: start anyway, output goes to the log
        finally:
            self.listener.settimeout(None)
        client = Client(conn)
        conn.settimeout(ATTACH_WAIT)
        with contextlib.suppress(OSError):
            while client.opts is None:
                data = conn.recv(65536)
                if not data:
                    conn.close()
                    return
                self._client_frames(client, data)
        conn.settimeout(None)
        self._add_client(client)

    # -- start --
    def _prepare_bundle(self) -> str:
        c = self.c
        rootfs = self.ctx.driver().get(c.id)
        self.mounted = True
        cfg, hc = c.config["Config"], c.config["HostConfig"]
        hostname = cfg.get("Hostname") or c.id[:12]
        if hc.get("NetworkMode") == "bridge":
            self.bridge_ip = bridge.IPAM(self.ctx.root).allocate(c.id)
        etc = networking.write_etc_files(c.dir, hc.get("NetworkMode", "none"), hostname, self.bridge_ip)
        anon = c.config.get("AnonymousVolumes") or {}
        if anon:  # mounted like -v NAME:/path
            hc = {**hc, "Binds": list(hc.get("Binds") or []) + [f"{n}:{d}" for d, n in anon.items()]}
        spec = runtime_spec(c.id, cfg, hc, rootfs, etc_files=etc, passwd=_read_in_root(rootfs, "etc/passwd"),
                            group=_read_in_root(rootfs, "etc/group"), host=_host_info(),
                            volumes_dir=VolumeStore(self.ctx).dir)
        os.makedirs(c.bundle, 0o700, exist_ok=True)
        tmp = os.path.join(c.bundle, "config.json.tmp")
        with open(tmp, "w") as f:
            json.dump(spec, f, indent=1)
        os.replace(tmp, os.path.join(c.bundle, "config.json"))
        return rootfs

    def _start(self) -> None:
        c = self.c
        tty = bool(c.config["Config"].get("Tty"))
        open_stdin = bool(c.config["Config"].get("OpenStdin"))
        self.rt.delete(c.id, force=True)  # a stale runtime container of a previous run (crash) would block create
        try:
            self._prepare_bundle()
        except Exception as e:  # noqa: BLE001
            code = getattr(e, "code", 125)
            raise StartError(str(e), code) from e
        self.log = JsonFileLog(c.log_path)
        pid_file = os.path.join(c.state_dir, "init.pid")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(pid_file)
        null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        child_fds = [null]
        console_dir = None
        try:
            if tty:
                console_dir = tempfile.mkdtemp(prefix="pyctr-console-")
                csock_path = os.path.join(console_dir, "console.sock")
                csock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
                csock.bind(csock_path)
                csock.listen(1)
                try:
                    self._create(pid_file, csock_path, null, 2, 2)
                    csock.settimeout(10)
                    conn, _ = csock.accept()
                    with conn:
                        self.master = stream.recv_fd(conn)
                finally:
                    csock.close()
                os.set_blocking(self.master, False)
                self.outputs[self.master] = "stdout"
                self.stdin_fd = self.master
            else:
                out_r, out_w = os.pipe2(os.O_CLOEXEC)
                err_r, err_w = os.pipe2(os.O_CLOEXEC)
                child_fds += [out_w, err_w]
                in_fd = null
                if open_stdin:
                    in_r, in_w = os.pipe2(os.O_CLOEXEC)
                    child_fds.append(in_r)
                    in_fd = in_r
                    self.stdin_fd = in_w
                    os.set_blocking(in_w, False)
                self.outputs = {out_r: "stdout", err_r: "stderr"}
                self._create(pid_file, None, in_fd, out_w, err_w)
        finally:
            for fd in child_fds:
                os.close(fd)
            if console_dir:
                shutil.rmtree(console_dir, ignore_errors=True)
        with open(pid_file) as f:
            self.init_pid = int(f.read().strip())
        self._drain_noise()
        if self.bridge_ip:
            try:  # the namespace exists and nothing runs in it yet: the runtime's create -> start window
                self.network = bridge.attach(c.id, self.init_pid, self.bridge_ip)
            except Exception as e:
                self.rt.delete(c.id, force=True)
                raise StartError(str(e), getattr(e, "code", 125)) from e
            c.update(Network=self.network)
            if c.config["HostConfig"].get("PortBindings"):
                try:
                    self.proxy = ports.Proxy(c.config["HostConfig"]["PortBindings"], self.bridge_ip)
                except Exception as e:
                    self.rt.delete(c.id, force=True)
                    raise StartError(str(e), getattr(e, "code", 125)) from e
        try:
            self.rt.start(c.id)
        except Exception as e:
            self.rt.delete(c.id, force=True)
            raise StartError(str(e), getattr(e, "code", 125)) from e
        c.update(Status=RUNNING, Pid=self.init_pid, ExitCode=0, Error="", StartedAt=now(),
                 FinishedAt="0001-01-01T00:00:00Z", MonitorPid=os.getpid(), MonitorStart=_proc_start(os.getpid()))

    def _create(self, pid_file: str, console: str | None, stdin: int, stdout: int, stderr: int) -> None:
        try:
            self.rt.create(self.c.id, self.c.bundle, pid_file, console, stdin, stdout, stderr)
        except Exception as e:
            self.rt.delete(self.c.id, force=True)
            raise StartError(str(e), getattr(e, "code", 125)) from e

    def _drain_noise(self) -> None:
        """Whatever the runtime wrote on the container's pipes before ``start`` is not the container's output."""
        for fd in self.outputs:
            if fd == self.master:
                continue
            os.set_blocking(fd, False)
            with contextlib.suppress(BlockingIOError):
                while True:
                    data = os.read(fd, 65536)
                    if not data:
                        break
                    sys.stderr.write(f"runtime output before start: {data!r}\n")

    def _failed(self, msg: str, code: int) -> None:
        """create/start failed: record it, clean up like an exit, report to the CLI and any attached client."""
        sys.stderr.write(f"start failed: {msg}\n")
        c = self.c
        with contextlib.suppress(Exception):
            c.reload()
            status = CREATED if c.state.get("StartedAt", "0001-").startswith("0001-") else EXITED
            c.update(Status=status, Pid=0, ExitCode=container_exit_code_for(msg), Error=msg, FinishedAt=now())
        self._cleanup()
        if not c.config["HostConfig"].get("AutoRemove"):
            with contextlib.suppress(Exception):
                c.update(MonitorPid=0, MonitorStart=None)
        self._status(error=msg, code=code)
        self._close_status()
        for cl in self.clients:
            cl.send(stream.frame(stream.EXIT, {"ExitCode": code, "Error": msg}))
            cl.sock.close()

    # -- the loop --
    def _add_client(self, client: Client) -> None:
        client.sock.settimeout(CLIENT_SEND_TIMEOUT)  # a client that stops reading is dropped, not waited for
        self.clients.append(client)
        self.sel.register(client.sock, selectors.EVENT_READ, ("client", client))

    def _drop_client(self, client: Client) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(client.sock)
        with contextlib.suppress(ValueError):
            self.clients.remove(client)
        client.sock.close()

    def _client_frames(self, client: Client, data: bytes) -> None:
        for kind, payload in client.reader.feed(data):
            if kind == stream.ATTACH:
                client.opts = json.loads(payload or b"{}")
            elif kind == stream.STDIN and client.wants("stdin"):
                self._stdin_write(payload)
            elif kind == stream.CLOSE_STDIN and client.wants("stdin"):
                self._stdin_close()
            elif kind == stream.RESIZE and self.master is not None:
                size = json.loads(payload)
                with contextlib.suppress(OSError):
                    fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", size["h"], size["w"], 0, 0))

    def _stdin_write(self, data: bytes) -> None:
        if self.stdin_fd is None:
            return
        self.stdin_pending += data
        self._stdin_flush()

    def _stdin_flush(self) -> None:
        fd = self.stdin_fd
        if fd is None:
            return
        while self.stdin_pending:
            try:
                n = os.write(fd, self.stdin_pending)
            except BlockingIOError:
                break
            except OSError:  # the container closed its stdin
                self.stdin_pending = b""
                break
            self.stdin_pending = self.stdin_pending[n:]
        if fd != self.master:
            self._set_write_interest(bool(self.stdin_pending))
        if not self.stdin_pending and self.stdin_close_pending:
            self._stdin_close()

    def _set_write_interest(self, on: bool) -> None:
        fd = self.stdin_fd
        registered = fd in self.sel.get_map()
        if on and not registered:
            self.sel.register(fd, selectors.EVENT_WRITE, ("stdin", None))
        elif not on and registered:
            self.sel.unregister(fd)

    def _stdin_close(self) -> None:
        if self.stdin_fd is None or self.stdin_fd == self.master:
            return  # a terminal has no end of input to signal; ^D is typed as data
        if self.stdin_pending:
            self.stdin_close_pending = True
            return
        self._set_write_interest(False)
        os.close(self.stdin_fd)
        self.stdin_fd = None

    def _output(self, fd: int) -> None:
        name = self.outputs[fd]
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError as e:  # EIO: every slave of the pty is closed
            if e.errno != errno.EIO:
                raise
            data = b""
        if not data:
            self.sel.unregister(fd)
            del self.outputs[fd]
            if fd != self.master:
                os.close(fd)
            return
        self.log.write(name, data)
        kind = stream.STDOUT if name == "stdout" else stream.STDERR
        msg = stream.frame(kind, data)
        for cl in list(self.clients):
            if cl.wants(name) and not cl.send(msg):
                self._drop_client(cl)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.init_pid:
                self.exit_code = _exit_status(status)

    def _loop(self) -> None:
        self.sel.register(self.listener, selectors.EVENT_READ, ("listen", None))
        self.sel.register(self.wake_r, selectors.EVENT_READ, ("wake", None))
        for fd in self.outputs:
            self.sel.register(fd, selectors.EVENT_READ, ("out", None))
        self._reap()
        deadline = None
        while True:
            if self.exit_code is not None:
                if deadline is None:
                    deadline = time.monotonic() + DRAIN_AFTER_EXIT
                if not self.outputs or time.monotonic() >= deadline:
                    break
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            for key, _ev in self.sel.select(timeout):
                what, obj = key.data
                if what == "out":
                    self._output(key.fd)
                elif what == "wake":
                    with contextlib.suppress(BlockingIOError):
                        while os.read(self.wake_r, 4096):
                            pass
                    self._reap()
                elif what == "listen":
                    with contextlib.suppress(OSError):
                        conn, _ = self.listener.accept()
                        self._add_client(Client(conn))
                elif what == "client":
                    try:
                        data = obj.sock.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        self._drop_client(obj)
                    else:
                        self._client_frames(obj, data)
                elif what == "stdin":
                    self._stdin_flush()

    # -- the end --
    def _cleanup(self) -> None:
        c = self.c
        with contextlib.suppress(Exception):
            self.rt.delete(c.id, force=True)
        if self.proxy is not None:
            self.proxy.close()
            self.proxy = None
        if self.bridge_ip:
            with contextlib.suppress(Exception):
                bridge.detach(self.network)
            with contextlib.suppress(Exception):
                bridge.IPAM(self.ctx.root).release(c.id)
            with contextlib.suppress(Exception):
                c.update(Network=None)
            self.bridge_ip = self.network = None
        if self.mounted:
            with contextlib.suppress(Exception):
                self.ctx.driver().put(c.id)
            self.mounted = False
        if self.log:
            with contextlib.suppress(Exception):
                self.log.close()
            self.log = None
        if c.config["HostConfig"].get("AutoRemove"):
            with contextlib.suppress(Exception):
                self.ctx.driver().remove(c.id)
            with contextlib.suppress(Exception):
                ContainerStore(self.ctx).delete(c)
            with contextlib.suppress(Exception):  # docker run --rm removes them too
                from .lifecycle import remove_anonymous_volumes
                remove_anonymous_volumes(self.ctx, c)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(c.attach_socket)

    def _finish(self) -> None:
        c = self.c
        code = self.exit_code if self.exit_code is not None else 255
        for fd in list(self.outputs):
            if fd != self.master:
                os.close(fd)
        self.outputs.clear()
        if self.master is not None:
            os.close(self.master)
        if self.stdin_fd is not None and self.stdin_fd != self.master:
            with contextlib.suppress(OSError):
                os.close(self.stdin_fd)
        with contextlib.suppress(Exception):
            c.update(Status=EXITED, Pid=0, ExitCode=code, FinishedAt=now())
        self._cleanup()
        if not c.config["HostConfig"].get("AutoRemove"):
            with contextlib.suppress(Exception):
                c.update(MonitorPid=0, MonitorStart=None)  # last: until now the layer was still being released
        with contextlib.suppress(Exception):
            self.listener.close()
        for cl in list(self.clients):
            cl.send(stream.frame(stream.EXIT, {"ExitCode": code, "Error": ""}))
            cl.sock.close()
