"""overlay2 specifics on ext4 and on XFS(reflink): layout, deep stacks, mount paths, options."""
from __future__ import annotations

import errno
import io
import os
import re
import shutil
import stat
import subprocess
import tarfile

import pytest

from pyrunc.graphdriver import DriverError
from pyrunc.graphdriver.overlay2 import Overlay2Driver

import graphtest_util as util
from graphtest_util import mounts_under, tar_stream


@pytest.fixture
def ov(backing):
    yield from util.make_driver("overlay2", os.path.join(backing, "overlay2"))


def make_driver(backing, **opts):
    return util.make_driver("overlay2", os.path.join(backing, "ov-" + "-".join(opts.values() or ["x"])),
                            {f"overlay2.{k}": v for k, v in opts.items()})


@pytest.fixture
def ov_classic(backing):
    yield from make_driver(backing, mount_api="classic")


def super_options(mountpoint: str) -> str:
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            if parts[4] == mountpoint:
                return parts[parts.index("-") + 3]
    raise AssertionError(f"{mountpoint} not mounted")


def chain(d, n: int, prefix: str = "L", whiteout_at: dict | None = None) -> list[str]:
    """n stacked image layers; layer i holds f<i>; whiteout_at maps layer index -> name to delete."""
    ids, parent = [], None
    for i in range(n):
        id = f"{prefix}{i}"
        d.create(id, parent)
        entries = [(f"f{i}", "f", f"layer {i}\n".encode())]
        if whiteout_at and i in whiteout_at:
            entries.append((".wh." + whiteout_at[i], "f", b""))
        d.apply_diff(id, parent, tar_stream(entries))
        ids.append(id)
        parent = id
    return ids


def test_on_disk_layout(ov):
    ov.create("base", None)
    ov.create("mid", "base")
    ov.create("ctr", "mid", writable=True)
    home = ov.home
    links = {}
    for id in ("base", "mid", "ctr"):
        link = open(os.path.join(home, id, "link")).read()
        assert re.fullmatch(r"[A-Z2-7]{26}", link)
        assert os.readlink(os.path.join(home, "l", link)) == f"../{id}/diff"
        assert stat.S_IMODE(os.stat(os.path.join(home, id)).st_mode) == 0o710
        assert os.path.isdir(os.path.join(home, id, "diff"))
        links[id] = link
    assert not os.path.exists(os.path.join(home, "base", "lower"))
    assert not os.path.exists(os.path.join(home, "base", "work"))
    assert open(os.path.join(home, "mid", "lower")).read() == f"l/{links['base']}"
    assert open(os.path.join(home, "ctr", "lower")).read() == f"l/{links['mid']}:l/{links['base']}"
    assert os.path.isdir(os.path.join(home, "ctr", "work"))
    assert os.path.exists(os.path.join(home, "base", "committed"))
    assert os.path.exists(os.path.join(home, "mid", "committed"))
    assert not os.path.exists(os.path.join(home, "ctr", "committed"))
    merged = ov.get("ctr")
    assert merged == os.path.join(home, "ctr", "merged")
    opts = super_options(merged)
    # the kernel only shows index= when it differs from the module default
    with open("/sys/module/overlay/parameters/index") as f:
        assert "index=on" not in opts and ("index=off" in opts or f.read().strip() == "N")
    assert "upperdir=" in opts and "workdir=" in opts
    ov.put("ctr")
    assert not os.path.exists(merged)
    # an image layer with children mounts read-only, without an upper dir
    ro = ov.get("mid")
    assert "upperdir" not in super_options(ro)
    with pytest.raises(OSError) as e:
        open(os.path.join(ro, "x"), "w")
    assert e.value.errno == errno.EROFS
    ov.put("mid")
    # a base layer is its own diff dir
    assert ov.get("base") == os.path.join(home, "base", "diff")
    ov.put("base")
    ov.remove("ctr")
    assert not os.path.lexists(os.path.join(home, "l", links["ctr"]))
    with pytest.raises(DriverError, match="reserved"):
        ov.create("l", None)


def test_200_layer_image(ov):
    """Mounts through fsopen + one lowerdir+ fd per layer; whiteouts hide files mid-stack."""
    ids = chain(ov, 200, whiteout_at={100: "f50"})
    ov.create("ctr", ids[-1], writable=True)
    root = ov.get("ctr")
    try:
        assert open(os.path.join(root, "f0")).read() == "layer 0\n"  # bottom layer
        assert open(os.path.join(root, "f199")).read() == "layer 199\n"
        assert not os.path.exists(os.path.join(root, "f50"))  # whited out in layer 100
        assert os.path.exists(os.path.join(root, "f49")) and os.path.exists(os.path.join(root, "f51"))
        assert len(os.listdir(root)) == 199
        assert super_options(root).count("lowerdir+") == 200
        assert ov.status()["Mount API"] == "fsopen + lowerdir+ fds"
        # below the whiteout the file is still there
        below = ov.get(ids[99])
        assert os.path.exists(os.path.join(below, "f50"))
        ov.put(ids[99])
    finally:
        ov.put("ctr")
    assert not mounts_under(ov.home)


def test_classic_mount_fallback(backing):
    """mount(2): absolute paths when they fit, l/ short links from a chdir'ed child, else a clear error."""
    for d in make_driver(backing, mount_api="classic"):
        assert d.status()["Mount API"] == "mount(2)"
        ids = chain(d, 10, "a")
        root = d.get(ids[-1])
        assert open(os.path.join(root, "f0")).read() == "layer 0\n"
        assert d.home in super_options(root)  # absolute lowerdir paths
        d.put(ids[-1])
        ids = chain(d, 100, "b")  # 100 absolute paths exceed one page, short links fit
        assert sum(len(os.path.join(d.home, i, "diff")) + 1 for i in ids) > 4096
        d.create("ctr", ids[-1], writable=True)
        root = d.get("ctr")
        assert open(os.path.join(root, "f0")).read() == "layer 0\n"
        assert "lowerdir=l/" in super_options(root)
        d.put("ctr")
        ids = chain(d, 200, "c")
        d.create("ctr2", ids[-1], writable=True)
        with pytest.raises(DriverError, match="one-page"):
            d.get("ctr2")
        assert not mounts_under(os.path.join(d.home, "ctr2"))
        # the same layers mount with the new API
        new = Overlay2Driver(d.home, {"overlay2.mount_api": "new"})
        root = new.get("ctr2")
        assert open(os.path.join(root, "f0")).read() == "layer 0\n"
        new.put("ctr2")


def test_volatile_remount(ov):
    ov.create("base", None)
    ov.apply_diff("base", None, tar_stream([("a", "f", b"a")]))
    ov.create("ctr", "base", writable=True, opts={"volatile": "true"})
    root = ov.get("ctr")
    assert re.search(r"(^|,)(fsync=)?volatile(,|$)", super_options(root))
    with open(os.path.join(root, "b"), "w") as f:
        f.write("b")
    ov.put("ctr")
    assert os.path.isdir(os.path.join(ov.home, "ctr", "work", "work", "incompat", "volatile"))
    root = ov.get("ctr")  # the driver clears the incompat dir, else the kernel refuses the mount
    assert open(os.path.join(root, "b")).read() == "b"
    ov.put("ctr")
    assert ov.metadata("ctr")["Volatile"] == "true"


def test_metacopy_diff_through_merged_view(ov):
    ov.create("base", None)
    big = os.urandom(1 << 20) * 16  # 16 MiB
    ov.apply_diff("base", None, tar_stream([("big", "f", big, {"mode": 0o644})]))
    ov.create("ctr", "base", writable=True, opts={"metacopy": "true"})
    root = ov.get("ctr")
    try:
        assert "metacopy=on" in super_options(root)
        os.chmod(os.path.join(root, "big"), 0o600)
    finally:
        ov.put("ctr")
    upper = os.path.join(ov.home, "ctr", "diff", "big")
    assert util.allocated(upper) < (1 << 20), "metadata-only copy-up"
    assert "trusted.overlay.metacopy" in os.listxattr(upper)
    with ov.diff("ctr", "base") as tar:  # exported through the merged view, data included
        data = tar.read()
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        m = tf.getmember("big")
        assert m.size == len(big) and m.mode == 0o600
        assert tf.extractfile(m).read() == big
    assert [(c.path, c.kind) for c in ov.changes("ctr", "base")] == [("/big", "C")]
    with pytest.raises(DriverError, match="metacopy"):
        ov.create("child", "ctr")


def test_max_depth(ov):
    ids = chain(ov, 3)
    with open(os.path.join(ov.home, ids[-1], "lower")) as f:
        lowers = f.read()
    # fake a 500-deep parent by repeating real links (the kernel allows repeated lowers)
    with open(os.path.join(ov.home, ids[-1], "lower"), "w") as f:
        f.write(":".join([lowers.split(":")[0]] * 500))
    with pytest.raises(DriverError, match="max depth"):
        ov.create("too-deep", ids[-1])


@pytest.mark.slow
def test_500_layer_image(ov):
    ids = chain(ov, 500)
    root = ov.get(ids[-1])  # read-only: own diff + 499 lowers = the kernel's 500
    assert open(os.path.join(root, "f0")).read() == "layer 0\n"
    ov.put(ids[-1])
    ov.create("ctr", ids[-1], writable=True)  # 500 lowers + upper
    root = ov.get("ctr")
    assert len(os.listdir(root)) == 500
    ov.put("ctr")
    with pytest.raises(DriverError, match="max depth"):
        ov.create("ctr2", "ctr")


def test_probe_reasons(ov, tmpdir_unique):
    ov.create("base", None)
    ov.create("ctr", "base", writable=True)
    root = ov.get("ctr")
    try:
        why = Overlay2Driver.probe(os.path.join(root, "nested-home"))
        assert why and "overlayfs" in why
    finally:
        ov.put("ctr")
    # ext4 without the filetype feature has no d_type
    img = os.path.join(tmpdir_unique, "nodtype.img")
    mnt = os.path.join(tmpdir_unique, "mnt")
    os.mkdir(mnt)
    with open(img, "wb") as f:
        f.truncate(32 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-O", "^filetype", img], check=True, capture_output=True)
    loop = subprocess.run(["losetup", "-f", "--show", img], check=True, capture_output=True, text=True).stdout.strip()
    try:
        subprocess.run(["mount", loop, mnt], check=True, capture_output=True)
        why = Overlay2Driver.probe(os.path.join(mnt, "home"))
        assert why and "d_type" in why
        from pyrunc.graphdriver import NotSupported, registry
        with pytest.raises(NotSupported, match="d_type"):
            registry.get_driver("overlay2", os.path.join(mnt, "home"))
    finally:
        util.teardown_mount(mnt, loop)


def test_native_changes_match_naive(ov):
    """Changes read from diff/ equal a tree comparison of the two mounted views."""
    from pyrunc.graphdriver import archive
    ov.create("base", None)
    ov.apply_diff("base", None, tar_stream([("d", "d", None), ("d/a", "f", b"a"), ("d/b", "f", b"b"),
                                            ("e", "d", None), ("e/x", "f", b"x"), ("keep", "f", b"k")]))
    ov.create("ctr", "base", writable=True)
    root = ov.get("ctr")
    try:
        shutil.rmtree(os.path.join(root, "d"))
        os.mkdir(os.path.join(root, "d"))
        open(os.path.join(root, "d", "a"), "w").close()
        os.unlink(os.path.join(root, "e", "x"))
        open(os.path.join(root, "new"), "w").close()
    finally:
        ov.put("ctr")
    native = sorted((c.path, c.kind) for c in ov.changes("ctr", "base"))
    with ov._mounted("ctr") as a, ov._mounted("base") as b:
        naive = sorted((c.path, c.kind) for c in archive.compute_changes(a, b))
    assert native == naive
