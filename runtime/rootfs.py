"""Kernel-touching rootfs setup: mounts resolved inside the rootfs, devices, pivot_root, masking.

Every mount target is resolved with openat2(RESOLVE_IN_ROOT) from an fd of the rootfs and the
mount is made on ``/proc/self/fd/N`` of the resolved fd, so a symlink planted in the rootfs (to
``/``, ``..`` or a host path) can never redirect a mount outside it (CVE-2021-30465 class).
"""
from . import fastos as os
import stat

from . import linux as L
from .plan import DEFAULT_DEVICES, Mount, Plan

O_PATH = os.O_PATH
_IN_ROOT = L.RESOLVE_IN_ROOT | L.RESOLVE_NO_MAGICLINKS
MOUNT_ATTR_RDONLY = 0x1


def _fdpath(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


def resolve(root_fd: int, path: str, flags: int = O_PATH) -> int:
    return L.openat2(root_fd, path.lstrip("/") or ".", flags, _IN_ROOT)


def ensure(root_fd: int, path: str, as_file: bool = False, mode: int = 0o755) -> int:
    """O_PATH fd of ``path`` inside the root, creating missing parts (dirs; last part a file if asked).

    A dangling symlink on the way is followed inside the root, and what it names is created there
    (runc's MkdirAllInRoot): /etc/resolv.conf -> /run/x makes <rootfs>/run/x, never the host's /run/x.
    """
    try:
        return resolve(root_fd, path)
    except FileNotFoundError:
        pass
    parts = [p for p in path.split("/") if p and p != "."]
    hops, i = 0, 0
    while i < len(parts):
        try:
            os.close(resolve(root_fd, "/".join(parts[: i + 1])))
            i += 1
            continue
        except FileNotFoundError:
            pass
        name = parts[i]
        pfd = resolve(root_fd, "/".join(parts[:i]) or ".")
        try:
            try:
                st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
            except FileNotFoundError:
                st = None
            if st is not None and stat.S_ISLNK(st.st_mode):
                hops += 1
                if hops > 40:
                    raise OSError(40, "too many levels of symbolic links", path)
                target = os.readlink(name, dir_fd=pfd)
                base = [] if target.startswith("/") else parts[:i]
                parts = base + [p for p in target.split("/") if p and p != "."] + parts[i + 1:]
                i = 0
                continue
            if name == "..":
                raise FileNotFoundError(2, "No such file or directory", path)
            if i == len(parts) - 1 and as_file:
                os.close(os.open(name, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=pfd))
            else:
                try:
                    os.mkdir(name, mode, dir_fd=pfd)
                except FileExistsError:
                    pass
        finally:
            os.close(pfd)
        i += 1
    return resolve(root_fd, "/".join(parts) or ".")


def _is_dir_source(src: str) -> bool:
    try:
        return stat.S_ISDIR(os.stat(src).st_mode)
    except FileNotFoundError:
        raise OSError(2, f"mount source {src!r} does not exist", src) from None


def mount_one(root_fd: int, m: Mount) -> None:
    """Mount ``m`` inside the root; bind options are applied with a remount like runc does."""
    if m.bind:
        as_file = not _is_dir_source(m.source)
    else:
        as_file = False
    tfd = ensure(root_fd, m.destination, as_file=as_file)
    try:
        target = _fdpath(tfd)
        if m.bind:
            if m.idmap_fd is not None:  # made by the runtime on the host (runtime/idmap.py)
                L.move_mount(m.idmap_fd, tfd)
                os.close(m.idmap_fd)
                m.idmap_fd = None
            else:
                L.mount(m.source, target, None, L.MS_BIND | (m.flags & L.MS_REC), None)
            extra = m.flags & ~(L.MS_BIND | L.MS_REC | L.MS_REMOUNT)
            if extra:
                # re-resolve: the fd still names the covered directory, the new mount is on top
                nfd = resolve(root_fd, m.destination)
                try:
                    _remount_bind(_fdpath(nfd), extra)
                finally:
                    os.close(nfd)
        elif m.type == "tmpfs":
            _mount_tmpfs(root_fd, m, target)
        else:
            L.mount(m.source, target, m.type, m.flags, m.data)
        if m.propagation or m.attr_set or m.attr_clr:
            nfd = resolve(root_fd, m.destination)
            try:
                for p in m.propagation:
                    L.mount(None, _fdpath(nfd), None, p, None)
                if m.attr_set or m.attr_clr:
                    L.mount_setattr(nfd, m.attr_set, m.attr_clr, recursive=True)
            finally:
                os.close(nfd)
    finally:
        os.close(tfd)


def _mount_tmpfs(root_fd: int, m: Mount, target: str) -> None:
    """tmpfs like runc: mounted writable (devices and copies go in first; remount_readonly_tmpfs
    applies ``ro`` later) and, with ``tmpcopyup``, filled with what the directory held."""
    src = resolve(root_fd, m.destination, os.O_RDONLY | os.O_DIRECTORY) if "tmpcopyup" in m.special else None
    try:
        L.mount(m.source, target, "tmpfs", m.flags & ~L.MS_RDONLY, m.data)
        if src is not None:
            dst = resolve(root_fd, m.destination, os.O_RDONLY | os.O_DIRECTORY)
            try:
                _copy_tree(src, dst)
            finally:
                os.close(dst)
    finally:
        if src is not None:
            os.close(src)


def _copy_tree(src: int, dst: int) -> None:
    """Copy a directory's contents between two dir fds, keeping modes, owners and symlinks."""
    for entry in os.scandir(src):
        st = entry.stat(follow_symlinks=False)
        name = entry.name
        if stat.S_ISDIR(st.st_mode):
            os.mkdir(name, 0o700, dir_fd=dst)
            s2 = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src)
            d2 = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dst)
            try:
                _copy_tree(s2, d2)
            finally:
                os.close(s2)
                os.close(d2)
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(name, dir_fd=src), name, dir_fd=dst)
        elif stat.S_ISREG(st.st_mode):
            fi = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src)
            try:
                fo = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                             dir_fd=dst)
                try:
                    while os.sendfile(fo, fi, None, 1 << 20):
                        pass
                finally:
                    os.close(fo)
            finally:
                os.close(fi)
        else:  # fifos, sockets, device nodes
            os.mknod(name, st.st_mode, st.st_rdev, dir_fd=dst)
        os.chown(name, st.st_uid, st.st_gid, dir_fd=dst, follow_symlinks=False)
        if not stat.S_ISLNK(st.st_mode):
            os.chmod(name, stat.S_IMODE(st.st_mode), dir_fd=dst)
            os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dst)


def remount_readonly_tmpfs(root_fd: int, mounts: list[Mount]) -> None:
    """``ro`` of tmpfs mounts, deferred until what goes into them (devices, copies) is there."""
    for m in mounts:
        if m.type == "tmpfs" and not m.bind and m.flags & L.MS_RDONLY:
            fd = resolve(root_fd, m.destination)
            try:
                L.mount(None, _fdpath(fd), None, L.MS_REMOUNT | (m.flags & ~L.MS_REC), None)
            finally:
                os.close(fd)


def _remount_bind(target: str, flags: int) -> None:
    try:
        L.mount(None, target, None, L.MS_BIND | L.MS_REMOUNT | flags, None)
    except PermissionError:
        # locked flags of the source mount must be kept (e.g. inside a user namespace)
        st = os.statvfs(target)
        L.mount(None, target, None, L.MS_BIND | L.MS_REMOUNT | flags | (st.f_flag & 0x1f), None)


def prepare_root(pl: Plan, in_userns: bool = False) -> int:
    """Set "/" to rootfsPropagation (default rslave), keep the rootfs's parent mount from being
    shared (so nothing below propagates back to the host), bind the rootfs on itself; return an fd."""
    prop = pl.propagation or (L.MS_SLAVE | L.MS_REC)
    if prop & L.MS_UNBINDABLE:  # unbindable "/" would refuse the rootfs bind: private until pivot
        prop = (prop & ~L.MS_UNBINDABLE) | L.MS_PRIVATE
    L.mount(None, "/", None, prop, None)
    try:
        rootfs = os.path.realpath(pl.rootfs)  # (resolved by the kernel: the path must be reachable)
        _parent_mount_private(rootfs)
        L.mount(rootfs, rootfs, None, L.MS_BIND | L.MS_REC, None)
    except PermissionError:
        if not in_userns:
            raise
        raise OSError(13, f"root.path: {pl.rootfs} is not reachable by the root of the user namespace "
                          "(a parent directory denies search to its host uid)", pl.rootfs) from None
    return os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)


def _parent_mount_private(path: str) -> None:
    """runc's rootfsParentMountPrivate: pivot_root refuses a shared parent, and a bind below a
    shared mount would propagate to its peers in the host namespace."""
    best, shared = "", False
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split(" - ", 1)[0].split()
            mp = fields[4].replace("\\040", " ")
            if (path == mp or path.startswith(mp.rstrip("/") + "/")) and len(mp) >= len(best):
                best, shared = mp, any(o.startswith("shared:") for o in fields[6:])
    if best and shared:
        L.mount(None, best, None, L.MS_PRIVATE, None)


def create_devices(root_fd: int, pl: Plan, in_userns: bool) -> None:
    """Default devices, /dev links and linux.devices: mknod, or bind from the host in a user ns."""
    if pl.default_devices:
        for path, major, minor in DEFAULT_DEVICES:
            _make_device(root_fd, path, stat.S_IFCHR, major, minor, 0o666, 0, 0, in_userns)
        for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                             ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx")):
            dfd = ensure(root_fd, "/dev")
            try:
                os.symlink(target, name, dir_fd=dfd)
            except FileExistsError:
                pass
            finally:
                os.close(dfd)
        if os.path.exists("/proc/kcore"):
            dfd = ensure(root_fd, "/dev")
            try:
                os.symlink("/proc/kcore", "core", dir_fd=dfd)
            except FileExistsError:
                pass
            finally:
                os.close(dfd)
    kinds = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}
    for d in pl.devices:
        _make_device(root_fd, d.path, kinds[d.kind], d.major, d.minor, d.mode, d.uid, d.gid, in_userns)


def _make_device(root_fd: int, path: str, kind: int, major: int, minor: int, mode: int, uid: int, gid: int,
                 in_userns: bool) -> None:
    parent, _, name = path.rpartition("/")
    pfd = ensure(root_fd, parent or "/")
    try:
        if in_userns and kind != stat.S_IFIFO:
            fd = ensure(pfd, name, as_file=True)
            try:
                L.mount(path, _fdpath(fd), None, L.MS_BIND, None)
            finally:
                os.close(fd)
            return
        try:
            os.unlink(name, dir_fd=pfd)
        except FileNotFoundError:
            pass
        except IsADirectoryError:
            raise OSError(21, f"device path {path} is a directory", path) from None
        os.mknod(name, kind | (mode & 0o7777), os.makedev(major, minor), dir_fd=pfd)
        # mknod applies the umask; set the exact mode and owner without following links
        fd = L.openat2(pfd, name, O_PATH, _IN_ROOT | L.RESOLVE_NO_SYMLINKS)
        try:
            os.chmod(_fdpath(fd), mode & 0o7777)
            os.chown(_fdpath(fd), uid, gid)
        finally:
            os.close(fd)
    finally:
        os.close(pfd)


def pivot(rootfs: str, no_pivot: bool, propagation: int | None = None) -> None:
    """Switch the process root to the rootfs; the old root is detached (or moved over with chroot).

    rootfsPropagation is applied to the new "/" afterwards, like runc: applied before, a shared
    root would be a peer of the host's.
    """
    old_root = os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    dfd = os.open(rootfs, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fchdir(dfd)
        if no_pivot:
            L.mount(".", "/", None, L.MS_MOVE, None)
            os.chroot(".")
        else:
            L.pivot_root(".", ".")
            # the old root is now stacked on "/": make it (not the new root) rslave, so detaching
            # it cannot propagate unmounts to shared peers in the host's namespace (runc's way)
            os.fchdir(old_root)
            L.mount(None, ".", None, L.MS_SLAVE | L.MS_REC, None)
            L.umount2(".", L.MNT_DETACH)
        os.chdir("/")
    finally:
        os.close(dfd)
        os.close(old_root)
    if propagation:
        L.mount(None, "/", None, propagation, None)


def _each_existing(paths: list[str]):
    """Yield (root fd, path, O_PATH fd) for each of ``paths`` that exists below "/" (fds closed after)."""
    root = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for p in paths:
            try:
                fd = resolve(root, p)
            except (FileNotFoundError, NotADirectoryError):
                continue
            try:
                yield root, p, fd
            finally:
                os.close(fd)
    finally:
        os.close(root)


def mask_paths(paths: list[str]) -> None:
    """Hide paths after pivot_root: /dev/null over files, an empty read-only tmpfs over dirs."""
    null = None
    try:
        for root, _p, fd in _each_existing(paths):
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                L.mount("tmpfs", _fdpath(fd), "tmpfs", L.MS_RDONLY, None)
            else:
                if null is None:
                    null = _open_dev_null(root)
                L.mount(_fdpath(null), _fdpath(fd), None, L.MS_BIND, None)
    finally:
        if null is not None:
            os.close(null)


def _open_dev_null(root: int) -> int:
    """The container's /dev/null, refused unless it really is the null device (not a symlink or a
    file planted to be bound over /proc paths: CVE-2025-31133)."""
    dev = resolve(root, "/dev")
    try:
        fd = L.openat2(dev, "null", O_PATH | os.O_NOFOLLOW, _IN_ROOT)
    finally:
        os.close(dev)
    st = os.fstat(fd)
    if not stat.S_ISCHR(st.st_mode) or st.st_rdev != os.makedev(1, 3):
        os.close(fd)
        raise OSError(1, "maskedPaths: /dev/null is not the null device (1:3)", "/dev/null")
    return fd


def readonly_paths(paths: list[str]) -> None:
    for root, p, fd in _each_existing(paths):
        L.mount(_fdpath(fd), _fdpath(fd), None, L.MS_BIND | L.MS_REC, None)
        top = resolve(root, p)  # the fd still names the covered directory, the bind is on top
        try:
            _remount_bind(_fdpath(top), L.MS_RDONLY | L.MS_REC)
            # a remount is never recursive: mounts below the path would stay writable
            try:
                L.mount_setattr(top, MOUNT_ATTR_RDONLY, 0, recursive=True)
            except OSError as e:
                if e.errno != 38:  # ENOSYS: kernel < 5.12, keep the top-only remount
                    raise
        finally:
            os.close(top)


def readonly_root() -> None:
    _remount_bind("/", L.MS_RDONLY)


def setup_console(console_sock, size: tuple[int, int] | None, bind_console: bool = True) -> int:
    """Open a pty on the container's devpts, send the master to the caller, return the slave fd."""
    master = os.open("/dev/pts/ptmx" if os.path.exists("/dev/pts/ptmx") else "/dev/ptmx",
                     os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        n = L.pty_unlock(master)
        slave_path = f"/dev/pts/{n}"
        slave = os.open(slave_path, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        if size and size[0] and size[1]:
            L.set_winsize(master, size[0], size[1])
        if bind_console:
            root = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                cfd = ensure(root, "/dev/console", as_file=True)
                try:
                    L.mount(slave_path, _fdpath(cfd), None, L.MS_BIND, None)
                finally:
                    os.close(cfd)
            finally:
                os.close(root)
        from . import sync
        sync.send(console_sock, slave_path.encode()[:1], slave_path.encode()[1:], (master,))
        return slave
    finally:
        os.close(master)


def _cgroup_mounts() -> list[tuple[str, str, str, str]]:
    """Host cgroup mounts as (mountpoint, root, fstype, super options) from mountinfo."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, rfields = left.split(), right.split()
            if rfields[0] in ("cgroup", "cgroup2") and fields[4].startswith("/sys/fs/cgroup"):
                out.append((fields[4], fields[3], rfields[0], rfields[2]))
    return out


def _own_cgroups() -> dict[str, str]:
    """controller-set (as in /proc/self/cgroup) -> our cgroup path; "" key is the v2 path."""
    out = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _hid, ctrls, path = line.rstrip("\n").split(":", 2)
            out[ctrls] = path
    return out


def mount_cgroup(root_fd: int, m: Mount, cgroupns: bool = False) -> None:
    """``type: cgroup``: the container's own cgroup dirs under the destination, like runc.

    In a cgroup namespace: fresh cgroup/cgroup2 mounts, which the kernel roots at the namespace's
    root (binds of /proc/self/cgroup paths would expose whole host hierarchies, as those paths read
    "/" there). Otherwise cgroup v2 only: bind of our cgroup2 dir; v1/hybrid: a tmpfs with one bind
    per hierarchy.
    """
    mounts = _cgroup_mounts()
    flags = m.flags & ~L.MS_BIND
    if cgroupns:
        _mount_cgroup_fresh(root_fd, m, mounts, flags)
        return
    own = _own_cgroups()
    if len(mounts) == 1 and mounts[0][2] == "cgroup2":
        sub = Mount()
        sub.destination, sub.source, sub.type, sub.bind = m.destination, _cg_source(mounts[0], own), "none", True
        sub.flags, sub.data, sub.propagation, sub.attr_set, sub.attr_clr = flags | L.MS_BIND | L.MS_REC, None, [], 0, 0
        sub.special, sub.idmap, sub.idmap_fd = set(), None, None
        mount_one(root_fd, sub)
        return
    tfd = ensure(root_fd, m.destination)
    try:
        L.mount("tmpfs", _fdpath(tfd), "tmpfs", flags & ~L.MS_RDONLY, "mode=755")
    finally:
        os.close(tfd)
    for mp in mounts:
        if mp[0] == "/sys/fs/cgroup":
            continue
        sub = Mount()
        sub.destination = m.destination.rstrip("/") + "/" + mp[0].rsplit("/", 1)[1]
        sub.source, sub.type, sub.bind = _cg_source(mp, own), "none", True
        sub.flags, sub.data, sub.propagation, sub.attr_set, sub.attr_clr = flags | L.MS_BIND | L.MS_REC, None, [], 0, 0
        sub.special, sub.idmap, sub.idmap_fd = set(), None, None
        mount_one(root_fd, sub)
    if flags & L.MS_RDONLY:
        nfd = resolve(root_fd, m.destination)
        try:
            L.mount(None, _fdpath(nfd), None, L.MS_REMOUNT | flags, "mode=755")
        finally:
            os.close(nfd)


def _mount_cgroup_fresh(root_fd: int, m: Mount, mounts: list, flags: int) -> None:
    def fresh(dest: str, fstype: str, data: str | None, fl: int) -> None:
        fd = ensure(root_fd, dest)
        try:
            L.mount(fstype, _fdpath(fd), fstype, fl, data)
        finally:
            os.close(fd)

    if len(mounts) == 1 and mounts[0][2] == "cgroup2":
        fresh(m.destination, "cgroup2", None, flags)
        return
    fresh(m.destination, "tmpfs", "mode=755", flags & ~L.MS_RDONLY)
    for mountpoint, _root, fstype, sopts in mounts:
        if mountpoint == "/sys/fs/cgroup":
            continue
        dest = m.destination.rstrip("/") + "/" + mountpoint.rsplit("/", 1)[1]
        data = None
        if fstype == "cgroup":  # the hierarchy's controllers / name=, which selects the existing one
            data = ",".join(o for o in sopts.split(",") if o not in ("rw", "ro")) or None
        fresh(dest, fstype, data, flags)
    if flags & L.MS_RDONLY:
        nfd = resolve(root_fd, m.destination)
        try:
            L.mount(None, _fdpath(nfd), None, L.MS_REMOUNT | flags, "mode=755")
        finally:
            os.close(nfd)


def _cg_source(mp: tuple[str, str, str, str], own: dict[str, str]) -> str:
    mountpoint, mroot, fstype, sopts = mp
    if fstype == "cgroup2":
        path = own.get("", "/")
    else:
        opts = set(sopts.split(","))
        path = "/"
        for ctrls, p in own.items():
            if ctrls and set(ctrls.split(",")) <= opts:
                path = p
                break
    rel = path[len(mroot):] if mroot != "/" and path.startswith(mroot) else path
    src = mountpoint + rel
    return src if os.path.isdir(src) else mountpoint
