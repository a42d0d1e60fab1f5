"""Issue 3, pure plan tests (no root, no kernel): plan.build and mountopts on the real client configs,
and one-line errors naming the field for unknown or malformed fields. The last tests check through
the real binary that such a config leaves nothing behind."""
import copy
import json
import os

import pytest

from support import FIXTURES, base_config
from pyrunc.runtime import mountopts, plan
from pyrunc.runtime.caps import NUMBERS
from pyrunc.runtime.errors import Error
from pyrunc.runtime.linux import (CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID,
                                  CLONE_NEWTIME, CLONE_NEWUSER, CLONE_NEWUTS, MS_BIND, MS_NODEV, MS_NOEXEC,
                                  MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, MS_SLAVE)
from pyrunc.spec.validate import SpecError, validate_config

CONFIGS = os.path.join(FIXTURES, "client-configs")
NS = {"pid": CLONE_NEWPID, "network": CLONE_NEWNET, "ipc": CLONE_NEWIPC, "uts": CLONE_NEWUTS,
      "mount": CLONE_NEWNS, "cgroup": CLONE_NEWCGROUP, "time": CLONE_NEWTIME, "user": CLONE_NEWUSER}
MS_STRICTATIME = 1 << 24
MS_RELATIME = 1 << 21


def load(name: str) -> dict:
    with open(os.path.join(CONFIGS, name)) as f:
        return json.load(f)


def build(cfg: dict, bundle: str = "/bundles/b") -> plan.Plan:
    return plan.build(validate_config(cfg), bundle, "cid")


def mask(names) -> int:
    m = 0
    for n in names:
        m |= 1 << NUMBERS[n]
    return m


FIXTURE_NAMES = sorted(n for n in os.listdir(CONFIGS) if "-config-" in n)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture_plans(name):
    cfg = load(name)
    pl = build(cfg)
    # root: absolute kept, containerd's relative path joined to the bundle
    want_root = cfg["root"]["path"] if cfg["root"]["path"].startswith("/") else "/bundles/b/" + cfg["root"]["path"]
    assert pl.rootfs == want_root
    # namespaces: all new, in any order
    want_ns = 0
    for n in cfg["linux"]["namespaces"]:
        want_ns |= NS[n["type"]]
    assert pl.ns_new == want_ns and pl.ns_join == []
    # mounts: config order, destinations, flags and data
    assert [m.destination for m in pl.mounts] == [m["destination"] for m in cfg["mounts"]]
    for m, spec in zip(pl.mounts, cfg["mounts"]):
        opts = spec.get("options", [])
        for name_, bit in (("nosuid", MS_NOSUID), ("nodev", MS_NODEV), ("noexec", MS_NOEXEC), ("ro", MS_RDONLY),
                           ("strictatime", MS_STRICTATIME), ("relatime", MS_RELATIME)):
            assert bool(m.flags & bit) == (name_ in opts), (spec["destination"], name_)
        data = [o for o in opts if "=" in o or o == "newinstance"]
        assert (m.data or "") == ",".join(data), spec
        is_bind = spec.get("type") == "bind" or "bind" in opts or "rbind" in opts
        assert m.bind == is_bind
        if is_bind:
            assert m.flags & MS_BIND and m.source == spec["source"]
            assert bool(m.flags & MS_REC) == ("rbind" in opts)
            if "rprivate" in opts:
                assert m.propagation == [MS_PRIVATE | MS_REC]
    # process
    c = cfg["process"]["capabilities"]
    p = pl.process
    assert p.cap_bounding == mask(c["bounding"]) and p.cap_effective == mask(c["effective"])
    assert p.cap_permitted == mask(c["permitted"]) and p.cap_inheritable == 0 and p.cap_ambient == 0
    assert p.unknown_caps == []
    assert p.rlimits == [(r["type"], plan.RLIMITS[r["type"]], r["soft"], r["hard"])
                         for r in cfg["process"].get("rlimits", [])]
    assert p.uid == cfg["process"]["user"]["uid"] and p.groups == cfg["process"]["user"].get("additionalGids", [])
    assert p.umask == cfg["process"]["user"].get("umask")
    assert p.no_new_privs == bool(cfg["process"].get("noNewPrivileges"))
    assert p.oom_score_adj == cfg["process"].get("oomScoreAdj")
    assert p.args == cfg["process"]["args"] and p.env == cfg["process"]["env"]
    # linux
    assert pl.hostname == cfg.get("hostname")
    assert pl.sysctl == cfg["linux"].get("sysctl", {})
    assert pl.masked == cfg["linux"]["maskedPaths"] and pl.readonly_paths == cfg["linux"]["readonlyPaths"]
    assert pl.cgroups_path == cfg["linux"]["cgroupsPath"]
    assert pl.default_devices and pl.devices == []
    assert pl.propagation is None and pl.personality is None


def test_docker_mount_details():
    pl = build(load("docker-config-true.json"))
    by = {m.destination: m for m in pl.mounts}
    assert by["/proc"].type == "proc" and by["/proc"].flags == MS_NOSUID | MS_NOEXEC | MS_NODEV
    assert by["/dev"].data == "mode=755,size=65536k" and by["/dev"].flags == MS_NOSUID | MS_STRICTATIME
    assert by["/dev/pts"].data == "newinstance,ptmxmode=0666,mode=0620,gid=5"
    assert by["/sys"].flags == MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY
    assert by["/sys/fs/cgroup"].type == "cgroup"
    assert by["/etc/hosts"].flags == MS_BIND | MS_REC and by["/etc/hosts"].propagation == [MS_PRIVATE | MS_REC]


def test_default_spec_plan_and_relative_paths():
    cfg = base_config(["sh"], "rootfs")
    cfg["mounts"].append({"destination": "data", "type": "bind", "source": "vol", "options": ["bind"]})
    pl = build(cfg, "/b")
    assert pl.rootfs == "/b/rootfs"
    assert pl.mounts[-1].destination == "/data", "relative destinations are relative to /"
    assert pl.mounts[-1].source == "/b/vol", "relative bind sources are relative to the bundle"
    assert pl.readonly


@pytest.mark.parametrize("opts,flags,clear", [
    (["ro"], MS_RDONLY, 0), (["ro", "rw"], 0, MS_RDONLY), (["nosuid", "suid"], 0, MS_NOSUID),
    (["noexec", "nodev"], MS_NOEXEC | MS_NODEV, 0), (["defaults"], 0, 0xFFFFFFFF),
    (["strictatime"], MS_STRICTATIME, 0), (["rbind"], MS_BIND | MS_REC, 0),
])
def test_mountopts_flags(opts, flags, clear):
    o = mountopts.parse(opts)
    assert o.flags & flags == flags
    assert not o.flags & (clear & ~flags)


@pytest.mark.parametrize("opts,attr_set,attr_clr", [
    (["rro"], 0x1, 0), (["rro", "rrw"], 0, 0x1), (["rrw", "rro"], 0x1, 0),
    (["rnosuid", "rnodev", "rnoexec"], 0x2 | 0x4 | 0x8, 0),
    (["rnoatime"], 0x10, 0x70), (["rstrictatime"], 0x20, 0x70), (["rnoatime", "rrelatime"], 0, 0x70),
    (["rnodiratime"], 0x80, 0), (["rnosymfollow"], 0x200000, 0),
])
def test_mountopts_recursive_attributes(opts, attr_set, attr_clr):
    o = mountopts.parse(opts)
    assert (o.attr_set, o.attr_clr) == (attr_set, attr_clr)


def test_mountopts_propagation_data_and_special():
    o = mountopts.parse(["rbind", "rslave", "shared", "mode=755", "size=1m", "tmpcopyup", "newinstance"])
    assert o.propagation == [MS_SLAVE | MS_REC, 1 << 20]
    assert o.data == ["mode=755", "size=1m", "newinstance"]
    assert o.special == {"tmpcopyup"}


def test_namespace_paths_and_user_maps():
    cfg = base_config(["sh"], "/r")
    cfg["linux"]["namespaces"] = [{"type": "network", "path": "/var/run/netns/x"}, {"type": "user"},
                                  {"type": "pid"}, {"type": "mount"}, {"type": "time"}]
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 10}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 10}]
    cfg["linux"]["timeOffsets"] = {"monotonic": {"secs": 5, "nanosecs": 1}}
    cfg.pop("hostname")
    pl = build(cfg)
    assert pl.ns_join == [("network", "/var/run/netns/x")]
    assert pl.ns_new == CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWTIME
    assert pl.uid_maps == cfg["linux"]["uidMappings"] and pl.time_offsets == {"monotonic": {"secs": 5, "nanosecs": 1}}


def test_devices_personality_propagation_scheduler_iopriority():
    cfg = base_config(["sh"], "/r")
    cfg["linux"]["devices"] = [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o600}]
    cfg["linux"]["personality"] = {"domain": "LINUX32"}
    cfg["linux"]["rootfsPropagation"] = "rshared"
    cfg["process"]["scheduler"] = {"policy": "SCHED_BATCH", "nice": 3, "flags": ["SCHED_FLAG_RESET_ON_FORK"]}
    cfg["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_BE", "priority": 6}
    pl = build(cfg)
    d = pl.devices[0]
    assert (d.path, d.kind, d.major, d.minor, d.mode, d.uid, d.gid) == ("/dev/fuse", "c", 10, 229, 0o600, 0, 0)
    assert pl.personality == 0x0008
    assert pl.propagation == (1 << 20) | MS_REC
    assert pl.process.scheduler[:3] == (3, 1, 3)
    assert pl.process.ioprio == (2 << 13) | 6
    # like runc, listed devices get no device-cgroup rule of their own: the caller adds one
    assert pl.resources["devices"] == [{"allow": False, "access": "rwm"}]


def test_unknown_capabilities_collected_not_fatal():
    cfg = base_config(["sh"], "/r")
    cfg["process"]["capabilities"]["bounding"] = ["CAP_KILL", "CAP_FUTURE_THING", "net_raw"]
    pl = build(cfg)
    assert pl.process.unknown_caps == ["CAP_FUTURE_THING"]
    assert pl.process.cap_bounding == mask(["CAP_KILL", "CAP_NET_RAW"])


# -- one-line errors naming the field ---------------------------------------------------------------

def _set(cfg: dict, dotted: str, value) -> None:
    node = cfg
    parts = dotted.split(".")
    for p in parts[:-1]:
        node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
    if isinstance(node, list):
        node[int(parts[-1])] = value
    else:
        node[parts[-1]] = value


SPEC_ERRORS = [
    ("process.bogus", 1, "process.bogus: unknown field"),
    ("linux.resources.memory.bogus", 1, "linux.resources.memory.bogus: unknown field"),
    ("mounts.0.bogus", 1, "mounts[0].bogus: unknown field"),
    ("topLevelBogus", {}, "topLevelBogus: unknown field"),
    ("process.args", "sh", "process.args: expected an array"),
    ("process.user.uid", -1, "process.user.uid"),
    ("process.rlimits", [{"type": "RLIMIT_NOFILE", "soft": "1", "hard": 2}], "process.rlimits[0].soft"),
    ("root.readonly", "yes", "root.readonly: expected a boolean"),
    ("linux.namespaces", [{"type": "pid"}, {"type": "pid"}], "linux.namespaces[1].type"),
    ("linux.namespaces", [{"type": "bogus"}], "linux.namespaces[0].type"),
    ("linux.sysctl", {"net.ipv4.ip_forward": 1}, "linux.sysctl.net.ipv4.ip_forward"),
    ("process.cwd", "relative", "process.cwd"),
    ("hostname", 5, "hostname: expected a string"),
]


@pytest.mark.parametrize("field,value,msg", SPEC_ERRORS, ids=[e[0] for e in SPEC_ERRORS])
def test_spec_errors_name_the_field(field, value, msg):
    cfg = base_config(["sh"], "/r")
    _set(cfg, field, value)
    with pytest.raises(SpecError) as ei:
        validate_config(cfg)
    text = str(ei.value)
    assert "\n" not in text and text.startswith(msg.split(":")[0]) and msg in text, text


def _userns(c: dict, user: dict, first: int = 0) -> None:
    c["linux"]["namespaces"].append({"type": "user"})
    c["linux"]["uidMappings"] = [{"containerID": first, "hostID": 100000, "size": 65536 - first}]
    c["linux"]["gidMappings"] = [{"containerID": first, "hostID": 100000, "size": 65536 - first}]
    c["process"]["user"] = user


PLAN_ERRORS = [
    (lambda c: c["process"].__setitem__("rlimits", [{"type": "RLIMIT_NOPE", "soft": 1, "hard": 1}]),
     "process.rlimits[0].type"),
    (lambda c: c["process"].__setitem__("rlimits", [{"type": "RLIMIT_CORE", "soft": 1, "hard": 1}] * 2),
     "process.rlimits[1].type"),
    (lambda c: c["process"].__setitem__("rlimits", [{"type": "RLIMIT_CORE", "soft": 9, "hard": 1}]),
     "process.rlimits[0]"),
    (lambda c: c["linux"].__setitem__("devices", [{"path": "/dev/x", "type": "q"}]), "linux.devices[0].type"),
    (lambda c: c["linux"].__setitem__("devices", [{"path": "/etc/x", "type": "c"}]), "linux.devices[0].path"),
    (lambda c: c["linux"].__setitem__("personality", {"domain": "LINUX64"}), "linux.personality.domain"),
    (lambda c: c["linux"].__setitem__("rootfsPropagation", "sideways"), "linux.rootfsPropagation"),
    (lambda c: c["linux"].__setitem__("sysctl", {"vm.swappiness": "1"}), "linux.sysctl.vm.swappiness"),
    (lambda c: c["linux"].__setitem__("timeOffsets", {"monotonic": {"secs": 1}}), "linux.timeOffsets"),
    (lambda c: (c["linux"]["namespaces"].append({"type": "time"}),
                c["linux"].__setitem__("timeOffsets", {"realtime": {"secs": 1}})), "linux.timeOffsets.realtime"),
    (lambda c: (c["linux"]["namespaces"].append({"type": "time"}),
                c["linux"].__setitem__("timeOffsets", {"monotonic": {"secs": "x"}})), "linux.timeOffsets.monotonic"),
    (lambda c: c["linux"]["namespaces"].append({"type": "user"}), "linux.uidMappings"),
    (lambda c: c["linux"].__setitem__("uidMappings", [{"containerID": 0, "hostID": 1, "size": 1}]),
     "linux.uidMappings"),
    (lambda c: c["linux"].__setitem__("namespaces", [n for n in c["linux"]["namespaces"] if n["type"] != "uts"]),
     "hostname"),
    (lambda c: _userns(c, {"uid": 70000, "gid": 0}), "process.user.uid"),
    (lambda c: _userns(c, {"uid": 0, "gid": 70000}), "process.user.gid"),
    (lambda c: _userns(c, {"uid": 0, "gid": 0, "additionalGids": [1, 70000]}), "process.user.additionalGids[1]"),
    (lambda c: _userns(c, {"uid": 1000, "gid": 1000}, first=1), "linux.uidMappings"),
    (lambda c: c["process"].__setitem__("scheduler", {"policy": "SCHED_FAST"}), "process.scheduler.policy"),
    (lambda c: c["process"].__setitem__("scheduler", {"policy": "SCHED_OTHER", "flags": ["NOPE"]}),
     "process.scheduler.flags"),
    (lambda c: c["process"].__setitem__("ioPriority", {"class": "IOPRIO_CLASS_X", "priority": 1}),
     "process.ioPriority.class"),
    (lambda c: c["process"].__setitem__("ioPriority", {"class": "IOPRIO_CLASS_BE", "priority": 9}),
     "process.ioPriority.priority"),
    (lambda c: c["mounts"].append({"destination": "/m", "type": "bind", "source": "/x", "options": ["rbind", "idmap"]}),
     "mounts[7].options"),
]


@pytest.mark.parametrize("mutate,field", PLAN_ERRORS, ids=[e[1] + f"-{i}" for i, e in enumerate(PLAN_ERRORS)])
def test_plan_errors_name_the_field(mutate, field):
    cfg = base_config(["sh"], "/r")
    mutate(cfg)
    with pytest.raises(Error) as ei:
        build(cfg)
    text = str(ei.value)
    assert "\n" not in text and text.startswith(field), text


def test_fixture_configs_all_validate():
    for name in os.listdir(CONFIGS):
        if "-config-" in name:
            validate_config(load(name))


# -- through the binary: nothing left behind --------------------------------------------------------

@pytest.mark.parametrize("mutate,field", [
    (lambda c: c["process"].__setitem__("bogus", 1), "process.bogus"),
    (lambda c: c["linux"]["resources"].__setitem__("memory", {"limit": "lots"}), "linux.resources.memory.limit"),
    (lambda c: c["process"].__setitem__("rlimits", [{"type": "RLIMIT_NOPE", "soft": 1, "hard": 1}]),
     "process.rlimits[0].type"),
    (lambda c: c["linux"].__setitem__("sysctl", {"kernel.panic": "1"}), "linux.sysctl.kernel.panic"),
])
def test_bad_config_create_fails_cleanly(rt, busybox_rootfs, mutate, field):
    from test_init_support import create_error
    err = create_error(rt, busybox_rootfs, mutate)
    assert field in err, err
    assert "config.json" in err or field in err


def test_plan_build_does_not_modify_config():
    cfg = load("docker-config-true.json")
    before = copy.deepcopy(cfg)
    build(cfg)
    assert cfg == before


def test_cgroup_mounts_wait_for_the_end_only_when_nothing_later_overlaps():
    from pyrunc.runtime.plan import late_cgroup_mounts, mounts
    def plan(dests):
        return mounts({"mounts": [{"destination": d, "type": t, "source": t} for d, t in dests]}, "/b")
    # docker's order: the cgroup mount is followed by /dev/mqueue, /dev/shm and /etc files
    assert late_cgroup_mounts(plan([("/proc", "proc"), ("/sys", "sysfs"), ("/sys/fs/cgroup", "cgroup"),
                                    ("/dev/mqueue", "mqueue"), ("/etc/hosts", "bind")])) == {2}
    # something later below it, on it, or above it keeps the config order
    for later in ("/sys/fs/cgroup/x", "/sys/fs/cgroup", "/sys", "/"):
        assert late_cgroup_mounts(plan([("/sys/fs/cgroup", "cgroup"), (later, "tmpfs")])) == frozenset(), later
