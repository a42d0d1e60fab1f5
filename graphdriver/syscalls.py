"""Thin Python wrappers over ``pyrunc._graph`` (the new mount API, FICLONE, statfs, d_type) and,
for the calls the runtime needs too (mount, umount2, openat2, open_tree, move_mount), over the
shared ``pyrunc._sys`` module (csrc/sys.c), so each syscall wrapper exists once in C.

Each wrapper raises ``OSError`` with errno on failure.  Constants follow <linux/mount.h>,
<linux/openat2.h> and <linux/magic.h>.
"""
from __future__ import annotations

import os

try:
    from pyrunc._graph import ffi, lib  # type: ignore[import-not-found]
    from pyrunc._sys import ffi as _sys_ffi, lib as _sys  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - only when the C modules were not built
    ffi = lib = _sys_ffi = _sys = None

# fsopen / fsmount / move_mount / open_tree
FSOPEN_CLOEXEC = 0x1
FSCONFIG_SET_FLAG = 0
FSCONFIG_SET_STRING = 1
FSCONFIG_SET_FD = 5
FSCONFIG_CMD_CREATE = 6
FSMOUNT_CLOEXEC = 0x1
MOVE_MOUNT_F_EMPTY_PATH = 0x4
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NODEV = 0x4

# classic mount(2)
MS_RDONLY = 0x1
MS_NODEV = 0x4
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MNT_DETACH = 0x2

# openat2 resolve flags
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
O_PATH = getattr(os, "O_PATH", 0o10000000)

# statfs f_type magic numbers -> docker's "Backing Filesystem" names
FS_NAMES = {
    0xEF53: "extfs",
    0x58465342: "xfs",
    0x9123683E: "btrfs",
    0x01021994: "tmpfs",
    0x794C7630: "overlayfs",
    0x2FC12FC1: "zfs",
    0x6969: "nfs",
    0x65735546: "fuse",
    0xF2F52010: "f2fs",
    0x858458F6: "ramfs",
    0x73717368: "squashfs",
}


def available() -> bool:
    """True when the cffi module was built and imported."""
    return lib is not None


def _check(rv: int, what: str, path: str | None = None) -> int:
    if rv < 0:
        err = ffi.errno
        if path is not None:
            raise OSError(err, f"{what}: {os.strerror(err)}", path)
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return rv


def _check_neg(rv: int, what: str, path: str | None = None) -> int:
    """For ``pyrunc._sys`` calls, which return -errno."""
    if rv < 0:
        raise OSError(-rv, f"{what}: {os.strerror(-rv)}", *((path,) if path is not None else ()))
    return rv


def _b(s: str | bytes | None):
    if s is None:
        return ffi.NULL
    return s if isinstance(s, bytes) else os.fsencode(s)


def fsopen(fsname: str) -> int:
    return _check(lib.pg_fsopen(_b(fsname), FSOPEN_CLOEXEC), f"fsopen {fsname}")


def fs_messages(fsfd: int) -> str:
    """Drain the kernel's error/info log of an fs context (lines like 'e overlay: ...')."""
    out = []
    while True:
        try:
            msg = os.read(fsfd, 4096)
        except OSError:
            break
        if not msg:
            break
        out.append(msg.decode(errors="replace").strip())
    return "; ".join(out)


def fsconfig_string(fsfd: int, key: str, value: str) -> None:
    _check(lib.pg_fsconfig(fsfd, FSCONFIG_SET_STRING, _b(key), _b(value), 0), f"fsconfig {key}={value}")


def fsconfig_flag(fsfd: int, key: str) -> None:
    _check(lib.pg_fsconfig(fsfd, FSCONFIG_SET_FLAG, _b(key), ffi.NULL, 0), f"fsconfig {key}")


def fsconfig_fd(fsfd: int, key: str, fd: int) -> None:
    _check(lib.pg_fsconfig(fsfd, FSCONFIG_SET_FD, _b(key), ffi.NULL, fd), f"fsconfig {key}=<fd {fd}>")


def fsconfig_create(fsfd: int) -> None:
    _check(lib.pg_fsconfig(fsfd, FSCONFIG_CMD_CREATE, ffi.NULL, ffi.NULL, 0), "fsconfig create")


def fsmount(fsfd: int, attr_flags: int = 0) -> int:
    return _check(lib.pg_fsmount(fsfd, FSMOUNT_CLOEXEC, attr_flags), "fsmount")


def move_mount_to(mntfd: int, target: str) -> None:
    """Attach a detached mount (from fsmount/open_tree) at ``target``."""
    _check_neg(_sys.pr_move_mount(mntfd, b"", -100, _b(target), MOVE_MOUNT_F_EMPTY_PATH), "move_mount", target)


def open_tree_clone(path: str, recursive: bool = False) -> int:
    flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (AT_RECURSIVE if recursive else 0)
    return _check_neg(_sys.pr_open_tree(-100, _b(path), flags), "open_tree", path)


def mount(source: str, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    _check_neg(_sys.pr_mount(_b(source), _b(target), _b(fstype), flags, _b(data)), "mount", target)


def umount(target: str, flags: int = 0) -> None:
    _check_neg(_sys.pr_umount2(_b(target), flags), "umount", target)


def openat2(dirfd: int, path: str, flags: int, resolve: int, mode: int = 0) -> int:
    flags |= os.O_CLOEXEC
    return _check_neg(_sys.pr_openat2(dirfd, _b(path), flags, mode, resolve), "openat2", path)


def ficlone(dst_fd: int, src_fd: int) -> None:
    _check(lib.pg_ficlone(dst_fd, src_fd), "FICLONE")


def statfs_type(path: str) -> int:
    return _check(lib.pg_statfs_type(_b(path)), "statfs", path)


def fs_name(path: str) -> str:
    """Docker-style name of the filesystem holding ``path`` (e.g. "extfs", "xfs")."""
    magic = statfs_type(path)
    return FS_NAMES.get(magic, f"<unknown 0x{magic:x}>")


def dtype_ok(dir: str) -> bool:
    """True if readdir on ``dir`` fills d_type (overlayfs needs it on the backing fs)."""
    return bool(_check(lib.pg_dtype_ok(_b(dir)), "opendir", dir))


def syncfs(fd: int) -> None:
    _check(lib.pg_syncfs(fd), "syncfs")
