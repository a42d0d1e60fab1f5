"""vfs specifics: exact layer copies, reflinks on XFS, holes kept on ext4, no mounts."""
from __future__ import annotations

import os
import socket
import stat
import subprocess

import pytest

from pyrunc.graphdriver import syscalls, treecopy

import graphtest_util as util
from graphtest_util import mounts_under, snapshot, tar_stream


@pytest.fixture
def vfs(backing):
    yield from util.make_driver("vfs", os.path.join(backing, "vfs"))


def populate(root: str) -> None:
    os.makedirs(os.path.join(root, "a/b"), mode=0o750)
    with open(os.path.join(root, "a/b/file"), "wb") as f:
        f.write(os.urandom(300_000))
    os.chown(os.path.join(root, "a/b/file"), 123, 456)
    os.chmod(os.path.join(root, "a/b/file"), 0o4711)
    os.setxattr(os.path.join(root, "a/b/file"), "user.color", b"blue")
    os.setxattr(os.path.join(root, "a/b/file"), "trusted.t", b"\x00\x01")
    os.link(os.path.join(root, "a/b/file"), os.path.join(root, "a/hard"))
    os.symlink("../a/b/file", os.path.join(root, "a/sym"))
    os.lchown(os.path.join(root, "a/sym"), 5, 5)
    os.mknod(os.path.join(root, "a/zero"), stat.S_IFCHR | 0o666, os.makedev(1, 5))
    os.mknod(os.path.join(root, "a/blk"), stat.S_IFBLK | 0o600, os.makedev(7, 200))
    os.mkfifo(os.path.join(root, "a/fifo"))
    s = socket.socket(socket.AF_UNIX)
    s.bind(os.path.join(root, "a/sock"))
    s.close()
    with open(os.path.join(root, "sparse"), "wb") as f:
        f.write(b"x")
        f.seek(64 << 20)
        f.write(b"y")
    os.utime(os.path.join(root, "a/b"), ns=(1, 1_500_000_000_987_654_321))
    os.utime(os.path.join(root, "a/sym"), ns=(1, 1_400_000_000_000_000_001), follow_symlinks=False)


def test_copy_is_exact(vfs):
    vfs.create("base", None)
    root = vfs.get("base")
    populate(root)
    vfs.put("base")
    vfs.create("child", "base", writable=True)
    a, b = vfs.get("base"), vfs.get("child")
    try:
        sa, sb = snapshot(a), snapshot(b)
        assert util.diff_snapshots(sa, sb) == []
        assert sb["<hardlinks>"] == [["a/b/file", "a/hard"]]
        assert stat.S_ISSOCK(os.lstat(os.path.join(b, "a/sock")).st_mode)
        assert util.allocated(os.path.join(b, "sparse")) < (1 << 20), "holes preserved"
        # the copy is independent of its parent
        with open(os.path.join(b, "a/b/file"), "r+b") as f:
            f.write(b"changed")
        assert open(os.path.join(a, "a/b/file"), "rb").read(7) != b"changed"
        assert not mounts_under(vfs.home), "vfs never mounts"
    finally:
        vfs.put("base")
        vfs.put("child")


def test_reflink_where_supported(vfs):
    vfs.create("base", None)
    vfs.apply_diff("base", None, tar_stream([("big", "f", os.urandom(1 << 20) * 48)]))
    fs = syscalls.fs_name(vfs.home)
    before = os.statvfs(vfs.home)
    vfs.create("child", "base")
    after = os.statvfs(vfs.home)
    used = (before.f_bfree - after.f_bfree) * before.f_frsize
    if fs == "xfs":
        assert vfs.status()["Reflink Copies"] == "true"
        assert used < (8 << 20), f"reflink copy used {used} bytes"
        out = subprocess.run(["filefrag", "-v", os.path.join(vfs.home, "dir", "child", "big")],
                             capture_output=True, text=True).stdout
        assert "shared" in out
    else:
        assert vfs.status()["Reflink Copies"] == "false"
        assert used >= (40 << 20)


def test_copy_data_sparse_without_reflink(tmpdir_unique):
    src = os.path.join(tmpdir_unique, "src")
    with open(src, "wb") as f:
        for i in range(8):  # alternating 1 MiB data / 3 MiB holes
            f.seek(i * (4 << 20))
            f.write(bytes([i + 1]) * (1 << 20))
        f.truncate(40 << 20)
    dst = os.path.join(tmpdir_unique, "dst")
    st = treecopy.CopyStats(reflink=False)
    sfd = os.open(src, os.O_RDONLY)
    dfd = os.open(dst, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        treecopy.copy_data(sfd, dfd, os.fstat(sfd).st_size, st)
    finally:
        os.close(sfd)
        os.close(dfd)
    assert os.path.getsize(dst) == 40 << 20
    assert open(src, "rb").read() == open(dst, "rb").read()
    assert 7 << 20 < util.allocated(dst) < 10 << 20
