"""Copy a directory tree the way a layer copy must: exact, sparse and cheap.

File data is cloned with FICLONE (XFS reflink, btrfs) when the filesystem can, otherwise
copied extent by extent with SEEK_DATA/SEEK_HOLE + copy_file_range so holes stay holes
(``shutil.copyfile`` would fill them).  Modes, owners, xattrs, atime/mtime (ns), hard links,
symlinks, device nodes, fifos and sockets are preserved, like ``cp -a`` / moby ``DirCopy``.
"""
from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field

from . import syscalls

_NO_REFLINK = {errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EINVAL, errno.ENOTTY, errno.EBADF,
               errno.ENOSYS, errno.EPERM}
_NO_CFR = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EBADF}


@dataclass
class CopyStats:
    """What a copy did (reported by vfs / benches)."""

    files: int = 0
    bytes: int = 0
    reflinked: int = 0
    reflink: bool | None = None  # None until the first non-empty file was tried
    copy_file_range: bool = True
    links: dict[tuple[int, int], str] = field(default_factory=dict)


def copy_data(sfd: int, dfd: int, size: int, st: CopyStats | None = None) -> None:
    """Copy the whole content of ``sfd`` to the empty file ``dfd`` (reflink, else sparse)."""
    st = st or CopyStats()
    if size == 0:
        return
    if st.reflink is not False and syscalls.available():
        try:
            syscalls.ficlone(dfd, sfd)
            st.reflink = True
            st.reflinked += 1
            return
        except OSError as e:
            if e.errno not in _NO_REFLINK:
                raise
            st.reflink = False
    _sparse_copy(sfd, dfd, size, st)


def _sparse_copy(sfd: int, dfd: int, size: int, st: CopyStats) -> None:
    off = 0
    while off < size:
        try:
            data = os.lseek(sfd, off, os.SEEK_DATA)
        except OSError as e:
            if e.errno == errno.ENXIO:
                break  # only a hole is left
            raise
        hole = os.lseek(sfd, data, os.SEEK_HOLE)
        pos = data
        while pos < hole:
            n = _copy_range(sfd, dfd, pos, hole - pos, st)
            if n == 0:
                break
            pos += n
        off = hole
    os.ftruncate(dfd, size)


def _copy_range(sfd: int, dfd: int, pos: int, count: int, st: CopyStats) -> int:
    count = min(count, 1 << 30)
    if st.copy_file_range:
        try:
            return os.copy_file_range(sfd, dfd, count, pos, pos)
        except OSError as e:
            if e.errno not in _NO_CFR:
                raise
            st.copy_file_range = False
    os.lseek(dfd, pos, os.SEEK_SET)
    return os.sendfile(dfd, sfd, pos, count)


def _copy_xattrs(src: str, dst: str) -> None:
    try:
        names = os.listxattr(src, follow_symlinks=False)
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return
        raise
    for name in names:
        try:
            os.setxattr(dst, name, os.getxattr(src, name, follow_symlinks=False), follow_symlinks=False)
        except OSError as e:
            if e.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENODATA):
                raise


def _meta(src: str, dst: str, s: os.stat_result, is_link: bool = False) -> None:
    os.chown(dst, s.st_uid, s.st_gid, follow_symlinks=False)
    if not is_link:
        os.chmod(dst, stat.S_IMODE(s.st_mode))  # after chown, which clears set-id bits
    _copy_xattrs(src, dst)  # after chown, which clears security.capability
    os.utime(dst, ns=(s.st_atime_ns, s.st_mtime_ns), follow_symlinks=False)


def _copy_file(src: str, dst: str, s: os.stat_result, st: CopyStats) -> None:
    sfd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        dfd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            copy_data(sfd, dfd, s.st_size, st)
            os.fchown(dfd, s.st_uid, s.st_gid)
            os.fchmod(dfd, stat.S_IMODE(s.st_mode))
        finally:
            os.close(dfd)
    finally:
        os.close(sfd)
    _copy_xattrs(src, dst)
    os.utime(dst, ns=(s.st_atime_ns, s.st_mtime_ns), follow_symlinks=False)
    st.files += 1
    st.bytes += s.st_size


def _copy_dir(src: str, dst: str, st: CopyStats) -> None:
    with os.scandir(src) as it:
        entries = list(it)
    for e in entries:
        s = e.stat(follow_symlinks=False)
        d = os.path.join(dst, e.name)
        mode = s.st_mode
        if stat.S_ISDIR(mode):
            os.mkdir(d, 0o700)
            _copy_dir(e.path, d, st)
            _meta(e.path, d, s)
            continue
        if s.st_nlink > 1 and not stat.S_ISDIR(mode):
            first = st.links.get((s.st_dev, s.st_ino))
            if first is not None:
                os.link(first, d, follow_symlinks=False)
                continue
            st.links[(s.st_dev, s.st_ino)] = d
        if stat.S_ISREG(mode):
            _copy_file(e.path, d, s, st)
        elif stat.S_ISLNK(mode):
            os.symlink(os.readlink(e.path), d)
            _meta(e.path, d, s, is_link=True)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            os.mknod(d, stat.S_IFMT(mode) | 0o600, s.st_rdev)
            _meta(e.path, d, s)


def copy_tree(src: str, dst: str) -> CopyStats:
    """Copy directory ``src`` to the new directory ``dst`` (must not exist)."""
    st = CopyStats()
    s = os.lstat(src)
    if not stat.S_ISDIR(s.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, "copy_tree source is not a directory", src)
    os.mkdir(dst, 0o700)
    _copy_dir(src, dst, st)
    _meta(src, dst, s)
    return st


def reflink_supported(dir: str) -> bool:
    """True if FICLONE works between two files in ``dir``."""
    if not syscalls.available():
        return False
    a = os.path.join(dir, f".reflink-probe-{os.getpid()}-a")
    b = os.path.join(dir, f".reflink-probe-{os.getpid()}-b")
    try:
        with open(a, "wb") as f:
            f.write(b"x" * 4096)
        fa = os.open(a, os.O_RDONLY | os.O_CLOEXEC)
        fb = os.open(b, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            syscalls.ficlone(fb, fa)
            return True
        except OSError:
            return False
        finally:
            os.close(fa)
            os.close(fb)
    finally:
        for p in (a, b):
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
