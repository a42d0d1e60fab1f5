"""Resource usage of a running container read from its cgroup files, like containerd's shim and docker stats do
(found through ``/proc/<init pid>/cgroup``; cgroup v1 controllers, or the v2 unified hierarchy)."""
from __future__ import annotations

import os

V1_ROOT = "/sys/fs/cgroup"
UNLIMITED = 1 << 62


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _int(text: str | None, default: int = 0) -> int:
    if text is None or text == "max":
        return default
    try:
        return int(text.split()[0])
    except (ValueError, IndexError):
        return default


def _kv(text: str | None) -> dict[str, int]:
    out = {}
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def cgroup_dirs(pid: int) -> dict[str, str]:
    """controller -> host directory of ``pid``'s cgroup ("" key: the v2 unified directory)."""
    out = {}
    text = _read(f"/proc/{pid}/cgroup") or ""
    for line in text.splitlines():
        _, ctrls, path = line.split(":", 2)
        if not ctrls:
            if os.path.exists(os.path.join(V1_ROOT, "cgroup.controllers")):
                out[""] = os.path.join(V1_ROOT, path.lstrip("/"))
            continue
        for ctrl in ctrls.split(","):
            base = os.path.join(V1_ROOT, ctrl)
            if not os.path.isdir(base):
                base = os.path.join(V1_ROOT, ctrls)
            out[ctrl] = os.path.join(base, path.lstrip("/"))
    return out


def mem_total() -> int:
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return UNLIMITED


def sample(pid: int) -> dict:
    """cpu_ns (total CPU time), mem_usage, mem_limit, pids, pids_limit, blk_read, blk_write (bytes)."""
    d = cgroup_dirs(pid)
    s = {"cpu_ns": 0, "mem_usage": 0, "mem_limit": mem_total(), "pids": 0, "pids_limit": 0,
         "blk_read": 0, "blk_write": 0}
    if "" in d and "memory" not in d:  # cgroup v2
        u = d[""]
        s["cpu_ns"] = _kv(_read(os.path.join(u, "cpu.stat"))).get("usage_usec", 0) * 1000
        usage = _int(_read(os.path.join(u, "memory.current")))
        s["mem_usage"] = usage - _kv(_read(os.path.join(u, "memory.stat"))).get("inactive_file", 0)
        s["mem_limit"] = min(_int(_read(os.path.join(u, "memory.max")), UNLIMITED), s["mem_limit"])
        s["pids"] = _int(_read(os.path.join(u, "pids.current")))
        s["pids_limit"] = _int(_read(os.path.join(u, "pids.max")), 0)
        for line in (_read(os.path.join(u, "io.stat")) or "").splitlines():
            for field in line.split()[1:]:
                k, _, v = field.partition("=")
                if k == "rbytes":
                    s["blk_read"] += int(v)
                elif k == "wbytes":
                    s["blk_write"] += int(v)
        return s
    if "cpuacct" in d:
        s["cpu_ns"] = _int(_read(os.path.join(d["cpuacct"], "cpuacct.usage")))
    if "memory" in d:
        m = d["memory"]
        usage = _int(_read(os.path.join(m, "memory.usage_in_bytes")))
        st = _kv(_read(os.path.join(m, "memory.stat")))
        s["mem_usage"] = max(0, usage - st.get("total_inactive_file", 0))
        s["mem_limit"] = min(_int(_read(os.path.join(m, "memory.limit_in_bytes")), UNLIMITED), s["mem_limit"])
    if "pids" in d:
        s["pids"] = _int(_read(os.path.join(d["pids"], "pids.current")))
        s["pids_limit"] = _int(_read(os.path.join(d["pids"], "pids.max")), 0)
    if "blkio" in d:
        for line in (_read(os.path.join(d["blkio"], "blkio.throttle.io_service_bytes")) or "").splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] == "Read":
                s["blk_read"] += int(parts[2])
            elif len(parts) == 3 and parts[1] == "Write":
                s["blk_write"] += int(parts[2])
    return s
