"""The v2 manager for real on this host's cgroup2 mount (on a hybrid host: no resource
controllers except possibly hugetlb, but freeze, kill, events, procs and eBPF devices are real)."""
import os
import signal
import subprocess
import time

import pytest

from pyrunc.runtime.cgroups import CgroupError, _fs, load_manager

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
              pytest.mark.skipif(_fs.mounts()[1] is None, reason="no cgroup2 mount"),
              pytest.mark.timeout(60)]

BUSY = ["/bin/busybox", "sh", "-c", "while :; do :; done"]
PROBE = ("for d in ('/dev/null', '/dev/kmsg'):\n"
         "    try:\n        os.close(os.open(d, os.O_RDONLY)); print(d, 'ok')\n"
         "    except OSError as e: print(d, e.errno)\n")


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])


def wait_for(cond, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def test_create_apply_events_destroy(cg):
    m = cg.manager(mode="v2")
    assert m.version == "v2" and m.dir.startswith(m.mount)
    m.create()
    assert m.exists() and m.events() == {"populated": 0, "frozen": 0}
    p = cg.spawn(["/bin/sleep", "60"])
    m.apply(p.pid)
    with open(f"/proc/{p.pid}/cgroup") as f:
        assert f"0::{m.path}\n" in f.read()
    assert m.events()["populated"] == 1 and m.pids() == [p.pid]
    m2 = load_manager(m.save())
    m2.destroy()
    assert p.wait(5) == -signal.SIGKILL
    assert not os.path.exists(m.dir)
    m2.destroy()


def test_freeze_thaw(cg):
    m = cg.manager(mode="v2")
    m.create()
    p = cg.spawn(BUSY)
    m.apply(p.pid)
    m.freeze()
    assert m.is_frozen() and m.events()["frozen"] == 1
    t0 = cpu_ticks(p.pid)
    time.sleep(0.3)
    assert cpu_ticks(p.pid) == t0
    m.thaw()
    assert not m.is_frozen() and m.events()["frozen"] == 0
    assert wait_for(lambda: cpu_ticks(p.pid) > t0, 2)


def test_pids_recursive_and_kill(cg):
    m = cg.manager(mode="v2")
    m.create()
    a = cg.spawn(["/bin/sleep", "60"])
    b = cg.spawn(["/bin/sleep", "60"])
    m.apply(a.pid)
    sub = m.dir + "/sub"
    os.mkdir(sub)
    _fs.join_pid(sub, b.pid)
    assert sorted(m.pids()) == sorted([a.pid, b.pid])
    m.signal_all(signal.SIGKILL)      # cgroup.kill
    assert a.wait(5) == -signal.SIGKILL and b.wait(5) == -signal.SIGKILL
    assert wait_for(lambda: m.events()["populated"] == 0)
    m.destroy()                       # removes the sub-cgroup too
    assert not os.path.exists(m.dir)


def test_signal_all_non_kill_freezes_and_thaws(cg):
    m = cg.manager(mode="v2")
    m.create()
    p = cg.spawn(["/bin/busybox", "sh", "-c", "read x; sleep 60 & sleep 60 & wait"], stdin=subprocess.PIPE)
    m.apply(p.pid)
    p.stdin.write(b"\n")
    p.stdin.flush()
    assert wait_for(lambda: len(m.pids()) == 3)
    m.signal_all(signal.SIGTERM)
    assert p.wait(5) == -signal.SIGTERM
    assert wait_for(lambda: m.pids() == [])
    assert not m.is_frozen()


def test_ebpf_device_filter(cg):
    from pyrunc.runtime.cgroups import devfilter
    m = cg.manager({"devices": [{"allow": False, "access": "rwm"}]}, mode="v2")
    m.create()                        # attaches deny-all + runc's built-in allow list
    assert devfilter.attached_count(m.dir) == 1
    p = cg.py(PROBE)
    m.apply(p.pid)
    cg.go(p)
    assert p.stdout.read().split("\n")[:2] == ["/dev/null ok", "/dev/kmsg 1"]  # EPERM from the program
    # update: allow everything but /dev/null... which the built-in list re-allows; kmsg now open
    m.set_resources({"devices": [{"allow": True, "access": "rwm"},
                                 {"allow": False, "type": "c", "major": 1, "minor": 11, "access": "w"}]})
    assert devfilter.attached_count(m.dir) == 1   # replaced, not stacked
    q = cg.py(PROBE + "try:\n    os.open('/dev/kmsg', os.O_WRONLY)\nexcept OSError as e: print('w', e.errno)\n")
    m.apply(q.pid)
    cg.go(q)
    assert q.stdout.read().split("\n")[:3] == ["/dev/null ok", "/dev/kmsg ok", "w 1"]


def test_unified_and_missing_controllers(cg):
    m = cg.manager(mode="v2")
    m.create()
    m.set_resources({"unified": {"cgroup.max.descendants": "5"}})
    with open(m.dir + "/cgroup.max.descendants") as f:
        assert f.read().strip() == "5"
    with pytest.raises(CgroupError, match="must be a file name"):
        m.set_resources({"unified": {"../x": "1"}})
    avail = open(m.mount + "/cgroup.controllers").read().split()
    if "memory" not in avail:
        with pytest.raises(CgroupError, match='controller "memory" not available'):
            m.set_resources({"unified": {"memory.high": "1000000"}})
    if "pids" not in avail:
        with pytest.raises(CgroupError, match="pids.max"):
            m.set_resources({"pids": {"limit": 10}})


def test_stats_shape_v2(cg):
    m = cg.manager(mode="v2")
    m.create()
    p = cg.spawn(["/bin/busybox", "sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 60"])
    m.apply(p.pid)
    assert wait_for(lambda: m.stats()["cpu"]["usage"].get("total", 0) > 0)
    s = m.stats()
    assert list(s) == ["cpu", "cpuset", "memory", "pids", "blkio", "hugetlb", "intel_rdt", "network_interfaces"]
    assert set(s["cpu"]["psi"]) == {"some", "full"}
    assert m.oom_count() == 0
