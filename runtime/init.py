"""The container side of ``create``: a fork of the runtime's initialised interpreter.

Stages (youki's parent -> init split; no re-exec of the interpreter):
  parent (runtime)  forks ->  [user-ns stage: unshare user, wait for maps, unshare pid, fork]
                              -> init: namespaces, mounts, pivot_root, console, attributes,
                                 READY, block on the start handshake, user/caps/seccomp, execve.
The init never execs the host interpreter and is non-dumpable until execve, so nothing in the
container can reach the host python through /proc/<pid>/exe (CVE-2019-5736).
"""
import os

from . import linux as L
from . import rootfs, sync
from .plan import Plan, Process, env_path


class InitError(Exception):
    """A setup step failed; the message is what the caller of ``create`` sees."""


def child_entry(pl: Plan, chan, fifo_fd: int, console_sock, seccomp_prog, userns_stage: bool,
                preserve: int, listener=None) -> None:
    """Entry after fork; never returns."""
    code = 1
    try:
        if userns_stage:
            _userns_stage(pl, chan)
        _init(pl, chan, fifo_fd, console_sock, Seccomp(seccomp_prog, listener, pl), preserve)
    except BaseException as e:  # report anything, then die; the parent cleans up
        try:
            sync.send(chan, sync.ERROR, _describe(e).encode())
            _linger(chan)
        except OSError:
            pass
    os._exit(code)


def _linger(chan) -> None:
    """Stay until the parent has read the error and hung up (or killed us): exiting first would
    turn the parent's next send (e.g. CGROUP_JOINED) into a bare EPIPE instead of this message."""
    try:
        while sync.recv(chan):
            pass
    except (sync.ChannelClosed, OSError):
        pass


def _describe(e: BaseException) -> str:
    if isinstance(e, OSError) and not isinstance(e, InitError):
        msg = e.strerror or str(e)
        return f"{msg}" if not e.filename else f"{msg}: {e.filename}"
    return str(e) or type(e).__name__


def _userns_stage(pl: Plan, chan) -> None:
    """Create or join the user namespace, then the pid/time namespaces, and fork the real init."""
    joined = dict(pl.ns_join)
    cgroup_joined = False
    if "user" in joined:
        fd = os.open(joined["user"], os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns_checked(fd, "user", joined["user"])
        finally:
            os.close(fd)
    else:
        L.unshare(L.CLONE_NEWUSER)
        sync.send(chan, sync.USERNS_READY)
        # the parent sends CGROUP_JOINED right after fork, so it may arrive before MAPS_WRITTEN
        while True:
            got = _expect_one_of(chan, (sync.MAPS_WRITTEN, sync.CGROUP_JOINED))
            if got == sync.MAPS_WRITTEN:
                break
            cgroup_joined = True
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)
    for t in ("pid", "time"):
        if t in joined:
            fd = os.open(joined[t], os.O_RDONLY | os.O_CLOEXEC)
            try:
                _setns_checked(fd, t, joined[t])
            finally:
                os.close(fd)
    flags = pl.ns_new & (L.CLONE_NEWPID | L.CLONE_NEWTIME)
    if flags:
        L.unshare(flags)
        if flags & L.CLONE_NEWTIME:
            write_time_offsets(pl.time_offsets)
    if not cgroup_joined:
        sync.expect(chan, sync.CGROUP_JOINED)  # the init must be born inside the container's cgroup
    pid = os.fork()
    if pid:
        sync.send(chan, sync.INIT_PID, str(pid).encode())
        os._exit(0)


def _expect_one_of(chan, tags: tuple[bytes, ...]) -> bytes:
    got, payload, _ = sync.recv(chan)
    if got == sync.ERROR:
        raise sync.ChannelClosed(payload.decode(errors="replace"))
    if got not in tags:
        raise sync.ChannelClosed(f"protocol error: expected one of {tags!r}, got {got!r}")
    return got


def write_time_offsets(offsets: dict) -> None:
    lines = "".join(f"{clock} {v.get('secs', 0)} {v.get('nanosecs', 0)}\n" for clock, v in offsets.items())
    if lines:
        with open("/proc/self/timens_offsets", "w") as f:
            f.write(lines)


def _setns_checked(fd: int, ns_type: str, path: str) -> None:
    try:
        L.setns(fd, L.NS_FLAGS[ns_type])
    except OSError as e:
        if e.errno == 22:
            raise InitError(f"linux.namespaces: {path} is not a {ns_type} namespace") from None
        raise InitError(f"linux.namespaces: joining {ns_type} namespace {path}: {e.strerror}") from None


class Seccomp:
    """The compiled filter plus, for SCMP_ACT_NOTIFY, the connected listener socket."""
    __slots__ = ("prog", "listener", "state", "metadata")

    def __init__(self, prog, listener, pl: Plan) -> None:
        self.prog, self.listener = prog, listener
        self.state = None
        self.metadata = ((pl.seccomp if pl else None) or {}).get("listenerMetadata", "")
        if prog is not None and listener is not None:
            self.state = _hook_state(pl, "creating")
            self.state["pid"] = int(os.readlink("/proc/self"))  # host pid, while /proc is the host's

    def load(self) -> None:
        if self.prog is None:
            return
        from .seccomp import load
        fd = load(self.prog)
        if self.listener is not None and fd >= 0:
            from .seccomp import send_listener
            send_listener("", fd, self.state, self.metadata, sock=self.listener)
            self.listener.close()
            os.close(fd)


def _init(pl: Plan, chan, fifo_fd: int, console_sock, seccomp_prog: Seccomp, preserve: int) -> None:
    in_userns = bool(pl.ns_new & L.CLONE_NEWUSER) or any(t == "user" for t, _ in pl.ns_join)
    if not in_userns:
        L.prctl(L.PR_SET_DUMPABLE, 0)
    # join namespaces by path (user/pid/time were handled before this process was forked)
    ns_fds = [(t, p, os.open(p, os.O_RDONLY | os.O_CLOEXEC)) for t, p in pl.ns_join
              if t not in ("user", "pid", "time")]
    for t, p, fd in ns_fds:
        try:
            _setns_checked(fd, t, p)
        finally:
            os.close(fd)
    flags = pl.ns_new & (L.CLONE_NEWNS | L.CLONE_NEWUTS | L.CLONE_NEWIPC | L.CLONE_NEWNET)
    if flags:
        L.unshare(flags)
    if flags & L.CLONE_NEWNET:
        L.link_up("lo")
    if not in_userns:
        sync.expect(chan, sync.CGROUP_JOINED)
    if pl.ns_new & L.CLONE_NEWCGROUP:
        L.unshare(L.CLONE_NEWCGROUP)
    proc = pl.process
    if proc.oom_score_adj is not None:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(proc.oom_score_adj))

    root_fd = rootfs.prepare_root(pl, in_userns)
    cgroupns = bool(pl.ns_new & L.CLONE_NEWCGROUP) or any(t == "cgroup" for t, _ in pl.ns_join)
    for m in pl.mounts:
        try:
            if m.type == "cgroup":
                rootfs.mount_cgroup(root_fd, m, cgroupns)
            else:
                rootfs.mount_one(root_fd, m)
        except OSError as e:
            raise InitError(f"error mounting {m.source!r} to rootfs at {m.destination!r}: "
                            f"{e.strerror or e}") from None
    rootfs.create_devices(root_fd, pl, in_userns)
    if pl.hooks.get("prestart") or pl.hooks.get("createRuntime"):
        sync.send(chan, sync.RUN_HOOKS)
        sync.expect(chan, sync.HOOKS_DONE)
    if pl.hooks.get("createContainer"):
        from .hooks import run_hooks
        run_hooks(pl.hooks["createContainer"], "createContainer", _hook_state(pl, "creating"))
    os.close(root_fd)
    last_cap = _last_cap()
    _preimport(pl, seccomp_prog)  # after pivot_root the host's python library is out of reach
    rootfs.pivot(pl.rootfs, pl.no_pivot, pl.propagation)

    slave = None
    if proc.terminal:
        slave = rootfs.setup_console(console_sock, proc.console_size)
        console_sock.close()
    # runc's order: hostname, sysctl (before /proc/sys turns read-only), readonlyPaths, maskedPaths
    if pl.hostname:
        L.sethostname(pl.hostname)
    if pl.domainname:
        L.setdomainname(pl.domainname)
    for key, value in pl.sysctl.items():
        try:
            with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
                f.write(value)
        except OSError as e:
            raise InitError(f"linux.sysctl.{key}: cannot set to {value!r}: {(e.strerror or str(e)).lower()}") from None
    rootfs.readonly_paths(pl.readonly_paths)
    rootfs.mask_paths(pl.masked)
    _make_cwd(proc.cwd)  # before root.readonly: a missing cwd is still created, like runc
    if pl.readonly:
        rootfs.readonly_root()
    if pl.personality is not None:
        L.personality(pl.personality)
    apply_process_attributes(proc)
    exe = find_executable(proc)
    if slave is not None:
        os.setsid()
        L.set_ctty(slave)
        for i in (0, 1, 2):
            os.dup2(slave, i)
        os.close(slave)

    sync.send(chan, sync.READY)
    chan.close()
    # the start handshake: block until `pyrunc start` writes one byte into exec.fifo
    if os.read(fifo_fd, 1) != b"0":
        os._exit(1)
    os.close(fifo_fd)
    if pl.hooks.get("startContainer"):
        from .hooks import run_hooks
        run_hooks(pl.hooks["startContainer"], "startContainer", _hook_state(pl, "created"))
    finalize_and_exec(proc, exe, seccomp_prog, preserve, last_cap)


def _preimport(pl: Plan, seccomp_prog) -> None:
    if pl.hooks.get("startContainer"):
        from . import hooks  # noqa: F401
    if seccomp_prog.prog is not None:
        from . import seccomp  # noqa: F401


def _hook_state(pl: Plan, status: str) -> dict:
    st = {"ociVersion": "1.3.0", "id": pl.id, "status": status, "pid": os.getpid(), "bundle": pl.bundle}
    if pl.annotations:
        st["annotations"] = pl.annotations
    return st


def _make_cwd(cwd: str) -> None:
    try:
        os.makedirs(cwd, 0o755, exist_ok=True)
    except OSError as e:
        raise InitError(f"process.cwd: cannot create {cwd}: {e.strerror}") from None


def apply_process_attributes(proc: Process) -> None:
    """Attributes set while still root: rlimits, scheduler, io priority."""
    for name, num, soft, hard in proc.rlimits:
        try:
            L.setrlimit(num, soft, hard)
        except OSError as e:
            raise InitError(f"error setting rlimit {name} to soft={soft} hard={hard}: "
                            f"{(e.strerror or str(e)).split(': ')[-1].lower()}") from None
    if proc.scheduler:
        try:
            L.sched_setattr(*proc.scheduler)
        except OSError as e:
            raise InitError(f"process.scheduler: {e.strerror}") from None
    if proc.ioprio is not None:
        try:
            L.ioprio_set(proc.ioprio)
        except OSError as e:
            raise InitError(f"process.ioPriority: {e.strerror}") from None


def find_executable(proc: Process) -> str:
    """execvp semantics with the container's PATH, checked before READY so create reports it."""
    name = proc.args[0]
    if "/" in name:
        try:
            os.stat(name)
        except FileNotFoundError:
            raise InitError(f'exec: "{name}": stat {name}: no such file or directory') from None
        return name
    for d in env_path(proc.env).split(":"):
        cand = (d or ".") + "/" + name
        try:
            if os.access(cand, os.X_OK) and not os.path.isdir(cand):
                return cand
        except OSError:
            continue
    raise InitError(f'exec: "{name}": executable file not found in $PATH')


def finalize_and_exec(proc: Process, exe: str, seccomp_prog, preserve: int, last_cap: int) -> None:
    """User, capabilities, no_new_privs, seccomp, fds, cwd, then execve. Never returns."""
    if not proc.no_new_privs:
        seccomp_prog.load()  # needs CAP_SYS_ADMIN without no_new_privs: load while still root
    set_user_and_caps(proc, last_cap)
    if proc.no_new_privs:
        L.prctl(L.PR_SET_NO_NEW_PRIVS, 1)
    if proc.umask is not None:
        os.umask(proc.umask)
    try:
        os.chdir(proc.cwd)
    except OSError as e:
        raise InitError(f"chdir to cwd ({proc.cwd!r}) set in config.json failed: {e.strerror.lower()}") from None
    env = {}
    for kv in proc.env:
        k, _, v = kv.partition("=")
        env[k] = v
    L.close_range(3 + preserve, 0xFFFFFFFF, L.CLOSE_RANGE_CLOEXEC)
    if proc.no_new_privs:
        seccomp_prog.load()
    os.execve(exe, proc.args, env)


def set_user_and_caps(proc: Process, last_cap: int) -> None:
    if proc.cap_bounding is not None:
        for cap in range(last_cap + 1):
            if not proc.cap_bounding >> cap & 1:
                try:
                    L.prctl(L.PR_CAPBSET_DROP, cap)
                except OSError as e:
                    if e.errno != 22:
                        raise
    L.prctl(L.PR_SET_KEEPCAPS, 1)
    try:
        os.setgroups(proc.groups)
    except PermissionError:
        if proc.groups:
            raise
    os.setresgid(proc.gid, proc.gid, proc.gid)
    os.setresuid(proc.uid, proc.uid, proc.uid)
    L.prctl(L.PR_SET_KEEPCAPS, 0)
    if proc.cap_effective is not None:
        L.capset(proc.cap_effective, proc.cap_permitted, proc.cap_inheritable)
        if proc.cap_ambient:
            for cap in range(last_cap + 1):
                if proc.cap_ambient >> cap & 1:
                    try:  # the kernel wants it permitted and inheritable too; like runc, skip if not
                        L.prctl(L.PR_CAP_AMBIENT, L.PR_CAP_AMBIENT_RAISE, cap)
                    except PermissionError:
                        pass


def _last_cap() -> int:
    from .caps import last_cap
    return last_cap()
