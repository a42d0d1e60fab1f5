"""Issue 4 through the CLI: real containers, limits checked in the cgroup files and by effect."""
import json
import os
import subprocess
import time

import pytest


def _cg(pid: int, controller: str) -> str:
    for line in open(f"/proc/{pid}/cgroup"):
        _h, ctrls, path = line.rstrip("\n").split(":", 2)
        if controller in ctrls.split(","):
            return f"/sys/fs/cgroup/{controller}{path}"
    raise AssertionError(f"{controller} not joined")


def _v1_only():
    if not os.path.isdir("/sys/fs/cgroup/memory"):
        pytest.skip("needs the cgroup v1 memory controller")


def _res(**res):
    def mutate(cfg):
        cfg["linux"]["resources"] = {"devices": [{"allow": False, "access": "rwm"}],
                                     **{k.replace("_", ""): v for k, v in res.items()}}
        # default allow-list like docker's so the shell works
        for major, minor in ((1, 3), (1, 5), (1, 8), (1, 9), (5, 0), (5, 1), (1, 7), (136, -1), (5, 2)):
            cfg["linux"]["resources"]["devices"].append(
                {"allow": True, "type": "c", "major": major, "minor": minor, "access": "rwm"})
    return mutate


def test_memory_limit_oom_kill_and_events(rt, busybox_rootfs):
    _v1_only()
    limit = 32 << 20
    bundle = rt.bundle(["sh", "-c", "sleep 0.5; x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived"],
                       busybox_rootfs, mutate=_res(memory={"limit": limit, "swap": limit}))
    cid = rt.new_id()
    rt.run("create", "--bundle", bundle, cid, check=True)
    pid = rt.state(cid)["pid"]
    assert int(open(_cg(pid, "memory") + "/memory.limit_in_bytes").read()) == limit
    ev = subprocess.Popen(rt.cmd("events", "--interval", "1s", cid), stdout=subprocess.PIPE)
    try:
        rt.run("start", cid, check=True)
        deadline = time.monotonic() + 20
        got_oom = False
        while time.monotonic() < deadline and not got_oom:
            line = ev.stdout.readline()
            if not line:
                break
            got_oom = json.loads(line)["type"] == "oom"
        assert got_oom, "events reports the OOM kill"
    finally:
        ev.kill()
        ev.wait()
    stats = json.loads(subprocess.run(rt.cmd("events", "--stats", cid), capture_output=True).stdout or b"{}") \
        if rt.state(cid)["status"] != "stopped" else None
    if stats:
        assert stats["type"] == "stats"


def test_pids_limit_stops_fork_bomb(rt, busybox_rootfs):
    bomb = "i=0; while [ $i -lt 40 ]; do sleep 30 & i=$((i+1)); done"
    script = f"sh -c '{bomb}' 2>/dev/null; exec sleep 30"  # busybox sh dies on a refused fork
    bundle = rt.bundle(["sh", "-c", script], busybox_rootfs, mutate=_res(pids={"limit": 10}))
    cid = rt.new_id()
    rt.run("run", "-d", "--bundle", bundle, cid, check=True)
    pids_dir = _cg(rt.state(cid)["pid"], "pids")
    assert open(pids_dir + "/pids.max").read().strip() == "10"
    time.sleep(1.0)
    assert int(open(pids_dir + "/pids.current").read()) <= 10
    assert len(json.loads(rt.run("ps", "--format", "json", cid, check=True).stdout)) <= 10
    assert int(open(pids_dir + "/pids.events").read().split()[1]) > 0, "forks were refused at the limit"


def test_cpu_quota_caps_usage(rt, busybox_rootfs):
    bundle = rt.bundle(["sh", "-c", "while :; do :; done"], busybox_rootfs,
                       mutate=_res(cpu={"quota": 20000, "period": 100000, "shares": 512}))
    cid = rt.new_id()
    rt.run("run", "-d", "--bundle", bundle, cid, check=True)
    pid = rt.state(cid)["pid"]
    assert open(_cg(pid, "cpu") + "/cpu.cfs_quota_us").read().strip() == "20000"
    assert open(_cg(pid, "cpu") + "/cpu.shares").read().strip() == "512"
    acct = _cg(pid, "cpuacct") + "/cpuacct.usage"
    u0, t0 = int(open(acct).read()), time.monotonic()
    time.sleep(1.5)
    used = (int(open(acct).read()) - u0) / 1e9 / (time.monotonic() - t0)
    assert used < 0.35, f"cpu usage {used:.2f} CPUs above the 0.2 quota"
    # update raises the quota of the running container
    rt.run("update", "--cpu-quota", "80000", cid, check=True)
    assert open(_cg(pid, "cpu") + "/cpu.cfs_quota_us").read().strip() == "80000"
    u0, t0 = int(open(acct).read()), time.monotonic()
    time.sleep(1.5)
    used = (int(open(acct).read()) - u0) / 1e9 / (time.monotonic() - t0)
    assert used > 0.4, f"cpu usage {used:.2f} did not grow after update"


def test_denied_device_cannot_be_opened(rt, busybox_rootfs):
    def mutate(cfg):
        _res()(cfg)
        cfg["linux"]["devices"] = [{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 0o644}]
    bundle = rt.bundle(["sh", "-c", "head -c1 /dev/kmsg >/dev/null && echo OPENED || echo DENIED; "
                        "head -c1 /dev/zero >/dev/null && echo ZERO"], busybox_rootfs, mutate=mutate)
    p = rt.run("run", "--bundle", bundle, rt.new_id())
    assert b"DENIED" in p.stdout and b"ZERO" in p.stdout, p.stdout + p.stderr


def test_update_memory_and_pids_of_running_container(rt, busybox_rootfs):
    _v1_only()
    bundle = rt.bundle(["sleep", "30"], busybox_rootfs, mutate=_res(memory={"limit": 64 << 20}, pids={"limit": 50}))
    cid = rt.new_id()
    rt.run("run", "-d", "--bundle", bundle, cid, check=True)
    pid = rt.state(cid)["pid"]
    rt.run("update", "--memory", "96m", "--pids-limit", "70", cid, check=True)
    assert int(open(_cg(pid, "memory") + "/memory.limit_in_bytes").read()) == 96 << 20
    assert open(_cg(pid, "pids") + "/pids.max").read().strip() == "70"
    res = json.dumps({"pids": {"limit": 33}, "memory": {"limit": 80 << 20}}).encode()
    rt.run("update", "--resources", "-", cid, input=res, check=True)
    assert open(_cg(pid, "pids") + "/pids.max").read().strip() == "33"
    assert int(open(_cg(pid, "memory") + "/memory.limit_in_bytes").read()) == 80 << 20


def test_pause_freezes_and_resume_thaws(rt, busybox_rootfs):
    bundle = rt.bundle(["sh", "-c", "while :; do echo -n . >> /dev/shm/n; done"], busybox_rootfs)
    cid = rt.new_id()
    rt.run("run", "-d", "--bundle", bundle, cid, check=True)
    pid = rt.state(cid)["pid"]
    counter = f"/proc/{pid}/root/dev/shm/n"
    time.sleep(0.3)
    rt.run("pause", cid, check=True)
    assert rt.state(cid)["status"] == "paused"
    a = os.stat(counter).st_size
    time.sleep(0.5)
    assert os.stat(counter).st_size == a, "no progress while paused"
    p = rt.run("pause", cid)
    assert p.returncode == 1
    rt.run("resume", cid, check=True)
    assert rt.state(cid)["status"] == "running"
    time.sleep(0.3)
    assert os.stat(counter).st_size > a, "progress again after resume"
    p = rt.run("resume", cid)
    assert p.returncode == 1 and b"container not paused" in p.stderr


def test_ps_json_and_kill_all(rt, busybox_rootfs):
    def no_pidns(cfg):  # without a pid namespace killing init does not take the others with it
        cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "pid"]
    bundle = rt.bundle(["sh", "-c", "sleep 100 & sleep 100 & sleep 100 & wait"], busybox_rootfs, mutate=no_pidns)
    cid = rt.new_id()
    rt.run("run", "-d", "--bundle", bundle, cid, check=True)
    deadline = time.monotonic() + 5
    pids = []
    while time.monotonic() < deadline and len(pids) < 4:
        pids = json.loads(rt.run("ps", "--format", "json", cid, check=True).stdout)
        time.sleep(0.05)
    assert len(pids) == 4 and rt.state(cid)["pid"] in pids
    table = rt.run("ps", cid, check=True).stdout.decode().splitlines()
    assert "PID" in table[0] and len(table) == 5
    rt.run("kill", "--all", cid, "KILL", check=True)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(os.path.exists(f"/proc/{p}") and
                                              open(f"/proc/{p}/stat").read().split()[2] != "Z" for p in pids):
        time.sleep(0.05)
    alive = [p for p in pids if os.path.exists(f"/proc/{p}") and open(f"/proc/{p}/stat").read().split()[2] != "Z"]
    assert not alive, f"kill --all missed {alive}"


def test_events_stats_shape(rt, busybox_rootfs):
    bundle = rt.bundle(["sleep", "30"], busybox_rootfs, mutate=_res(pids={"limit": 20}))
    cid = rt.new_id()
    rt.run("run", "-d", "--bundle", bundle, cid, check=True)
    ev = json.loads(rt.run("events", "--stats", cid, check=True).stdout)
    assert ev["type"] == "stats" and ev["id"] == cid
    assert ev["data"]["pids"]["current"] >= 1 and ev["data"]["pids"]["limit"] == 20
    assert "usage" in ev["data"]["cpu"] and "usage" in ev["data"]["memory"]
    rt.run("kill", cid, "KILL", check=True)
    rt.wait_status(cid, "stopped")
    p = rt.run("events", "--stats", cid)
    assert p.returncode == 1 and b"is not running" in p.stderr
