"""Emulated devicemapper driver on real loop devices, mounts and filesystems.

Every test runs against two pools: a loopback XFS (reflink) pool created by the driver
(dm.loopback_xfs=true) and a pool directly on this host's ext4 (no reflink: sparse copies).
Assertions use the kernel's own views (/proc/self/mountinfo, `losetup`, statvfs, st_blocks).
"""
from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time

import pytest

from pyrunc.graphdriver.devicemapper import DeviceMapperDriver
from pyrunc.graphdriver.driver import DriverError

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/dev/loop-control"),
                                reason="needs root and loop devices")

MiB = 1 << 20


# --- kernel views used by the assertions (independent of the driver's own helpers) -----------

def mountpoints_under(path: str) -> list[str]:
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == path or mp.startswith(path.rstrip("/") + "/"):
                out.append(mp)
    return out


def mount_source(mp: str) -> tuple[str, str] | None:
    """(fstype, source) of the mount exactly at ``mp``."""
    hit = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if left.split()[4] == mp:
                hit = tuple(right.split()[:2])
    return hit


def loops_under(path: str) -> list[tuple[str, str]]:
    """Loop devices (name, backing file) whose backing file lives under ``path``."""
    r = subprocess.run(["losetup", "-l", "-n", "-O", "NAME,BACK-FILE"], capture_output=True,
                       text=True, check=True)
    out = []
    for line in r.stdout.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and parts[1].startswith(path.rstrip("/") + "/"):
            out.append((parts[0], parts[1].strip()))
    return out


def allocated(path: str) -> int:
    return os.stat(path).st_blocks * 512


def pool_used(d: DeviceMapperDriver) -> int:
    os.sync()
    v = os.statvfs(d.pool_dir)
    return (v.f_blocks - v.f_bfree) * v.f_frsize


def wait_for(cond, timeout: float = 10.0, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def force_release(home: str) -> None:
    """Last-resort teardown with the system tools: lazy-unmount and detach everything of home."""
    for mp in sorted(mountpoints_under(home), key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], capture_output=True)
    for name, _ in loops_under(home):
        subprocess.run(["losetup", "-d", name], capture_output=True)
    end = time.monotonic() + 5
    while loops_under(home) and time.monotonic() < end:
        time.sleep(0.05)


# --- fixtures ---------------------------------------------------------------------------------

@pytest.fixture
def home():
    path = tempfile.mkdtemp(prefix="pyrunc-dm-", dir="/tmp")
    try:
        yield path
    finally:
        force_release(path)
        leftover = mountpoints_under(path)
        shutil.rmtree(path, ignore_errors=True)
        assert not leftover, f"mounts left under {path}: {leftover}"


POOLS = {"xfs": {"dm.loopback_xfs": "true"}, "sparse": {}}


@pytest.fixture(params=sorted(POOLS))
def pool(request) -> str:
    return request.param


@pytest.fixture
def make(home, pool):
    """Factory for drivers on ``home`` with the pool's options (+extra); all cleaned up."""
    made: list[DeviceMapperDriver] = []

    def _make(**extra: str) -> DeviceMapperDriver:
        d = DeviceMapperDriver(home, {**POOLS[pool], **extra})
        made.append(d)
        return d

    try:
        yield _make
    finally:
        for d in made:
            try:
                d.cleanup()
            except Exception:      # force_release in `home` still runs
                pass


@pytest.fixture
def drv(make) -> DeviceMapperDriver:
    return make()


def tar_of(entries: list[tuple]) -> io.BytesIO:
    """entries: (name, "f", data) | (name, "d") | (name, "l", target)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for e in entries:
            ti = tarfile.TarInfo(e[0])
            ti.mtime = 1700000000
            if e[1] == "d":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(ti)
            elif e[1] == "l":
                ti.type, ti.linkname = tarfile.SYMTYPE, e[2]
                tf.addfile(ti)
            else:
                ti.size, ti.mode = len(e[2]), 0o644
                tf.addfile(ti, io.BytesIO(e[2]))
    buf.seek(0)
    return buf


def read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def write(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def tree(root: str) -> dict[str, tuple]:
    """Comparable snapshot of a tree: path -> (type, mode, content/target)."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("l", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("d", stat.S_IMODE(st.st_mode))
            else:
                out[rel] = ("f", stat.S_IMODE(st.st_mode), read(p))
    return out


# --- tests ----------------------------------------------------------------------------------

def test_probe_and_registry(home):
    assert DeviceMapperDriver.probe(home) is None
    from pyrunc.graphdriver import registry
    assert registry.DRIVERS.get("devicemapper") is DeviceMapperDriver
    d = registry.get_driver("devicemapper", home, {})
    assert isinstance(d, DeviceMapperDriver)
    d.cleanup()


PROBE = "import sys; from pyrunc.graphdriver.devicemapper import DeviceMapperDriver as D; " \
        "print(D.probe(sys.argv[1]))"


@pytest.mark.parametrize("hide,reason", [("/dev/loop-control", "no loop device can be configured"),
                                         ("/usr/sbin/mke2fs", "mkfs.ext4 not found")])
def test_probe_reasons(home, hide, reason):
    """Hide the loop control device / mkfs.ext4 in a private mount namespace."""
    if not os.path.exists(hide):
        pytest.skip(f"{hide} not on this host")
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                        'mount --bind /dev/null "$1" && exec "$2" -c "$3" "$4"', "sh",
                        hide, sys.executable, PROBE, home], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert reason in r.stdout


def test_bad_options(home):
    with pytest.raises(DriverError, match="dm.nope"):
        DeviceMapperDriver(home, {"dm.nope": "1"})
    with pytest.raises(DriverError, match="btrfs"):
        DeviceMapperDriver(home, {"dm.fs": "btrfs"})
    with pytest.raises(DriverError, match="size"):
        DeviceMapperDriver(home, {"dm.basesize": "lots"})


def test_get_mounts_a_loop_device_and_put_detaches_it(drv, home):
    drv.create("l1", None)
    assert drv.exists("l1") and not drv.exists("l2")
    path = drv.get("l1")
    mp = os.path.join(home, "mnt", "l1")
    assert path == os.path.join(mp, "rootfs") and os.path.isdir(path)
    fstype, source = mount_source(mp)
    assert fstype == "ext4" and source.startswith("/dev/loop")
    image = drv.metadata("l1")["ImageFile"]
    assert (source, image) in loops_under(home)
    md = drv.metadata("l1")
    assert md["DeviceSize"] == str(10 << 30) and md["LoopDevice"] == source
    sysfs = f"/sys/block/{os.path.basename(source)}"
    assert read(f"{sysfs}/loop/autoclear").strip() == b"1"
    assert read(f"{sysfs}/loop/dio").strip() == b"1"          # direct-io on both pools
    assert read(f"{sysfs}/queue/logical_block_size").strip() == b"4096"
    assert md["MergedDir"] == path
    assert os.statvfs(path).f_blocks * os.statvfs(path).f_frsize > 9 << 30
    write(os.path.join(path, "hello"), b"hi")
    drv.put("l1")
    assert mount_source(mp) is None
    wait_for(lambda: not loops_under(home) or all(b != image for _, b in loops_under(home)),
             what="autoclear detach")
    assert read(os.path.join(drv.get("l1"), "hello")) == b"hi"      # persisted in the image
    drv.put("l1")


def test_refcounted_get_put(drv, home):
    drv.create("r", None)
    mp = os.path.join(home, "mnt", "r")
    p1, p2 = drv.get("r"), drv.get("r")
    assert p1 == p2 and mountpoints_under(mp) == [mp]      # one mount for two references
    drv.put("r")
    assert mount_source(mp) is not None
    drv.put("r")
    assert mount_source(mp) is None
    drv.put("r")                                            # extra put is harmless
    assert not loops_under(os.path.join(drv.pool_dir, "devices"))


def test_snapshot_independence(drv):
    drv.create("parent", None)
    p = drv.get("parent")
    write(os.path.join(p, "etc/conf"), b"v1")
    drv.put("parent")
    drv.create("child", "parent", writable=True)
    c = drv.get("child")
    assert read(os.path.join(c, "etc/conf")) == b"v1"
    write(os.path.join(c, "etc/conf"), b"child")
    write(os.path.join(c, "only-child"), b"x")
    p = drv.get("parent")                                   # both mounted at once
    assert read(os.path.join(p, "etc/conf")) == b"v1"
    assert not os.path.exists(os.path.join(p, "only-child"))
    write(os.path.join(p, "only-parent"), b"y")
    assert not os.path.exists(os.path.join(c, "only-parent"))
    drv.put("child")
    drv.put("parent")
    assert drv.metadata("child")["Parent"] == "parent"


def test_snapshot_of_a_mounted_parent_is_consistent(drv):
    """Committing a running container: the parent stays mounted and is frozen for the copy."""
    drv.create("run", None)
    p = drv.get("run")
    write(os.path.join(p, "data"), b"unsynced" * 1000)
    drv.create("commit", "run")
    c = drv.get("commit")
    assert read(os.path.join(c, "data")) == b"unsynced" * 1000
    write(os.path.join(p, "after"), b"1")                   # parent thawed again
    drv.put("commit")
    drv.put("run")


def test_snapshot_method_and_space(drv, pool):
    drv.create("big", None)
    p = drv.get("big")
    with open(os.path.join(p, "blob"), "wb") as f:
        for _ in range(64):
            f.write(os.urandom(MiB))
    drv.put("big")
    image = drv.metadata("big")["ImageFile"]
    assert allocated(image) >= 64 * MiB
    before = pool_used(drv)
    drv.create("snap", "big")
    md = drv.metadata("snap")
    st = drv.status()
    if pool == "xfs":
        assert md["Snapshot"] == "reflink" and st["Reflink"] == "true"
        assert st["Backing Filesystem"] == "xfs"
        assert pool_used(drv) - before < 2 * MiB, "reflink snapshot must share the extents"
    else:
        assert md["Snapshot"] == "copy" and st["Reflink"] == "false"
        assert st["Backing Filesystem"] == "extfs"
        snap = md["ImageFile"]
        assert os.stat(snap).st_size == 10 << 30
        assert 64 * MiB <= allocated(snap) < 128 * MiB, "sparse copy must keep the holes"
    c = drv.get("snap")
    assert read(os.path.join(c, "blob")) == read(os.path.join(drv.get("big"), "blob"))
    drv.put("big")
    drv.put("snap")


def test_fresh_layers_are_snapshots_of_one_base(drv, pool):
    drv.create("a", None)
    drv.create("b", None)
    bases = os.listdir(os.path.join(drv.pool_dir, "base"))
    assert bases == [f"ext4-{10 << 30}.img"]
    a, b = drv.get("a"), drv.get("b")
    assert os.listdir(a) == [] and os.listdir(b) == []     # lost+found stays outside rootfs
    drv.put("a")
    drv.put("b")


def test_apply_diff_whiteouts(drv):
    drv.create("base", None)
    n = drv.apply_diff("base", None, tar_of([
        ("a", "f", b"A"), ("dir", "d"), ("dir/b", "f", b"B"), ("dir/c", "f", b"C"),
        ("opq", "d"), ("opq/x", "f", b"X"), ("link", "l", "dir/c")]))
    assert n >= 4
    drv.create("top", "base")
    drv.apply_diff("top", "base", tar_of([
        (".wh.a", "f", b""), ("dir/.wh.b", "f", b""), ("opq/.wh..wh..opq", "f", b""),
        ("opq/y", "f", b"Y")]))
    t = drv.get("top")
    assert not os.path.lexists(os.path.join(t, "a"))
    assert sorted(os.listdir(os.path.join(t, "dir"))) == ["c"]
    assert os.listdir(os.path.join(t, "opq")) == ["y"]
    assert os.readlink(os.path.join(t, "link")) == "dir/c"
    assert not [n for n in os.listdir(t) if n.startswith(".wh.")]
    b = drv.get("base")                                     # parent untouched
    assert sorted(os.listdir(b)) == ["a", "dir", "link", "opq"]
    assert sorted(os.listdir(os.path.join(b, "opq"))) == ["x"]
    drv.put("top")
    drv.put("base")
    assert drv.changes("top", "base") and not mountpoints_under(os.path.join(drv.home, "mnt"))


def test_diff_round_trip(drv):
    drv.create("base", None)
    drv.apply_diff("base", None, tar_of([
        ("etc", "d"), ("etc/passwd", "f", b"root:x:0:0"), ("etc/gone", "f", b"bye"),
        ("var", "d"), ("var/old", "d"), ("var/old/f", "f", b"o")]))
    drv.create("ctr", "base", writable=True)
    c = drv.get("ctr")
    write(os.path.join(c, "etc/passwd"), b"root:x:0:0\nuser:x:1000:1000")
    os.unlink(os.path.join(c, "etc/gone"))
    shutil.rmtree(os.path.join(c, "var/old"))
    write(os.path.join(c, "new/deep/file"), b"n" * 5000)
    os.symlink("/etc/passwd", os.path.join(c, "new/ln"))
    os.chmod(os.path.join(c, "new/deep/file"), 0o600)
    drv.put("ctr")

    ch = {(x.path, x.kind) for x in drv.changes("ctr", "base")}
    assert {("/etc/passwd", "C"), ("/etc/gone", "D"), ("/var/old", "D"), ("/new", "A"),
            ("/new/deep/file", "A"), ("/new/ln", "A")} <= ch
    assert drv.diff_size("ctr", "base") == len(b"root:x:0:0\nuser:x:1000:1000") + 5000

    with drv.diff("ctr", "base") as layer:
        names = tarfile.open(fileobj=layer).getnames()
        assert "etc/.wh.gone" in names and "var/.wh.old" in names and "new/deep/file" in names
        layer.seek(0)
        drv.create("copy", "base")
        drv.apply_diff("copy", "base", layer)
    assert not mountpoints_under(os.path.join(drv.home, "mnt"))   # diff mounts were temporary
    assert tree(drv.get("copy")) == tree(drv.get("ctr"))
    assert drv.changes("copy", "ctr") == []
    drv.put("copy")
    drv.put("ctr")

    with drv.diff("base", None) as full:                  # no parent: the whole layer
        assert {"etc/passwd", "etc/gone", "var/old/f"} <= set(tarfile.open(fileobj=full).getnames())


def test_changes_of_a_mounted_layer_reuse_its_mount(drv, home):
    drv.create("base", None)
    drv.create("live", "base")
    p = drv.get("live")
    write(os.path.join(p, "x"), b"1")
    assert [(c.path, c.kind) for c in drv.changes("live", "base")] == [("/x", "A")]
    mnt = os.path.join(home, "mnt")
    assert mountpoints_under(mnt) == [os.path.join(mnt, "live")]
    drv.put("live")


def test_remove(drv, home):
    drv.create("gone", None)
    drv.get("gone")                                         # removing a mounted layer unmounts it
    image = drv.metadata("gone")["ImageFile"]
    drv.remove("gone")
    assert not drv.exists("gone") and not os.path.exists(image)
    assert not mountpoints_under(os.path.join(home, "mnt"))
    drv.remove("gone")                                      # idempotent
    with pytest.raises(DriverError):
        drv.get("gone")
    drv.create("gone", None)                                # the id is reusable
    assert drv.exists("gone")


def test_create_errors(drv):
    drv.create("x", None)
    with pytest.raises(DriverError, match="exists"):
        drv.create("x", None)
    with pytest.raises(DriverError, match="nope"):
        drv.create("y", "nope")
    with pytest.raises(DriverError):
        drv.create("../evil", None)
    with pytest.raises(DriverError, match="smaller"):
        drv.create("small", "x", opts={"size": "1G"})
    with pytest.raises(DriverError, match="quota"):
        drv.create("z", "x", opts={"quota": "1"})
    assert drv.layers() == ["x"]


def test_size_option_grows_the_filesystem(drv):
    drv.create("base", None)
    drv.create("large", "base", writable=True, opts={"size": "12G"})
    assert drv.metadata("large")["DeviceSize"] == str(12 << 30)
    p = drv.get("large")
    v = os.statvfs(p)
    assert v.f_blocks * v.f_frsize > 11 << 30
    drv.put("large")


def test_basesize_option(make):
    d = make(**{"dm.basesize": "1G"})
    d.create("s", None)
    assert d.metadata("s")["DeviceSize"] == str(1 << 30)
    assert d.status()["Base Device Size"] == "1.074 GB"
    v = os.statvfs(d.get("s"))
    assert v.f_blocks * v.f_frsize < 1 << 30
    d.put("s")


def test_fstrim_reclaims_space(drv, pool):
    drv.create("t", None)
    p = drv.get("t")
    with open(os.path.join(p, "blob"), "wb") as f:
        for _ in range(48):
            f.write(os.urandom(MiB))
    drv.put("t")
    image = drv.metadata("t")["ImageFile"]
    assert allocated(image) >= 48 * MiB
    os.unlink(os.path.join(drv.get("t"), "blob"))
    drv.put("t")                                            # put trims the device
    assert allocated(image) < 16 * MiB
    # whiteouts applied by apply_diff are trimmed as well
    p = drv.get("t")
    write(os.path.join(p, "blob2"), os.urandom(32 * MiB))
    drv.put("t")
    assert allocated(image) >= 32 * MiB
    drv.apply_diff("t", None, tar_of([(".wh.blob2", "f", b"")]))
    assert allocated(image) < 16 * MiB
    if pool == "xfs":                                       # deleting a device shrinks pool.img
        pool_img = os.path.join(drv.home, "pool.img")
        drv.create("t2", None)
        write(os.path.join(drv.get("t2"), "blob"), os.urandom(48 * MiB))
        drv.put("t2")
        os.sync()
        big = allocated(pool_img)
        drv.remove("t2")
        assert allocated(pool_img) < big - 40 * MiB


def spawn_holder(cwd: str | None = None, new_ns: bool = True) -> subprocess.Popen:
    """A process in a new mount namespace (a copy of all our mounts), or in ours; with ``cwd``
    it keeps a directory inside one of the mounts in use."""
    cmd = f"cd '{cwd}' && exec sleep 120" if cwd else "exec sleep 120"
    ns = ["unshare", "-m", "--propagation", "unchanged"] if new_ns else []
    holder = subprocess.Popen(ns + ["sh", "-c", cmd])
    wait_for(lambda: (os.readlink(f"/proc/{holder.pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt"))
             == new_ns and read(f"/proc/{holder.pid}/comm").strip() == b"sleep", what="holder")
    return holder


def test_idle_copy_in_another_namespace_does_not_keep_the_device(drv, home):
    drv.create("idle", None)
    drv.get("idle")
    image = drv.metadata("idle")["ImageFile"]
    holder = spawn_holder()
    try:
        drv.put("idle")          # rmdir of the mountpoint detaches the namespace's idle copy
        wait_for(lambda: all(b != image for _, b in loops_under(home)), what="loop detach")
        drv.remove("idle")
        assert drv.status()["Deferred Deleted Device Count"] == "0"
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("where", ["other-namespace", "same-namespace"])
def test_deferred_removal_of_a_busy_device(drv, home, where):
    drv.create("busy", None)
    p = drv.get("busy")
    write(os.path.join(p, "f"), b"1")
    image = drv.metadata("busy")["ImageFile"]
    # a process works inside the mount: in a copy of it in another mount namespace (the
    # classic "Device is Busy" of docker's devicemapper), or in ours (put detaches lazily)
    holder = spawn_holder(cwd=p, new_ns=where == "other-namespace")
    try:
        drv.put("busy")
        assert mount_source(os.path.dirname(p)) is None       # gone from our namespace
        assert any(b == image for _, b in loops_under(home))  # but the device is still busy
        drv.remove("busy")
        assert not drv.exists("busy")
        assert not os.path.exists(image)
        assert drv.status()["Deferred Deleted Device Count"] == "1"
        pending = os.listdir(os.path.join(drv.pool_dir, "deleted"))
        assert len(pending) == 1
        assert loops_under(os.path.join(drv.pool_dir, "deleted"))  # follows the renamed image
        drv.create("busy", None)                              # id free for reuse meanwhile
        drv.remove("busy")
        assert drv.status()["Deferred Deleted Device Count"] == "1"
    finally:
        holder.kill()
        holder.wait()
    wait_for(lambda: not loops_under(os.path.join(drv.pool_dir, "deleted")),
             what="loop device released by the dead namespace")
    assert drv.status()["Deferred Deleted Device Count"] == "0"  # next operation finishes it
    assert os.listdir(os.path.join(drv.pool_dir, "deleted")) == []


def test_cleanup_leaves_no_mount_and_no_loop(make, home, pool):
    d = make()
    d.create("a", None)
    d.create("b", "a")
    d.get("a")
    d.get("b")
    d.get("b")
    d.changes("b", "a")
    assert loops_under(home)
    d.cleanup()
    assert mountpoints_under(home) == []
    wait_for(lambda: not loops_under(home), what="loop devices detached")
    d.cleanup()                                             # idempotent
    # state survives: a new driver on the same home (re-mounting the loopback pool) sees it
    d2 = make()
    assert d2.layers() == ["a", "b"]
    assert os.listdir(d2.get("b")) == []
    d2.cleanup()
    assert mountpoints_under(home) == []
    wait_for(lambda: not loops_under(home), what="loop devices detached")


def test_status_keys(drv, pool):
    drv.create("s", None)
    st = drv.status()
    for key in ("Pool Name", "Pool Dir", "Base Device Size", "Backing Filesystem", "Reflink",
                "Data Space Used", "Data Space Total", "Data Space Available",
                "Deferred Removal Enabled", "Deferred Deleted Device Count"):
        assert st[key], key
    assert st["Pool Dir"] == drv.pool_dir and st["Devices"] == "1"
    assert st["Base Device Size"] == "10.74 GB"
    assert ("Data loop file" in st) == (pool == "xfs")


def test_xfs_inside_images(make, pool):
    if pool != "xfs":
        pytest.skip("one pool is enough for the xfs-in-image case")
    d = make(**{"dm.fs": "xfs", "dm.basesize": "1G"})
    d.create("x", None)
    write(os.path.join(d.get("x"), "f"), b"xfs")
    d.put("x")
    d.create("y", "x")
    a, b = d.get("x"), d.get("y")                           # same UUID twice: needs nouuid
    assert mount_source(os.path.dirname(a))[0] == mount_source(os.path.dirname(b))[0] == "xfs"
    assert read(os.path.join(b, "f")) == b"xfs"
    d.put("x")
    d.put("y")
    d.create("grown", "y", opts={"size": "2G"})            # xfs grows online at first mount
    v = os.statvfs(d.get("grown"))
    assert v.f_blocks * v.f_frsize > 1536 * MiB
    d.put("grown")


def test_many_devices_at_once(drv, home):
    """More devices than the loop driver pre-creates (max_loop=8 here): LOOP_CTL_GET_FREE adds
    them on demand; every one is a separate device and all go away at put."""
    drv.create("l0", None)
    ids = [f"l{i}" for i in range(1, 21)]
    for i, id in enumerate(ids):
        drv.create(id, f"l{i}")                              # a 21-deep chain of snapshots
    paths = [drv.get(id) for id in ids]
    for id, p in zip(ids, paths):
        write(os.path.join(p, "me"), id.encode())
    sources = {mount_source(os.path.dirname(p))[1] for p in paths}
    assert len(sources) == len(ids)
    assert [read(os.path.join(p, "me")) for p in paths] == [id.encode() for id in ids]
    for id in ids:
        drv.put(id)
    assert not mountpoints_under(os.path.join(home, "mnt"))
    wait_for(lambda: not loops_under(home) or all("/devices/" not in b for _, b in loops_under(home)),
             what="all devices detached")
