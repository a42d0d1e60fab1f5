"""``exec``: start one more process inside a running container.

The runtime forks a joiner that enters every namespace of the container's init (user first),
joins its cgroup (born in the cgroup2 directory by clone3; on v1 it writes "0" into the ``tasks``
fds the parent opened), and forks the process that becomes the command, born inside: pid and
time namespaces only apply to children. Everything the joiner needs is imported before setns(mnt), after which the
host's Python library is out of reach; the joiner is non-dumpable, so no container process can
open the host interpreter through /proc/<pid>/exe (CVE-2019-5736).
"""
from . import fastos as os

from . import linux as L
from . import plan, state, sync
from .errors import Error

# setns order: the user namespace first (it owns the others), mnt late (it changes our root)
_NS_ORDER = ("user", "cgroup", "ipc", "uts", "net", "pid", "time", "mnt")
_NS_FLAG = {"user": L.CLONE_NEWUSER, "cgroup": L.CLONE_NEWCGROUP, "ipc": L.CLONE_NEWIPC, "uts": L.CLONE_NEWUTS,
            "net": L.CLONE_NEWNET, "pid": L.CLONE_NEWPID, "time": L.CLONE_NEWTIME, "mnt": L.CLONE_NEWNS}


def process_from_flags(cfg_proc: dict, opts, args: list[str]) -> dict:
    """runc's exec without --process: the container's process spec with the flags applied."""
    p = dict(cfg_proc)
    if not args:
        raise Error("exec: process args cannot be empty")
    p["args"] = list(args)
    p["terminal"] = bool(opts.tty)
    if opts.cwd:
        p["cwd"] = opts.cwd
    if opts.env:
        p["env"] = list(p.get("env", ())) + list(opts.env)
    if opts.user:
        uid, _, gid = opts.user.partition(":")
        user = dict(p.get("user", {}))
        try:
            user["uid"] = int(uid)
            if gid:
                user["gid"] = int(gid)
        except ValueError:
            raise Error(f"parsing {opts.user} as UID[:GID] failed") from None
        p["user"] = user
    if opts.additional_gids:
        user = dict(p.get("user", {}))
        try:
            user["additionalGids"] = [int(g) for g in opts.additional_gids]
        except ValueError:
            raise Error("--additional-gids: not a number") from None
        p["user"] = user
    if opts.cap:
        caps = {k: list(v) for k, v in (p.get("capabilities") or {}).items()}
        for c in opts.cap:
            name = c.upper() if c.upper().startswith("CAP_") else "CAP_" + c.upper()
            for k in ("bounding", "effective", "permitted"):
                if name not in caps.setdefault(k, []):
                    caps[k].append(name)
        p["capabilities"] = caps
    if opts.no_new_privs:
        p["noNewPrivileges"] = True
    if opts.process_label:
        p["selinuxLabel"] = opts.process_label
    if opts.apparmor:
        p["apparmorProfile"] = opts.apparmor
    return p


def load_process(opts, args: list[str], base: dict) -> dict:
    """The process to start: --process FILE, or ``base`` (the container's process) with the flags applied."""
    from pyrunc.spec.validate import SpecError, validate_process

    from .jsonlite import JSONError, load_file
    if opts.process:
        try:
            proc = load_file(opts.process)
        except (OSError, JSONError) as e:
            raise Error(f"--process {opts.process}: {e}") from None
    else:
        proc = process_from_flags(base, opts, args)
    try:
        return validate_process(proc)
    except SpecError as e:
        raise Error(str(e)) from None


class Joiner:
    """What the forked joiner needs, prepared in the parent (no I/O after setns)."""
    __slots__ = ("ns_fds", "proc", "seccomp", "preserve", "last_cap", "console")


def exec_process(c: state.Container, proc_spec: dict, opts, detach: bool,
                 seccomp: dict | None = None) -> tuple[int, int | None]:
    """Start the process; return (pid, pty master or None when the caller relays the terminal).
    ``seccomp``: the container's linux.seccomp, applied to the new process too."""
    from .create import _check_lsm, _connect, _preserved_fds, fork_in_cgroup
    st = c.status()
    if st == "stopped":
        raise Error("cannot exec in a stopped container")
    if st == "paused" and not opts.ignore_paused:
        raise Error("cannot exec in a paused container (use --ignore-paused to override)")
    proc = plan.process(proc_spec)
    _check_lsm(proc)
    if proc.terminal and detach and not opts.console_socket:
        raise Error("cannot allocate tty if runc will detach without setting console socket")
    if opts.console_socket and (not proc.terminal or not detach):
        raise Error("cannot use console socket if runc will not detach or allocate tty")

    j = Joiner()
    j.proc = proc
    j.preserve = _preserved_fds(opts)
    from .caps import last_cap
    j.last_cap = last_cap()
    j.ns_fds = _namespace_fds(c.pid)
    j.seccomp = None
    if seccomp:
        from .seccomp import SeccompError, compile_filter
        try:
            j.seccomp = compile_filter(seccomp, c.root + "/.seccomp-cache")
        except SeccompError as e:
            raise Error(str(e)) from None
    relay = None
    if proc.terminal:
        if opts.console_socket:
            j.console = _connect(opts.console_socket)
        else:
            import _socket
            relay, j.console = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    else:
        j.console = None
    _preimport(j)
    mgr = _cgroup(c, opts.cgroup)
    parent_chan, child_chan = sync.pair()
    if not detach:
        L.prctl(L.PR_SET_CHILD_SUBREAPER, 1)
    # a frozen cgroup would freeze the half-set-up process: join it after execve instead
    late_join = st == "paused"
    join_fds = []
    if mgr is not None and not late_join:
        try:
            join_fds = mgr.open_join_fds()  # the joiner writes "0" into each: no RCU grace period
        except Exception as e:
            raise Error(f"exec failed: unable to join the container's cgroup: {e}") from None
    try:
        pid, born_inside = fork_in_cgroup(mgr, allowed=not late_join)
        if pid == 0:
            parent_chan.close()
            _joiner(j, child_chan, join_fds)
    finally:
        for fd in join_fds:
            os.close(fd)
    child_chan.close()
    for _t, fd in j.ns_fds:
        os.close(fd)
    if j.console is not None:
        j.console.close()
    final = None
    try:
        if mgr is not None and not late_join and not born_inside:
            mgr.join_birth_dir(pid)
        sync.send(parent_chan, sync.CGROUP_READY)
        while True:
            try:
                tag, payload, _ = sync.recv(parent_chan)
            except sync.ChannelClosed:
                break  # the final process reached execve (the channel is close-on-exec)
            if tag == sync.INIT_PID:
                final = int(payload)
            elif tag == sync.ERROR:
                raise Error("exec failed: unable to start container process: " + payload.decode(errors="replace"))
        if final is None:
            raise Error("exec failed: container process exited before it started")
        if mgr is not None and late_join:
            try:
                mgr.apply(final)
            except Exception:
                if state.proc_start_time(final) is not None:
                    raise
    except BaseException:
        if final is not None:
            try:
                os.kill(final, 9)
            except ProcessLookupError:
                pass
        raise
    finally:
        parent_chan.close()
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    master = None
    if relay is not None:
        _tag, _payload, fds = sync.recv(relay)
        relay.close()
        master = fds[0] if fds else None
    return final, master


def _cgroup(c: state.Container, sub_args: list[str] | None):
    """The container's cgroup, or the existing sub-cgroups ``--cgroup`` names (runc's syntax)."""
    mgr = c.cgroup_manager()
    if not sub_args or mgr is None:
        return mgr
    from .cgroups import CgroupError
    from .cgroups.paths import sub_cgroup_paths
    try:
        mgr = mgr.sub(sub_cgroup_paths(sub_args))
        if mgr.birth_dir and not os.path.isdir(mgr.birth_dir):
            raise CgroupError(f"cgroup: cannot join {mgr.birth_dir}: no such file or directory")
    except CgroupError as e:
        raise Error(f"exec failed: {e}") from None
    return mgr


def _namespace_fds(pid: int) -> list[tuple[str, int]]:
    """Open the init's namespaces that differ from ours (setns into our own user ns is EINVAL)."""
    out = []
    for t in _NS_ORDER:
        try:
            theirs = os.stat(f"/proc/{pid}/ns/{t}")
        except FileNotFoundError:
            continue
        except PermissionError:
            raise Error("container not running") from None
        try:
            mine = os.stat(f"/proc/self/ns/{t}")
            if (mine.st_ino, mine.st_dev) == (theirs.st_ino, theirs.st_dev):
                continue
        except FileNotFoundError:
            pass
        out.append((t, os.open(f"/proc/{pid}/ns/{t}", os.O_RDONLY | os.O_CLOEXEC)))
    return out


def _preimport(j: Joiner) -> None:
    from . import foreground, init, rootfs  # noqa: F401
    if j.seccomp is not None:
        from . import seccomp  # noqa: F401


def _joiner(j: Joiner, chan, join_fds: list[int]) -> None:
    """Child: join the cgroup and enter the container, fork the final process (pid/time ns
    apply to children)."""
    from .foreground import Forwarder
    from .init import _describe, join_cgroup
    try:
        join_cgroup(join_fds)
        Forwarder.restore_defaults()  # the foreground exec installed its forwarding handlers
        L.prctl(L.PR_SET_DUMPABLE, 0)
        for t, fd in j.ns_fds:
            L.setns(fd, _NS_FLAG[t])
            os.close(fd)
        if any(t == "user" for t, _ in j.ns_fds):
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
        sync.expect(chan, sync.CGROUP_READY)  # the parent placed us in the cgroup2 dir if clone3 could not
        pid = os.fork()
        if pid:
            sync.send(chan, sync.INIT_PID, str(pid).encode())
            os._exit(0)
        _final(j, chan)
    except BaseException as e:
        try:
            sync.send(chan, sync.ERROR, _describe(e).encode())
        except OSError:
            pass
    os._exit(1)


def _final(j: Joiner, chan) -> None:
    from .init import (Seccomp, apply_process_attributes, clamp_caps, find_executable, finalize_and_exec,
                       set_home_env)
    from .rootfs import setup_console
    proc = j.proc
    os.setsid()  # like runc (nsexec stage 2): own session and process group, tty or not
    if proc.terminal:
        slave = setup_console(j.console, proc.console_size, bind_console=False)
        j.console.close()
        L.set_ctty(slave)
        for i in (0, 1, 2):
            os.dup2(slave, i)
        os.close(slave)
    apply_process_attributes(proc)
    clamp_caps(proc, j.last_cap)
    exe = find_executable(proc)
    set_home_env(proc)
    sc = Seccomp(j.seccomp, None, None)
    finalize_and_exec(proc, exe, sc, j.preserve, j.last_cap)
