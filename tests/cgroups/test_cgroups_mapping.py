"""Resources -> cgroup file writes: v1->v2 value conversions and both write plans (pure)."""
import pytest

from pyrunc.runtime.cgroups import CgroupError, v1plan, v2map

DOCKER_RES = {
    "memory": {"limit": 536870912, "reservation": 268435456, "swap": 1073741824, "swappiness": 60,
               "kernel": 1 << 30, "kernelTCP": 1 << 20, "disableOOMKiller": False},
    "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0"},
    "pids": {"limit": 100},
    "blockIO": {"weight": 500, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}]},
    "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
}


def test_cpu_shares_to_weight():
    f = v2map.cpu_shares_to_weight
    assert f(0) == 0                 # unset
    assert f(1) == 1 and f(2) == 1   # clamped to the minimum
    assert f(1024) == 100            # v1 default maps to the v2 default
    assert f(262144) == 10000 and f(1 << 20) == 10000
    ws = [f(s) for s in range(2, 262145, 997)]
    assert ws == sorted(ws)          # monotonic
    assert v2map.cpu_shares_to_weight_linear(1024) == 39  # the old formula, for reference


def test_blkio_weight_and_swap_conversion():
    assert v2map.blkio_weight_to_io_weight(0) == 0
    assert v2map.blkio_weight_to_io_weight(10) == 1
    assert v2map.blkio_weight_to_io_weight(1000) == 10000
    assert v2map.blkio_weight_to_io_weight(500) == 4950
    sw = v2map.memory_swap_to_v2
    assert sw(0, -1) == -1            # unlimited memory, swap unset -> both unlimited
    assert sw(-1, 100) == -1 and sw(0, 100) == 0
    assert sw(300, -1) == 300
    assert sw(300, 100) == 200        # OCI swap is memory+swap, v2 swap.max is swap only
    assert sw(100, 100) == 0
    with pytest.raises(CgroupError, match="without memory limit"):
        sw(300, 0)
    with pytest.raises(CgroupError, match=">= memory limit"):
        sw(100, 300)


def test_cpu_max_and_pids():
    assert v2map.cpu_max(0, 0) is None
    assert v2map.cpu_max(50000, 0) == "50000 100000"
    assert v2map.cpu_max(-1, 0) == "max 100000"
    assert v2map.cpu_max(0, 20000) == "max 20000"
    assert v2map.cpu_max(25000, 50000) == "25000 50000"
    assert v2map.pids_max(None) is None
    assert v2map.pids_max(-1) == "max" and v2map.pids_max(-5) == "max"
    assert v2map.pids_max(0) == "max"  # runc 1.1 and podman 4.3: 0 means unlimited
    assert v2map.pids_max(64) == "64"


def test_v2_plan_docker_like():
    got = v2map.plan(DOCKER_RES)
    assert got == [
        ("pids.max", "100", ""),
        ("memory.swap.max", "536870912", "swap"),
        ("memory.max", "536870912", ""),
        ("memory.low", "268435456", ""),
        ("io.weight", "4950", ""),
        ("io.max", "8:0 rbps=1048576", ""),
        ("io.max", "8:0 wiops=100", ""),
        ("cpu.weight", "59", ""),
        ("cpu.max", "50000 100000", ""),
        ("cpuset.cpus", "0-1", ""),
        ("cpuset.mems", "0", ""),
        ("hugetlb.2MB.max", "4194304", ""),
        ("hugetlb.2MB.rsvd.max", "4194304", "opt"),
    ]
    bfq = v2map.plan({"blockIO": {"weight": 500, "weightDevice": [{"major": 8, "minor": 0, "weight": 300}]}},
                     has_bfq=True, bfq_per_device=True)
    assert bfq == [("io.bfq.weight", "500", ""), ("io.bfq.weight", "8:0 300", "")]


def test_v2_plan_memory_edges():
    assert v2map.plan({"memory": {"limit": 100, "swap": 100}})[0] == ("memory.swap.max", "0", "swap")
    assert v2map.plan({"memory": {"limit": -1}}) == [("memory.swap.max", "max", "swap"), ("memory.max", "max", "")]
    with pytest.raises(CgroupError, match="rejecting memory limit 100 below usage 200"):
        v2map.plan({"memory": {"limit": 100, "checkBeforeUpdate": True}}, memory_current=200)
    assert v2map.plan({"memory": {"limit": 100, "checkBeforeUpdate": True}}, memory_current=50) == \
        [("memory.max", "100", "")]
    with pytest.raises(CgroupError, match="realtime"):
        v2map.plan({"cpu": {"realtimeRuntime": 1000}})
    assert v2map.plan({"cpu": {"burst": 1000, "quota": 2000}})[0] == ("cpu.max.burst", "1000", "retry")
    assert v2map.plan({"cpu": {"idle": 1}}) == [("cpu.idle", "1", "")]


def test_controllers_needed():
    assert v2map.controllers_needed(DOCKER_RES) == {"pids", "memory", "io", "cpu", "cpuset", "hugetlb"}
    assert v2map.controllers_needed({"unified": {"memory.high": "1", "cgroup.max.depth": "2"}}) == {"memory"}
    assert v2map.controllers_needed(None) == set()


def test_v1_memory_write_order():
    m = {"limit": 200, "swap": 400}
    # raising: memsw first, or the kernel refuses limit > memsw
    assert [w[1] for w in v1plan.memory_plan(m, current_limit=100, has_memsw=True)] == \
        ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]
    # lowering: limit first, or the kernel refuses memsw < limit
    assert [w[1] for w in v1plan.memory_plan(m, current_limit=1000, has_memsw=True)] == \
        ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]
    # -1 (unlimited) with swap unset also unlimits memsw, memsw first
    assert [(w[1], w[2]) for w in v1plan.memory_plan({"limit": -1}, 5, True)] == \
        [("memory.memsw.limit_in_bytes", "-1"), ("memory.limit_in_bytes", "-1")]
    assert [w[1] for w in v1plan.memory_plan({"limit": -1}, 5, False)] == ["memory.limit_in_bytes"]
    full = v1plan.memory_plan({"reservation": 5, "disableOOMKiller": True, "swappiness": 0,
                               "kernel": 1, "kernelTCP": 1}, None, True)
    assert [(w[1], w[2]) for w in full] == [("memory.soft_limit_in_bytes", "5"), ("memory.oom_control", "1"),
                                            ("memory.swappiness", "0")]
    with pytest.raises(CgroupError, match="swappiness range is 0-100"):
        v1plan.memory_plan({"swappiness": 101}, None, True)


def test_v1_plan():
    got = v1plan.plan(DOCKER_RES, bfq=True)
    assert [(c, f, v) for c, f, v, _ in got] == [
        ("cpuset", "cpuset.cpus", "0-1"), ("cpuset", "cpuset.mems", "0"),
        ("cpu", "cpu.shares", "512"), ("cpu", "cpu.cfs_period_us", "100000"), ("cpu", "cpu.cfs_quota_us", "50000"),
        ("pids", "pids.max", "100"),
        ("blkio", "blkio.bfq.weight", "500"),
        ("blkio", "blkio.throttle.read_bps_device", "8:0 1048576"),
        ("blkio", "blkio.throttle.write_iops_device", "8:0 100"),
        ("hugetlb", "hugetlb.2MB.limit_in_bytes", "4194304"),
        ("hugetlb", "hugetlb.2MB.rsvd.limit_in_bytes", "4194304"),
    ]
    net = v1plan.plan({"network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]}})
    assert [(c, f, v) for c, f, v, _ in net] == [("net_cls", "net_cls.classid", "1048577"),
                                                  ("net_prio", "net_prio.ifpriomap", "eth0 5")]
    assert v1plan.plan({"network": {}}) == []
    assert [w[1] for w in v1plan.plan({"blockIO": {"weight": 10, "leafWeight": 20}}, bfq=False)] == \
        ["blkio.weight", "blkio.leaf_weight"]
    rt = v1plan.plan({"cpu": {"realtimeRuntime": 950000, "realtimePeriod": 1000000, "idle": 0, "burst": 5}})
    assert [w[1] for w in rt] == ["cpu.cfs_burst_us", "cpu.idle", "cpu.rt_period_us", "cpu.rt_runtime_us"]
    with pytest.raises(CgroupError, match="cannot use unified on cgroup v1"):
        v1plan.plan({"unified": {"memory.high": "1"}})
    assert v1plan.plan({"unified": {}}) == []
