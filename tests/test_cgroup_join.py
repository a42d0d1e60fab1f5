"""The init and exec'd processes join every cgroup hierarchy themselves (v1 ``tasks`` fds sent by
the runtime, cgroup2 by clone3): check from the host that nothing is left in the caller's cgroups."""
import os
import time

from test_init_support import userns

pytest_plugins = ("test_init_support",)  # its fixtures: userns_rootfs


def _memberships(pid: int) -> dict[str, str]:
    """{hierarchy controllers: path} from /proc/<pid>/cgroup."""
    out = {}
    for line in open(f"/proc/{pid}/cgroup"):
        _hid, ctrls, path = line.rstrip("\n").split(":", 2)
        out[ctrls] = path
    return out


def _assert_in_container_cgroup(pid: int, cid: str) -> None:
    got = _memberships(pid)
    assert set(got) == set(_memberships(os.getpid())), "every hierarchy the host has is listed"
    wrong = {h: p for h, p in got.items() if p != f"/pyrunc/{cid}"}
    assert not wrong, f"pid {pid} outside its container cgroup in {wrong}"
    # the process, not only one of its threads, is a member: v1 cgroup.procs lists it
    for h in got:
        if h and not h.startswith("name="):
            procs = open(f"/sys/fs/cgroup/{h.split(',')[0]}/pyrunc/{cid}/cgroup.procs").read().split()
            assert str(pid) in procs, h
            break


def _created(rt, bundle: str) -> tuple[str, int]:
    cid = rt.new_id()
    rt.run("create", "--bundle", bundle, cid, check=True)
    return cid, rt.state(cid)["pid"]


def test_init_is_in_every_hierarchy_when_create_returns(rt, busybox_rootfs):
    cid, pid = _created(rt, rt.bundle(["sleep", "30"], busybox_rootfs))
    _assert_in_container_cgroup(pid, cid)
    rt.run("start", cid, check=True)
    _assert_in_container_cgroup(pid, cid)
    rt.run("delete", "--force", cid, check=True)


def test_init_in_a_user_namespace_is_in_every_hierarchy(rt, userns_rootfs):
    cid, pid = _created(rt, rt.bundle(["sleep", "30"], userns_rootfs, mutate=userns))
    _assert_in_container_cgroup(pid, cid)
    rt.run("delete", "--force", cid, check=True)


def _exec_is_in_every_hierarchy(rt, bundle: str) -> None:
    cid, _pid = _created(rt, bundle)
    rt.run("start", cid, check=True)
    pidfile = os.path.join(rt.tmp, "exec.pid")
    rt.run("exec", "--detach", "--pid-file", pidfile, cid, "sleep", "30", check=True)
    _assert_in_container_cgroup(int(open(pidfile).read()), cid)
    rt.run("delete", "--force", cid, check=True)


def test_exec_process_is_in_every_hierarchy(rt, busybox_rootfs):
    _exec_is_in_every_hierarchy(rt, rt.bundle(["sleep", "30"], busybox_rootfs))


def test_exec_in_a_user_namespace_container_is_in_every_hierarchy(rt, userns_rootfs):
    _exec_is_in_every_hierarchy(rt, rt.bundle(["sleep", "30"], userns_rootfs, mutate=userns))


def test_processes_forked_inside_stay_in_the_container_cgroup(rt, busybox_rootfs):
    cid, pid = _created(rt, rt.bundle(["sh", "-c", "sleep 30 & wait"], busybox_rootfs))
    rt.run("start", cid, check=True)
    children = []
    for _ in range(100):
        children = [int(c) for c in open(f"/proc/{pid}/task/{pid}/children").read().split()]
        if children:
            break
        time.sleep(0.02)
    assert children, "the shell forked its sleep"
    _assert_in_container_cgroup(children[0], cid)
    rt.run("delete", "--force", cid, check=True)


def _hierarchy_dir(h: str) -> str:
    name = h.split(",")[0]
    return "/sys/fs/cgroup/" + (name[5:] if name.startswith("name=") else name) if h else "/sys/fs/cgroup/unified"


def test_exec_cgroup_flag_joins_existing_sub_cgroups(rt, busybox_rootfs):
    """runc's ``exec --cgroup [controller[,controller]:]path``: sub-cgroups of the container's."""
    cid, pid = _created(rt, rt.bundle(["sleep", "30"], busybox_rootfs))
    rt.run("start", cid, check=True)
    made = []
    try:
        for h in _memberships(pid):
            d = f"{_hierarchy_dir(h)}/pyrunc/{cid}/sub"
            os.mkdir(d)
            made.append(d)
            if "cpuset" in h.split(","):  # a new v1 cpuset starts empty: nobody can join it
                for f in ("cpuset.cpus", "cpuset.mems"):
                    with open(f"{d}/{f}", "w") as w:
                        w.write(open(f"{d}/../{f}").read())
        pidfile = os.path.join(rt.tmp, "exec.pid")
        # only memory moves to the sub-cgroup
        rt.run("exec", "-d", "--pid-file", pidfile, "--cgroup", "memory:sub", cid, "sleep", "30", check=True)
        got = _memberships(int(open(pidfile).read()))
        assert got["memory"] == f"/pyrunc/{cid}/sub"
        assert all(p == f"/pyrunc/{cid}" for h, p in got.items() if h != "memory"), got
        # a bare path: every hierarchy
        rt.run("exec", "-d", "--pid-file", pidfile, "--cgroup", "sub", cid, "sleep", "30", check=True)
        got = _memberships(int(open(pidfile).read()))
        assert all(p == f"/pyrunc/{cid}/sub" for p in got.values()), got
        for args, words in ((["--cgroup", "nope"], "cannot join /sys/fs/cgroup/"),
                            (["--cgroup", "../x"], "../x is not a sub cgroup path"),
                            (["--cgroup", "bogus:sub"], "unknown controller bogus in SubCgroupPaths"),
                            (["--cgroup", "memory:sub", "--cgroup", "sub"], "missing <controller>: prefix")):
            p = rt.run("exec", *args, cid, "true")
            err = p.stderr.decode().strip()
            assert p.returncode == 1 and words in err and len(err.splitlines()) == 1, (args, err)
    finally:
        rt.run("delete", "--force", cid)
        for d in made:
            try:
                os.rmdir(d)
            except OSError:
                pass
