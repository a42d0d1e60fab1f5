"""Container operations shared by the commands: create, start (with or without attaching), wait, stop, kill, rm."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import time

from ..errors import EngineError
from . import attach, monitor, spec, stream
from .runtime import OCIRuntime
from .store import CREATED, EXITED, RUNNING, Container, ContainerStore, now


def runtime_of(c: Container) -> OCIRuntime:
    return OCIRuntime(c.runtime_path, c.runtime_root, c.runtime_log)


def parse_signal(sig: str | int | None, default: int = signal.SIGTERM) -> int:
    """"TERM", "SIGTERM", "15", 15 -> 15."""
    if sig is None or sig == "":
        return int(default)
    if isinstance(sig, int) or str(sig).isdigit():
        n = int(sig)
        if not 0 < n < 65:
            raise EngineError(f"Invalid signal: {sig}")
        return n
    name = str(sig).upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise EngineError(f"Invalid signal: {sig}") from None


# ---- create ----------------------------------------------------------------------------------------------------
def get_image(ctx, ref: str, pull: str = "missing"):
    """The image for ``ref``; pulled first when missing (``--pull missing``), like docker run."""
    from ..images.store import ImageStore
    store = ImageStore(ctx)
    if pull == "always":
        return store.pull(ref)
    try:
        return store.get(ref)
    except EngineError:
        if pull == "never":
            raise
    print(f"Unable to find image '{ref}' locally", file=sys.stderr)
    try:
        return store.pull(ref)
    except EngineError as e:
        raise EngineError(str(e), 125) from None


def create(ctx, image_ref: str, *, name: str | None, cmd: list[str], entrypoint: str | None = None,
           env: list[str] = (), workdir: str | None = None, user: str | None = None, tty: bool = False,
           interactive: bool = False, hostname: str | None = None, labels: dict | None = None,
           binds=(), tmpfs=(), read_only=False, cap_add=(), cap_drop=(), memory=None, memory_swap=None, cpus=None,
           cpu_shares=None, pids_limit=None, network="none", auto_remove=False, ulimits=(), pull="missing") -> Container:
    """``docker create``: the container's metadata and writable layer; nothing runs yet."""
    from .. import networking
    runtime_path = ctx.runtime_path
    hc = spec.host_config(binds=binds, tmpfs=tmpfs, read_only=read_only, cap_add=cap_add, cap_drop=cap_drop,
                          memory=memory, memory_swap=memory_swap, cpus=cpus, cpu_shares=cpu_shares,
                          pids_limit=pids_limit, network=network, auto_remove=auto_remove, runtime=ctx.runtime,
                          ulimits=ulimits,
                          console_size=(attach.terminal_size(0) or attach.terminal_size(1)) if tty else None)
    for b in binds:  # docker creates a missing host directory of a bind mount
        src = spec.parse_bind(b)["source"]
        if not os.path.exists(src):
            os.makedirs(src, 0o755, exist_ok=True)
    image = get_image(ctx, image_ref, pull)
    envs = [e if "=" in e else f"{e}={os.environ[e]}" for e in env if "=" in e or e in os.environ]
    cfg = spec.container_config(image.config, image=image_ref, cmd=cmd, entrypoint=entrypoint, env=envs,
                                workdir=workdir, user=user, tty=tty, stdin_open=interactive,
                                hostname=hostname or "", labels=labels)
    driver = ctx.driver()
    store = ContainerStore(ctx)
    args = spec.process_args(cfg)
    c = store.create({"Name": name, "Created": now(), "Path": args[0], "Args": args[1:], "Image": image.id,
                      "ImageRef": image_ref, "Config": cfg, "HostConfig": hc, "Driver": driver.name,
                      "Runtime": {"Name": ctx.runtime, "Path": runtime_path, "Root": ctx.runtime_root}})
    try:
        if not cfg["Hostname"]:
            cfg["Hostname"] = networking.host_hostname() if network == "host" else c.id[:12]
        c.config["LogPath"] = c.log_path
        c.config["HostnamePath"] = os.path.join(c.dir, "hostname")
        c.config["HostsPath"] = os.path.join(c.dir, "hosts")
        c.config["ResolvConfPath"] = os.path.join(c.dir, "resolv.conf")
        c.save_config()
        driver.create(c.id, image.top_layer, writable=True)
    except BaseException:
        with contextlib.suppress(Exception):
            driver.remove(c.id)
        store.delete(c)
        raise
    return c


# ---- start / attach ----------------------------------------------------------------------------------------
def wait_monitor_gone(c: Container, timeout: float = 30) -> None:
    """Wait until the previous monitor of ``c`` has finished its cleanup."""
    deadline = time.monotonic() + timeout
    while c.monitor_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
        with contextlib.suppress(EngineError):
            c.reload()


def start(ctx, c: Container, attach_streams: dict | None = None) -> socket.socket | None:
    """Start ``c`` through a new monitor. With ``attach_streams`` ({"stdin","stdout","stderr"}) the returned
    socket is attached before the container starts, so no output is missed."""
    c.refresh()
    if c.running():
        return None
    if c.monitor_alive():
        wait_monitor_gone(c)
    os.makedirs(c.state_dir, 0o700, exist_ok=True)
    status = monitor.StatusReader(monitor.spawn(ctx, c, attach_first=attach_streams is not None))
    sock = None
    try:
        msg = status.next()
        if attach_streams is not None and msg.get("listening"):
            sock = stream.connect(c.attach_socket)
            attach.request(sock, **attach_streams)
            msg = status.next()
        if "error" in msg:
            if sock is not None:
                sock.close()
            raise EngineError(msg["error"], msg.get("code", 125))
    finally:
        status.close()
    return sock


def forwarder(c: Container):
    rt = runtime_of(c)
    return lambda sig: rt.kill(c.id, sig, check=False)


def attach_session(c: Container, sock: socket.socket, stdin: bool, sig_proxy: bool = True) -> int:
    """Stream until the container ends; its exit code (or 0 after ^P^Q)."""
    tty = bool(c.config["Config"].get("Tty"))
    try:
        end = attach.session(sock, stdin=stdin, tty=tty, forward_signal=forwarder(c) if sig_proxy else None)
    except attach.Detached:
        sock.close()
        print("\r\nread escape sequence", file=sys.stderr)
        return 0
    sock.close()
    if "ExitCode" in end:
        return int(end["ExitCode"])
    with contextlib.suppress(EngineError):
        c.refresh()
        if c.status != RUNNING:
            return int(c.state.get("ExitCode", 0))
    raise EngineError("lost the connection to the container's monitor", 125)


def attach_running(c: Container, stdin: bool, sig_proxy: bool = True) -> int:
    """``docker attach``: output from now on, stdin if the container keeps it open."""
    if not c.running():
        raise EngineError("You cannot attach to a stopped container, start it first")
    sock = stream.connect(c.attach_socket)
    stdin = stdin and bool(c.config["Config"].get("OpenStdin"))
    attach.request(sock, stdin=stdin)
    return attach_session(c, sock, stdin, sig_proxy)


# ---- wait / stop / kill / rm ----------------------------------------------------------------------------------
def wait_exit(c: Container, timeout: float | None) -> bool:
    """True once ``c`` has exited and its monitor finished cleaning up (False on timeout)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    sock = None
    with contextlib.suppress(OSError):
        if c.monitor_alive():
            sock = stream.connect(c.attach_socket)
            attach.request(sock, stdin=False, stdout=False, stderr=False)
    if sock is not None:
        reader = stream.FrameReader()
        try:
            while True:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                sock.settimeout(left)
                try:
                    data = sock.recv(65536)
                except socket.timeout:
                    return False
                except OSError:
                    break
                if not data or any(k == stream.EXIT for k, _ in reader.feed(data)):
                    break
        finally:
            sock.close()
    while True:  # the socket is closed just before the monitor exits; also the path without a socket
        try:
            c.reload()
        except EngineError:
            return True  # removed (--rm)
        if not c.monitor_alive():
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def stop(c: Container, timeout: float = 10) -> None:
    """``docker stop``: the stop signal (image StopSignal, else SIGTERM), SIGKILL after ``timeout`` seconds."""
    c.refresh()
    if not c.monitor_alive():
        return
    rt = runtime_of(c)
    if c.status == RUNNING:
        sig = parse_signal(c.config["Config"].get("StopSignal"))
        rt.kill(c.id, sig, check=False)
        if wait_exit(c, timeout):
            return
        rt.kill(c.id, signal.SIGKILL, check=False)
    if not wait_exit(c, 60):
        raise EngineError(f"cannot stop container {c.name}: it did not exit after SIGKILL")


def kill(c: Container, sig: int) -> None:
    c.refresh()
    if not c.running():
        raise EngineError(f"Cannot kill container: {c.name}: Container {c.id} is not running")
    runtime_of(c).kill(c.id, sig)


def remove(ctx, c: Container, force: bool = False) -> None:
    """``docker rm``: refuses a running container unless ``force`` (SIGKILL first); removes its layer and files."""
    c.refresh()
    if c.monitor_alive():
        if c.status == RUNNING and not force:
            raise EngineError(f"You cannot remove a running container {c.id}. Stop the container before "
                              "attempting removal or force remove")
        if c.status == RUNNING:
            runtime_of(c).kill(c.id, signal.SIGKILL, check=False)
        wait_exit(c, 60)
        try:
            c.reload()
        except EngineError:
            return  # it was --rm: its monitor removed it
    runtime_of(c).delete(c.id, force=True)
    ctx.driver().remove(c.id)
    ContainerStore(ctx).delete(c)


def status_text(c: Container, clock: float | None = None) -> str:
    """docker ps's STATUS column."""
    from ..format import human_duration
    from .store import parse_time
    clock = clock or time.time()
    st = c.status
    if st == RUNNING:
        started = parse_time(c.state.get("StartedAt")) or clock
        return f"Up {human_duration(clock - started)}"
    if st == EXITED:
        fin = parse_time(c.state.get("FinishedAt")) or clock
        return f"Exited ({c.state.get('ExitCode', 0)}) {human_duration(clock - fin)} ago"
    if st == CREATED:
        return "Created"
    return st.capitalize()
