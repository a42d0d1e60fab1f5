"""`runc events --stats` data from cgroup files, in runc's JSON shape (types/events.go).

Go's ``omitempty`` is reproduced: zero numbers and empty lists/maps are left out where
runc's struct tags say so, and always-present keys (``kernel``, ``user``, ``failcnt``,
``limit``...) stay. Imported lazily: not on the create path.
"""
from .. import fastos as os

from . import _fs
from ._fs import CgroupError

MAX_U64 = (1 << 64) - 1


def _omit(d: dict, keep: tuple = ()) -> dict:
    return {k: v for k, v in d.items() if k in keep or (v not in (0, None, [], {}, ""))}


def _int(d: str, name: str, default: int = 0) -> int:
    try:
        s = _fs.read(d, name).strip()
    except CgroupError:
        return default
    if s == "max":
        return MAX_U64
    try:
        return int(s)
    except ValueError:
        return default


def _ints(d: str, name: str) -> list:
    try:
        return [int(x) for x in _fs.read(d, name).split()]
    except (CgroupError, ValueError):
        return []


def _kv(d: str, name: str) -> dict:
    try:
        return _fs.key_value(d, name)
    except CgroupError:
        return {}


def parse_list(s: str) -> list:
    """cpuset list syntax '0-2,5' -> [0, 1, 2, 5]."""
    out = []
    for part in s.strip().split(","):
        if not part:
            continue
        a, _, b = part.partition("-")
        out.extend(range(int(a), int(b or a) + 1))
    return out


def hugepage_sizes() -> list:
    """'hugepages-2048kB' -> '2MB' (the names the hugetlb files use)."""
    out = []
    try:
        names = os.listdir("/sys/kernel/mm/hugepages")
    except OSError:
        return out
    for n in sorted(names):
        if not n.startswith("hugepages-") or not n.endswith("kB"):
            continue
        kb = int(n[10:-2])
        out.append(f"{kb >> 20}GB" if kb >= 1 << 20 else f"{kb >> 10}MB" if kb >= 1 << 10 else f"{kb}KB")
    return out


def _mem_entry(limit=0, usage=0, max_=0, failcnt=0) -> dict:
    return _omit({"limit": limit, "usage": usage, "max": max_, "failcnt": failcnt}, ("limit", "failcnt"))


def _blkio_entries(d: str, name: str) -> list | None:
    try:
        txt = _fs.read(d, name)
    except CgroupError:
        return None
    out = []
    for line in txt.splitlines():
        f = line.split()
        if len(f) < 2 or ":" not in f[0]:
            continue
        ma, _, mi = f[0].partition(":")
        e = {"major": int(ma), "minor": int(mi)}
        if len(f) == 3:
            e["op"], e["value"] = f[1], int(f[2])
        else:
            e["value"] = int(f[1])
        out.append(_omit(e))
    return out


_BLKIO_GROUPS = (
    (("blkio.bfq.io_serviced_recursive", "ioServicedRecursive"),
     ("blkio.bfq.io_service_bytes_recursive", "ioServiceBytesRecursive")),
    (("blkio.io_serviced_recursive", "ioServicedRecursive"),
     ("blkio.io_service_bytes_recursive", "ioServiceBytesRecursive"),
     ("blkio.io_queued_recursive", "ioQueueRecursive"),
     ("blkio.io_service_time_recursive", "ioServiceTimeRecursive"),
     ("blkio.io_wait_time_recursive", "ioWaitTimeRecursive"),
     ("blkio.io_merged_recursive", "ioMergedRecursive"),
     ("blkio.time_recursive", "ioTimeRecursive"),
     ("blkio.sectors_recursive", "sectorsRecursive")),
    (("blkio.throttle.io_serviced_recursive", "ioServicedRecursive"),
     ("blkio.throttle.io_service_bytes_recursive", "ioServiceBytesRecursive")),
    (("blkio.throttle.io_serviced", "ioServicedRecursive"),
     ("blkio.throttle.io_service_bytes", "ioServiceBytesRecursive")),
)


def _v1_blkio(d: str) -> dict:
    """First stats group whose first file has data wins (runc fs/blkio.go order)."""
    for group in _BLKIO_GROUPS:
        first = _blkio_entries(d, group[0][0])
        if not first:
            continue
        out = {}
        for f, key in group:
            out[key] = _blkio_entries(d, f) or []
        return _omit(out)
    return {}


def v1_stats(paths: dict) -> dict:
    cpu_usage = {"kernel": 0, "user": 0}
    throttling: dict = {}
    d = paths.get("cpuacct")
    if d and os.path.isdir(d):
        hz = os.sysconf("SC_CLK_TCK") or 100
        st = _kv(d, "cpuacct.stat")
        cpu_usage["total"] = _int(d, "cpuacct.usage")
        cpu_usage["percpu"] = _ints(d, "cpuacct.usage_percpu")
        pk, pu = [], []
        try:
            for line in _fs.read(d, "cpuacct.usage_all").splitlines()[1:]:
                f = line.split()
                if len(f) == 3:
                    pu.append(int(f[1]))
                    pk.append(int(f[2]))
        except CgroupError:
            pass
        cpu_usage["percpu_kernel"], cpu_usage["percpu_user"] = pk, pu
        cpu_usage["kernel"] = st.get("system", 0) * 1_000_000_000 // hz
        cpu_usage["user"] = st.get("user", 0) * 1_000_000_000 // hz
    d = paths.get("cpu")
    if d and os.path.isdir(d):
        st = _kv(d, "cpu.stat")
        throttling = {"periods": st.get("nr_periods", 0), "throttledPeriods": st.get("nr_throttled", 0),
                      "throttledTime": st.get("throttled_time", 0)}
    out = {"cpu": {"usage": _order_usage(cpu_usage), "throttling": _omit(throttling)}}

    cs = {}
    d = paths.get("cpuset")
    if d and os.path.isdir(d):
        try:
            cs["cpus"] = parse_list(_fs.read(d, "cpuset.cpus"))
            cs["mems"] = parse_list(_fs.read(d, "cpuset.mems"))
        except (CgroupError, ValueError):
            pass
        for key, f in (("cpu_exclusive", "cpuset.cpu_exclusive"), ("mem_hardwall", "cpuset.mem_hardwall"),
                       ("mem_exclusive", "cpuset.mem_exclusive"), ("memory_migrate", "cpuset.memory_migrate"),
                       ("memory_spread_page", "cpuset.memory_spread_page"),
                       ("memory_spread_slab", "cpuset.memory_spread_slab"),
                       ("memory_pressure", "cpuset.memory_pressure"),
                       ("sched_load_balance", "cpuset.sched_load_balance"),
                       ("sched_relax_domain_level", "cpuset.sched_relax_domain_level")):
            cs[key] = _int(d, f)
    out["cpuset"] = _cpuset(cs)

    mem: dict = {"usage": _mem_entry(), "swap": _mem_entry(), "kernel": _mem_entry(), "kernelTCP": _mem_entry()}
    d = paths.get("memory")
    if d and os.path.isdir(d):
        raw = _kv(d, "memory.stat")
        mem["cache"] = raw.get("cache", 0)
        for key, mod in (("usage", "memory"), ("swap", "memory.memsw"), ("kernel", "memory.kmem"),
                         ("kernelTCP", "memory.kmem.tcp")):
            if os.path.exists(f"{d}/{mod}.usage_in_bytes"):
                mem[key] = _mem_entry(_int(d, mod + ".limit_in_bytes"), _int(d, mod + ".usage_in_bytes"),
                                      _int(d, mod + ".max_usage_in_bytes"), _int(d, mod + ".failcnt"))
        mem["raw"] = raw
    out["memory"] = _order_mem(mem)

    d = paths.get("pids")
    pids = {}
    if d and os.path.isdir(d):
        lim = _int(d, "pids.max")
        pids = {"current": _int(d, "pids.current"), "limit": 0 if lim == MAX_U64 else lim}
    out["pids"] = _omit(pids)

    d = paths.get("blkio")
    out["blkio"] = _v1_blkio(d) if d and os.path.isdir(d) else {}

    hug = {}
    d = paths.get("hugetlb")
    if d and os.path.isdir(d):
        for size in hugepage_sizes():
            hug[size] = _omit({"usage": _int(d, f"hugetlb.{size}.usage_in_bytes"),
                               "max": _int(d, f"hugetlb.{size}.max_usage_in_bytes"),
                               "failcnt": _int(d, f"hugetlb.{size}.failcnt")}, ("failcnt",))
    out["hugetlb"] = hug
    out["intel_rdt"] = {}
    out["network_interfaces"] = None
    return out


def _order_usage(u: dict) -> dict:
    keys = ("total", "percpu", "percpu_kernel", "percpu_user", "kernel", "user")
    return _omit({k: u.get(k, 0) for k in keys}, ("kernel", "user"))


def _order_mem(m: dict) -> dict:
    keys = ("cache", "usage", "swap", "kernel", "kernelTCP", "raw", "psi")
    return _omit({k: m.get(k) for k in keys}, ("usage", "swap", "kernel", "kernelTCP"))


def _cpuset(cs: dict) -> dict:
    keys = ("cpus", "cpu_exclusive", "mems", "mem_hardwall", "mem_exclusive", "memory_migrate",
            "memory_spread_page", "memory_spread_slab", "memory_pressure", "sched_load_balance",
            "sched_relax_domain_level")
    return _omit({k: cs.get(k, 0) for k in keys}, tuple(k for k in keys if k not in ("cpus", "mems")))


def _psi(d: str, name: str) -> dict | None:
    try:
        txt = _fs.read(d, name)
    except CgroupError:
        return None
    out = {}
    for line in txt.splitlines():
        f = line.split()
        if not f or f[0] not in ("some", "full"):
            continue
        e = {}
        for kv in f[1:]:
            k, _, v = kv.partition("=")
            e[k] = int(v) if k == "total" else float(v)
        out[f[0]] = {"avg10": e.get("avg10", 0.0), "avg60": e.get("avg60", 0.0),
                     "avg300": e.get("avg300", 0.0), "total": e.get("total", 0)}
    return out or None


def v2_stats(d: str) -> dict:
    st = _kv(d, "cpu.stat")
    usage = {"total": st.get("usage_usec", 0) * 1000, "kernel": st.get("system_usec", 0) * 1000,
             "user": st.get("user_usec", 0) * 1000}
    cpu = {"usage": _order_usage(usage),
           "throttling": _omit({"periods": st.get("nr_periods", 0), "throttledPeriods": st.get("nr_throttled", 0),
                                "throttledTime": st.get("throttled_usec", 0) * 1000})}
    psi = _psi(d, "cpu.pressure")
    if psi:
        cpu["psi"] = psi
    out = {"cpu": cpu}

    cs = {}
    if os.path.exists(d + "/cpuset.cpus.effective"):
        try:
            cs["cpus"] = parse_list(_fs.read(d, "cpuset.cpus.effective"))
            cs["mems"] = parse_list(_fs.read(d, "cpuset.mems.effective"))
        except (CgroupError, ValueError):
            pass
    out["cpuset"] = _cpuset(cs)

    mem: dict = {"usage": _mem_entry(), "swap": _mem_entry(), "kernel": _mem_entry(), "kernelTCP": _mem_entry()}
    if os.path.exists(d + "/memory.current"):
        raw = _kv(d, "memory.stat")
        mem["cache"] = raw.get("file", 0)
        cur, lim, peak = _int(d, "memory.current"), _int(d, "memory.max"), _int(d, "memory.peak")
        mem["usage"] = _mem_entry(lim, cur, peak)
        if os.path.exists(d + "/memory.swap.current"):
            scur, slim = _int(d, "memory.swap.current"), _int(d, "memory.swap.max")
            # v1 compatibility: swap is reported as memory+swap
            mem["swap"] = _mem_entry(slim if slim == MAX_U64 else slim + lim, scur + cur, 0)
        mem["raw"] = raw
    psi = _psi(d, "memory.pressure")
    if psi:
        mem["psi"] = psi
    out["memory"] = _order_mem(mem)

    pids = {}
    if os.path.exists(d + "/pids.current"):
        lim = _int(d, "pids.max")
        pids = {"current": _int(d, "pids.current"), "limit": 0 if lim == MAX_U64 else lim}
    out["pids"] = _omit(pids)

    blk: dict = {}
    try:
        io = _fs.read(d, "io.stat")
    except CgroupError:
        io = ""
    sb, sv = [], []
    for line in io.splitlines():
        f = line.split()
        if not f or ":" not in f[0]:
            continue
        ma, _, mi = f[0].partition(":")
        for kv in f[1:]:
            k, _, v = kv.partition("=")
            op = {"r": "Read", "w": "Write", "d": "Discard"}.get(k[:1])
            if not op:
                continue
            e = _omit({"major": int(ma), "minor": int(mi), "op": op, "value": int(v)})
            if k.endswith("bytes"):
                sb.append(e)
            elif k.endswith("ios"):
                sv.append(e)
    blk["ioServiceBytesRecursive"], blk["ioServicedRecursive"] = sb, sv
    blk = _omit(blk)
    psi = _psi(d, "io.pressure")
    if psi:
        blk["psi"] = psi
    out["blkio"] = blk

    hug = {}
    for size in hugepage_sizes():
        if os.path.exists(f"{d}/hugetlb.{size}.current"):
            hug[size] = _omit({"usage": _int(d, f"hugetlb.{size}.current"),
                               "failcnt": _kv(d, f"hugetlb.{size}.events").get("max", 0)}, ("failcnt",))
    out["hugetlb"] = hug
    out["intel_rdt"] = {}
    out["network_interfaces"] = None
    return out
