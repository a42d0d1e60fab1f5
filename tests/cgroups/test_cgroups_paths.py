"""cgroupsPath forms and mount parsing (pure functions, no root needed)."""
import pytest

from pyrunc.runtime.cgroups import CgroupError, paths
from pyrunc.runtime.cgroups._fs import clean_path, parse_mountinfo, parse_proc_cgroup

HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
NESTED = """\
120 119 0:39 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
121 120 0:19 /docker/abc /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct,clone_children
122 120 0:20 /docker/abc /sys/fs/cgroup/devices rw shared:1 - cgroup cgroup rw,devices
123 120 0:21 /docker/abc /sys/fs/cgroup/my\\040dir rw - cgroup cgroup rw,xattr,release_agent=/x,name=systemd
"""
UNIFIED = "25 20 0:22 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"


def test_clean_path_is_runc_cleanpath():
    assert clean_path("") == ""
    assert clean_path("/a/../../b/./c//") == "/b/c"
    assert clean_path("../../etc/x") == "etc/x"  # relative stays relative, never escapes
    assert clean_path("a/b/..") == "a"


def test_inner_path_forms():
    assert paths.inner_path("/docker/abc", "abc") == "/docker/abc"
    assert paths.inner_path("/libpod_parent/libpod-x", "x") == "/libpod_parent/libpod-x"
    assert paths.inner_path("/default/c1", "c1") == "/default/c1"
    assert paths.inner_path("a/b", "c") == "a/b"
    assert paths.inner_path(None, "c1") == "/pyrunc/c1"   # no cgroupsPath: under pyrunc's own parent
    assert paths.inner_path("", "c1") == "/pyrunc/c1"
    assert paths.inner_path("/../../x", "c") == "/x"


def test_systemd_forms():
    assert paths.is_systemd_form("system.slice:docker:abc")
    assert not paths.is_systemd_form("/docker/abc")
    assert paths.expand_slice("system.slice") == "/system.slice"
    assert paths.expand_slice("a-b-c.slice") == "/a.slice/a-b.slice/a-b-c.slice"
    assert paths.expand_slice("-.slice") == "/"
    for bad in ("foo", "a--b.slice", "-a.slice", "a/b.slice"):
        with pytest.raises(CgroupError):
            paths.expand_slice(bad)
    assert paths.systemd_inner_path("system.slice:docker:abc", "abc") == "/system.slice/docker-abc.scope"
    assert paths.systemd_inner_path("machine.slice:libpod:x", "x") == "/machine.slice/libpod-x.scope"
    assert paths.systemd_inner_path(":crio:y", "y") == "/system.slice/crio-y.scope"
    assert paths.systemd_inner_path("user.slice::my.slice", "z") == "/my.slice"
    with pytest.raises(CgroupError, match="slice:prefix:name"):
        paths.systemd_inner_path("a:b", "c")


def test_parse_mountinfo_hybrid():
    v1, v2, top = parse_mountinfo(HYBRID)
    assert top == "tmpfs"
    assert v2 == ("/sys/fs/cgroup/unified", "/")
    assert v1["cpu"] == ("/sys/fs/cgroup/cpu", "/")
    assert v1["name=systemd"] == ("/sys/fs/cgroup/systemd", "/")
    assert "rw" not in v1


def test_parse_mountinfo_nested_and_escapes():
    v1, v2, top = parse_mountinfo(NESTED)
    assert v2 is None
    assert v1["cpu"] == v1["cpuacct"] == ("/sys/fs/cgroup/cpu,cpuacct", "/docker/abc")
    assert v1["name=systemd"][0] == "/sys/fs/cgroup/my dir"
    assert "release_agent=/x" not in v1 and "clone_children" not in v1


def test_parse_mountinfo_unified():
    v1, v2, top = parse_mountinfo(UNIFIED)
    assert (v1, v2, top) == ({}, ("/sys/fs/cgroup", "/"), "cgroup2")


def test_v1_dirs_absolute_and_relative():
    v1, _, _ = parse_mountinfo(HYBRID)
    own = parse_proc_cgroup("4:memory:/process_api/abc\n1:cpu:/\n9:name=systemd:/user\n0::/\n")
    d = paths.v1_dirs("/docker/c1", v1, own)
    assert d["memory"] == "/sys/fs/cgroup/memory/docker/c1"
    assert d["name=systemd"] == "/sys/fs/cgroup/systemd/docker/c1"
    d = paths.v1_dirs("a/b", v1, own)
    assert d["memory"] == "/sys/fs/cgroup/memory/process_api/abc/a/b"
    assert d["cpu"] == "/sys/fs/cgroup/cpu/a/b"
    assert d["name=systemd"] == "/sys/fs/cgroup/systemd/user/a/b"


def test_v1_dirs_relative_in_nested_container():
    v1, _, _ = parse_mountinfo(NESTED)
    own = parse_proc_cgroup("2:cpu,cpuacct:/docker/abc/sub\n3:devices:/docker/abc\n")
    d = paths.v1_dirs("c1", v1, own)
    assert d["cpu"] == "/sys/fs/cgroup/cpu,cpuacct/sub/c1"
    assert d["devices"] == "/sys/fs/cgroup/devices/c1"


def test_v2_dir_rules():
    own = {"": "/user.slice/session-1.scope"}
    mnt = ("/sys/fs/cgroup", "/")
    assert paths.v2_dir("/docker/x", mnt, own, True) == "/sys/fs/cgroup/docker/x"
    # fs2 defaultDirPath: relative paths go below the parent of the runtime's own cgroup
    assert paths.v2_dir("x", mnt, own, True) == "/sys/fs/cgroup/user.slice/x"
    # hybrid join (GetOwnCgroupPath("")): below the own cgroup itself
    assert paths.v2_dir("x", ("/sys/fs/cgroup/unified", "/"), own, False) == \
        "/sys/fs/cgroup/unified/user.slice/session-1.scope/x"
    assert paths.v2_dir("x", mnt, {"": "/"}, True) == "/sys/fs/cgroup/x"


def test_systemd_driver_needs_systemd(monkeypatch):
    from pyrunc.runtime import cgroups
    monkeypatch.setattr(cgroups, "_systemd_running", lambda: False)
    with pytest.raises(CgroupError, match="systemd cgroup driver requested but systemd is not running"):
        cgroups.new_manager("system.slice:docker:abc", "abc", None)
    with pytest.raises(CgroupError, match="systemd is not running"):
        cgroups.new_manager(None, "abc", None, systemd=True)
    monkeypatch.setattr(cgroups, "_systemd_running", lambda: True)
    m = cgroups.new_manager("system.slice:docker:abc", "abc", None)
    assert m.path == "/system.slice/docker-abc.scope"


# exec --cgroup (runc's getSubCgroupPaths) -----------------------------------------------------

def test_sub_cgroup_paths_forms():
    from pyrunc.runtime.cgroups.paths import sub_cgroup_paths
    assert sub_cgroup_paths(None) == {}
    assert sub_cgroup_paths(["a/b"]) == {"": "a/b"}
    assert sub_cgroup_paths(["/a/b/"]) == {"": "a/b"}
    assert sub_cgroup_paths(["cpu,cpuacct:x", "memory:y"]) == {"cpu": "x", "cpuacct": "x", "memory": "y"}
    assert sub_cgroup_paths(["name=systemd:s"]) == {"name=systemd": "s"}


@pytest.mark.parametrize("args, message", [
    (["a:b", "c"], "invalid --cgroup argument: c (missing <controller>: prefix)"),
    (["../x"], "../x is not a sub cgroup path"),
    (["memory:a/../../x"], "a/../../x is not a sub cgroup path"),
    (["memory:"], " is not a sub cgroup path"),
    (["memory:a", "memory:b"], "controller memory given twice"),
])
def test_sub_cgroup_paths_errors(args, message):
    from pyrunc.runtime.cgroups import CgroupError
    from pyrunc.runtime.cgroups.paths import sub_cgroup_paths
    with pytest.raises(CgroupError) as e:
        sub_cgroup_paths(args)
    assert message in str(e.value)


def test_v1_sub_view_moves_comounted_controllers_together():
    from pyrunc.runtime.cgroups import CgroupError
    from pyrunc.runtime.cgroups.v1 import V1Manager
    m = V1Manager("/c", "c", None, {"cpu": "/s/cpu,cpuacct/c", "cpuacct": "/s/cpu,cpuacct/c",
                                    "memory": "/s/memory/c"}, "/s/unified/c")
    v = m.sub({"cpu": "x"})
    assert v.paths == {"cpu": "/s/cpu,cpuacct/c/x", "cpuacct": "/s/cpu,cpuacct/c/x", "memory": "/s/memory/c"}
    assert v.unified == "/s/unified/c"
    v = m.sub({"": "y"})
    assert set(v.paths.values()) == {"/s/cpu,cpuacct/c/y", "/s/memory/c/y"} and v.unified == "/s/unified/c/y"
    with pytest.raises(CgroupError, match="unknown controller bogus in SubCgroupPaths"):
        m.sub({"bogus": "x"})
