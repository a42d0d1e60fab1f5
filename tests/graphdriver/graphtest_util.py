"""Helpers for graph-driver tests: tar building, tree snapshots, leak checks."""
from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import subprocess
import tarfile
import time

import pytest

from pyrunc.graphdriver import registry


# ---------------------------------------------------------------- mounts / loops
def mounts_under(prefix: str) -> list[str]:
    """Mount points at/below ``prefix`` read from /proc/self/mountinfo."""
    prefix = os.path.realpath(prefix).rstrip("/")
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == prefix or mp.startswith(prefix + "/"):
                out.append(mp)
    return out


def loops_under(prefix: str) -> list[str]:
    """Loop devices (``losetup -l``) whose backing file lies below ``prefix``."""
    prefix = os.path.realpath(prefix).rstrip("/")
    res = subprocess.run(["losetup", "-l", "-J"], capture_output=True, text=True)
    if res.returncode != 0 or not res.stdout.strip():
        return []
    out = []
    for dev in json.loads(res.stdout).get("loopdevices", []):
        back = (dev.get("back-file") or "").removesuffix(" (deleted)")
        if back == prefix or back.startswith(prefix + "/"):
            out.append(dev["name"])
    return out


def teardown_mount(mnt: str, loop: str | None) -> None:
    for mp in sorted(mounts_under(mnt), key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], capture_output=True)
    if loop:
        subprocess.run(["losetup", "-d", loop], capture_output=True)


def assert_nothing_left(root: str) -> None:
    """Fail (after cleaning up ourselves) if a mount or loop device under ``root`` survived."""
    mps = mounts_under(root)
    loops = loops_under(root)
    for mp in sorted(mps, key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], capture_output=True)
    for dev in loops:
        subprocess.run(["losetup", "-d", dev], capture_output=True)
    assert not mps, f"mounts left behind: {mps}"
    assert not loops, f"loop devices left behind: {loops}"


def make_driver(name: str, home: str, options: dict | None = None):
    """Generator for fixtures: yields a driver, always runs cleanup and the leak check."""
    cls = registry.DRIVERS[name]
    why = cls.probe(home)
    if why is not None:
        pytest.skip(f"{name} cannot run here: {why}")
    d = registry.get_driver(name, home, options)
    try:
        yield d
    finally:
        d.cleanup()
        d.cleanup()  # idempotent
        assert_nothing_left(home)


# ---------------------------------------------------------------- tars
def tar_bytes(entries: list, fmt: int = tarfile.PAX_FORMAT) -> bytes:
    """Build a tar from (name, kind, extra) tuples.

    kind: "d" dir, "f" file (extra = bytes), "l" symlink (extra = target), "h" hard link
    (extra = target), "c" char dev (extra = (major, minor)), "p" fifo.  A dict as 4th item
    sets TarInfo attributes (mode, uid, gid, mtime, pax_headers).
    """
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for item in entries:
            name, kind, extra = item[:3]
            attrs = item[3] if len(item) > 3 else {}
            ti = tarfile.TarInfo(name)
            ti.mtime = 1_700_000_000
            ti.mode = 0o755 if kind == "d" else 0o644
            data = None
            if kind == "d":
                ti.type = tarfile.DIRTYPE
            elif kind == "f":
                ti.size = len(extra)
                data = io.BytesIO(extra)
            elif kind == "l":
                ti.type, ti.linkname = tarfile.SYMTYPE, extra
            elif kind == "h":
                ti.type, ti.linkname = tarfile.LNKTYPE, extra
            elif kind == "c":
                ti.type = tarfile.CHRTYPE
                ti.devmajor, ti.devminor = extra
            elif kind == "p":
                ti.type = tarfile.FIFOTYPE
            for k, v in attrs.items():
                setattr(ti, k, v)
            tf.addfile(ti, data)
    return buf.getvalue()


def tar_stream(entries: list) -> io.BytesIO:
    return io.BytesIO(tar_bytes(entries))


# ---------------------------------------------------------------- snapshots
_SKIP_X = ("trusted.overlay.", "user.overlay.")


def snapshot(root: str, dir_mtimes: bool = True) -> dict:
    """Everything observable about a tree, keyed by relative path (root's own times excluded)."""
    out: dict = {}
    inodes: dict = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            rec = {"mode": st.st_mode, "uid": st.st_uid, "gid": st.st_gid}
            if not stat.S_ISDIR(st.st_mode) or dir_mtimes:
                rec["mtime"] = st.st_mtime_ns
            if stat.S_ISREG(st.st_mode):
                rec["size"] = st.st_size
                with open(p, "rb") as f:
                    rec["sha"] = hashlib.sha256(f.read()).hexdigest()
                if st.st_nlink > 1:
                    inodes.setdefault((st.st_dev, st.st_ino), []).append(rel)
            elif stat.S_ISLNK(st.st_mode):
                rec["target"] = os.readlink(p)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                rec["rdev"] = (os.major(st.st_rdev), os.minor(st.st_rdev))
            try:
                names = os.listxattr(p, follow_symlinks=False)
            except OSError:
                names = []
            rec["xattrs"] = {n: os.getxattr(p, n, follow_symlinks=False) for n in sorted(names)
                             if not n.startswith(_SKIP_X)}
            out[rel] = rec
    out["<hardlinks>"] = sorted(sorted(v) for v in inodes.values() if len(v) > 1)
    return out


def diff_snapshots(a: dict, b: dict) -> list[str]:
    msgs = []
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            msgs.append(f"{k}: {a.get(k)} != {b.get(k)}")
    return msgs


def allocated(path: str) -> int:
    return os.lstat(path).st_blocks * 512


def wait_gone(pred, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return pred()
