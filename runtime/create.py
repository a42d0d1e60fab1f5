"""The parent side of ``create``: plan, state dir, cgroup, fork the init, wait for READY.

The init is born in its cgroup2 directory (clone3) and joins the v1 hierarchies itself through
``tasks`` fds the parent sends once they exist (Manager.open_join_fds: no RCU grace period).
The parent runs the runtime-namespace hooks when asked, then writes state.json and the pid
file and exits so the init is re-parented to the caller.
"""
from . import fastos as os
import time

from . import linux as L
from . import log, plan, state, sync
from .errors import EXISTS, Error
# imported before the fork: no copy-on-write faults for them in the child
from .init import child_entry, send_program, write_time_offsets
from .jsonlite import JSONError, load_file, loads


class Created:
    __slots__ = ("pid", "container")

    def __init__(self, pid: int, container: state.Container) -> None:
        self.pid, self.container = pid, container


def load_config(bundle: str) -> tuple[bytes, dict]:
    """The bundle's config.json as (raw bytes, validated dict); the bytes are kept in the state dir."""
    from pyrunc.spec.validate import SpecError, validate_config
    try:
        with open(bundle + "/config.json", "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise Error(f"JSON specification file config.json not found in {bundle}") from None
    try:
        return raw, validate_config(loads(raw))
    except JSONError as e:
        raise Error(f"config.json: {e}") from None
    except SpecError as e:
        raise Error(f"config.json: {e}") from None


def container_config(c: state.Container) -> dict:
    """The config the container was created with (exec uses its process and seccomp; later edits
    of the bundle's config.json have no effect, as the runtime spec says)."""
    try:
        return load_file(c.dir + "/" + CONFIG_COPY)
    except (OSError, JSONError) as e:
        raise Error(f"container config of {c.id} unreadable: {e}") from None


CONFIG_COPY = "config.json"


def create(gopts, cid: str, bundle: str, opts, for_run: bool = False,
           loaded: tuple[bytes, dict] | None = None) -> Created:
    """``loaded``: load_config()'s result when the caller (``run``) already read the bundle."""
    t0 = time.perf_counter()
    state.validate_id(cid)
    bundle = os.path.abspath(bundle or ".")
    raw, cfg = loaded or load_config(bundle)
    pl = plan.build(cfg, bundle, cid, no_pivot=bool(opts.no_pivot))
    pl.new_keyring = not opts.no_new_keyring
    _check_terminal(pl, opts, for_run)
    _check_lsm(pl.process)
    if not os.path.isdir(pl.rootfs):
        raise Error(f"root.path: rootfs ({pl.rootfs}) does not exist")
    for w in pl.process.unknown_caps:
        log.warning(f"unknown capability {w!r}, ignored")
    _warn_ungrantable(pl.process)
    log.debug(f"plan ready in {log.elapsed_ms(t0)}")

    root = gopts.root
    os.makedirs(root, 0o700, exist_ok=True)
    sdir = state.state_dir(root, cid)
    try:
        os.mkdir(sdir, 0o711)
    except FileExistsError:
        raise Error(EXISTS) from None
    lock_fd = state.lock(sdir)
    undo = _Undo(sdir)
    try:
        return _create_locked(gopts, cid, bundle, raw, cfg, pl, opts, sdir, undo, t0, for_run, lock_fd)
    except BaseException:
        undo.run()
        raise
    finally:
        os.close(lock_fd)


class _Undo:
    """What a failed create must take back: the init, the cgroup, open pipe fds, the state dir."""

    def __init__(self, sdir: str) -> None:
        self.sdir, self.pids, self.cgroup, self.fds = sdir, [], None, []

    def close(self, fd: int) -> None:
        """Close one of ``fds`` now."""
        self.fds.remove(fd)
        os.close(fd)

    def run(self) -> None:
        for fd in self.fds:
            os.close(fd)
        for pid in self.pids:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        if self.cgroup is not None:
            try:
                self.cgroup.destroy()
            except Exception as e:  # best effort; the original error is what the caller sees
                log.warning(f"cleanup of cgroup failed: {e}")
        state.remove_dir(self.sdir)


def _check_terminal(pl: plan.Plan, opts, for_run: bool) -> None:
    detach = (not for_run) or bool(opts.detach)
    if pl.process.terminal and detach and not opts.console_socket:
        raise Error("cannot allocate tty if runc will detach without setting console socket")
    if opts.console_socket and (not pl.process.terminal or not detach):
        raise Error("cannot use console socket if runc will not detach or allocate tty")


def _warn_ungrantable(proc: plan.Process) -> None:
    """The spec wants capabilities the host cannot grant ignored with a warning (the init drops them)."""
    if proc.cap_bounding is None:
        return
    wanted = proc.cap_bounding | proc.cap_effective | proc.cap_permitted | proc.cap_inheritable | proc.cap_ambient
    with open("/proc/self/status", "rb") as f:
        for line in f:
            if line.startswith(b"CapBnd:"):
                missing = wanted & ~int(line.split()[1], 16)
                break
        else:
            return
    if missing:
        from .caps import NAMES
        names = [NAMES[i] if i < len(NAMES) else str(i) for i in range(missing.bit_length()) if missing >> i & 1]
        log.warning(f"capabilities not in the runtime's bounding set are dropped: {', '.join(names)}")


def _check_lsm(proc: plan.Process) -> None:
    if proc.apparmor and not os.path.isdir("/sys/kernel/security/apparmor"):
        raise Error("process.apparmorProfile: apparmor is not enabled on this host")
    if proc.selinux and not os.path.isdir("/sys/fs/selinux"):
        raise Error("process.selinuxLabel: selinux is not enabled on this host")


def _connect(path: str, what: str = "console socket"):
    import _socket
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        s.connect(path)
    except OSError as e:
        s.close()
        raise Error(f"failed to connect to {what} {path}: {(e.strerror or str(e)).lower()}") from None
    return s


def _create_locked(gopts, cid, bundle, raw, cfg, pl, opts, sdir, undo, t0, for_run, lock_fd) -> Created:
    from .cgroups import CgroupError, new_manager
    try:
        # PYRUNC_CGROUP_VERSION=v2 runs a hybrid host's containers on its cgroup2 hierarchy only (tests)
        cg = new_manager(pl.cgroups_path, cid, pl.resources, systemd=bool(gopts.systemd_cgroup),
                         mode=os.getenv("PYRUNC_CGROUP_VERSION") or None)
    except CgroupError as e:
        raise Error(str(e)) from None
    undo.cgroup = cg
    # v2 forks the init straight into its cgroup, limits already written. v1 makes its directories
    # after the fork, while the init sets up, and the init then joins them itself (CGROUP_READY);
    # on hybrid hosts it is born in its cgroup2 directory, the only one needed before the fork.
    after_fork = cg.version == "v1"
    if after_fork:
        cg.make_birth_dir()
    else:
        _setup_cgroup(cg, pl.resources)
    userns_stage = bool(pl.ns_new & L.CLONE_NEWUSER) or any(t == "user" for t, _ in pl.ns_join)

    # seccomp is compiled (or read from the cache) after the fork, while the init sets up, and sent
    # through a pipe; a notify profile is compiled first: its listener socket is needed in the fork
    seccomp_prog = seccomp_pipe = None
    if pl.seccomp:
        if pl.seccomp.get("listenerPath"):
            seccomp_prog = _compile_seccomp(pl, gopts.root)
        else:
            seccomp_pipe = os.pipe2(os.O_CLOEXEC)
            undo.fds.extend(seccomp_pipe)

    if any(m.idmap for m in pl.mounts):  # (before _enter_pid_time: it forks a helper)
        from .idmap import prepare
        undo.fds.extend(prepare(pl.mounts))

    fifo = sdir + "/" + state.FIFO
    os.mkfifo(fifo, 0o600)
    fifo_fd = os.open(fifo, os.O_RDWR | os.O_CLOEXEC)
    console = opts.console_conn or (_connect(opts.console_socket) if opts.console_socket else None)
    listener = None
    if seccomp_prog is not None and seccomp_prog.has_notify:
        listener = _connect(pl.seccomp["listenerPath"], "seccomp listener")
    parent_chan, child_chan = sync.pair()
    preserve = _preserved_fds(opts, pl.process)

    restore = [] if userns_stage else _enter_pid_time(pl)
    # `run` waits for the init; with a user-namespace stage the init is orphaned when the stage exits,
    # and a failed create must reap it: a zombie left to a pid 1 that does not reap stays in the cgroup
    if (for_run and not opts.detach) or userns_stage:
        L.prctl(L.PR_SET_CHILD_SUBREAPER, 1)
    # the user-namespace stage forks the init itself, once it has joined the cgroup
    pid, born_inside = fork_in_cgroup(cg, allowed=not userns_stage)
    if pid == 0:
        if for_run and not opts.detach:
            from .foreground import Forwarder
            Forwarder.restore_defaults()  # `run` forwards signals; the init takes them as usual
        os.close(lock_fd)  # flock belongs to the open file: the init must not keep holding it
        parent_chan.close()
        if seccomp_pipe is not None:
            os.close(seccomp_pipe[1])
        child_entry(pl, child_chan, fifo_fd, console, seccomp_prog, userns_stage, preserve, listener,
                    seccomp_pipe[0] if seccomp_pipe is not None else None)
    undo.pids.append(pid)
    if seccomp_pipe is not None:
        undo.close(seccomp_pipe[0])
    for m in pl.mounts:  # the init has its copies of the idmapped mounts
        if m.idmap_fd is not None:
            undo.close(m.idmap_fd)
    for fd, nstype in restore:
        L.setns(fd, nstype)
        os.close(fd)
    child_chan.close()
    os.close(fifo_fd)
    if console is not None:
        console.close()
    if listener is not None:
        listener.close()
    log.debug(f"forked init {pid} at {log.elapsed_ms(t0)}")

    if after_fork:
        _setup_cgroup(cg, pl.resources)
    _hand_over_cgroup(cg, pid, born_inside, parent_chan)
    log.debug(f"cgroup ready for the init at {log.elapsed_ms(t0)}")
    if seccomp_pipe is not None:
        try:
            send_program(seccomp_pipe[1], _compile_seccomp(pl, gopts.root))
        except BrokenPipeError:  # the init already failed: its error message is waiting in the channel
            pass
        undo.close(seccomp_pipe[1])
        log.debug(f"seccomp sent at {log.elapsed_ms(t0)}")
    init_pid = _wait_ready(parent_chan, pl, pid, cid, bundle, undo)
    parent_chan.close()
    log.debug(f"init ready at {log.elapsed_ms(t0)}")

    data = {"id": cid, "pid": init_pid, "pid_start": state.proc_start_time(init_pid), "bundle": bundle,
            "rootfs": pl.rootfs, "created": state.rfc3339_nano(time.time_ns()),
            "ociVersion": cfg.get("ociVersion", "1.3.0"), "annotations": pl.annotations,
            "cgroup": cg.save(), "userns": userns_stage}
    hooks = {k: pl.hooks[k] for k in ("poststart", "poststop") if pl.hooks.get(k)}
    if hooks:
        data["hooks"] = hooks
    c = state.Container(gopts.root, cid, data)
    state.write_atomic(sdir + "/" + CONFIG_COPY, raw)
    c.save()
    if opts.pid_file:
        state.write_pid_file(opts.pid_file, init_pid)
    log.debug(f"create done in {log.elapsed_ms(t0)}")
    return Created(init_pid, c)


def _hand_over_cgroup(cg, pid: int, born_inside: bool, chan) -> None:
    """The cgroup exists: tell the init (CGROUP_READY), with the v1 ``tasks`` fds it joins through."""
    fds = []
    try:
        if not born_inside:
            cg.join_birth_dir(pid)
        fds = cg.open_join_fds()
    except Exception as e:
        raise Error(f"unable to apply cgroup configuration: {e}") from None
    try:
        sync.send(chan, sync.CGROUP_READY, fds=tuple(fds))
    except OSError:  # the init already failed: its error message is waiting in the channel
        pass
    finally:
        for fd in fds:
            os.close(fd)


def _compile_seccomp(pl: plan.Plan, root: str):
    from .seccomp import SeccompError, compile_filter
    try:
        return compile_filter(pl.seccomp, root + "/.seccomp-cache")
    except SeccompError as e:
        raise Error(str(e)) from None


def _setup_cgroup(cg, resources: dict | None) -> None:
    """Create the container's cgroup and write its limits (before any process joins it)."""
    from .cgroups import CgroupError
    try:
        cg.create()
        if resources:
            cg.set_resources(resources)
    except CgroupError as e:
        raise Error(str(e)) from None


def fork_in_cgroup(cg, allowed: bool = True) -> tuple[int, bool]:
    """Fork; the child is born inside the container's cgroup2 directory (CLONE_INTO_CGROUP: v2,
    or the unified one of a hybrid host), which saves a cgroup.procs write and its RCU grace
    period. Returns (pid, born inside)."""
    if allowed and cg is not None and cg.birth_dir:
        fd = os.open(cg.birth_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            return L.fork_into_cgroup(fd), True
        except OSError as e:
            if e.errno not in (38, 22, 1):  # ENOSYS/EINVAL/EPERM (old kernel, seccomp'd runtime)
                raise
        finally:
            os.close(fd)  # in the parent and in the child alike
    return os.fork(), False


def socket_activation() -> int:
    """systemd socket activation: LISTEN_FDS fds meant for us (LISTEN_PID unset or our pid)."""
    listen = os.getenv("LISTEN_FDS", "")
    pid = os.getenv("LISTEN_PID")
    if listen.isdigit() and (pid is None or pid == str(os.getpid())):
        return int(listen)
    return 0


def _preserved_fds(opts, proc: plan.Process | None = None) -> int:
    """Check and mark inheritable the fds 3.. passed on (socket activation first, then --preserve-fds);
    with socket activation the process gets LISTEN_FDS=n and LISTEN_PID=1, like runc."""
    listen = socket_activation()
    n = (opts.preserve_fds or 0) + listen
    if listen and proc is not None:
        proc.env = [e for e in proc.env if not e.startswith(("LISTEN_FDS=", "LISTEN_PID="))]
        proc.env += [f"LISTEN_FDS={listen}", "LISTEN_PID=1"]
    for fd in range(3, 3 + n):
        try:
            os.fstat(fd)
        except OSError:
            raise Error(f"preserve-fds: fd {fd} is not open") from None
        os.set_inheritable(fd, True)
    return n


def _enter_pid_time(pl: plan.Plan) -> list[tuple[int, int]]:
    """Create/join the pid and time namespaces for our children only; return how to come back."""
    restore = []
    joins = dict(pl.ns_join)
    for t, flag in (("pid", L.CLONE_NEWPID), ("time", L.CLONE_NEWTIME)):
        if t in joins or pl.ns_new & flag:
            restore.append((os.open(f"/proc/self/ns/{t}", os.O_RDONLY | os.O_CLOEXEC), flag))
    for t in ("pid", "time"):
        if t in joins:
            fd = os.open(joins[t], os.O_RDONLY | os.O_CLOEXEC)
            try:
                L.setns(fd, L.NS_FLAGS[t])
            except OSError as e:
                if e.errno == 22:
                    raise Error(f"linux.namespaces: {joins[t]} is not a {t} namespace") from None
                raise
            finally:
                os.close(fd)
    flags = pl.ns_new & (L.CLONE_NEWPID | L.CLONE_NEWTIME)
    if flags:
        L.unshare(flags)
        if flags & L.CLONE_NEWTIME:
            write_time_offsets(pl.time_offsets)
    return restore


def _wait_ready(chan, pl: plan.Plan, pid: int, cid: str, bundle: str, undo: _Undo) -> int:
    """Serve the init's requests until READY; return the pid of the final init."""
    init_pid = pid
    while True:
        try:
            tag, payload, fds = sync.recv(chan)
        except sync.ChannelClosed:
            raise Error("container init exited unexpectedly") from None
        if tag == sync.READY:
            return init_pid
        if tag == sync.ERROR:
            raise Error("unable to start container process: " + payload.decode(errors="replace"))
        if tag == sync.USERNS_READY:
            _write_id_maps(pid, pl)
            sync.send(chan, sync.MAPS_WRITTEN)
        elif tag == sync.INIT_PID:
            init_pid = int(payload)
            undo.pids.append(init_pid)
            try:
                os.waitpid(pid, 0)  # the user-ns stage exits right after forking the init
            except ChildProcessError:
                pass
        elif tag == sync.RUN_HOOKS:
            from .hooks import run_hooks
            st = {"ociVersion": "1.3.0", "id": cid, "status": "creating", "pid": init_pid, "bundle": bundle}
            if pl.annotations:
                st["annotations"] = pl.annotations
            for name in ("prestart", "createRuntime"):
                if pl.hooks.get(name):
                    run_hooks(pl.hooks[name], name, st)
            sync.send(chan, sync.HOOKS_DONE)
        else:
            raise Error(f"unexpected message {tag!r} from container init")


def _write_id_maps(pid: int, pl: plan.Plan) -> None:
    def fmt(maps):
        return "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in maps)
    try:
        with open(f"/proc/{pid}/uid_map", "w") as f:
            f.write(fmt(pl.uid_maps))
        with open(f"/proc/{pid}/gid_map", "w") as f:
            f.write(fmt(pl.gid_maps))
    except OSError as e:
        raise Error(f"linux.uidMappings: writing id maps failed: {e.strerror}") from None
