"""The container side of ``create``: a fork of the runtime's initialised interpreter.

Stages (youki's parent -> init split; no re-exec of the interpreter):
  parent (runtime)  forks ->  [user-ns stage: unshare user, wait for maps, unshare pid, fork]
                              -> init: namespaces, mounts, pivot_root, console, attributes,
                                 READY, block on the start handshake, user/caps/seccomp, execve.
The init never execs the host interpreter and is non-dumpable until execve, so nothing in the
container can reach the host python through /proc/<pid>/exe (CVE-2019-5736).
"""
from . import fastos as os

from . import linux as L
from . import rootfs, sync
from .plan import Plan, Process, env_path


class InitError(Exception):
    """A setup step failed; the message is what the caller of ``create`` sees."""


def child_entry(pl: Plan, chan, fifo_fd: int, console_sock, seccomp_prog, userns_stage: bool,
                preserve: int, listener=None, seccomp_pipe: int | None = None) -> None:
    """Entry after fork; never returns."""
    code = 1
    try:
        # first, while still dumpable and privileged in the host's user namespace (runc's nsexec
        # does the same): later /proc/self belongs to host root and lowering needs CAP_SYS_RESOURCE
        set_oom_score_adj(pl.process.oom_score_adj)
        # every namespace path is opened now, as the runtime: once inside a user namespace (and
        # non-dumpable) /proc/<pid>/ns of a created container is out of reach (runc does the same)
        ns_fds = _open_ns_paths(pl)
        if userns_stage:
            _userns_stage(pl, chan, ns_fds)
        _init(pl, chan, fifo_fd, console_sock, Seccomp(seccomp_prog, listener, pl, seccomp_pipe), preserve,
              ns_fds)
    except BaseException as e:  # report anything, then die; the parent cleans up
        try:
            sync.send(chan, sync.ERROR, _describe(e).encode())
            _linger(chan)
        except OSError:
            # after READY the channel is closed (the start handshake is done): the container's
            # stderr is the only place left where the failure can be seen
            try:
                os.write(2, f"pyrunc: container init failed: {_describe(e)}\n".encode())
            except OSError:
                pass
    os._exit(code)


def _linger(chan) -> None:
    """Stay until the parent has read the error and hung up (or killed us): exiting first would
    turn the parent's next send (e.g. CGROUP_READY) into a bare EPIPE instead of this message."""
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


def _open_ns_paths(pl: Plan) -> dict[str, int]:
    fds: dict[str, int] = {}
    try:
        for t, path in pl.ns_join:
            try:
                fds[t] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError as e:
                raise InitError(f"linux.namespaces: cannot open {t} namespace {path}: "
                                f"{(e.strerror or str(e)).lower()}") from None
    except BaseException:
        for fd in fds.values():
            os.close(fd)
        raise
    return fds


def _join(ns_fds: dict[str, int], t: str, path: str) -> None:
    fd = ns_fds.pop(t)
    try:
        _setns_checked(fd, t, path)
    finally:
        os.close(fd)


def _userns_stage(pl: Plan, chan, ns_fds: dict[str, int]) -> None:
    """Create or join the user namespace, then the pid/time namespaces, and fork the real init."""
    joined = dict(pl.ns_join)
    cgroup_joined = False
    if "user" in joined:
        _join(ns_fds, "user", joined["user"])
    else:
        L.unshare(L.CLONE_NEWUSER)
        sync.send(chan, sync.USERNS_READY)
        # the parent sends CGROUP_READY as soon as the cgroup exists, maybe before MAPS_WRITTEN
        while True:
            got, _, fds = sync.expect_one_of(chan, (sync.MAPS_WRITTEN, sync.CGROUP_READY))
            if got == sync.MAPS_WRITTEN:
                break
            join_cgroup(fds)
            cgroup_joined = True
    for t in ("pid", "time"):
        if t in joined:
            _join(ns_fds, t, joined[t])
    flags = pl.ns_new & (L.CLONE_NEWPID | L.CLONE_NEWTIME)
    if flags:
        L.unshare(flags)
        if flags & L.CLONE_NEWTIME:
            # before setresuid: changing uid makes us non-dumpable, and /proc/self then belongs
            # to host root, out of reach of the namespace's root
            write_time_offsets(pl.time_offsets)
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)
    if not cgroup_joined:  # the init must be born inside the container's cgroup
        join_cgroup(sync.expect_one_of(chan, (sync.CGROUP_READY,))[2])
    pid = os.fork()
    if pid:
        sync.send(chan, sync.INIT_PID, str(pid).encode())
        os._exit(0)


def join_cgroup(fds: list[int]) -> None:
    """Join the container's v1 cgroups: write "0" (the calling thread, i.e. this single-threaded
    process) into each ``tasks`` fd the parent sent; no RCU grace period, unlike cgroup.procs."""
    try:
        for fd in fds:
            os.write(fd, b"0")
    except OSError as e:
        raise InitError(f"unable to join the container's cgroup: {(e.strerror or str(e)).lower()}") from None
    finally:
        for fd in fds:
            os.close(fd)


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
    """The filter to install: a compiled program, or a pipe the parent writes it into while we set
    up (compiling or reading the cache is then off our critical path); for SCMP_ACT_NOTIFY also
    the connected listener socket (such programs are always compiled before the fork)."""
    __slots__ = ("prog", "pipe", "listener", "state", "metadata")

    def __init__(self, prog, listener, pl: Plan, pipe: int | None = None) -> None:
        self.prog, self.listener, self.pipe = prog, listener, pipe
        self.state = None
        self.metadata = ((pl.seccomp if pl else None) or {}).get("listenerMetadata", "")
        if prog is not None and listener is not None:
            self.state = _hook_state(pl, "creating")
            self.state["pid"] = int(os.readlink("/proc/self"))  # host pid, while /proc is the host's

    def load(self) -> None:
        if self.pipe is not None:
            flags, bpf = receive_program(self.pipe)
            os.close(self.pipe)
            self.pipe = None
            if bpf:
                L.seccomp_set_filter(flags, bpf)
            return
        if self.prog is None:
            return
        from .seccomp import load
        fd = load(self.prog)
        if self.listener is not None and fd >= 0:
            from .seccomp import send_listener
            send_listener("", fd, self.state, self.metadata, sock=self.listener)
            self.listener.close()
            os.close(fd)


def send_program(fd: int, prog) -> None:
    """Parent: write a seccomp Program (or None: no filter) into the init's pipe. One write of at
    most 8 + 32 KiB (BPF_MAXINSNS) fits the pipe buffer, so it never blocks."""
    bpf = prog.bpf if prog is not None else b""
    flags = prog.flags if prog is not None else 0
    os.write(fd, flags.to_bytes(4, "little") + len(bpf).to_bytes(4, "little") + bpf)


def receive_program(fd: int) -> tuple[int, bytes]:
    """Init: (flags, bpf) from the parent (an empty bpf: no filter)."""
    head = _read_exact(fd, 8)
    return int.from_bytes(head[:4], "little"), _read_exact(fd, int.from_bytes(head[4:], "little"))


def _read_exact(fd: int, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = os.read(fd, n - len(data))
        if not chunk:  # the parent failed before sending it; its error is what the caller sees
            raise InitError("seccomp: the runtime did not send the filter")
        data += chunk
    return data


def _init(pl: Plan, chan, fifo_fd: int, console_sock, seccomp_prog: Seccomp, preserve: int,
          ns_fds: dict[str, int] | None = None) -> None:
    in_userns = bool(pl.ns_new & L.CLONE_NEWUSER) or any(t == "user" for t, _ in pl.ns_join)
    # in a user namespace too (runc re-sets it after the maps): with an identity map the uid
    # switch above would not have made us non-dumpable, and /proc/<pid>/exe is the host python
    L.prctl(L.PR_SET_DUMPABLE, 0)
    # join namespaces by path (user/pid/time were handled before this process was forked)
    if ns_fds is None:
        ns_fds = _open_ns_paths(pl)
    for t, p in pl.ns_join:
        if t not in ("user", "pid", "time"):
            _join(ns_fds, t, p)
    for fd in ns_fds.values():  # pid/time: already joined by the parent (no user namespace)
        os.close(fd)
    ns_fds.clear()
    flags = pl.ns_new & (L.CLONE_NEWNS | L.CLONE_NEWUTS | L.CLONE_NEWIPC | L.CLONE_NEWNET)
    devices = None
    if pl.net_devices:  # seen from the runtime's network namespace, moved once ours exists
        from . import netdev
        try:
            devices = netdev.capture(pl.net_devices)
        except netdev.NetDevError as e:
            raise InitError(str(e)) from None
    if flags:
        L.unshare(flags)
    if flags & L.CLONE_NEWNET:
        L.link_up("lo")
    if devices is not None:
        try:
            netdev.install(devices)
        except (netdev.NetDevError, OSError) as e:
            raise InitError(str(e) if isinstance(e, netdev.NetDevError) else
                            f"linux.netDevices: {(e.strerror or str(e)).lower()}") from None
    if pl.new_keyring:
        try:  # a private session keyring: the host's keys are not shared with the container
            L.join_session_keyring(pl.id)
        except OSError as e:
            if e.errno not in (38, 13, 122):  # ENOSYS, EACCES (user ns), EDQUOT: runc ignores these
                raise
    proc = pl.process
    # The parent makes the cgroup while we set up: wait for it, and join, only where it matters.
    pending = [not in_userns]

    def cgroup_joined() -> None:
        if pending[0]:
            join_cgroup(sync.expect_one_of(chan, (sync.CGROUP_READY,))[2])
            pending[0] = False
            if pl.ns_new & L.CLONE_NEWCGROUP:  # the namespace's root is the cgroup we are in
                L.unshare(L.CLONE_NEWCGROUP)

    if in_userns and pl.ns_new & L.CLONE_NEWCGROUP:
        L.unshare(L.CLONE_NEWCGROUP)

    root_fd = rootfs.prepare_root(pl, in_userns)
    cgroupns = bool(pl.ns_new & L.CLONE_NEWCGROUP) or any(t == "cgroup" for t, _ in pl.ns_join)
    def mount(m) -> None:
        try:
            if m.type == "cgroup":
                cgroup_joined()
                rootfs.mount_cgroup(root_fd, m, cgroupns)
            else:
                rootfs.mount_one(root_fd, m)
        except OSError as e:
            raise InitError(f"error mounting {m.source!r} to rootfs at {m.destination!r}: "
                            f"{e.strerror or e}") from None

    for i, m in enumerate(pl.mounts):
        if i not in pl.late_mounts:
            mount(m)
    rootfs.create_devices(root_fd, pl, in_userns)
    for i in sorted(pl.late_mounts):  # (plan.late_cgroup_mounts: nothing after them overlaps)
        mount(pl.mounts[i])
    rootfs.remount_readonly_tmpfs(root_fd, pl.mounts)
    if pl.hooks.get("prestart") or pl.hooks.get("createRuntime") or pl.hooks.get("createContainer"):
        cgroup_joined()  # hooks see the container in its cgroup
    if pl.hooks.get("prestart") or pl.hooks.get("createRuntime"):
        sync.send(chan, sync.RUN_HOOKS)
        sync.expect(chan, sync.HOOKS_DONE)
    if pl.hooks.get("createContainer"):
        from .hooks import run_hooks
        run_hooks(pl.hooks["createContainer"], "createContainer", _hook_state(pl, "creating"))
    os.close(root_fd)
    last_cap = _last_cap()
    clamp_caps(proc, last_cap)
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
    set_home_env(proc)
    # runc's nsexec stage 2 calls setsid() for every container process, tty or not: conmon's --timeout
    # kills -getpgid(pid), which would hit conmon itself if we stayed in its process group
    os.setsid()
    if slave is not None:
        L.set_ctty(slave)
        for i in (0, 1, 2):
            os.dup2(slave, i)
        os.close(slave)

    if pl.mempolicy is not None:  # the task's NUMA policy survives execve
        try:
            L.set_mempolicy(*pl.mempolicy)
        except OSError as e:
            raise InitError(f"linux.memoryPolicy: {(e.strerror or str(e)).lower()}") from None
    cgroup_joined()  # (may unshare the cgroup namespace: still needs CAP_SYS_ADMIN)
    # like runc's finalizeNamespace, before READY: a user or capability the kernel refuses is a
    # create error the caller sees, not a silent exit after start
    drop_privileges(proc, seccomp_prog, last_cap)
    sync.send(chan, sync.READY)
    chan.close()
    # the start handshake: block until `pyrunc start` writes one byte into exec.fifo
    if os.read(fifo_fd, 1) != b"0":
        os._exit(1)
    os.close(fifo_fd)
    if pl.hooks.get("startContainer"):
        from .hooks import run_hooks
        run_hooks(pl.hooks["startContainer"], "startContainer", _hook_state(pl, "created"))
    exec_now(proc, exe, seccomp_prog, preserve)


def _preimport(pl: Plan, seccomp_prog) -> None:
    if pl.hooks.get("startContainer"):
        from . import hooks  # noqa: F401
    if seccomp_prog.prog is not None:  # (a program sent through the pipe needs no import)
        from . import seccomp  # noqa: F401


def _hook_state(pl: Plan, status: str) -> dict:
    st = {"ociVersion": "1.3.0", "id": pl.id, "status": status, "pid": os.getpid(), "bundle": pl.bundle}
    if pl.annotations:
        st["annotations"] = pl.annotations
    return st


def set_oom_score_adj(adj: int | None) -> None:
    if adj is None:
        return
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(adj))
    except OSError as e:  # lowering it needs CAP_SYS_RESOURCE
        raise InitError(f"process.oomScoreAdj: cannot set to {adj}: {(e.strerror or str(e)).lower()}") from None


def _make_cwd(cwd: str) -> None:
    """Create a missing cwd; symlinks on the way are followed inside the container's root."""
    try:
        root = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.close(rootfs.ensure(root, cwd))
        finally:
            os.close(root)
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


def set_home_env(proc: Process) -> None:
    """runc's rule: without HOME in the config, HOME is the user's home from the container's
    /etc/passwd, else "/" (many programs need it). Call after pivot_root."""
    if any(e.startswith("HOME=") and len(e) > 5 for e in proc.env):
        return
    home = "/"
    try:
        fd = os.open("/etc/passwd", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a planted fifo must not block
        try:
            if os.fstat(fd).st_mode & 0o170000 == 0o100000:
                data = os.read(fd, 1 << 20).decode(errors="replace")
                for line in data.splitlines():
                    f = line.split(":")
                    if len(f) >= 6 and f[2] == str(proc.uid):
                        home = f[5] or "/"
                        break
        finally:
            os.close(fd)
    except OSError:
        pass
    proc.env = [e for e in proc.env if not e.startswith("HOME=")] + ["HOME=" + home]


def find_executable(proc: Process) -> str:
    """execvp semantics with the container's PATH, checked before READY so create reports it."""
    name = proc.args[0]
    if "/" in name:
        # runc: exec.LookPath (stat, not a dir, some x bit) then eaccess (catches noexec mounts)
        try:
            st = os.stat(name)
        except OSError as e:
            raise InitError(f'exec: "{name}": stat {name}: {(e.strerror or str(e)).lower()}') from None
        if st.st_mode & 0o170000 == 0o040000 or not st.st_mode & 0o111:
            raise InitError(f'exec: "{name}": permission denied')
        if not os.access(name, os.X_OK, effective_ids=True):
            raise InitError(f"exec {name}: permission denied")
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
    drop_privileges(proc, seccomp_prog, last_cap)
    exec_now(proc, exe, seccomp_prog, preserve)


def drop_privileges(proc: Process, seccomp_prog, last_cap: int) -> None:
    """seccomp (without no_new_privs it needs CAP_SYS_ADMIN: load while still root), user and
    groups, capabilities, no_new_privs, umask and cwd."""
    if not proc.no_new_privs:
        seccomp_prog.load()
    set_user_and_caps(proc, last_cap)
    if proc.no_new_privs:
        L.prctl(L.PR_SET_NO_NEW_PRIVS, 1)
    if proc.umask is not None:
        os.umask(proc.umask)
    try:
        os.chdir(proc.cwd)
    except OSError as e:
        raise InitError(f"chdir to cwd ({proc.cwd!r}) set in config.json failed: {e.strerror.lower()}") from None


def exec_now(proc: Process, exe: str, seccomp_prog, preserve: int) -> None:
    """Close every fd but stdio and the preserved ones at exec, load a no_new_privs seccomp filter
    as close to execve as possible (few syscalls left to allow), execve. Never returns."""
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


def clamp_caps(proc: Process, last_cap: int) -> None:
    """Keep only capabilities this host can grant (our bounding set): the spec wants ungrantable
    ones ignored, while capset/PR_CAP_AMBIENT_RAISE of one fails after READY with no message."""
    if proc.cap_effective is None:
        return
    avail = 0
    for cap in range(last_cap + 1):
        if L.prctl(PR_CAPBSET_READ, cap) == 1:
            avail |= 1 << cap
    proc.cap_bounding &= avail
    proc.cap_effective &= avail
    proc.cap_permitted &= avail
    proc.cap_inheritable &= avail
    proc.cap_ambient &= avail


PR_CAPBSET_READ = 23


def _last_cap() -> int:
    from .caps import last_cap
    return last_cap()
