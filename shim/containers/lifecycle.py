"""Container operations shared by the commands: create, start (with or without attaching), wait, stop, kill, rm,
pause/unpause and update."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import time

from ..errors import EngineError
from . import attach, monitor, spec, stream, volumes
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
           cpu_shares=None, pids_limit=None, network="none", auto_remove=False, ulimits=(), pull="missing",
           security_opt=(), privileged=False, publish=()) -> Container:
    """``docker create``: the container's metadata and writable layer; nothing runs yet."""
    from .. import networking
    runtime_path = ctx.runtime_path
    hc = spec.host_config(binds=binds, tmpfs=tmpfs, read_only=read_only, cap_add=cap_add, cap_drop=cap_drop,
                          memory=memory, memory_swap=memory_swap, cpus=cpus, cpu_shares=cpu_shares,
                          pids_limit=pids_limit, network=network, auto_remove=auto_remove, runtime=ctx.runtime,
                          ulimits=ulimits, security_opt=security_opt, privileged=privileged, publish=publish,
                          console_size=(attach.terminal_size(0) or attach.terminal_size(1)) if tty else None)
    for b in binds:  # docker creates a missing host directory of a bind mount
        src = spec.parse_bind(b)["source"]
        if src.startswith("/") and not os.path.exists(src):
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
        def copy_up(path: str, dest: str) -> None:
            _copy_up(ctx, c.id, path, dest)
        volumes.prepare_binds(ctx, list(binds), copy_up)
        taken = {m["destination"] for m in spec._user_mounts(hc, None)}
        anon = volumes.anonymous_for(ctx, cfg.get("Volumes"), taken, copy_up)
        if anon:
            c.config["AnonymousVolumes"] = anon
            c.save_config()
    except BaseException:
        with contextlib.suppress(Exception):
            driver.remove(c.id)
        store.delete(c)
        raise
    return c


def _copy_up(ctx, cid: str, path: str, dest: str) -> None:
    """A new named volume gets what the image has at ``path`` (docker), read in the chrooted layer."""
    from . import copy
    driver = ctx.driver()
    rootfs = driver.get(cid)
    try:
        copy.copy_out(("dir", rootfs), path.rstrip("/") + "/.", dest, follow=False, keep_owner=True)
    except EngineError as e:
        if "Could not find the file" not in str(e):
            raise
    finally:
        driver.put(cid)


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
    return _wait(c, timeout)[0]


def wait_code(c: Container) -> int:
    """``docker wait``: block until ``c`` is not running; its exit code (also for a ``--rm`` container that
    removed itself meanwhile: the monitor sends the code to attached clients before it exits)."""
    c.refresh()
    if not c.monitor_alive():
        return int(c.state.get("ExitCode", 0))
    _, code = _wait(c, None)
    if code is not None:
        return code
    with contextlib.suppress(EngineError):
        return int(c.reload().state.get("ExitCode", 0))
    raise EngineError(f"container {c.id} was removed before its exit code could be read")


def _wait(c: Container, timeout: float | None) -> tuple[bool, int | None]:
    """(exited, exit code sent by the monitor or None), like ``wait_exit``."""
    deadline = None if timeout is None else time.monotonic() + timeout
    code = None
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
                    return False, None
                sock.settimeout(left)
                try:
                    data = sock.recv(65536)
                except socket.timeout:
                    return False, None
                except OSError:
                    break
                exits = [v for k, v in reader.feed(data) if k == stream.EXIT]
                if exits:
                    with contextlib.suppress(ValueError, TypeError, KeyError):
                        code = int(json.loads(exits[-1])["ExitCode"])
                if not data or exits:
                    break
        finally:
            sock.close()
    while True:  # the socket is closed just before the monitor exits; also the path without a socket
        try:
            c.reload()
        except EngineError:
            return True, code  # removed (--rm)
        if not c.monitor_alive():
            return True, code
        if deadline is not None and time.monotonic() >= deadline:
            return False, code
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
        _thaw_after_kill(c)
        if wait_exit(c, timeout):
            return
        rt.kill(c.id, signal.SIGKILL, check=False)
        _thaw_after_kill(c)
    if not wait_exit(c, 60):
        raise EngineError(f"cannot stop container {c.name}: it did not exit after SIGKILL")


def kill(c: Container, sig: int) -> None:
    c.refresh()
    if not c.running():
        raise EngineError(f"Cannot kill container: {c.name}: Container {c.id} is not running")
    runtime_of(c).kill(c.id, sig)
    if sig in (signal.SIGKILL, parse_signal(c.config["Config"].get("StopSignal"))):
        _thaw_after_kill(c)


def remove_anonymous_volumes(ctx, c: Container) -> None:
    store = volumes.VolumeStore(ctx)
    for name in (c.config.get("AnonymousVolumes") or {}).values():
        with contextlib.suppress(EngineError, OSError):
            store.remove(name)


def remove(ctx, c: Container, force: bool = False, anonymous_volumes: bool = False) -> None:
    """``docker rm``: refuses a running container unless ``force`` (SIGKILL first); removes its layer and files,
    and with ``anonymous_volumes`` (``-v``) the volumes made for its image's ``VOLUME`` paths."""
    c.refresh()
    if c.monitor_alive():
        if c.status == RUNNING and not force:
            raise EngineError(f"You cannot remove a running container {c.id}. Stop the container before "
                              "attempting removal or force remove")
        if c.status == RUNNING:
            runtime_of(c).kill(c.id, signal.SIGKILL, check=False)
            _thaw_after_kill(c)
        wait_exit(c, 60)
        try:
            c.reload()
        except EngineError:
            return  # it was --rm: its monitor removed it
    runtime_of(c).delete(c.id, force=True)
    ctx.driver().remove(c.id)
    ContainerStore(ctx).delete(c)
    if anonymous_volumes:
        remove_anonymous_volumes(ctx, c)


def status_text(c: Container, clock: float | None = None) -> str:
    """docker ps's STATUS column."""
    from ..format import human_duration
    from .store import parse_time
    clock = clock or time.time()
    st = c.status
    if st == RUNNING:
        started = parse_time(c.state.get("StartedAt")) or clock
        return f"Up {human_duration(clock - started)}" + (" (Paused)" if is_paused(c) else "")
    if st == EXITED:
        fin = parse_time(c.state.get("FinishedAt")) or clock
        return f"Exited ({c.state.get('ExitCode', 0)}) {human_duration(clock - fin)} ago"
    if st == CREATED:
        return "Created"
    return st.capitalize()


# ---- pause / unpause ------------------------------------------------------------------------------------------
def is_paused(c: Container) -> bool:
    """Paused by ``pyctr pause`` during the current run (the flag names the run's init pid, so a restarted
    container is not paused)."""
    return c.running() and bool(c.state.get("Paused")) and c.state.get("PausedPid") == c.state.get("Pid")


def pause(c: Container) -> None:
    """``docker pause``: ``<runtime> pause ID`` (the cgroup freezer)."""
    c.refresh()
    if not c.running():
        raise EngineError(f"Container {c.id} is not running")
    if is_paused(c):
        raise EngineError(f"Container {c.id} is already paused")
    runtime_of(c).pause(c.id)
    c.update(Paused=True, PausedPid=c.state.get("Pid"))


def unpause(c: Container) -> None:
    """``docker unpause``: ``<runtime> resume ID``."""
    c.refresh()
    if not is_paused(c):
        raise EngineError(f"Container {c.id} is not paused")
    runtime_of(c).resume(c.id)
    c.update(Paused=False, PausedPid=0)


def _thaw_after_kill(c: Container) -> None:
    """A frozen (cgroup v1) process does not act on a signal: after the stop signal or SIGKILL, resume a paused
    container so it can exit, as dockerd does."""
    with contextlib.suppress(EngineError):
        c.reload()
    if c.state.get("Paused") and c.state.get("PausedPid") == c.state.get("Pid"):
        runtime_of(c).resume(c.id, check=False)
        with contextlib.suppress(EngineError):
            c.update(Paused=False, PausedPid=0)


# ---- update -----------------------------------------------------------------------------------------------
def updated_host_config(hc: dict, *, memory=None, memory_swap=None, cpus=None, cpu_shares=None,
                        pids_limit=None) -> dict:
    """docker's UpdateContainer merge: the given limits replace the stored ones, the others stay.

    ``--memory-swap -1`` is unlimited swap; a new memory limit above an explicit swap limit must come with a new
    swap limit (docker's conflict error). With no swap limit given at all, swap stays ``2 x memory``.
    """
    new = spec.host_config(memory=memory, memory_swap=None if memory_swap in (None, "-1", -1) else memory_swap,
                           cpus=cpus, cpu_shares=cpu_shares) if (memory or cpus) else {}
    out = dict(hc)
    mem = new.get("Memory") or 0
    swap = -1 if memory_swap in ("-1", -1) else spec.parse_size(memory_swap)
    if mem:
        if swap is None and (hc.get("MemorySwap") or 0) > 0 and mem > hc["MemorySwap"]:
            raise EngineError("Memory limit should be smaller than already set memoryswap limit, update the "
                              "memoryswap at the same time")
        out["Memory"] = mem
    if swap is not None:
        effective_mem = out.get("Memory") or 0
        if swap != -1 and (not effective_mem or swap < effective_mem):
            raise EngineError("Minimum memoryswap limit should be larger than memory limit, see usage")
        out["MemorySwap"] = swap
    if cpus is not None:
        out["NanoCpus"] = new["NanoCpus"]
    if cpu_shares is not None:
        out["CpuShares"] = int(cpu_shares)
    if pids_limit is not None:
        out["PidsLimit"] = int(pids_limit)
    return out


def update_resources(hc: dict, host: spec.HostInfo) -> dict:
    """The ``linux.resources`` object that ``<runtime> update --resources -`` gets for HostConfig ``hc``."""
    res = spec.limits(hc, host)
    if hc.get("PidsLimit") is not None and hc["PidsLimit"] <= 0:
        res["pids"] = {"limit": -1}   # docker: 0 or -1 lifts the limit; runc needs -1 to unset it
    return res


def update(c: Container, host: spec.HostInfo, **limits) -> None:
    """``docker update``: store the new limits in HostConfig (the next start uses them) and, while the container
    runs (or is paused), apply them to its cgroup through the runtime. Nothing is stored if the runtime fails."""
    c.refresh()
    with c.locked():   # serialises concurrent updates (the lock is not re-entrant: reload, not refresh, inside)
        c.reload()
        c.config = c.store.load(c.id).config
        hc = updated_host_config(c.config["HostConfig"], **limits)
        if c.running():
            runtime_of(c).update(c.id, update_resources(hc, host))
        c.config["HostConfig"] = hc
        c.save_config()
