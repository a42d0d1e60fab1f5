"""The v1 manager on this host's real hierarchies (hybrid: also joins the cgroup2 mount)."""
import os
import select
import signal
import time

import pytest

from pyrunc.runtime.cgroups import CgroupError, host_mode, load_manager

need_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
pytestmark = [need_root, pytest.mark.timeout(60),
              pytest.mark.skipif(host_mode() == "v2", reason="needs cgroup v1 hierarchies")]

BUSY = ["/bin/busybox", "sh", "-c", "while :; do :; done"]


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def wait_for(cond, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def in_cgroup(pid: int, m) -> bool:
    with open(f"/proc/{pid}/cgroup") as f:
        return f.read().count(":" + m.path + "\n") >= len(set(m.paths.values()))


def test_create_apply_destroy_leaves_nothing(cg):
    m = cg.manager()
    assert not m.exists()
    m.create()
    assert m.exists()
    for d in set(m.paths.values()) | ({m.unified} if m.unified else set()):
        assert os.path.isdir(d)
    p = cg.spawn(["/bin/sleep", "60"])
    m.apply(p.pid)
    assert in_cgroup(p.pid, m)
    if m.unified:
        with open(f"/proc/{p.pid}/cgroup") as f:
            assert f"0::{m.path}\n" in f.read()
    assert m.pids() == [p.pid]
    saved = m.save()
    m2 = load_manager(saved)
    assert m2.pids() == [p.pid] and m2.save() == saved
    m2.destroy()                  # kills the leftover process and removes every directory
    assert p.wait(5) == -signal.SIGKILL
    assert not m.exists()
    for d in set(m.paths.values()):
        assert not os.path.exists(d)
    m2.destroy()                  # idempotent


def test_default_device_rules_and_deny(cg):
    m = cg.manager({"devices": [{"allow": True, "access": "rwm"},
                                {"allow": False, "type": "c", "major": 1, "minor": 11, "access": "rwm"}]})
    m.create()
    m.set_resources(m.resources)
    probe = ("for d in ('/dev/null', '/dev/kmsg'):\n"
             "    try:\n        os.close(os.open(d, os.O_RDONLY)); print(d, 'ok')\n"
             "    except OSError as e: print(d, e.errno)\n")
    p = cg.py(probe)
    m.apply(p.pid)
    cg.go(p)
    assert p.stdout.read().split("\n")[:2] == ["/dev/null ok", "/dev/kmsg 1"]  # EPERM
    # update to runc's default allow-list only: /dev/kmsg stays denied, /dev/null allowed
    m.set_resources({"devices": [{"allow": False, "access": "rwm"}]})
    with open(m.paths["devices"] + "/devices.list") as f:
        listed = f.read().split("\n")
    assert "c 1:3 rwm" in listed and "a *:* rwm" not in listed and "c 1:11 rwm" not in listed
    q = cg.py(probe)
    m.apply(q.pid)
    cg.go(q)
    assert q.stdout.read().split("\n")[:2] == ["/dev/null ok", "/dev/kmsg 1"]


def test_memory_limit_oom_kills_and_counts(cg):
    lim = 32 << 20
    m = cg.manager({"memory": {"limit": lim, "swap": lim}})
    m.create()
    m.set_resources(m.resources)
    with open(m.paths["memory"] + "/memory.limit_in_bytes") as f:
        assert int(f.read()) == lim
    efd = m.oom_eventfd()
    try:
        assert m.oom_count() == 0
        p = cg.py("b = b'x' * (256 << 20)\nprint('survived')\n")
        m.apply(p.pid)
        cg.go(p)
        assert p.wait(20) == -signal.SIGKILL
        assert m.oom_count() >= 1
        r, _, _ = select.select([efd], [], [], 2)
        assert r and int.from_bytes(os.read(efd, 8), "little") >= 1
        st = m.stats()["memory"]
        assert st["usage"]["limit"] == lim and st["usage"]["max"] >= lim // 2
    finally:
        os.close(efd)


def test_live_memory_update_raises_then_lowers(cg):
    m = cg.manager({"memory": {"limit": 64 << 20, "swap": 64 << 20}})
    m.create()
    m.set_resources(m.resources)
    md = m.paths["memory"]

    def limits():
        with open(md + "/memory.limit_in_bytes") as a, open(md + "/memory.memsw.limit_in_bytes") as b:
            return int(a.read()), int(b.read())

    m.set_resources({"memory": {"limit": 128 << 20, "swap": 256 << 20}})   # memsw must go first
    assert limits() == (128 << 20, 256 << 20)
    m.set_resources({"memory": {"limit": 16 << 20, "swap": 16 << 20}})    # limit must go first
    assert limits() == (16 << 20, 16 << 20)
    m.set_resources({"memory": {"limit": -1}})                              # both unlimited
    assert limits()[0] > 1 << 60 and limits()[1] > 1 << 60


def test_memory_limit_below_usage_names_file_and_value(cg):
    m = cg.manager()
    m.create()
    p = cg.py("b = b'x' * (48 << 20)\nprint('ready', flush=True)\nsys.stdin.readline()\n")
    m.apply(p.pid)
    cg.go(p)
    assert p.stdout.readline().strip() == "ready"
    with pytest.raises(CgroupError) as ei:
        m.set_resources({"memory": {"limit": 12 << 20, "swap": -1}})
    msg = str(ei.value)
    assert msg.startswith(f'cgroup: cannot set memory.limit_in_bytes to "{12 << 20}": device or resource busy')
    assert "current usage" in msg


def test_bad_values_and_missing_controllers(cg):
    m = cg.manager()
    m.create()
    with pytest.raises(CgroupError, match='cannot set cpuset.cpus to "999": numerical result out of range'):
        m.set_resources({"cpu": {"cpus": "999"}})
    with pytest.raises(CgroupError, match="cannot set net_cls limit"):
        m.set_resources({"network": {"classID": 1}})
    m.set_resources({"network": {}})  # nothing to set: no error, like runc
    with pytest.raises(CgroupError, match="cannot use unified on cgroup v1"):
        m.set_resources({"unified": {"memory.high": "1"}})
    with pytest.raises(CgroupError, match="the maximum allowed cpu-shares is 262144"):
        m.set_resources({"cpu": {"shares": 1 << 20}})


def test_pids_limit_stops_fork_bomb(cg):
    m = cg.manager({"pids": {"limit": 8}})
    m.create()
    m.set_resources(m.resources)
    bomb = ("kids, failed = [], 0\n"
            "for _ in range(30):\n"
            "    try:\n        pid = os.fork()\n"
            "    except BlockingIOError:\n        failed += 1\n        continue\n"
            "    if pid == 0:\n        time.sleep(30)\n        os._exit(0)\n"
            "    kids.append(pid)\n"
            "print(len(kids), failed, flush=True)\n"
            "for k in kids: os.kill(k, 9); os.waitpid(k, 0)\n")
    p = cg.py(bomb)
    m.apply(p.pid)
    cg.go(p)
    ok, failed = map(int, p.stdout.readline().split())
    assert (ok, failed) == (7, 23)   # 8 tasks: the parent + 7 children
    assert p.wait(10) == 0
    assert m.stats()["pids"]["limit"] == 8
    m.set_resources({"pids": {"limit": -1}})
    with open(m.paths["pids"] + "/pids.max") as f:
        assert f.read().strip() == "max"


def test_cpu_quota_caps_usage(cg):
    m = cg.manager({"cpu": {"quota": 20000, "period": 100000, "shares": 512}})
    m.create()
    m.set_resources(m.resources)
    p = cg.spawn(BUSY)
    m.apply(p.pid)
    acct = m.paths["cpuacct"] + "/cpuacct.usage"
    with open(acct) as f:
        u0 = int(f.read())
    t0 = time.monotonic()
    time.sleep(1.0)
    with open(acct) as f:
        used = (int(f.read()) - u0) / 1e9
    wall = time.monotonic() - t0
    assert 0.02 * wall < used < 0.35 * wall  # 20 % of one CPU (unthrottled: ~100 %)
    st = m.stats()["cpu"]
    assert st["usage"]["total"] > 0 and st["throttling"]["throttledPeriods"] > 0


def test_freeze_stops_progress_and_thaw_resumes(cg):
    m = cg.manager()
    m.create()
    p = cg.spawn(BUSY)
    m.apply(p.pid)
    assert not m.is_frozen()
    m.freeze()
    assert m.is_frozen()
    t0 = cpu_ticks(p.pid)
    time.sleep(0.3)
    assert cpu_ticks(p.pid) == t0
    assert load_manager(m.save()).is_frozen()
    m.thaw()
    assert not m.is_frozen()
    assert wait_for(lambda: cpu_ticks(p.pid) > t0, 2)


def _family(cg, m):
    """sh + two sleeps, all forked inside the cgroup."""
    p = cg.spawn(["/bin/busybox", "sh", "-c", "read x; sleep 60 & sleep 60 & wait"], stdin=__import__("subprocess").PIPE)
    m.apply(p.pid)
    p.stdin.write(b"\n")
    p.stdin.flush()
    assert wait_for(lambda: len(m.pids()) == 3)
    return p


def test_signal_all_reaches_every_process(cg):
    m = cg.manager()
    m.create()
    p = _family(cg, m)
    pids = m.pids()
    assert p.pid in pids and len(pids) == 3
    m.signal_all(signal.SIGTERM)          # freeze, kill each, thaw
    assert p.wait(5) == -signal.SIGTERM
    assert wait_for(lambda: m.pids() == [])
    assert not m.is_frozen()


def test_sigkill_all_while_frozen(cg):
    m = cg.manager()
    m.create()
    p = _family(cg, m)
    m.freeze()
    m.signal_all(signal.SIGKILL)          # hybrid: cgroup.kill on the unified dir, then thaw
    assert p.wait(5) == -signal.SIGKILL
    assert wait_for(lambda: m.pids() == [])
    assert not m.is_frozen()


def test_stats_shape(cg):
    m = cg.manager({"pids": {"limit": 50}, "memory": {"limit": 256 << 20}})
    m.create()
    m.set_resources(m.resources)
    p = cg.py("b = b'x' * (8 << 20)\nprint('ok', flush=True)\nsys.stdin.readline()\n")
    m.apply(p.pid)
    cg.go(p)
    assert p.stdout.readline().strip() == "ok"  # 8 MiB touched after joining: charged here
    assert wait_for(lambda: m.stats()["cpu"]["usage"].get("total", 0) > 0)
    s = m.stats()
    assert list(s) == ["cpu", "cpuset", "memory", "pids", "blkio", "hugetlb", "intel_rdt", "network_interfaces"]
    assert {"kernel", "user"} <= set(s["cpu"]["usage"]) and isinstance(s["cpu"]["usage"]["percpu"], list)
    assert s["pids"] == {"current": 1, "limit": 50}
    assert s["memory"]["usage"]["limit"] == 256 << 20 and s["memory"]["usage"]["usage"] >= 8 << 20
    assert isinstance(s["memory"]["raw"], dict) and "rss" in s["memory"]["raw"]
    assert s["cpuset"]["cpus"] == list(range(os.cpu_count()))
    assert s["network_interfaces"] is None and s["intel_rdt"] == {}
    import json
    json.dumps(s)


def test_blkio_throttle_and_weight(cg):
    st = os.stat("/dev/loop0")
    maj, mino = os.major(st.st_rdev), os.minor(st.st_rdev)
    m = cg.manager({"blockIO": {"weight": 300, "throttleReadBpsDevice": [{"major": maj, "minor": mino,
                                                                          "rate": 1048576}]}})
    m.create()
    m.set_resources(m.resources)
    d = m.paths["blkio"]
    with open(d + "/blkio.throttle.read_bps_device") as f:
        assert f.read().strip() == f"{maj}:{mino} 1048576"
    wf = "blkio.weight" if os.path.exists(d + "/blkio.weight") else "blkio.bfq.weight"
    with open(f"{d}/{wf}") as f:
        assert f.read().split()[-1] == "300"


def test_hugetlb_on_hybrid_uses_unified(cg):
    v2 = "/sys/fs/cgroup/unified"
    if host_mode() != "hybrid" or "hugetlb" not in open(v2 + "/cgroup.controllers").read().split() \
            or os.path.isdir("/sys/fs/cgroup/hugetlb"):
        pytest.skip("needs a hybrid host with hugetlb on the cgroup2 mount only")
    with open(v2 + "/cgroup.subtree_control") as f:
        had = "hugetlb" in f.read().split()
    try:
        m = cg.manager({"hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 20}]})
        m.create()
        m.set_resources(m.resources)
        with open(m.unified + "/hugetlb.2MB.max") as f:
            assert int(f.read()) == 4 << 20
    finally:
        cg.cleanup()
        cg.managers.clear()
        if not had:
            try:
                with open(v2 + "/cgroup.subtree_control", "w") as f:
                    f.write("-hugetlb")
            except OSError:
                pass  # another user of the hierarchy enabled it below the root meanwhile


def test_signal_all_keeps_a_paused_container_paused(cg):
    m = cg.manager()
    m.create()
    p = _family(cg, m)
    m.freeze()
    m.signal_all(signal.SIGTERM)          # queued: delivered when resumed
    assert m.is_frozen()
    time.sleep(0.2)
    assert p.poll() is None
    m.thaw()
    assert p.wait(5) == -signal.SIGTERM
    assert wait_for(lambda: m.pids() == [])
