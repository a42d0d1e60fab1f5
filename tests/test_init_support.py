"""Helpers for the issue-3 tests (container init): run a script in a real container and return what
it saw, namespace holders, host mount-table snapshots. Holds no tests itself (named test_init_* to
sit with the modules that use it)."""
import contextlib
import os
import subprocess
import tempfile
import time

import pytest

from support import cgroup_dirs, make_rootfs, mounts_under, rmtree

# (MS_* names as /proc/self/mountinfo prints them in the per-mount option field)
MOUNT_OPTS = ("ro", "rw", "nosuid", "nodev", "noexec", "noatime", "nodiratime", "relatime", "sync",
              "dirsync", "nosymfollow")


def _open_tmpdir(prefix: str) -> str:
    """A temp dir every uid can traverse: pytest's tmp_path sits below a 0700 directory, which the
    root of a user namespace (an unprivileged host uid) cannot enter, exactly as with runc."""
    d = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(d, 0o755)
    return d


@pytest.fixture(scope="session")
def userns_rootfs():
    """A shared read-only-by-convention busybox rootfs reachable from inside a user namespace."""
    d = _open_tmpdir("pyrunc-usernsroot-")
    make_rootfs(os.path.join(d, "rootfs"))
    yield os.path.join(d, "rootfs")
    rmtree(d)


@pytest.fixture
def open_dir():
    """A per-test dir reachable from inside a user namespace; nothing may stay mounted below it."""
    d = _open_tmpdir("pyrunc-open-")
    yield d
    leaked = mounts_under(d)
    rmtree(d)
    assert not leaked, f"mounts left behind: {leaked}"


def run_sh(rt, rootfs: str, script: str, mutate=None, rc: int = 0, extra: tuple = ()) -> str:
    """``pyrunc run`` of ``sh -c script``; assert the exit code, return stdout."""
    bundle = rt.bundle(["sh", "-c", script], rootfs, mutate=mutate)
    p = rt.run("run", *extra, "--bundle", bundle, rt.new_id())
    assert p.returncode == rc, f"exit {p.returncode} (want {rc}); stderr={p.stderr!r} stdout={p.stdout!r}"
    return p.stdout.decode()


def create_error(rt, rootfs: str, mutate=None, args=("true",), bundle: str | None = None) -> str:
    """``pyrunc create`` that must fail: one error line, and no state dir, cgroup or process left."""
    bundle = bundle or rt.bundle(list(args), rootfs, mutate=mutate)
    cid = rt.new_id()
    p = rt.run("create", "--bundle", bundle, cid)
    err = p.stderr.decode()
    assert p.returncode == 1, f"create must fail: exit {p.returncode}, stderr={err!r}"
    assert err.strip() and "\n" not in err.strip(), f"one error line expected: {err!r}"
    assert not os.path.exists(os.path.join(rt.root, cid)), "failed create left its state dir"
    assert not cgroup_dirs(cid), "failed create left its cgroup"
    assert not procs_in_cgroup_named(cid), "failed create left a process"
    return err


def procs_in_cgroup_named(name: str) -> list[int]:
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/cgroup") as f:
                    if name in f.read():
                        found.append(int(d))
            except OSError:
                pass
    return found


def mountinfo(text: str) -> list[dict]:
    """Parse mountinfo text into dicts: id, parent, root, mountpoint, opts (set), optional, fstype,
    source, super (set)."""
    out = []
    for line in text.splitlines():
        if not line.strip() or " - " not in line:
            continue
        left, _, right = line.partition(" - ")
        f = left.split()
        r = right.split()
        out.append({"id": int(f[0]), "parent": int(f[1]), "root": f[3], "mountpoint": f[4],
                    "opts": set(f[5].split(",")), "optional": f[6:], "fstype": r[0],
                    "source": r[1] if len(r) > 1 else "", "super": set(r[2].split(",")) if len(r) > 2 else set()})
    return out


def mount_at(entries: list[dict], mountpoint: str) -> dict:
    """The top-most mount at ``mountpoint``."""
    found = [e for e in entries if e["mountpoint"] == mountpoint]
    assert found, f"no mount at {mountpoint}: {[e['mountpoint'] for e in entries]}"
    return found[-1]


def host_mounts(own: tuple[str, ...] = ()) -> set[tuple]:
    """The host mount table (this process's namespace) as comparable tuples.

    Mounts under /tmp that are not under one of ``own`` belong to other sessions working on this
    machine at the same time and are left out, so a concurrent test elsewhere cannot fail ours.
    """
    with open("/proc/self/mountinfo") as f:
        entries = mountinfo(f.read())
    keep = set()
    for e in entries:
        mp = e["mountpoint"]
        if mp.startswith("/tmp/") and not any(mp == o or mp.startswith(o.rstrip("/") + "/") for o in own):
            continue
        keep.add((mp, e["root"], e["fstype"], e["source"], ",".join(sorted(e["opts"]))))
    return keep


def ns_inode(pid: int | str, ns: str) -> str:
    """``net:[4026531840]`` form, as readlink of /proc/<pid>/ns/<ns> prints it."""
    return os.readlink(f"/proc/{pid}/ns/{ns}")


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


@contextlib.contextmanager
def unshare_holder(*flags: str):
    """A ``sleep`` in fresh namespaces made by util-linux unshare; yields its pid. Killed afterwards."""
    p = subprocess.Popen(["unshare", *flags, "--fork", "--kill-child", "sleep", "300"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        child = None
        while time.monotonic() < deadline:
            kids = _children(p.pid)
            if kids:
                try:
                    with open(f"/proc/{kids[0]}/comm") as f:
                        if f.read().strip() == "sleep":
                            child = kids[0]
                            break
                except OSError:
                    pass
            if p.poll() is not None:
                raise AssertionError(f"unshare {flags} failed: {p.stderr.read()!r}")
            time.sleep(0.01)
        assert child, "namespace holder did not start"
        yield child
    finally:
        p.kill()
        p.wait()
        p.stderr.close()


@contextlib.contextmanager
def container_holder(rt, rootfs: str, mutate=None, args=("sleep", "300")):
    """A running pyrunc container (``sleep``) whose namespaces others join; yields (id, host pid)."""
    bundle = rt.bundle(list(args), rootfs, mutate=mutate)
    cid = rt.new_id("holder")
    rt.run("run", "-d", "--bundle", bundle, cid, check=True)
    try:
        yield cid, rt.state(cid)["pid"]
    finally:
        rt.run("delete", "--force", cid)


def drop_ns(cfg: dict, *types: str) -> None:
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] not in types]


def add_ns(cfg: dict, ns_type: str, path: str | None = None) -> None:
    drop_ns(cfg, ns_type)
    cfg["linux"]["namespaces"].append({"type": ns_type, **({"path": path} if path else {})})


def userns(cfg: dict, host_id: int = 100000, size: int = 65536) -> None:
    """Run in a new user namespace: container 0..size-1 -> host host_id.. (root writes the maps)."""
    add_ns(cfg, "user")
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": host_id, "size": size}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": host_id, "size": size}]


def status_fields(text: str) -> dict:
    out = {}
    for line in text.splitlines():
        k, sep, v = line.partition(":")
        if sep:
            out[k.strip()] = v.strip()
    return out


def cap_mask(*names: str) -> int:
    from pyrunc.runtime.caps import NUMBERS
    m = 0
    for n in names:
        m |= 1 << NUMBERS[n]
    return m


def all_caps(cfg_caps: list[str] | None = None) -> list[str]:
    from pyrunc.runtime.caps import NAMES, last_cap
    return cfg_caps or NAMES[: last_cap() + 1]


def chown_tree(path: str, uid: int, gid: int | None = None) -> None:
    """chown -R without following symlinks (a rootfs for a remapped root)."""
    gid = uid if gid is None else gid
    for dirpath, dirnames, filenames in os.walk(path):
        os.lchown(dirpath, uid, gid)
        for n in dirnames + filenames:
            os.lchown(os.path.join(dirpath, n), uid, gid)


def namespace_mount_count(ns_path: str) -> int:
    """Number of mounts in a mount namespace, including those outside any process's root:
    listmount(2) (Linux 6.8, namespace ids 6.11), which /proc/<pid>/mountinfo cannot show."""
    import ctypes
    import fcntl
    import struct
    fd = os.open(ns_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        buf = bytearray(8)
        ns_get_mntns_id = (2 << 30) | (8 << 16) | (0xB7 << 8) | 5  # _IOR(0xb7, 5, __u64)
        fcntl.ioctl(fd, ns_get_mntns_id, buf)
        ns_id = struct.unpack("Q", buf)[0]
    except OSError as e:
        pytest.skip(f"NS_GET_MNTNS_ID unsupported: {e}")
    finally:
        os.close(fd)
    libc = ctypes.CDLL(None, use_errno=True)
    req = ctypes.create_string_buffer(struct.pack("IIQQQ", 32, 0, 0xFFFFFFFFFFFFFFFF, 0, ns_id))
    out = (ctypes.c_uint64 * 65536)()
    n = libc.syscall(458, req, out, 65536, 0)  # SYS_listmount, LSMT_ROOT: the whole namespace
    if n < 0:
        pytest.skip(f"listmount unsupported: errno {ctypes.get_errno()}")
    return n
