"""OCI ``linux.resources`` -> cgroup v1 writes per controller, as runc's fs manager does.

Pure (no filesystem): memory (whose write order depends on the current limit) and devices
(a transition from the current devices.list) are planned by the manager with the values
it reads. Entries are ``(controller, file, value, flag)`` with the flags of v2map plus
``"noent"`` (ignore ENOENT: knob missing on older kernels).
"""
from ._fs import CgroupError
from .v2map import pids_max, rdma_line

def memory_plan(m: dict | None, current_limit: int | None, has_memsw: bool) -> list:
    """Memory writes; limit vs memsw order follows runc setMemoryAndSwap so raising and
    lowering both pass the kernel's memsw >= limit check."""
    m = m or {}
    out = []
    limit, swap = m.get("limit") or 0, m.get("swap") or 0
    if limit == -1 and swap == 0 and has_memsw:
        swap = -1
    mem_w = ("memory", "memory.limit_in_bytes", str(limit), "mem") if limit else None
    swap_w = ("memory", "memory.memsw.limit_in_bytes", str(swap), "") if swap else None
    if limit and swap and (swap == -1 or (current_limit is not None and current_limit < swap)):
        out += [swap_w, mem_w]
    else:
        out += [w for w in (mem_w, swap_w) if w]
    if m.get("reservation"):
        out.append(("memory", "memory.soft_limit_in_bytes", str(m["reservation"]), ""))
    if m.get("disableOOMKiller"):
        out.append(("memory", "memory.oom_control", "1", ""))
    sw = m.get("swappiness")
    if sw is not None and sw != -1:
        if sw < 0 or sw > 100:
            raise CgroupError(f"invalid value:{sw}. valid memory swappiness range is 0-100")
        out.append(("memory", "memory.swappiness", str(sw), ""))
    return out  # kernel/kernelTCP are ignored like runc >= 1.1


def rt_plan(c: dict | None) -> list:
    c = c or {}
    out = []
    if c.get("realtimePeriod"):
        out.append(("cpu", "cpu.rt_period_us", str(c["realtimePeriod"]), ""))
    if c.get("realtimeRuntime"):
        out.append(("cpu", "cpu.rt_runtime_us", str(c["realtimeRuntime"]), ""))
    return out


def cpu_plan(c: dict | None) -> list:
    c = c or {}
    out = []
    if c.get("shares"):
        out.append(("cpu", "cpu.shares", str(c["shares"]), "shares"))
    quota = c.get("quota") or 0
    if c.get("period"):
        out.append(("cpu", "cpu.cfs_period_us", str(c["period"]), "retry"))
    if c.get("burst") is not None:
        out.append(("cpu", "cpu.cfs_burst_us", str(c["burst"]), "retry-noent" if quota else "noent"))
    if quota:
        out.append(("cpu", "cpu.cfs_quota_us", str(quota), ""))
    if c.get("idle") is not None:
        out.append(("cpu", "cpu.idle", str(c["idle"]), ""))
    return out + rt_plan(c)


def blkio_plan(b: dict | None, bfq: bool) -> list:
    """``bfq``: the cgroup has blkio.bfq.weight instead of CFQ's blkio.weight."""
    b = b or {}
    wf, wdf = ("blkio.bfq.weight", "blkio.bfq.weight_device") if bfq else ("blkio.weight", "blkio.weight_device")
    out = []
    if b.get("weight"):
        out.append(("blkio", wf, str(b["weight"]), ""))
    if b.get("leafWeight"):
        out.append(("blkio", "blkio.leaf_weight", str(b["leafWeight"]), ""))
    for d in b.get("weightDevice") or ():
        if d.get("weight"):
            out.append(("blkio", wdf, f"{d['major']}:{d['minor']} {d['weight']}", ""))
        if d.get("leafWeight"):
            out.append(("blkio", "blkio.leaf_weight_device", f"{d['major']}:{d['minor']} {d['leafWeight']}", ""))
    for key, f in (("throttleReadBpsDevice", "blkio.throttle.read_bps_device"),
                   ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device"),
                   ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device"),
                   ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device")):
        for d in b.get(key) or ():
            out.append(("blkio", f, f"{d['major']}:{d['minor']} {d['rate']}", ""))
    return out


def plan(res: dict | None, bfq: bool = False) -> list:
    """Everything except memory and devices, in runc's controller order."""
    res = res or {}
    if res.get("unified"):
        raise CgroupError("invalid configuration: cannot use unified on cgroup v1")
    c = res.get("cpu") or {}
    out = []
    if c.get("cpus"):
        out.append(("cpuset", "cpuset.cpus", c["cpus"], ""))
    if c.get("mems"):
        out.append(("cpuset", "cpuset.mems", c["mems"], ""))
    out += cpu_plan(c)
    p = pids_max((res.get("pids") or {}).get("limit"))
    if p is not None:
        out.append(("pids", "pids.max", p, ""))
    out += blkio_plan(res.get("blockIO"), bfq)
    for h in res.get("hugepageLimits") or ():
        out.append(("hugetlb", f"hugetlb.{h['pageSize']}.limit_in_bytes", str(h["limit"]), ""))
        out.append(("hugetlb", f"hugetlb.{h['pageSize']}.rsvd.limit_in_bytes", str(h["limit"]), "noent"))
    net = res.get("network") or {}
    if net.get("classID"):
        out.append(("net_cls", "net_cls.classid", str(net["classID"]), ""))
    for pr in net.get("priorities") or ():
        out.append(("net_prio", "net_prio.ifpriomap", f"{pr['name']} {pr['priority']}", ""))
    for dev, lim in (res.get("rdma") or {}).items():
        out.append(("rdma", "rdma.max", rdma_line(dev, lim), ""))
    return out
