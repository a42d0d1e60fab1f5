"""``pyrunc update [--resources FILE|-] [flags] ID``: change the limits of a running container."""
import sys

from .. import state
from ..errors import Error
from ..jsonlite import JSONError, loads
from . import need_id

# flag -> (resources section, key, parser)
_FLAGS = {
    "blkio_weight": ("blockIO", "weight", int), "cpu_period": ("cpu", "period", int),
    "cpu_quota": ("cpu", "quota", int), "cpu_burst": ("cpu", "burst", int), "cpu_share": ("cpu", "shares", int),
    "cpu_rt_period": ("cpu", "realtimePeriod", int), "cpu_rt_runtime": ("cpu", "realtimeRuntime", int),
    "cpuset_cpus": ("cpu", "cpus", str), "cpuset_mems": ("cpu", "mems", str), "cpu_idle": ("cpu", "idle", int),
    "memory": ("memory", "limit", "size"), "memory_reservation": ("memory", "reservation", "size"),
    "memory_swap": ("memory", "swap", "size"), "pids_limit": ("pids", "limit", int),
}
_UNITS = {"b": 1, "k": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "g": 1 << 30, "gb": 1 << 30,
          "t": 1 << 40, "tb": 1 << 40}


def parse_size(text: str) -> int:
    """docker's RAMInBytes: "512m", "1g", "-1"."""
    t = text.strip().lower()
    if t == "-1":
        return -1
    num = t.rstrip("bkmgt")
    unit = t[len(num):] or "b"
    try:
        return int(float(num) * _UNITS[unit])
    except (ValueError, KeyError):
        raise Error(f"invalid size: {text!r}") from None


def resources_from_flags(opts) -> dict:
    res: dict = {}
    for flag, (section, key, kind) in _FLAGS.items():
        val = opts.get(flag)
        if val is None:
            continue
        try:
            v = parse_size(val) if kind == "size" else kind(val)
        except ValueError:
            raise Error(f"invalid value for --{flag.replace('_', '-')}: {val!r}") from None
        res.setdefault(section, {})[key] = v
    return res


def run(gopts, opts, args) -> int:
    c = state.load(gopts.root, need_id(args, "update"))
    if opts.l3_cache_schema or opts.mem_bw_schema:
        raise Error("Intel RDT is not enabled for this container")
    if opts.resources:
        try:
            data = sys.stdin.buffer.read() if opts.resources == "-" else open(opts.resources, "rb").read()
            res = loads(data)
        except (OSError, JSONError) as e:
            raise Error(f"unable to parse resources: {e}") from None
        from pyrunc.spec.schema import RESOURCES
        from pyrunc.spec.validate import SpecError, check
        try:
            check(res, RESOURCES, "resources")
        except SpecError as e:
            raise Error(str(e)) from None
    else:
        res = resources_from_flags(opts)
    if c.status() == "stopped":
        raise Error("container not running")
    mgr = c.cgroup_manager()
    if mgr is None:
        raise Error("cgroup not exist")
    from ..cgroups import CgroupError
    try:
        mgr.set_resources(res)
    except CgroupError as e:
        raise Error(str(e)) from None
    return 0

