"""Issue 4 on cgroup v2: containers run on this hybrid host's cgroup2 hierarchy only
(PYRUNC_CGROUP_VERSION=v2), with the init forked straight into its cgroup (clone3 +
CLONE_INTO_CGROUP), freeze through cgroup.freeze and kill --all through cgroup.kill."""
import json
import os
import time

import pytest

from support import cgroup_dirs, pid_alive

UNIFIED = "/sys/fs/cgroup/unified"
pytestmark = pytest.mark.skipif(not os.path.exists(UNIFIED + "/cgroup.procs") or os.environ.get("PYRUNC_TEST_RUNTIME"),
                                reason="needs pyrunc and a cgroup2 mount at /sys/fs/cgroup/unified")
V2 = dict(os.environ, PYRUNC_CGROUP_VERSION="v2")


def _v2_path(pid: int) -> str:
    for line in open(f"/proc/{pid}/cgroup"):
        if line.startswith("0::"):
            return line.rstrip("\n")[3:]
    raise AssertionError("no cgroup2 line")


def test_fork_into_cgroup_places_the_child():
    from pyrunc.runtime import linux as L
    d = os.path.join(UNIFIED, f"pyrunc-test-clone3-{os.getpid()}")
    os.mkdir(d)
    try:
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        try:
            r, w = os.pipe()
            pid = L.fork_into_cgroup(fd)
            if pid == 0:
                os.write(w, open("/proc/self/cgroup").read().encode())
                os._exit(0)
        finally:
            os.close(fd)
        os.close(w)
        data = os.read(r, 4096).decode()
        os.close(r)
        os.waitpid(pid, 0)
        assert f"0::/{os.path.basename(d)}\n" in data
    finally:
        os.rmdir(d)


def test_v2_lifecycle_freeze_kill_and_exec(rt, busybox_rootfs):
    bundle = rt.bundle(["sh", "-c", "sleep 100 & sleep 100 & while :; do echo -n . >> /dev/shm/n; done"],
                       busybox_rootfs)
    cid = rt.new_id()
    rt.run("create", "--bundle", bundle, cid, check=True, env=V2)
    pid = rt.state(cid)["pid"]
    cg = UNIFIED + _v2_path(pid)
    assert cg.endswith("/" + cid) and str(pid) in open(cg + "/cgroup.procs").read().split()
    assert not [d for d in cgroup_dirs(cid) if not d.startswith(UNIFIED)], "no v1 hierarchy was touched"
    rt.run("start", cid, check=True)
    time.sleep(0.3)
    rt.run("pause", cid, check=True)
    assert open(cg + "/cgroup.freeze").read().strip() == "1" and "frozen 1" in open(cg + "/cgroup.events").read()
    assert rt.state(cid)["status"] == "paused"
    counter = f"/proc/{pid}/root/dev/shm/n"
    size = os.stat(counter).st_size
    time.sleep(0.3)
    assert os.stat(counter).st_size == size
    rt.run("resume", cid, check=True)
    time.sleep(0.3)
    assert os.stat(counter).st_size > size
    rt.run("exec", "-d", "--pid-file", os.path.join(rt.tmp, "e.pid"), cid, "sleep", "50", check=True, env=V2)
    epid = int(open(os.path.join(rt.tmp, "e.pid")).read())
    assert _v2_path(epid) == _v2_path(pid), "the exec'd process is born in the container's cgroup"
    pids = json.loads(rt.run("ps", "--format", "json", cid, check=True).stdout)
    assert pid in pids and epid in pids and len(pids) == 4  # sh, two sleeps, the exec'd sleep
    rt.run("kill", "--all", cid, "KILL", check=True)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.05)
    assert not [p for p in pids if pid_alive(p)]
    rt.run("delete", cid, check=True)
    assert not os.path.exists(cg) and not cgroup_dirs(cid)
