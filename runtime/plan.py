"""Pure translation of a validated config.json into the setup plan the container init executes.

No syscalls here (only path joins): everything that can be decided before forking is decided
once, unit-tested without root, and handed to the init as plain attributes.
"""
from . import caps, mountopts
from .errors import Error
from .linux import NS_FLAGS

RLIMITS = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}
SCHED_POLICIES = {"SCHED_OTHER": 0, "SCHED_FIFO": 1, "SCHED_RR": 2, "SCHED_BATCH": 3, "SCHED_ISO": 4,
                  "SCHED_IDLE": 5, "SCHED_DEADLINE": 6}
SCHED_FLAGS = {"SCHED_FLAG_RESET_ON_FORK": 1, "SCHED_FLAG_RECLAIM": 2, "SCHED_FLAG_DL_OVERRUN": 4,
               "SCHED_FLAG_KEEP_POLICY": 8, "SCHED_FLAG_KEEP_PARAMS": 16, "SCHED_FLAG_UTIL_CLAMP_MIN": 32,
               "SCHED_FLAG_UTIL_CLAMP_MAX": 64}
IOPRIO_CLASSES = {"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2, "IOPRIO_CLASS_IDLE": 3}
PERSONALITY = {"LINUX": 0x0000, "LINUX32": 0x0008}
# sysctls that live in a namespace (runc's validator): name prefix -> namespace type
NS_SYSCTLS = {"kernel.msgmax": "ipc", "kernel.msgmnb": "ipc", "kernel.msgmni": "ipc", "kernel.sem": "ipc",
              "kernel.shmall": "ipc", "kernel.shmmax": "ipc", "kernel.shmmni": "ipc",
              "kernel.shm_rmid_forced": "ipc", "kernel.hostname": "uts", "kernel.domainname": "uts"}
DEFAULT_DEVICES = (("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7), ("/dev/random", 1, 8),
                   ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0))
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Mount:
    __slots__ = ("destination", "source", "type", "flags", "data", "propagation", "attr_set", "attr_clr",
                 "bind", "special", "idmap", "idmap_fd")

    def __repr__(self) -> str:
        return f"Mount({self.destination!r} {self.type} src={self.source!r} flags={self.flags:#x})"


class Device:
    __slots__ = ("path", "kind", "major", "minor", "mode", "uid", "gid")


class Process:
    """What the init (or an exec'd process) becomes right before execve."""
    __slots__ = ("args", "env", "cwd", "uid", "gid", "groups", "umask", "rlimits", "cap_bounding",
                 "cap_effective", "cap_permitted", "cap_inheritable", "cap_ambient", "no_new_privs",
                 "oom_score_adj", "scheduler", "ioprio", "terminal", "console_size", "unknown_caps",
                 "apparmor", "selinux")


class Plan:
    __slots__ = ("id", "bundle", "rootfs", "readonly", "ns_new", "ns_join", "uid_maps", "gid_maps",
                 "time_offsets", "mounts", "devices", "default_devices", "dev_is_bind", "masked", "readonly_paths",
                 "hostname", "domainname", "sysctl", "personality", "propagation", "no_pivot", "process",
                 "seccomp", "hooks", "cgroups_path", "resources", "annotations", "setgroups", "new_keyring",
                 "mempolicy", "net_devices", "late_mounts")


def _abs(base: str, path: str) -> str:
    return path if path.startswith("/") else base.rstrip("/") + "/" + path


def namespaces(linux: dict) -> tuple[int, list[tuple[str, str]]]:
    """Flags of namespaces to create, and (type, path) pairs to join."""
    new, join = 0, []
    for ns in linux.get("namespaces", ()):
        path = ns.get("path")
        if path:
            join.append((ns["type"], path))
        else:
            new |= NS_FLAGS[ns["type"]]
    return new, join


def mounts(cfg: dict, bundle: str) -> list[Mount]:
    out = []
    for i, m in enumerate(cfg.get("mounts", ())):
        dest = m["destination"]
        if not dest.startswith("/"):
            dest = "/" + dest  # runc accepts relative destinations as relative to "/"
        o = mountopts.parse(m.get("options", ()))
        mt = Mount()
        mt.destination = dest
        mt.type = m.get("type") or "none"
        mt.bind = bool(o.flags & 4096) or mt.type == "bind"
        src = m.get("source") or mt.type
        mt.source = _abs(bundle, src) if mt.bind else src
        mt.flags = o.flags | (4096 if mt.type == "bind" else 0)
        mt.data = ",".join(o.data) or None
        mt.propagation = o.propagation
        mt.attr_set, mt.attr_clr = o.attr_set, o.attr_clr
        mt.special = o.special
        mt.idmap = _idmap(cfg, m, mt, i)
        mt.idmap_fd = None  # the detached idmapped clone the runtime makes (runtime/idmap.py)
        out.append(mt)
    return out


def _idmap(cfg: dict, m: dict, mt: Mount, i: int) -> tuple | None:
    """(uid maps, gid maps, recursive) of an idmapped bind mount, or None. The maps come from the
    mount's uidMappings/gidMappings or, for a bare ``idmap``/``ridmap`` option, from the
    container's user namespace (runc)."""
    uid, gid = m.get("uidMappings"), m.get("gidMappings")
    recursive = "ridmap" in mt.special
    if not (uid or gid or recursive or "idmap" in mt.special):
        return None
    if not mt.bind:
        raise Error(f"mounts[{i}]: idmapped mounts are only supported for bind mounts")
    if bool(uid) != bool(gid):
        raise Error(f"mounts[{i}]: uidMappings and gidMappings must be given together")
    where = f"mounts[{i}]"
    if not uid:
        linux = cfg.get("linux", {})
        uid, gid, where = linux.get("uidMappings"), linux.get("gidMappings"), "linux"
        if not (uid and gid):
            raise Error(f"mounts[{i}].options: idmap without mappings needs the container's user namespace "
                        "mappings (linux.uidMappings)")
    return _id_maps(uid, f"{where}.uidMappings"), _id_maps(gid, f"{where}.gidMappings"), recursive


def _id_maps(maps, field: str) -> tuple:
    out = []
    for k, e in enumerate(maps):
        vals = tuple(e.get(f) if isinstance(e, dict) else None for f in ("containerID", "hostID", "size"))
        if not all(type(v) is int and v >= 0 for v in vals) or not vals[2]:
            raise Error(f"{field}[{k}]: containerID, hostID and size must be non-negative integers (size > 0)")
        out.append(vals)
    return tuple(out)


MPOL_MODES = {"MPOL_DEFAULT": 0, "MPOL_PREFERRED": 1, "MPOL_BIND": 2, "MPOL_INTERLEAVE": 3, "MPOL_LOCAL": 4,
              "MPOL_PREFERRED_MANY": 5, "MPOL_WEIGHTED_INTERLEAVE": 6}
MPOL_FLAGS = {"MPOL_F_NUMA_BALANCING": 1 << 13, "MPOL_F_RELATIVE_NODES": 1 << 14, "MPOL_F_STATIC_NODES": 1 << 15}


def memory_policy(linux: dict) -> tuple[int, bytes] | None:
    """linux.memoryPolicy -> (set_mempolicy mode with its flags, node mask bytes), or None."""
    mp = linux.get("memoryPolicy")
    if not mp:
        return None
    mode = MPOL_MODES.get(mp.get("mode"))
    if mode is None:
        raise Error(f"linux.memoryPolicy.mode: unknown mode {mp.get('mode')!r}")
    for i, f in enumerate(mp.get("flags") or ()):
        if f not in MPOL_FLAGS:
            raise Error(f"linux.memoryPolicy.flags[{i}]: unknown flag {f!r}")
        mode |= MPOL_FLAGS[f]
    nodes = _node_list(mp.get("nodes") or "")
    if mp.get("mode") in ("MPOL_DEFAULT", "MPOL_LOCAL"):
        if nodes:
            raise Error(f"linux.memoryPolicy.nodes: must be empty for {mp['mode']}")
        return mode, b""
    if not nodes:
        raise Error(f"linux.memoryPolicy.nodes: {mp['mode']} needs at least one node")
    mask = 0
    for n in nodes:
        mask |= 1 << n
    return mode, mask.to_bytes((max(nodes) // 64 + 1) * 8, "little")


def net_devices(linux: dict, ns_new: int, ns_join: list) -> dict:
    """linux.netDevices {host name: {"name": name in the container}}: needs a network namespace of the
    container's own and no user namespace (moving needs CAP_NET_ADMIN over the runtime's namespace)."""
    devs = linux.get("netDevices") or {}
    if not devs:
        return {}
    if not isinstance(devs, dict):
        raise Error("linux.netDevices: expected an object of device names")
    if not ns_new & NS_FLAGS["network"]:
        raise Error("linux.netDevices: needs a new network namespace (linux.namespaces)")
    if ns_new & NS_FLAGS["user"] or any(t == "user" for t, _ in ns_join):
        raise Error("linux.netDevices: not supported with a user namespace")
    out = {}
    for host, spec in devs.items():
        new = (spec or {}).get("name") if isinstance(spec, dict) else None
        for what, n in (("", host), (".name", new)):
            if n is not None and (not isinstance(n, str) or not 0 < len(n) < 16 or "/" in n or n in (".", "..")
                                  or any(c.isspace() for c in n)):
                raise Error(f"linux.netDevices.{host}{what}: invalid network device name {n!r}")
        out[host] = {"name": new} if new else {}
    return out


def _node_list(text: str) -> list[int]:
    """'0-3,7' -> [0, 1, 2, 3, 7] (the kernel's list format)."""
    out = []
    for part in filter(None, text.replace(" ", "").split(",")):
        lo, _, hi = part.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()) or (hi and int(hi) < int(lo)) or int(hi or lo) > 4095:
            raise Error(f"linux.memoryPolicy.nodes: invalid node list {text!r}")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def _overlap(a: str, b: str) -> bool:
    """One destination is the other, or below it."""
    a, b = a.rstrip("/") or "/", b.rstrip("/") or "/"
    return a == b or a == "/" or b == "/" or b.startswith(a + "/") or a.startswith(b + "/")


def late_cgroup_mounts(mounts: list[Mount]) -> frozenset:
    """Indexes of the ``cgroup`` mounts the init may make after all the others and the devices: those no
    later mount is on, above or below (so their order cannot matter). The init waits for its cgroup only
    there, so the wait overlaps more of its own setup."""
    return frozenset(i for i, m in enumerate(mounts) if m.type == "cgroup"
                     and not any(_overlap(m.destination, n.destination) for n in mounts[i + 1:]))


def devices(linux: dict) -> list[Device]:
    out = []
    for i, d in enumerate(linux.get("devices", ())):
        dev = Device()
        dev.path = d.get("path") or ""
        if not dev.path.startswith("/dev/"):
            raise Error(f"linux.devices[{i}].path: must be under /dev, got {dev.path!r}")
        kind = d.get("type")
        if kind not in ("c", "b", "u", "p"):
            raise Error(f"linux.devices[{i}].type: unknown device type {kind!r}")
        dev.kind = kind
        dev.major, dev.minor = d.get("major", 0), d.get("minor", 0)
        dev.mode = d.get("fileMode", 0o666)
        dev.uid, dev.gid = d.get("uid", 0), d.get("gid", 0)
        out.append(dev)
    return out


def rlimits(proc: dict) -> list[tuple[str, int, int, int]]:
    out, seen = [], set()
    for i, r in enumerate(proc.get("rlimits", ())):
        name = r.get("type")
        num = RLIMITS.get(name)
        if num is None:
            raise Error(f"process.rlimits[{i}].type: unknown rlimit {name!r}")
        if name in seen:
            raise Error(f"process.rlimits[{i}].type: duplicate rlimit {name!r}")
        seen.add(name)
        soft, hard = r.get("soft", 0), r.get("hard", 0)
        if soft > hard:
            raise Error(f"process.rlimits[{i}]: soft limit {soft} is above hard limit {hard}")
        out.append((name, num, soft, hard))
    return out


def process(proc: dict) -> Process:
    p = Process()
    p.args = list(proc["args"])
    p.env = list(proc.get("env", ()))
    p.cwd = proc.get("cwd") or "/"
    user = proc.get("user", {})
    p.uid, p.gid = user.get("uid", 0), user.get("gid", 0)
    p.groups = list(user.get("additionalGids", ()))
    p.umask = user.get("umask")
    p.rlimits = rlimits(proc)
    c = proc.get("capabilities")
    p.unknown_caps = []
    if c is None:
        p.cap_bounding = p.cap_effective = p.cap_permitted = p.cap_inheritable = p.cap_ambient = None
    else:
        p.cap_bounding = caps.mask(c.get("bounding"), p.unknown_caps)
        p.cap_effective = caps.mask(c.get("effective"), p.unknown_caps)
        p.cap_permitted = caps.mask(c.get("permitted"), p.unknown_caps)
        p.cap_inheritable = caps.mask(c.get("inheritable"), p.unknown_caps)
        p.cap_ambient = caps.mask(c.get("ambient"), p.unknown_caps)
    p.no_new_privs = bool(proc.get("noNewPrivileges"))
    p.oom_score_adj = proc.get("oomScoreAdj")
    sch = proc.get("scheduler")
    if sch:
        pol = SCHED_POLICIES.get(sch.get("policy"))
        if pol is None:
            raise Error(f"process.scheduler.policy: unknown policy {sch.get('policy')!r}")
        flags = 0
        for f in sch.get("flags", ()):
            if f not in SCHED_FLAGS:
                raise Error(f"process.scheduler.flags: unknown flag {f!r}")
            flags |= SCHED_FLAGS[f]
        p.scheduler = (pol, flags, sch.get("nice", 0), sch.get("priority", 0), sch.get("runtime", 0),
                       sch.get("deadline", 0), sch.get("period", 0))
    else:
        p.scheduler = None
    iop = proc.get("ioPriority")
    if iop:
        cls = IOPRIO_CLASSES.get(iop.get("class"))
        if cls is None:
            raise Error(f"process.ioPriority.class: unknown class {iop.get('class')!r}")
        prio = iop.get("priority", 0)
        if not 0 <= prio <= 7:
            raise Error(f"process.ioPriority.priority: must be 0-7, got {prio}")
        p.ioprio = (cls << 13) | prio
    else:
        p.ioprio = None
    p.terminal = bool(proc.get("terminal"))
    cs = proc.get("consoleSize")
    p.console_size = (cs.get("height", 0), cs.get("width", 0)) if cs else None
    p.apparmor = proc.get("apparmorProfile") or None
    p.selinux = proc.get("selinuxLabel") or None
    return p


def build(cfg: dict, bundle: str, container_id: str, no_pivot: bool = False) -> Plan:
    """The whole plan for ``create``; raises Error naming the offending field."""
    linux = cfg.get("linux", {})
    pl = Plan()
    pl.id = container_id
    pl.bundle = bundle
    pl.rootfs = _abs(bundle, cfg["root"]["path"])
    pl.readonly = bool(cfg["root"].get("readonly"))
    pl.ns_new, pl.ns_join = namespaces(linux)
    types = {ns["type"] for ns in linux.get("namespaces", ())}
    pl.uid_maps = linux.get("uidMappings", [])
    pl.gid_maps = linux.get("gidMappings", [])
    if "user" in types and not any(t == "user" for t, _ in pl.ns_join) and not (pl.uid_maps and pl.gid_maps):
        raise Error("linux.uidMappings: user namespace enabled, but no uid/gid mappings found")
    if (pl.uid_maps or pl.gid_maps) and "user" not in types:
        raise Error("linux.uidMappings: user namespace mappings specified, but user namespace isn't enabled")
    pl.setgroups = True
    if pl.uid_maps and pl.gid_maps and "user" in types:
        _check_mapped(cfg["process"].get("user", {}), pl.uid_maps, pl.gid_maps)
    pl.time_offsets = linux.get("timeOffsets") or {}
    if pl.time_offsets and "time" not in types:
        raise Error("linux.timeOffsets: time offsets specified, but time namespace isn't enabled")
    for clock, off in pl.time_offsets.items():
        if clock not in ("monotonic", "boottime"):
            raise Error(f"linux.timeOffsets.{clock}: unknown clock")
        if (not isinstance(off, dict) or set(off) - {"secs", "nanosecs"}
                or not all(type(off.get(k, 0)) is int for k in ("secs", "nanosecs"))
                or not 0 <= off.get("nanosecs", 0) < 1000000000):
            raise Error(f"linux.timeOffsets.{clock}: expected integer secs and nanosecs (0-999999999)")
    if linux.get("intelRdt"):
        raise Error("intelRdt is specified in config, but Intel RDT is not supported or enabled")
    pl.net_devices = net_devices(linux, pl.ns_new, pl.ns_join)
    pl.mempolicy = memory_policy(linux)
    pl.mounts = mounts(cfg, bundle)
    pl.late_mounts = late_cgroup_mounts(pl.mounts)
    pl.dev_is_bind = any(m.destination == "/dev" and m.bind for m in pl.mounts)
    pl.default_devices = not pl.dev_is_bind
    pl.devices = devices(linux)
    pl.masked = list(linux.get("maskedPaths", ()))
    pl.readonly_paths = list(linux.get("readonlyPaths", ()))
    pl.hostname = cfg.get("hostname")
    pl.domainname = cfg.get("domainname")
    if (pl.hostname or pl.domainname) and "uts" not in types:
        raise Error("hostname: unable to set hostname without a private UTS namespace")
    pl.sysctl = dict(linux.get("sysctl", {}))
    for key in pl.sysctl:
        if not sysctl_allowed(key, types):
            raise Error(f"linux.sysctl.{key}: sysctl is not in a separate kernel namespace")
    pers = linux.get("personality")
    if pers:
        dom = PERSONALITY.get(pers.get("domain"))
        if dom is None:
            raise Error(f"linux.personality.domain: unknown domain {pers.get('domain')!r}")
        pl.personality = dom
    else:
        pl.personality = None
    prop = linux.get("rootfsPropagation")
    if prop and prop not in mountopts.PROPAGATION:
        raise Error(f"linux.rootfsPropagation: unknown propagation {prop!r}")
    pl.propagation = mountopts.PROPAGATION[prop] if prop else None
    pl.no_pivot = no_pivot
    pl.new_keyring = True
    pl.process = process(cfg["process"])
    pl.seccomp = linux.get("seccomp")
    pl.hooks = cfg.get("hooks", {})
    pl.cgroups_path = linux.get("cgroupsPath")
    # (like runc, linux.devices are not added to the device cgroup: callers list them in
    # resources.devices themselves, as docker/podman/CRI do)
    pl.resources = linux.get("resources")
    pl.annotations = cfg.get("annotations", {})
    return pl


def _check_mapped(user: dict, uid_maps: list, gid_maps: list) -> None:
    """The process's ids must exist in the new user namespace: setresuid/setgroups would
    otherwise fail after create has already reported success."""
    def mapped(i: int, maps: list) -> bool:
        return any(m["containerID"] <= i < m["containerID"] + m["size"] for m in maps)
    if not mapped(0, uid_maps) or not mapped(0, gid_maps):
        raise Error("linux.uidMappings: container id 0 must be mapped (the init becomes root of the user namespace)")
    if not mapped(user.get("uid", 0), uid_maps):
        raise Error(f"process.user.uid: {user.get('uid', 0)} is not mapped by linux.uidMappings")
    if not mapped(user.get("gid", 0), gid_maps):
        raise Error(f"process.user.gid: {user.get('gid', 0)} is not mapped by linux.gidMappings")
    for i, g in enumerate(user.get("additionalGids", ())):
        if not mapped(g, gid_maps):
            raise Error(f"process.user.additionalGids[{i}]: {g} is not mapped by linux.gidMappings")


def sysctl_allowed(key: str, ns_types: set) -> bool:
    """runc's rule: only namespaced sysctls, and only with the owning namespace unshared."""
    need = NS_SYSCTLS.get(key)
    if need is None:
        if key.startswith("fs.mqueue."):
            need = "ipc"
        elif key.startswith("net."):
            need = "network"
        else:
            return False
    return need in ns_types


def env_path(env: list[str]) -> str:
    for e in env:
        if e.startswith("PATH="):
            return e[5:]
    return DEFAULT_PATH
