"""The emulated thin pool: a directory of sparse image files, snapshots by reflink or sparse copy.

This host's kernel has no device-mapper, so dm-thin's block-level copy-on-write is replaced by the
filesystem's: on XFS (reflink=1) or btrfs a snapshot is a FICLONE of the parent image (a few ms
for any size, only metadata is written).  On filesystems that cannot reflink (ext4) the fallback
copies only the allocated ranges (SEEK_DATA/SEEK_HOLE + copy_file_range), which keeps the images
sparse but costs real I/O.  ``LoopbackPool`` gives such hosts a reflink-capable pool: a sparse
XFS file on a loop device, mounted at the pool directory.
"""
from __future__ import annotations

import errno
import fcntl
import os
import re
import shutil
import struct
import subprocess
from dataclasses import dataclass

from . import loop, syscalls, treecopy

FIFREEZE = 0xC0045877
FITHAW = 0xC0045878
FITRIM = 0xC0185879
_RANGE = struct.Struct("=QQQ")

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_size(text: str) -> int:
    """Docker's RAMInBytes: '10G', '512m', '1.5GiB', '4096' -> bytes (binary units)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgtpb]?)(?:i?b)?\s*", text.lower())
    if not m:
        raise ValueError(f"invalid size: {text!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def human(n: int) -> str:
    """Bytes as docker prints them in `docker info` (decimal units)."""
    for unit, div in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= div:
            return f"{n / div:.4g} {unit}"
    return f"{n} B"


# --- file level copy-on-write -----------------------------------------------------------------

def _copy_into_new(src: str, dst: str, copy) -> None:
    """Open ``src`` and a new ``dst``, run ``copy(sfd, dfd, size)``; ``dst`` is removed on failure."""
    sfd = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
    try:
        dfd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            copy(sfd, dfd, os.fstat(sfd).st_size)
        except BaseException:
            os.close(dfd)
            os.unlink(dst)
            raise
        os.close(dfd)
    finally:
        os.close(sfd)


def clone_file(src: str, dst: str) -> None:
    """Reflink ``src`` to a new file ``dst`` (shares all extents); OSError if unsupported."""
    _copy_into_new(src, dst, lambda sfd, dfd, _size: syscalls.ficlone(dfd, sfd))


def sparse_copy(src: str, dst: str) -> None:
    """Copy only the allocated ranges of ``src`` into a new ``dst`` (treecopy's extent copy).

    Plain copyfile would write the holes as zeros (a 10 GiB image would cost 10 GiB).
    """
    _copy_into_new(src, dst, lambda sfd, dfd, size: treecopy.copy_data(sfd, dfd, size,
                                                                        treecopy.CopyStats(reflink=False)))


def can_reflink(directory: str) -> bool:
    """Probe FICLONE with two scratch files in ``directory``."""
    return treecopy.reflink_supported(directory)


def fitrim(mountpoint: str) -> int:
    """FITRIM the filesystem mounted at ``mountpoint``: free blocks become holes in the image
    file below it (loop turns discards into punch-hole).  Returns bytes trimmed, 0 if unsupported."""
    fd = os.open(mountpoint, os.O_RDONLY | os.O_CLOEXEC)
    try:
        buf = bytearray(_RANGE.pack(0, (1 << 64) - 1, 0))
        try:
            fcntl.ioctl(fd, FITRIM, buf)
        except OSError as e:
            if e.errno in (errno.EOPNOTSUPP, errno.ENOTTY, errno.EINVAL):
                return 0
            raise
        return _RANGE.unpack(buf)[1]
    finally:
        os.close(fd)


class frozen:
    """Context manager: FIFREEZE a mounted filesystem so a clone of its image is consistent
    (ext4 also clears needs_recovery, so the clone mounts read-only without journal replay)."""

    def __init__(self, mountpoint: str | None):
        self.mountpoint = mountpoint
        self.fd = -1

    def __enter__(self) -> "frozen":
        if self.mountpoint:
            self.fd = os.open(self.mountpoint, os.O_RDONLY | os.O_CLOEXEC)
            try:
                fcntl.ioctl(self.fd, FIFREEZE, 0)
            except OSError:
                os.close(self.fd)
                self.fd = -1
                raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd >= 0:
            try:
                fcntl.ioctl(self.fd, FITHAW, 0)
            finally:
                os.close(self.fd)
                self.fd = -1


# --- filesystems --------------------------------------------------------------------------------

def tool(name: str) -> str | None:
    """Absolute path of an admin tool; sbin dirs are searched even when PATH lacks them."""
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/usr/bin:/bin"
    return shutil.which(name, path=path)


def _run(cmd: list[str]) -> None:
    exe = tool(cmd[0])
    if exe is None:
        raise OSError(errno.ENOENT, f"{cmd[0]} not found")
    r = subprocess.run([exe] + cmd[1:], stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if r.returncode != 0:
        raise OSError(errno.EIO, f"{cmd[0]} {cmd[-1]}: {(r.stderr or r.stdout).strip()}")


def fs_of(path: str) -> loop.MountEntry | None:
    """The mount that holds ``path`` (longest mountpoint prefix)."""
    real = os.path.realpath(path)
    best = None
    for m in loop.mounts():
        mp = m.mountpoint
        if real == mp or real.startswith(mp.rstrip("/") + "/"):
            if best is None or len(mp) >= len(best.mountpoint):
                best = m
    return best


def backing_fs_name(fstype: str) -> str:
    """Docker's spelling of the backing filesystem (ext2/3/4 are all 'extfs')."""
    return "extfs" if fstype in ("ext2", "ext3", "ext4") else fstype


def mkfs(image: str, fs: str, extra: list[str] | None = None) -> None:
    """Make a filesystem inside an image file.

    ext4: lazy inode-table/journal init (the kernel zeroes inode tables in the background; the
    journal is kept, containers need it) and no discard pass over the sparse file: ~10 ms for
    10 GiB and ~4 MiB allocated.  xfs: 4 KiB sectors so the image mounts on a direct-io loop
    device with 4 KiB logical blocks.
    """
    if fs == "ext4":
        cmd = ["mkfs.ext4", "-q", "-F", "-b", "4096",
               "-E", "lazy_itable_init=1,lazy_journal_init=1,nodiscard"]
    elif fs == "xfs":
        cmd = ["mkfs.xfs", "-q", "-f", "-K", "-s", "size=4096"]
    else:
        raise ValueError(f"unsupported filesystem {fs!r} (ext4 or xfs)")
    _run(cmd + list(extra or []) + [image])


def grow_offline(fs: str, image: str) -> bool:
    """Grow the filesystem of an unmounted, already enlarged image.  True if done; False when
    the filesystem can only grow mounted (xfs).  ext4 must grow offline here: online resize
    needs CAP_SYS_RESOURCE, which this host's bounding set lacks."""
    if fs != "ext4":
        return False
    exe = tool("e2fsck")
    if exe is None:
        raise OSError(errno.ENOENT, "e2fsck not found")
    r = subprocess.run([exe, "-f", "-p", image], stdin=subprocess.DEVNULL, capture_output=True,
                       text=True)
    if r.returncode > 1:            # 1 = errors corrected
        raise OSError(errno.EIO, f"e2fsck {image}: {(r.stderr or r.stdout).strip()}")
    _run(["resize2fs", image])
    return True


def grow_online(fs: str, mountpoint: str) -> None:
    """Grow a mounted xfs to the size of its (already larger) device."""
    _run(["xfs_growfs", mountpoint])


# --- the loopback XFS pool ----------------------------------------------------------------------

@dataclass
class LoopbackPool:
    """A sparse XFS (reflink=1) file mounted on a loop device: a thin pool for hosts whose own
    filesystem cannot reflink.  ``open`` creates or re-mounts it, ``close`` unmounts it (the loop
    device detaches itself through autoclear)."""

    image: str
    mountpoint: str
    size: int

    def is_mounted(self) -> bool:
        m = loop.mounted_at(self.mountpoint)
        return m is not None and m.fstype == "xfs"

    def open(self) -> None:
        os.makedirs(self.mountpoint, exist_ok=True)
        if self.is_mounted():
            return
        if not os.path.exists(self.image):
            tmp = self.image + ".tmp"
            with open(tmp, "wb") as f:
                f.truncate(self.size)
            try:
                _run(["mkfs.xfs", "-q", "-f", "-K", "-m", "reflink=1", "-s", "size=4096", tmp])
            except OSError:
                os.unlink(tmp)
                raise
            os.rename(tmp, self.image)
        with loop.attach(self.image, direct_io=True, block_size=4096) as dev:
            loop.mount(dev.path, self.mountpoint, "xfs")

    def close(self) -> bool:
        """Unmount; True if clean, False if still busy (lazily detached, loop frees later)."""
        if not self.is_mounted():
            return True
        try:
            loop.syncfs(self.mountpoint)
            fitrim(self.mountpoint)
        except OSError:
            pass
        return loop.umount_busy_ok(self.mountpoint)
