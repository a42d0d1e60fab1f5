"""OCI ``linux.resources`` (v1-shaped) -> cgroup v2 file writes, as runc/opencontainers-cgroups do.

Pure functions: nothing here touches the filesystem, so the whole mapping is unit-tested
without root. The manager (v2.py) executes the plan and handles the few write errors
that runc tolerates.

A plan entry is ``(file, value, flag)`` where flag is one of
- ``""``: plain write, any error is fatal;
- ``"swap"``: ignore ENOENT when the value is "max" or "0" (no swap accounting);
- ``"opt"``: ignore ENOENT (optional knob, e.g. hugetlb rsvd);
- ``"retry"``: on EINVAL retry once after the rest of the plan (cpu burst vs quota order).
"""
from ._fs import CgroupError

CPU_SHARES_MIN, CPU_SHARES_MAX = 2, 262144
CPU_WEIGHT_MAX = 10000


def cpu_shares_to_weight(shares: int) -> int:
    """v1 cpu.shares [2..262144] -> v2 cpu.weight [1..10000], 0 = unset.

    runc >= 1.3.2 / opencontainers/cgroups #20 log-quadratic mapping that keeps the
    defaults aligned (1024 -> 100): ``ceil(10^((l^2 + 125 l) / 612 - 7/34))``, l = log2(shares).
    """
    if not shares:
        return 0
    if shares <= CPU_SHARES_MIN:
        return 1
    if shares >= CPU_SHARES_MAX:
        return CPU_WEIGHT_MAX
    import math
    l = math.log2(shares)
    return int(math.ceil(10 ** ((l * l + 125 * l) / 612.0 - 7.0 / 34.0)))


def cpu_shares_to_weight_linear(shares: int) -> int:
    """The pre-1.3.2 runc formula ``1 + ((shares - 2) * 9999) / 262142`` (kept for reference)."""
    if not shares:
        return 0
    return 1 + ((shares - 2) * 9999) // 262142


def blkio_weight_to_io_weight(weight: int) -> int:
    """blkio.weight [10..1000] -> io.weight [1..10000] linearly: ``1 + (w - 10) * 9999 / 990``."""
    if not weight:
        return 0
    return 1 + (weight - 10) * 9999 // 990


def memory_swap_to_v2(swap: int, memory: int) -> int:
    """OCI swap is memory+swap; v2 memory.swap.max is swap only (runc ConvertMemorySwapToCgroupV2Value)."""
    if memory == -1 and swap == 0:
        return -1
    if swap in (-1, 0):
        return swap
    if memory == -1:
        return swap
    if memory == 0:
        raise CgroupError("unable to set swap limit without memory limit")
    if memory < 0:
        raise CgroupError(f"invalid memory value: {memory}")
    if swap < memory:
        raise CgroupError("memory+swap limit should be >= memory limit")
    return swap - memory


def num_to_str(v: int) -> str:
    """0 -> '' (unset), -1 -> 'max', else the number."""
    if v == 0:
        return ""
    if v == -1:
        return "max"
    return str(v)


def cpu_max(quota: int, period: int) -> str | None:
    """cpu.max value; None when neither quota nor period is set (fs2 setCpu)."""
    if not quota and not period:
        return None
    q = str(quota) if quota > 0 else "max"
    return f"{q} {period or 100000}"


def pids_max(limit) -> str | None:
    """None = leave alone; negative or 0 -> 'max'. runc 1.1 (the reference here) treats 0 as
    unset, and podman 4.3 sends ``pids.limit: 0`` for "unlimited"; a limit of 0 would make
    the container unable to fork at all."""
    if limit is None:
        return None
    limit = int(limit)
    if limit < 0:
        return "max"
    if limit == 0:
        return "max"
    return str(limit)


def _throttles(bio: dict) -> list:
    out = []
    for key, name in (("throttleReadBpsDevice", "rbps"), ("throttleWriteBpsDevice", "wbps"),
                      ("throttleReadIOPSDevice", "riops"), ("throttleWriteIOPSDevice", "wiops")):
        for d in bio.get(key) or ():
            out.append(("io.max", f"{d['major']}:{d['minor']} {name}={d['rate']}", ""))
    return out


def plan(res: dict | None, has_bfq: bool = False, bfq_per_device: bool = False,
         memory_current: int | None = None) -> list:
    """All v2 writes for a resources dict, in runc fs2 Set order (devices excluded: eBPF).

    ``has_bfq``: io.bfq.weight exists; ``bfq_per_device``: it accepts 'maj:min weight' lines;
    ``memory_current``: memory.current, for ``memory.checkBeforeUpdate``.
    """
    res = res or {}
    out: list = []
    # pids
    p = pids_max((res.get("pids") or {}).get("limit"))
    if p is not None:
        out.append(("pids.max", p, ""))
    # memory
    m = res.get("memory") or {}
    limit, swap, resv = m.get("limit") or 0, m.get("swap") or 0, m.get("reservation") or 0
    if limit or swap or resv:
        if m.get("checkBeforeUpdate") and limit > 0 and memory_current is not None \
                and memory_current >= limit:
            raise CgroupError(f"rejecting memory limit {limit} below usage {memory_current}")
        sw = memory_swap_to_v2(swap, limit)
        s = num_to_str(sw)
        if s == "" and sw == 0 and swap > 0:
            s = "0"  # memory == swap: no swap at all
        if s:
            out.append(("memory.swap.max", s, "swap"))
        if num_to_str(limit):
            out.append(("memory.max", num_to_str(limit), ""))
        if num_to_str(resv):
            out.append(("memory.low", num_to_str(resv), ""))
    # io
    bio = res.get("blockIO") or {}
    w = bio.get("weight") or 0
    if w:
        if has_bfq:
            out.append(("io.bfq.weight", str(w), ""))
        else:
            out.append(("io.weight", str(blkio_weight_to_io_weight(w)), ""))
    if bfq_per_device:
        for d in bio.get("weightDevice") or ():
            if d.get("weight"):
                out.append(("io.bfq.weight", f"{d['major']}:{d['minor']} {d['weight']}", ""))
    out += _throttles(bio)
    # cpu
    c = res.get("cpu") or {}
    weight = cpu_shares_to_weight(c.get("shares") or 0)
    if weight:
        out.append(("cpu.weight", str(weight), ""))
    if c.get("idle") is not None:
        out.append(("cpu.idle", str(c["idle"]), ""))
    quota, period = c.get("quota") or 0, c.get("period") or 0
    if c.get("burst") is not None:
        out.append(("cpu.max.burst", str(c["burst"]), "retry" if quota else ""))
    cm = cpu_max(quota, period)
    if cm is not None:
        out.append(("cpu.max", cm, ""))
    if c.get("realtimeRuntime") or c.get("realtimePeriod"):
        raise CgroupError("cgroup: realtime cpu settings (realtimeRuntime/realtimePeriod) are not "
                          "supported on cgroup v2")
    # cpuset
    if c.get("cpus"):
        out.append(("cpuset.cpus", c["cpus"], ""))
    if c.get("mems"):
        out.append(("cpuset.mems", c["mems"], ""))
    # hugetlb
    for h in res.get("hugepageLimits") or ():
        out.append((f"hugetlb.{h['pageSize']}.max", str(h["limit"]), ""))
        out.append((f"hugetlb.{h['pageSize']}.rsvd.max", str(h["limit"]), "opt"))
    # rdma
    for dev, lim in (res.get("rdma") or {}).items():
        out.append(("rdma.max", rdma_line(dev, lim), ""))
    return out


def rdma_line(dev: str, lim: dict) -> str:
    parts = [dev]
    if lim.get("hcaHandles") is not None:
        parts.append(f"hca_handle={lim['hcaHandles']}")
    if lim.get("hcaObjects") is not None:
        parts.append(f"hca_object={lim['hcaObjects']}")
    return " ".join(parts)


def controllers_needed(res: dict | None) -> set:
    """v2 controllers a resources dict writes to (to enable in the parents' subtree_control)."""
    need = set()
    res = res or {}
    if (res.get("pids") or {}).get("limit") is not None:
        need.add("pids")
    m = res.get("memory") or {}
    if m.get("limit") or m.get("swap") or m.get("reservation"):
        need.add("memory")
    bio = res.get("blockIO") or {}
    if any(bio.get(k) for k in ("weight", "weightDevice", "throttleReadBpsDevice", "throttleWriteBpsDevice",
                                "throttleReadIOPSDevice", "throttleWriteIOPSDevice")):
        need.add("io")
    c = res.get("cpu") or {}
    if any(c.get(k) for k in ("shares", "quota", "period", "burst")) or c.get("idle") is not None:
        need.add("cpu")
    if c.get("cpus") or c.get("mems"):
        need.add("cpuset")
    if res.get("hugepageLimits"):
        need.add("hugetlb")
    if res.get("rdma"):
        need.add("rdma")
    for k in res.get("unified") or {}:
        ctl = k.partition(".")[0]
        if ctl != "cgroup":
            need.add(ctl)
    return need
