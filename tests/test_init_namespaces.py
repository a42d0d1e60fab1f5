"""Issue 3, namespaces: new and joined namespaces of every type, checked from inside the container."""
import os
import socket

import pytest

from support import make_rootfs
from test_init_support import (add_ns, chown_tree, container_holder, create_error, drop_ns, ns_inode,
                               run_sh, unshare_holder, userns)

pytest_plugins = ("test_init_support",)  # its fixtures: userns_rootfs, open_dir

ALL = ("pid", "network", "ipc", "uts", "mount", "cgroup", "time", "user")
PROC = {"pid": "pid", "network": "net", "ipc": "ipc", "uts": "uts", "mount": "mnt", "cgroup": "cgroup",
        "time": "time", "user": "user"}
READ_ALL = "; ".join(f"echo {t}=$(readlink /proc/self/ns/{PROC[t]})" for t in ALL)


def _inside_ns(out: str) -> dict:
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def test_every_new_namespace_differs_from_host(rt, userns_rootfs):
    def cfg(c):
        for t in ("time", "cgroup"):
            add_ns(c, t)
        userns(c)
    inside = _inside_ns(run_sh(rt, userns_rootfs, READ_ALL, cfg))
    for t in ALL:
        assert inside[t] != ns_inode("self", PROC[t]), f"{t} namespace must be new"
        assert inside[t].startswith(PROC[t] + ":["), inside[t]


@pytest.mark.parametrize("absent", ["network", "ipc", "uts", "cgroup"])
def test_absent_namespace_is_inherited(rt, busybox_rootfs, absent):
    def cfg(c):
        drop_ns(c, absent)
        if absent == "uts":
            c.pop("hostname", None)
    inside = _inside_ns(run_sh(rt, busybox_rootfs, READ_ALL, cfg))
    assert inside[absent] == ns_inode("self", PROC[absent])
    assert inside["mount"] != ns_inode("self", "mnt")
    # time and user were not asked for: the host's
    assert inside["time"] == ns_inode("self", "time")
    assert inside["user"] == ns_inode("self", "user")


def test_pid_namespace_init_is_pid_1(rt, busybox_rootfs):
    out = run_sh(rt, busybox_rootfs, "echo $$; ls /proc | grep -c '^[0-9]'")
    pid, nprocs = out.split()
    assert pid == "1"
    assert int(nprocs) <= 3, "only the container's own processes are visible"


def test_network_namespace_has_only_lo_and_it_is_up(rt, busybox_rootfs):
    out = run_sh(rt, busybox_rootfs, "ls /sys/class/net; ip -o link show lo;"
                 " nc -l -p 7777 -w 3 & sleep 0.2; echo over-lo | nc -w 1 127.0.0.1 7777; wait")
    lines = out.splitlines()
    assert lines[0] == "lo"
    assert "UP" in lines[1].split("<")[1].split(">")[0].split(","), lines[1]
    assert lines[-1] == "over-lo", "loopback must carry traffic"


def test_uts_hostname_and_domainname(rt, busybox_rootfs):
    def cfg(c):
        c["hostname"] = "box-one"
        c["domainname"] = "example.test"
    out = run_sh(rt, busybox_rootfs, "hostname; cat /proc/sys/kernel/domainname", cfg)
    assert out.split() == ["box-one", "example.test"]
    assert socket.gethostname() != "box-one"


def test_ipc_namespace_sysctl_is_private(rt, busybox_rootfs):
    host = open("/proc/sys/kernel/shmmni").read().strip()
    want = "1234" if host != "1234" else "1235"
    out = run_sh(rt, busybox_rootfs, "cat /proc/sys/kernel/shmmni",
                 lambda c: c["linux"].__setitem__("sysctl", {"kernel.shmmni": want}))
    assert out.strip() == want
    assert open("/proc/sys/kernel/shmmni").read().strip() == host


def test_cgroup_namespace_root_is_the_container_cgroup(rt, busybox_rootfs):
    out = run_sh(rt, busybox_rootfs, "cat /proc/self/cgroup")
    for line in out.splitlines():
        assert line.split(":", 2)[2] == "/", f"cgroup paths are rooted at the container's cgroup: {out}"


def test_time_namespace_offsets(rt, busybox_rootfs):
    year = 365 * 86400

    def cfg(c):
        add_ns(c, "time")
        c["linux"]["timeOffsets"] = {"monotonic": {"secs": year, "nanosecs": 5},
                                     "boottime": {"secs": 2 * year, "nanosecs": 0}}
    out = run_sh(rt, busybox_rootfs, "cat /proc/self/timens_offsets; cat /proc/uptime", cfg)
    lines = out.splitlines()
    offsets = {ln.split()[0]: ln.split()[1:] for ln in lines[:2]}
    assert offsets["monotonic"] == [str(year), "5"]
    assert offsets["boottime"] == [str(2 * year), "0"]
    host_uptime = float(open("/proc/uptime").read().split()[0])
    assert float(lines[2].split()[0]) >= host_uptime + 2 * year - 5


def test_user_namespace_maps_and_setgroups(rt, open_dir):
    rootfs = os.path.join(open_dir, "rootfs")
    make_rootfs(rootfs)
    chown_tree(rootfs, 100000)  # what an engine does for a remapped root
    shared = os.path.join(open_dir, "shared")
    os.mkdir(shared)
    os.chmod(shared, 0o777)

    def cfg(c):
        userns(c)
        c["process"]["user"] = {"uid": 0, "gid": 0, "additionalGids": [10, 20]}
        c["mounts"].append({"destination": "/shared", "type": "bind", "source": str(shared), "options": ["rbind"]})
        c["root"]["readonly"] = False
    out = run_sh(rt, rootfs, "cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; id -u; id -G;"
                 " touch /shared/made-inside; stat -c '%u:%g' /shared/made-inside", cfg)
    lines = out.splitlines()
    assert lines[0].split() == ["0", "100000", "65536"]
    assert lines[1].split() == ["0", "100000", "65536"]
    assert lines[2] == "allow", "root writes gid_map itself: setgroups stays allowed"
    assert lines[3] == "0"
    assert set(lines[4].split()) == {"0", "10", "20"}
    assert lines[5] == "0:0", "root inside"
    st = os.stat(os.path.join(shared, "made-inside"))
    assert (st.st_uid, st.st_gid) == (100000, 100000), "container root is host uid 100000"


def test_user_namespace_unprivileged_process_and_devices(rt, userns_rootfs):
    def cfg(c):
        userns(c)
        c["process"]["user"] = {"uid": 1000, "gid": 1000}
    out = run_sh(rt, userns_rootfs, "id -u; id -g; echo hi > /dev/null && echo NULL_OK; head -c4 /dev/zero | wc -c;"
                 " grep -E '^(CapEff|CapBnd)' /proc/self/status", cfg)
    lines = out.splitlines()
    assert lines[:4] == ["1000", "1000", "NULL_OK", "4"]
    assert lines[4].split()[1] == "0000000000000000"


# -- joining namespaces by path ---------------------------------------------------------------------

@pytest.mark.parametrize("ns_type", ["network", "ipc", "uts", "cgroup", "time", "pid", "mount"])
def test_join_namespace_made_by_unshare(rt, busybox_rootfs, ns_type):
    flag = {"network": "--net", "ipc": "--ipc", "uts": "--uts", "cgroup": "--cgroup", "time": "--time",
            "pid": "--pid", "mount": "--mount"}[ns_type]
    extra = ["--propagation", "private"] if ns_type == "mount" else []
    with unshare_holder(flag, *extra) as hpid:
        want = ns_inode(hpid, PROC[ns_type])
        assert want != ns_inode("self", PROC[ns_type])

        def cfg(c):
            add_ns(c, ns_type, f"/proc/{hpid}/ns/{PROC[ns_type]}")
            if ns_type == "uts":
                c.pop("hostname", None)
        inside = _inside_ns(run_sh(rt, busybox_rootfs, READ_ALL + "; echo pid1=$(cat /proc/1/comm)", cfg))
        assert inside[ns_type] == want
        if ns_type == "pid":
            assert inside["pid1"] == "sleep", "the joined pid namespace's init is the holder"


def test_join_every_namespace_of_another_container(rt, userns_rootfs):
    """A pod-like sandbox: the second container joins all namespaces (user included) of the first."""
    def holder_cfg(c):
        for t in ("time", "cgroup"):
            add_ns(c, t)
        userns(c, 200000, 65536)
    with container_holder(rt, userns_rootfs, holder_cfg) as (_cid, hpid):
        joined = ("user", "network", "ipc", "uts", "pid", "cgroup", "time")

        def cfg(c):
            for t in joined:
                add_ns(c, t, f"/proc/{hpid}/ns/{PROC[t]}")
            c.pop("hostname", None)
        inside = _inside_ns(run_sh(rt, userns_rootfs, READ_ALL + "; echo map=$(cat /proc/self/uid_map)", cfg))
        for t in joined:
            assert inside[t] == ns_inode(hpid, PROC[t]), t
        assert inside["mount"] != ns_inode(hpid, "mnt"), "mount was not joined: a new one"
        assert inside["map"].split() == ["0", "200000", "65536"]


@pytest.mark.parametrize("ns_type", ["network", "ipc", "uts", "pid", "user", "mount", "time", "cgroup"])
def test_join_path_of_wrong_type_is_a_clear_error(rt, busybox_rootfs, ns_type):
    other = "ipc" if ns_type == "network" else "net"
    path = f"/proc/self/ns/{other}"
    with unshare_holder("--net", "--ipc") as hpid:
        path = f"/proc/{hpid}/ns/{other}"

        def cfg(c):
            add_ns(c, ns_type, path)
            c.pop("hostname", None)
        err = create_error(rt, busybox_rootfs, cfg)
    assert path in err and f"not a {ns_type} namespace" in err, err


def test_join_missing_path_is_a_clear_error(rt, busybox_rootfs, tmp_path):
    path = str(tmp_path / "no-such-ns")
    err = create_error(rt, busybox_rootfs, lambda c: add_ns(c, "network", path))
    assert path in err, err


def test_user_namespace_with_time_offsets_and_oom_score_adj(rt, userns_rootfs):
    """Both write to /proc/self, which stops being writable for the namespace's root once the
    init switched uid (non-dumpable): they must happen before."""
    def cfg(c):
        userns(c)
        add_ns(c, "time")
        c["linux"]["timeOffsets"] = {"monotonic": {"secs": 1000, "nanosecs": 0}}
        c["process"]["oomScoreAdj"] = 321
    out = run_sh(rt, userns_rootfs, "cat /proc/self/oom_score_adj; grep monotonic /proc/self/timens_offsets", cfg)
    lines = out.splitlines()
    assert lines[0] == "321"
    assert lines[1].split() == ["monotonic", "1000", "0"]


def test_join_namespaces_of_a_created_user_namespace_container(rt, userns_rootfs):
    """The holder is still in 'created' (its init non-dumpable): its namespaces are opened by the
    runtime before entering any of them, like runc."""
    b = rt.bundle(["sleep", "30"], userns_rootfs, mutate=lambda c: userns(c, 300000))
    cid = rt.new_id("holder")
    rt.run("create", "--bundle", b, cid, check=True)
    try:
        hpid = rt.state(cid)["pid"]
        joined = ("user", "network", "ipc", "pid")

        def cfg(c):
            for t in joined:
                add_ns(c, t, f"/proc/{hpid}/ns/{PROC[t]}")
        inside = _inside_ns(run_sh(rt, userns_rootfs, READ_ALL, cfg))
        for t in joined:
            assert inside[t] == ns_inode(hpid, PROC[t]), t
    finally:
        rt.run("delete", "--force", cid)


def test_unmapped_group_fails_create_with_a_message(rt, userns_rootfs):
    """A gid the joined user namespace does not map fails setgroups; like runc, user and groups
    are set before the start handshake, so create reports it instead of a silent exit 1."""
    with container_holder(rt, userns_rootfs, lambda c: userns(c, 200000, 1000)) as (_cid, hpid):
        def cfg(c):
            add_ns(c, "user", f"/proc/{hpid}/ns/user")
            c["process"]["user"] = {"uid": 0, "gid": 0, "additionalGids": [5000]}
        b = rt.bundle(["true"], userns_rootfs, mutate=cfg)
        cid = rt.new_id()
        p = rt.run("create", "--bundle", b, cid)
        assert p.returncode == 1
        assert b"unable to start container process" in p.stderr and b"invalid argument" in p.stderr.lower(), \
            p.stderr
        assert not os.path.exists(os.path.join(rt.root, cid))


def test_rootfs_unreachable_from_the_user_namespace_is_a_clear_error(rt, tmp_path):
    # tmp_path's parents deny search to others: the namespace's root (host uid 100000) cannot reach it
    top = tmp_path / "private"
    top.mkdir(mode=0o700)
    make_rootfs(str(top / "rootfs"))
    err = create_error(rt, str(top / "rootfs"), mutate=userns)
    assert "is not reachable by the root of the user namespace" in err, err
