"""Issue 3, real client configs: every docker/podman/containerd config.json in
tests/fixtures/client-configs runs under pyrunc with only what cannot exist here adapted: the
rootfs (busybox), engine-owned bind sources (temp files made here), the cgroup path (under
pyrunc's own parent so nothing is left), rlimits above this host's hard limits (lowered; the
original value is checked separately for its clear error)."""
import json
import os
import resource

import pytest

from support import FIXTURES, make_rootfs
from test_init_support import cap_mask, chown_tree, create_error, mount_at, mountinfo, status_fields, userns
from pyrunc.runtime.plan import RLIMITS

pytest_plugins = ("test_init_support",)  # its fixtures: userns_rootfs, open_dir

CONFIGS = os.path.join(FIXTURES, "client-configs")
CLIENTS = ("docker", "podman", "containerd")
FILE_DESTS = {"/etc/resolv.conf": "nameserver 10.11.12.13\n", "/etc/hosts": "127.0.0.1 localhost\n10.1.2.3 box\n",
              "/etc/hostname": "box\n", "/run/.containerenv": "engine=\"podman\"\n"}


def load(name: str) -> dict:
    with open(os.path.join(CONFIGS, name)) as f:
        return json.load(f)


def too_high_rlimits(cfg: dict) -> list[tuple[str, int]]:
    """(type, hard) of every rlimit above this host's hard limit (it cannot be raised without
    CAP_SYS_RESOURCE)."""
    out = []
    for r in cfg["process"].get("rlimits", ()):
        _soft, host_hard = resource.getrlimit(RLIMITS[r["type"]])
        if host_hard != resource.RLIM_INFINITY and r["hard"] > host_hard:
            out.append((r["type"], r["hard"]))
    return out


def adapt(cfg: dict, bundle: str, cid: str, args: list[str] | None = None) -> dict:
    """The client's config with host-specific parts remapped into ``bundle``."""
    cfg = json.loads(json.dumps(cfg))
    rootfs = os.path.join(bundle, "rootfs")
    make_rootfs(rootfs)
    if cfg["root"]["path"].startswith("/"):
        cfg["root"]["path"] = rootfs  # the engine's overlay merged dir -> our busybox
    else:
        assert cfg["root"]["path"] == "rootfs"  # containerd: relative to the bundle, kept as is
    hostdir = os.path.join(bundle, "engine")
    os.makedirs(hostdir, exist_ok=True)
    for m in cfg["mounts"]:
        opts = m.get("options", ())
        if (m.get("type") == "bind" or "bind" in opts or "rbind" in opts) and not os.path.exists(m["source"]):
            local = os.path.join(hostdir, m["destination"].strip("/").replace("/", "_"))
            if m["destination"] in FILE_DESTS:
                with open(local, "w") as f:
                    f.write(FILE_DESTS[m["destination"]])
            else:
                os.makedirs(local, exist_ok=True)
            m["source"] = local
    cfg["linux"]["cgroupsPath"] = f"/pyrunc/{cid}"  # same shape, but under pyrunc's cleaned-up parent
    for r in cfg["process"].get("rlimits", ()):
        _soft, host_hard = resource.getrlimit(RLIMITS[r["type"]])
        if host_hard != resource.RLIM_INFINITY and r["hard"] > host_hard:
            r["hard"] = host_hard
            r["soft"] = min(r["soft"], host_hard)
    if args is not None:
        cfg["process"]["args"] = args
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(cfg, f)
    return cfg


def _bundle(rt, name: str) -> str:
    b = os.path.join(rt.tmp, name)
    os.makedirs(b)
    return b


@pytest.mark.parametrize("client", CLIENTS)
def test_true_config_runs(rt, client):
    cid = rt.new_id()
    b = _bundle(rt, f"{client}-true")
    adapt(load(f"{client}-config-true.json"), b, cid)
    p = rt.run("run", "--bundle", b, cid)
    assert p.returncode == 0, p.stderr
    assert p.stdout == b""


@pytest.mark.parametrize("client", CLIENTS)
def test_sleep_config_lifecycle(rt, client):
    cid = rt.new_id()
    b = _bundle(rt, f"{client}-sleep")
    adapt(load(f"{client}-config-sleep.json"), b, cid)
    rt.run("create", "--bundle", b, cid, check=True)
    assert rt.state(cid)["status"] == "created"
    rt.run("start", cid, check=True)
    st = rt.state(cid)
    assert st["status"] == "running"
    assert open(f"/proc/{st['pid']}/cmdline").read().split("\0")[:2] == ["sleep", "100"]
    rt.run("kill", cid, "KILL", check=True)
    assert rt.wait_status(cid, "stopped")["status"] == "stopped"
    rt.run("delete", cid, check=True)
    assert rt.run("state", cid).returncode == 1


CHECK = ("hostname; echo ===; grep -E '^(Cap|NoNewPrivs)' /proc/self/status; echo ===; cat /proc/self/limits;"
         " echo ===; umask; echo ===; cat /etc/hosts; echo ===; cat /proc/self/mountinfo; echo ===;"
         " wc -c < /proc/keys; ls -A /sys/firmware | wc -l; echo ===; ls /sys/class/net; echo ===;"
         " id -u; id -g; id -G")


@pytest.mark.parametrize("client", CLIENTS)
def test_config_effects_seen_from_inside(rt, client):
    """The true config again, its process replaced by a script reading back what the config asked."""
    cid = rt.new_id()
    b = _bundle(rt, f"{client}-check")
    orig = load(f"{client}-config-true.json")
    cfg = adapt(orig, b, cid, ["sh", "-c", CHECK])
    p = rt.run("run", "--bundle", b, cid)
    assert p.returncode == 0, p.stderr
    (host, caps, limits, umask, hosts, mi, masked, net, ids) = p.stdout.decode().split("===\n")
    if "hostname" in cfg:
        assert host.strip() == cfg["hostname"]
    st = status_fields(caps)
    c = cfg["process"]["capabilities"]
    assert int(st["CapBnd"], 16) == cap_mask(*c["bounding"])
    assert int(st["CapEff"], 16) == cap_mask(*c["effective"])
    assert int(st["CapPrm"], 16) == cap_mask(*c["permitted"])
    assert st["NoNewPrivs"] == ("1" if cfg["process"].get("noNewPrivileges") else "0")
    for r in cfg["process"].get("rlimits", ()):
        if r["type"] == "RLIMIT_NOFILE":
            line = [ln for ln in limits.splitlines() if ln.startswith("Max open files")][0]
            assert line.split()[3:5] == [str(r["soft"]), str(r["hard"])]
    want_umask = cfg["process"]["user"].get("umask", 0o022)
    assert umask.strip() == f"{want_umask:04o}"
    if any(m["destination"] == "/etc/hosts" for m in cfg["mounts"]):
        assert hosts == FILE_DESTS["/etc/hosts"]
    entries = mountinfo(mi)
    for m in cfg["mounts"]:
        e = mount_at(entries, m["destination"])
        if "ro" in m.get("options", ()):
            assert "ro" in e["opts"], (m["destination"], e)
        for flag in ("nosuid", "nodev", "noexec"):
            if flag in m.get("options", ()):
                assert flag in e["opts"], (m["destination"], flag, e)
    for p_ in cfg["linux"].get("readonlyPaths", ()):
        if os.path.exists(p_):
            assert "ro" in mount_at(entries, p_)["opts"], p_
    assert masked.split() == ["0", "0"], "/proc/keys and /sys/firmware are masked"
    assert net.split() == ["lo"]
    u = cfg["process"]["user"]
    idl = ids.split("\n")
    assert idl[0] == str(u["uid"]) and idl[1] == str(u["gid"])


@pytest.mark.parametrize("client", ["docker", "podman", "containerd"])
def test_rlimit_above_host_hard_limit_names_the_limit(rt, client):
    """Engines often ask RLIMIT_NOFILE 1048576; this host's hard limit is lower and cannot be raised."""
    cid = rt.new_id()
    b = _bundle(rt, f"{client}-nofile")
    cfg = load(f"{client}-config-true.json")
    cfg["process"]["rlimits"] = [r for r in cfg["process"].get("rlimits", ()) if r["type"] != "RLIMIT_NOFILE"]
    cfg["process"]["rlimits"].append({"type": "RLIMIT_NOFILE", "hard": 1048576, "soft": 1048576})
    assert too_high_rlimits(cfg) == [("RLIMIT_NOFILE", 1048576)], "precondition: above this host's hard limit"
    cfg = adapt(cfg, b, cid)
    cfg["process"]["rlimits"][-1] = {"type": "RLIMIT_NOFILE", "hard": 1048576, "soft": 1048576}
    with open(os.path.join(b, "config.json"), "w") as f:
        json.dump(cfg, f)
    err = create_error(rt, None, bundle=b)
    assert "RLIMIT_NOFILE" in err and "1048576" in err, err


def test_fixture_rlimits_fit_this_host_or_fail_clearly(rt):
    """Any fixture rlimit above this host's hard limit must fail with a message naming it."""
    for name in sorted(os.listdir(CONFIGS)):
        if "-config-" not in name:
            continue
        cfg = load(name)
        high = too_high_rlimits(cfg)
        if not high:
            continue
        cid = rt.new_id()
        b = _bundle(rt, name.replace(".json", "-orig"))
        adapted = adapt(cfg, b, cid)
        adapted["process"]["rlimits"] = cfg["process"]["rlimits"]
        with open(os.path.join(b, "config.json"), "w") as f:
            json.dump(adapted, f)
        err = create_error(rt, None, bundle=b)
        assert any(t in err for t, _ in high), (name, err)


@pytest.mark.parametrize("client", CLIENTS)
def test_config_with_user_namespace_remap(rt, open_dir, client):
    """docker --userns-remap / podman --userns: the same config plus a user namespace, root of
    the container = host uid 100000 (rootfs chowned like the engines do)."""
    cid = rt.new_id()
    b = os.path.join(open_dir, f"{client}-userns")
    os.makedirs(b)
    cfg = adapt(load(f"{client}-config-true.json"), b, cid,
                ["sh", "-c", "cat /proc/self/uid_map; hostname; cat /etc/hosts >/dev/null; echo ok"])
    chown_tree(os.path.join(b, "rootfs"), 100000)
    userns(cfg)
    if "net.ipv4.ping_group_range" in cfg["linux"].get("sysctl", {}):
        # gids beyond the map are invalid in the namespace (runc fails alike): the mapped range
        cfg["linux"]["sysctl"]["net.ipv4.ping_group_range"] = "0 65535"
    with open(os.path.join(b, "config.json"), "w") as f:
        json.dump(cfg, f)
    p = rt.run("run", "--bundle", b, cid)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.decode().splitlines()
    assert lines[0].split() == ["0", "100000", "65536"]
    assert lines[-1] == "ok"
