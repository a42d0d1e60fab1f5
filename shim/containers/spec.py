"""Image config + run options -> the container's docker-style Config/HostConfig -> OCI runtime config.json.

Pure functions (no file system, no clock): everything they need about the host or the rootfs is passed in,
so the unit tests can pin docker's behaviour. Modelled on dockerd 20.10's generated config
(tests/fixtures/client-configs/docker-config-sleep.json) and runtime-contract.md §2.5 / §4.7.
"""
from __future__ import annotations

import os
import posixpath
import re
import shlex
from dataclasses import dataclass, field

from pyrunc.spec.capabilities import NAMES as CAPABILITY_NAMES

from ..errors import EngineError
from . import seccomp, volumes
from .users import resolve

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CGROUP_PARENT = "/pyctr"

DEFAULT_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
                "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
                "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
ALL_CAPS = list(CAPABILITY_NAMES)

MASKED_PATHS = ["/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                "/sys/firmware", "/sys/devices/virtual/powercap"]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

# deny all, then the devices docker allows (null, zero, full, random, urandom, tty, console, ptmx), no 10:229 (fuse)
DEFAULT_DEVICE_RULES = [{"allow": False, "access": "rwm"}] + [
    {"allow": True, "type": "c", "major": ma, "minor": mi, "access": "rwm"}
    for ma, mi in ((1, 5), (1, 3), (1, 9), (1, 8), (5, 0), (5, 1))] + [
    {"allow": False, "type": "c", "major": 10, "minor": 229, "access": "rwm"}]

RLIMITS = {"core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss",
           "rtprio", "rttime", "sigpending", "stack", "as"}
NETWORK_MODES = ("none", "host", "bridge")
DEFAULT_NOFILE = 1048576   # dockerd/containerd's own limit, inherited by docker's containers


@dataclass
class HostInfo:
    """What the spec needs to know about this host (read by the caller)."""
    nofile_hard: int = DEFAULT_NOFILE   # our own RLIMIT_NOFILE hard limit: without CAP_SYS_RESOURCE nothing higher
    memsw: bool = False                  # memory.memsw.* present (swap accounting): docker then sets swap = 2 x memory
    arch: str = field(default_factory=seccomp.native_arch)          # selects seccomp archMap / arch conditions
    kernel: tuple[int, int] = field(default_factory=seccomp.kernel_version)   # seccomp minKernel conditions
    bounding: int = field(default_factory=lambda: own_bounding_set())  # what --privileged can grant


def own_bounding_set() -> int:
    """Our capability bounding set (CapBnd): a privileged container gets what we can grant."""
    try:
        with open("/proc/self/status") as f:
            return next(int(ln.split()[1], 16) for ln in f if ln.startswith("CapBnd:"))
    except (OSError, StopIteration):
        return (1 << len(ALL_CAPS)) - 1


# ---- small parsers ----------------------------------------------------------------------------------------------
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str | int | None) -> int | None:
    """docker's RAMInBytes: "64m", "1g", "512k", "100b", "1048576" (binary units); None stays None."""
    if text is None or isinstance(text, int):
        return text
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgtb]?)b?\s*", str(text).lower())
    if not m:
        raise EngineError(f"invalid size: '{text}'", 125)
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def env_key(entry: str) -> str:
    return entry.split("=", 1)[0]


def merge_env(base: list[str], extra: list[str]) -> list[str]:
    """docker's ReplaceOrAppendEnvValues: ``extra`` replaces same-named entries of ``base`` in place, else appends."""
    out = list(base)
    index = {env_key(e): i for i, e in enumerate(out)}
    for e in extra:
        k = env_key(e)
        if k in index:
            out[index[k]] = e
        else:
            index[k] = len(out)
            out.append(e)
    return out


def normalize_cap(name: str) -> str:
    up = name.strip().upper()
    if up == "ALL":
        return "ALL"
    if not up.startswith("CAP_"):
        up = "CAP_" + up
    if up not in ALL_CAPS:
        raise EngineError(f'unknown capability: "{up}"', 125)
    return up


def capabilities(cap_add: list[str], cap_drop: list[str]) -> list[str]:
    """docker's TweakCapabilities: defaults, ALL in add = every cap, ALL in drop = only what is added."""
    adds = [normalize_cap(c) for c in cap_add or []]
    drops = [normalize_cap(c) for c in cap_drop or []]
    caps = list(ALL_CAPS) if "ALL" in adds else list(DEFAULT_CAPS)
    if "ALL" in drops:
        caps = []
    else:
        caps = [c for c in caps if c not in drops]
    for c in adds:
        if c != "ALL" and c not in caps:
            caps.append(c)
    return caps


def parse_bind(spec: str, volumes_dir: str | None = None) -> dict:
    """``-v /host:/ctr[:ro|rw|propagation,...]`` or ``-v NAME:/ctr[:...]`` -> an OCI bind mount; a named
    volume's source is its directory under ``volumes_dir`` (the bare name without it)."""
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise EngineError(f"invalid volume specification: '{spec}'", 125)
    src, dst = parts[0], parts[1]
    if volumes.is_named(src):
        volumes.check_name(src)
        if volumes_dir is not None:
            src = volumes.mountpoint_in(volumes_dir, src)
    elif not src.startswith("/"):
        raise EngineError(f"invalid volume specification: '{spec}': the host path must be absolute", 125)
    if not dst.startswith("/"):
        raise EngineError(f"invalid volume specification: '{spec}': invalid mount config for type \"bind\": "
                          "invalid mount path: '{dst}' mount path must be absolute", 125)
    ro, prop = False, "rprivate"
    for opt in (parts[2].split(",") if len(parts) == 3 and parts[2] else []):
        if opt == "ro":
            ro = True
        elif opt == "rw":
            ro = False
        elif opt in ("private", "rprivate", "shared", "rshared", "slave", "rslave"):
            prop = opt
        elif opt in ("z", "Z", "nocopy", "consistent", "cached", "delegated"):
            continue
        else:
            raise EngineError(f"invalid mode: {opt}", 125)
    return {"destination": posixpath.normpath(dst), "type": "bind",
            "source": posixpath.normpath(src) if src.startswith("/") else src,
            "options": ["rbind", prop] + (["ro"] if ro else [])}


def parse_tmpfs(spec: str) -> dict:
    """``--tmpfs /path[:opts]``: docker's defaults noexec,nosuid,nodev, which exec/suid/dev turn off."""
    dst, _, opts = spec.partition(":")
    if not dst.startswith("/"):
        raise EngineError(f"invalid tmpfs mount path: '{dst}' mount path must be absolute", 125)
    options = ["noexec", "nosuid", "nodev"]
    for o in (opts.split(",") if opts else []):
        off = {"exec": "noexec", "suid": "nosuid", "dev": "nodev"}.get(o)
        if off:
            if off in options:
                options.remove(off)
        elif o not in options:
            options.append(o)
    return {"destination": posixpath.normpath(dst), "type": "tmpfs", "source": "tmpfs", "options": options}


def parse_ulimit(spec: str) -> dict:
    """``--ulimit nofile=1024[:2048]`` -> ``{"Name": "nofile", "Soft": 1024, "Hard": 2048}``."""
    name, _, vals = spec.partition("=")
    soft, _, hard = vals.partition(":")
    if name not in RLIMITS or not soft:
        raise EngineError(f"invalid ulimit argument: {spec}", 125)
    try:
        s = int(soft)
        h = int(hard) if hard else s
    except ValueError:
        raise EngineError(f"invalid ulimit argument: {spec}", 125) from None
    if s > h:
        raise EngineError(f"ulimit soft limit must be less than or equal to hard limit: {s} > {h}", 125)
    return {"Name": name, "Soft": s, "Hard": h}


# ---- docker-style Config / HostConfig ------------------------------------------------------------------------------
def container_config(image_config: dict, *, image: str, cmd: list[str] | None = None,
                     entrypoint: str | None = None, env: list[str] | None = None, workdir: str | None = None,
                     user: str | None = None, tty: bool = False, stdin_open: bool = False,
                     hostname: str = "", labels: dict | None = None) -> dict:
    """docker's container ``Config``: image defaults with the user's overrides (as ``docker create`` merges them).

    A command replaces the image's Cmd; ``--entrypoint`` replaces Entrypoint and drops the image's Cmd.
    """
    ic = (image_config or {}).get("config") or {}
    ep = ic.get("Entrypoint") or []
    ic_cmd = ic.get("Cmd") or []
    if entrypoint is not None:
        ep = shlex.split(entrypoint) if entrypoint else []
        ic_cmd = []
    command = list(cmd) if cmd else list(ic_cmd)
    if not ep and not command:
        raise EngineError("No command specified", 125)
    if workdir is not None and workdir and not workdir.startswith("/"):
        raise EngineError(f"the working directory '{workdir}' is invalid, it needs to be an absolute path", 125)
    out = {
        "Hostname": hostname,
        "User": user if user is not None else ic.get("User", ""),
        "Env": merge_env(list(ic.get("Env") or []), list(env or [])),
        "Cmd": command,
        "Entrypoint": list(ep) or None,
        "WorkingDir": (workdir if workdir else ic.get("WorkingDir")) or "",
        "Tty": bool(tty),
        "OpenStdin": bool(stdin_open),
        "StdinOnce": bool(stdin_open),
        "AttachStdin": bool(stdin_open),
        "Image": image,
        "Labels": {**(ic.get("Labels") or {}), **(labels or {})},
        "Volumes": dict(ic.get("Volumes") or {}) or None,
    }
    if ic.get("StopSignal"):
        out["StopSignal"] = ic["StopSignal"]
    return out


def host_config(*, binds=(), tmpfs=(), read_only=False, cap_add=(), cap_drop=(), memory=None, memory_swap=None,
                cpus=None, cpu_shares=None, pids_limit=None, network="none", auto_remove=False, runtime="pyrunc",
                ulimits=(), console_size=None, security_opt=(), privileged=False, publish=()) -> dict:
    """docker's ``HostConfig`` (validated here so that ``create`` fails early, like dockerd)."""
    if network not in NETWORK_MODES:
        raise EngineError(f"network mode {network!r} is not supported: use --network none (default), bridge "
                          "or host (no user-defined networks)", 125)
    from .. import ports
    port_bindings = ports.parse(list(publish))
    if port_bindings and network != "bridge":
        raise EngineError("publishing ports (-p) needs --network bridge", 125)
    for b in binds:
        parse_bind(b)
    for t in tmpfs:
        parse_tmpfs(t)
    capabilities(list(cap_add), list(cap_drop))
    mem = parse_size(memory)
    swap = -1 if memory_swap in (-1, "-1") else parse_size(memory_swap)
    if mem is not None and mem < 6 * 1024 * 1024:
        raise EngineError("Minimum memory limit allowed is 6MB", 125)
    if swap not in (None, -1) and (mem is None or swap < mem):
        raise EngineError("Minimum memoryswap limit should be larger than memory limit, see usage", 125)
    nano = None
    if cpus is not None:
        try:
            c = float(cpus)
        except ValueError:
            raise EngineError(f"invalid argument \"{cpus}\" for \"--cpus\" flag", 125) from None
        if c <= 0:
            raise EngineError("Range of CPUs is from 0.01 to the number of CPUs available", 125)
        nano = int(round(c * 1e9))
    return {
        "Binds": list(binds), "Tmpfs": {posixpath.normpath(t.partition(":")[0]): t.partition(":")[2] for t in tmpfs},
        "ReadonlyRootfs": bool(read_only), "CapAdd": list(cap_add) or None, "CapDrop": list(cap_drop) or None,
        "Memory": mem or 0, "MemorySwap": swap or 0, "NanoCpus": nano or 0, "CpuShares": int(cpu_shares or 0),
        "PidsLimit": pids_limit, "NetworkMode": network, "AutoRemove": bool(auto_remove), "Runtime": runtime,
        "Ulimits": [parse_ulimit(u) for u in ulimits] or None, "ConsoleSize": list(console_size or (0, 0)),
        "SecurityOpt": seccomp.security_opts(list(security_opt)) or None, "Privileged": bool(privileged),
        "PortBindings": port_bindings,
    }


def process_env(config: dict) -> list[str]:
    """docker's CreateDaemonEnvironment: PATH, HOSTNAME, TERM (tty), then the container's Env on top."""
    base = [f"PATH={DEFAULT_PATH}", f"HOSTNAME={config.get('Hostname', '')}"]
    if config.get("Tty"):
        base.append("TERM=xterm")
    return merge_env(base, config.get("Env") or [])


def process_args(config: dict) -> list[str]:
    return list(config.get("Entrypoint") or []) + list(config.get("Cmd") or [])


# ---- the OCI runtime config -----------------------------------------------------------------------------------
def default_mounts(shm_size: int = 64 << 20) -> list[dict]:
    return [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["ro", "nosuid", "noexec", "nodev"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={shm_size}"]},
    ]


def host_devices(root: str = "/dev") -> list[dict]:
    """docker's HostDevices for ``--privileged``: every char/block device node under /dev (not
    /dev/pts, /dev/shm, /dev/mqueue: the container mounts its own), as ``linux.devices``."""
    import stat
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        if dirpath == root:
            dirnames[:] = [d for d in dirnames if d not in ("pts", "shm", "mqueue")]
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                out.append({"path": path, "type": "c" if stat.S_ISCHR(st.st_mode) else "b",
                            "major": os.major(st.st_rdev), "minor": os.minor(st.st_rdev),
                            "fileMode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid})
    return out


def _user_mounts(hc: dict, volumes_dir: str | None) -> list[dict]:
    mounts = [parse_bind(b, volumes_dir) for b in hc.get("Binds") or []]
    mounts += [parse_tmpfs(f"{d}:{o}" if o else d) for d, o in (hc.get("Tmpfs") or {}).items()]
    # parents before children, as dockerd sorts them (stable for equal depth)
    return sorted(mounts, key=lambda m: len([p for p in m["destination"].split("/") if p]))


def _resources(hc: dict, host: HostInfo) -> dict:
    return {"devices": [dict(r) for r in DEFAULT_DEVICE_RULES], **limits(hc, host)}


def limits(hc: dict, host: HostInfo) -> dict:
    """The memory/cpu/pids part of ``linux.resources`` for HostConfig ``hc`` (also what ``update`` sends)."""
    res: dict = {}
    mem, swap = hc.get("Memory") or 0, hc.get("MemorySwap") or 0
    if mem:
        res["memory"] = {"limit": mem}
        if host.memsw:
            res["memory"]["swap"] = -1 if swap == -1 else (swap or 2 * mem)
    cpu = {}
    if hc.get("NanoCpus"):
        cpu["period"] = 100000
        cpu["quota"] = max(1000, hc["NanoCpus"] * 100000 // 10**9)
    if hc.get("CpuShares"):
        cpu["shares"] = hc["CpuShares"]
    if cpu:
        res["cpu"] = cpu
    if hc.get("PidsLimit") is not None and hc["PidsLimit"] > 0:
        res["pids"] = {"limit": hc["PidsLimit"]}
    return res


def _rlimits(hc: dict, host: HostInfo) -> list[dict]:
    n = min(DEFAULT_NOFILE, host.nofile_hard)
    limits = {"nofile": (n, n)}
    for u in hc.get("Ulimits") or []:
        limits[u["Name"]] = (u["Soft"], u["Hard"])
    return [{"type": f"RLIMIT_{k.upper()}", "soft": s, "hard": h} for k, (s, h) in limits.items()]


def runtime_spec(cid: str, config: dict, hc: dict, rootfs: str, *, etc_files: dict[str, str],
                 passwd: str | None, group: str | None, host: HostInfo | None = None,
                 volumes_dir: str | None = None) -> dict:
    """The OCI config.json for container ``cid`` whose writable layer is mounted at ``rootfs``.

    ``etc_files`` maps "hostname"/"hosts"/"resolv.conf" to the host files bound over /etc/<name>;
    ``passwd``/``group`` are the texts of the rootfs's /etc/passwd and /etc/group (None if absent).
    """
    host = host or HostInfo()
    user = resolve(config.get("User") or "", passwd, group)
    privileged = bool(hc.get("Privileged"))
    # docker: --privileged grants every capability, whatever --cap-add/--cap-drop say (here: every one we
    # hold; docker asks for all the kernel knows, which runc refuses when the bounding set lacks one)
    if privileged:
        caps = [c for i, c in enumerate(ALL_CAPS) if host.bounding >> i & 1]
    else:
        caps = capabilities(hc.get("CapAdd") or [], hc.get("CapDrop") or [])
    readonly = bool(hc.get("ReadonlyRootfs"))
    network = hc.get("NetworkMode") or "none"
    hostname = config.get("Hostname") or cid[:12]
    proc = {
        "terminal": bool(config.get("Tty")),
        "user": {"uid": user.uid, "gid": user.gid},
        "args": process_args(config),
        "env": process_env({**config, "Hostname": hostname}),
        "cwd": config.get("WorkingDir") or "/",
        "capabilities": {k: list(caps) for k in ("bounding", "effective", "permitted")},
        "rlimits": _rlimits(hc, host),
        "oomScoreAdj": 0,
    }
    if seccomp.no_new_privileges(hc):
        proc["noNewPrivileges"] = True
    if user.additional_gids:
        proc["user"]["additionalGids"] = user.additional_gids
    rows, cols = (hc.get("ConsoleSize") or (0, 0))[:2]
    if proc["terminal"] and rows and cols:
        proc["consoleSize"] = {"height": rows, "width": cols}
    user_mounts = _user_mounts(hc, volumes_dir)
    taken = {m["destination"] for m in user_mounts}
    mounts = [m for m in default_mounts() if m["destination"] not in taken]
    etc_binds = []
    if privileged:  # docker: /sys and the cgroup mount writable
        for m in mounts:
            if m["type"] in ("sysfs", "cgroup"):
                m["options"] = [o for o in m["options"] if o != "ro"]
    for name in ("resolv.conf", "hostname", "hosts"):
        dest = f"/etc/{name}"
        if name in etc_files and dest not in taken:
            etc_binds.append({"destination": dest, "type": "bind", "source": etc_files[name],
                              "options": ["rbind", "rprivate"] + (["ro"] if readonly else [])})
    # parents before children, as dockerd sorts them: a volume on /etc does not hide /etc/hostname
    mounts += sorted(etc_binds + user_mounts, key=lambda m: len([p for p in m["destination"].split("/") if p]))
    namespaces = [{"type": "mount"}] + ([{"type": "network"}] if network != "host" else []) + \
        [{"type": "uts"}, {"type": "pid"}, {"type": "ipc"}]
    linux: dict = {
        "resources": _resources(hc, host),
        "cgroupsPath": f"{CGROUP_PARENT}/{cid}",
        "namespaces": namespaces,
        "maskedPaths": [] if privileged else list(MASKED_PATHS),
        "readonlyPaths": [] if privileged else list(READONLY_PATHS),
    }
    if privileged:  # docker: every host device, all of them allowed in the devices cgroup, no seccomp
        linux["devices"] = host_devices()
        linux["resources"]["devices"] = [{"allow": True, "access": "rwm"}]
    profile = None if privileged else seccomp.for_container(hc, caps, host.arch, host.kernel)
    if profile is not None:
        linux["seccomp"] = profile
    if network != "host":
        linux["sysctl"] = {"net.ipv4.ip_unprivileged_port_start": "0",
                           "net.ipv4.ping_group_range": "0 2147483647"}
    return {
        "ociVersion": "1.0.2-dev",
        "process": proc,
        "root": {"path": rootfs, "readonly": readonly},
        "hostname": hostname,
        "mounts": mounts,
        "hooks": {},
        "linux": linux,
    }
