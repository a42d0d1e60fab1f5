"""Layer tar handling: safe extraction against hostile tars, whiteout formats, metadata."""
from __future__ import annotations

import gzip
import io
import os
import stat
import subprocess
import tarfile
import threading

import pytest

from pyrunc.graphdriver import Change, DriverError, archive

from graphtest_util import allocated, snapshot, tar_bytes, tar_stream


@pytest.fixture
def sandbox(tmpdir_unique):
    """dest/ (the layer) next to outside/ holding a canary that must never change."""
    dest = os.path.join(tmpdir_unique, "dest")
    outside = os.path.join(tmpdir_unique, "outside")
    os.mkdir(dest)
    os.mkdir(outside)
    with open(os.path.join(outside, "canary"), "w") as f:
        f.write("canary")
    os.mkdir(os.path.join(outside, "dir"))
    with open(os.path.join(outside, "dir", "keep"), "w") as f:
        f.write("keep")
    before = snapshot(tmpdir_unique)
    before = {k: v for k, v in before.items() if not k.startswith("dest")}
    yield dest, outside, before, tmpdir_unique


def outside_unchanged(base: str, before: dict) -> None:
    after = {k: v for k, v in snapshot(base).items() if not k.startswith("dest")}
    assert after == before, "something outside the layer changed"


def all_under(dest: str) -> set[str]:
    out = set()
    for dp, dn, fn in os.walk(dest):
        for n in dn + fn:
            out.add(os.path.relpath(os.path.join(dp, n), dest))
    return out


HOSTILE = {
    # name: (entries built from the outside dir path, expect DriverError?)
    "dotdot": (lambda o: [("../outside/evil", "f", b"pwn")], True),
    "dotdot-nested": (lambda o: [("a/../../outside/canary", "f", b"pwn")], True),
    "dotdot-dir": (lambda o: [("../outside/dir", "d", None, {"mode": 0o777})], True),
    "absolute": (lambda o: [(o + "/canary", "f", b"pwn")], False),
    "symlink-parent-relative": (lambda o: [("s", "l", "../outside"), ("s/canary", "f", b"pwn")], False),
    "symlink-parent-absolute": (lambda o: [("s", "l", o), ("s/canary", "f", b"pwn"), ("s/dir/keep", "f", b"x")], False),
    "symlink-parent-deep": (lambda o: [("a", "d", None), ("a/s", "l", "../../../../../../.." + o),
                                       ("a/s/canary", "f", b"pwn")], False),
    "symlink-chain": (lambda o: [("s1", "l", "s2"), ("s2", "l", o), ("s1/canary", "f", b"pwn")], False),
    "hardlink-dotdot": (lambda o: [("h", "h", "../outside/canary")], True),
    "hardlink-absolute": (lambda o: [("h", "h", o + "/canary")], True),
    "hardlink-via-symlink": (lambda o: [("s", "l", o), ("h", "h", "s/canary")], True),
    "symlink-then-file": (lambda o: [("f", "l", o + "/canary"), ("f", "f", b"pwn")], False),
    "symlink-then-dir": (lambda o: [("d", "l", o + "/dir"), ("d", "d", None, {"mode": 0o777})], False),
    "symlink-then-device": (lambda o: [("n", "l", o + "/canary"), ("n", "c", (1, 3))], False),
    "whiteout-via-symlink": (lambda o: [("s", "l", o), ("s/.wh.canary", "f", b"")], False),
    "opaque-via-symlink": (lambda o: [("s", "l", o + "/dir"), ("s/.wh..wh..opq", "f", b"")], False),
    "whiteout-dotdot": (lambda o: [("../outside/.wh.canary", "f", b"")], True),
    "xattr-via-symlink": (lambda o: [("s", "l", o), ("s/canary", "f", b"", {"pax_headers": {"SCHILY.xattr.user.x": "1"}})], False),
}


@pytest.mark.parametrize("whiteouts", ["overlay", "delete"])
@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_tar_stays_inside(sandbox, kind, whiteouts):
    dest, outside, before, base = sandbox
    build, must_fail = HOSTILE[kind]
    data = tar_bytes(build(outside))
    if must_fail:
        with pytest.raises(DriverError):
            archive.apply_layer(io.BytesIO(data), dest, whiteouts)
    else:
        try:
            archive.apply_layer(io.BytesIO(data), dest, whiteouts)
        except DriverError:
            pass  # refusing is fine too; writing outside is not
    outside_unchanged(base, before)
    # whatever was created is a plain path below dest
    for rel in all_under(dest):
        assert os.path.realpath(os.path.join(dest, os.path.dirname(rel))).startswith(os.path.realpath(dest))


def test_symlinked_parent_resolves_inside_like_chroot(sandbox):
    dest, outside, before, base = sandbox
    archive.apply_layer(tar_stream([("inner", "d", None), ("s", "l", "/inner"), ("s/new", "f", b"inside"),
                                    ("r", "l", "../../../inner"), ("r/new2", "f", b"inside2")]), dest, "delete")
    assert open(os.path.join(dest, "inner/new"), "rb").read() == b"inside"
    assert open(os.path.join(dest, "inner/new2"), "rb").read() == b"inside2"
    # a symlinked parent whose target is missing inside the layer is refused (docker: ENOENT in its chroot)
    with pytest.raises(DriverError):
        archive.apply_layer(tar_stream([("t", "l", outside), ("t/new", "f", b"x")]), dest, "delete")
    outside_unchanged(base, before)


def test_replacing_hardlink_does_not_write_through(tmpdir_unique):
    dest = tmpdir_unique
    archive.apply_layer(tar_stream([("a", "f", b"original"), ("b", "h", "a"), ("b", "f", b"new")]), dest, "delete")
    assert open(os.path.join(dest, "a"), "rb").read() == b"original"
    assert open(os.path.join(dest, "b"), "rb").read() == b"new"


def test_invalid_whiteout_names(tmpdir_unique):
    with pytest.raises(DriverError, match="invalid whiteout"):
        archive.apply_layer(tar_stream([(".wh.", "f", b"")]), tmpdir_unique, "overlay")


def test_garbage_is_rejected(tmpdir_unique):
    with pytest.raises(DriverError):
        archive.apply_layer(io.BytesIO(b"this is not a tar" * 100), tmpdir_unique, "delete")


def test_overlay_whiteout_format(tmpdir_unique):
    dest = tmpdir_unique
    archive.apply_layer(tar_stream([
        ("etc", "d", None), ("etc/.wh.gone", "f", b"", {"uid": 5, "gid": 6}),
        ("var", "d", None), ("var/.wh..wh..opq", "f", b""), ("var/keep", "f", b"k"),
        ("late/.wh..wh..opq", "f", b""),  # directory entry missing / coming later
        ("late", "d", None, {"mode": 0o711}),
        (".wh..wh.plnk", "d", None),  # aufs metadata is ignored
    ]), dest, "overlay")
    st = os.lstat(os.path.join(dest, "etc/gone"))
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0 and (st.st_uid, st.st_gid) == (5, 6)
    assert not os.path.lexists(os.path.join(dest, "etc/.wh.gone"))
    assert os.getxattr(os.path.join(dest, "var"), "trusted.overlay.opaque") == b"y"
    assert os.listdir(os.path.join(dest, "var")) == ["keep"]
    assert os.getxattr(os.path.join(dest, "late"), "trusted.overlay.opaque") == b"y"
    assert stat.S_IMODE(os.stat(os.path.join(dest, "late")).st_mode) == 0o711
    assert not os.path.lexists(os.path.join(dest, ".wh..wh.plnk"))


def test_delete_whiteout_format(tmpdir_unique):
    dest = tmpdir_unique
    archive.apply_layer(tar_stream([("etc", "d", None), ("etc/a", "f", b"a"), ("etc/b", "f", b"b"),
                                    ("d", "d", None), ("d/x", "f", b"x"), ("d/sub", "d", None),
                                    ("d/sub/y", "f", b"y")]), dest, "delete")
    archive.apply_layer(tar_stream([
        ("d/new", "f", b"n"),          # this layer's own entry, before the opaque marker
        ("d/.wh..wh..opq", "f", b""),
        ("etc/.wh.a", "f", b""),
        ("etc/.wh.missing", "f", b""),
        ("nodir/.wh.x", "f", b""),
    ]), dest, "delete")
    assert sorted(os.listdir(os.path.join(dest, "etc"))) == ["b"]
    assert sorted(os.listdir(os.path.join(dest, "d"))) == ["new"]
    assert not os.path.exists(os.path.join(dest, "nodir"))


def test_metadata_preserved(tmpdir_unique):
    dest = tmpdir_unique
    pax_mtime = {"mtime": "1700000000.123456789"}
    archive.apply_layer(tar_stream([
        ("d", "d", None, {"mode": 0o1777, "uid": 11, "gid": 12, "pax_headers": pax_mtime}),
        ("d/f", "f", b"data", {"mode": 0o4755, "uid": 13, "gid": 14,
                               "pax_headers": {**pax_mtime, "SCHILY.xattr.user.k": "v",
                                               "SCHILY.xattr.security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
                                               "SCHILY.xattr.trusted.overlay.redirect": "/etc"}}),
        ("d/l", "l", "f", {"uid": 15, "gid": 16}),
        ("d/c", "c", (1, 5), {"mode": 0o620, "uid": 17}),
        ("d/p", "p", None, {"mode": 0o600}),
    ]), dest, "delete")
    d = os.lstat(os.path.join(dest, "d"))
    assert (stat.S_IMODE(d.st_mode), d.st_uid, d.st_gid, d.st_mtime_ns) == (0o1777, 11, 12, 1700000000123456789)
    f = os.lstat(os.path.join(dest, "d/f"))
    assert (stat.S_IMODE(f.st_mode), f.st_uid, f.st_gid, f.st_mtime_ns) == (0o4755, 13, 14, 1700000000123456789)
    assert os.getxattr(os.path.join(dest, "d/f"), "user.k") == b"v"
    assert os.getxattr(os.path.join(dest, "d/f"), "security.capability")[:4] == b"\x01\x00\x00\x02"
    assert "trusted.overlay.redirect" not in os.listxattr(os.path.join(dest, "d/f"))
    l = os.lstat(os.path.join(dest, "d/l"))
    assert stat.S_ISLNK(l.st_mode) and (l.st_uid, l.st_gid) == (15, 16)
    c = os.lstat(os.path.join(dest, "d/c"))
    assert stat.S_ISCHR(c.st_mode) and os.major(c.st_rdev) == 1 and os.minor(c.st_rdev) == 5
    assert stat.S_IMODE(c.st_mode) == 0o620 and c.st_uid == 17
    assert stat.S_ISFIFO(os.lstat(os.path.join(dest, "d/p")).st_mode)


def test_sparse_files_stay_sparse(tmpdir_unique):
    src = os.path.join(tmpdir_unique, "src")
    dest = os.path.join(tmpdir_unique, "dest")
    os.mkdir(src)
    os.mkdir(dest)
    with open(os.path.join(src, "sparse"), "wb") as f:
        f.write(b"head")
        f.seek(64 << 20)
        f.write(b"tail")
    data = subprocess.run(["tar", "-C", src, "-cf", "-", "sparse"], capture_output=True, check=True).stdout
    archive.apply_layer(io.BytesIO(data), dest, "delete")
    p = os.path.join(dest, "sparse")
    assert os.path.getsize(p) == (64 << 20) + 4
    assert allocated(p) < (1 << 20)
    with open(p, "rb") as f:
        assert f.read(4) == b"head"
        f.seek(64 << 20)
        assert f.read() == b"tail"


@pytest.mark.parametrize("compress", ["gzip", "zstd", "plain"])
def test_open_layer_from_pipe(tmpdir_unique, compress):
    raw = tar_bytes([("a", "f", b"A" * 5000)])
    if compress == "gzip":
        payload = gzip.compress(raw)
    elif compress == "zstd":
        payload = subprocess.run(["zstd", "-q", "-c"], input=raw, capture_output=True, check=True).stdout
    else:
        payload = raw
    r, w = os.pipe()

    def feed():
        with os.fdopen(w, "wb") as f:
            f.write(payload)

    t = threading.Thread(target=feed)
    t.start()
    with os.fdopen(r, "rb", buffering=0) as f:  # non-seekable, unbuffered
        n = archive.apply_layer(archive.open_layer(f), tmpdir_unique, "delete")
    t.join()
    assert n == 5000
    assert open(os.path.join(tmpdir_unique, "a"), "rb").read() == b"A" * 5000


def test_gnu_tar_interop(tmpdir_unique):
    """A tar made by GNU tar (hardlinks, xattrs, dirs) applies; our export is read by GNU tar."""
    src = os.path.join(tmpdir_unique, "src")
    dest = os.path.join(tmpdir_unique, "dest")
    back = os.path.join(tmpdir_unique, "back")
    for d in (src, dest, back):
        os.mkdir(d)
    os.makedirs(os.path.join(src, "a/b"))
    with open(os.path.join(src, "a/b/f"), "w") as f:
        f.write("hello")
    os.link(os.path.join(src, "a/b/f"), os.path.join(src, "a/hl"))
    os.symlink("b/f", os.path.join(src, "a/sl"))
    os.setxattr(os.path.join(src, "a/b/f"), "user.t", b"x")
    data = subprocess.run(["tar", "--xattrs", "--xattrs-include=*", "-C", src, "-cf", "-", "."],
                          capture_output=True, check=True).stdout
    archive.apply_layer(io.BytesIO(data), dest, "delete")
    assert os.stat(os.path.join(dest, "a/hl")).st_ino == os.stat(os.path.join(dest, "a/b/f")).st_ino
    assert os.getxattr(os.path.join(dest, "a/b/f"), "user.t") == b"x"
    out = io.BytesIO()
    archive.export_diff(dest, archive.compute_changes(dest, None), out)
    subprocess.run(["tar", "--xattrs", "--xattrs-include=*", "-C", back, "-xf", "-"], input=out.getvalue(),
                   check=True, capture_output=True)
    assert open(os.path.join(back, "a/b/f")).read() == "hello"
    assert os.stat(os.path.join(back, "a/hl")).st_ino == os.stat(os.path.join(back, "a/b/f")).st_ino
    assert os.readlink(os.path.join(back, "a/sl")) == "b/f"


def test_compute_changes_and_export(tmpdir_unique):
    a = os.path.join(tmpdir_unique, "a")
    b = os.path.join(tmpdir_unique, "b")
    archive.apply_layer(tar_stream([("x", "d", None), ("x/1", "f", b"1"), ("x/2", "f", b"2"), ("y", "f", b"y")]),
                        os.makedirs(a) or a, "delete")
    archive.apply_layer(tar_stream([("x", "d", None), ("x/1", "f", b"1"), ("x/3", "f", b"3"),
                                    ("y", "f", b"Y", {"mtime": 1_700_000_001})]),
                        os.makedirs(b) or b, "delete")
    ch = archive.compute_changes(b, a)
    assert [(c.path, c.kind) for c in ch] == [("/x", "C"), ("/x/2", "D"), ("/x/3", "A"), ("/y", "C")]
    out = io.BytesIO()
    archive.export_diff(b, ch, out)
    out.seek(0)
    with tarfile.open(fileobj=out) as tf:
        assert [m.name.rstrip("/") for m in tf] == ["x", "x/.wh.2", "x/3", "y"]
    assert archive.changes_size(b, ch) == 2
    assert str(Change("/y", "C")) == "C /y"
