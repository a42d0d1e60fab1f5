"""Issue 3, rootfs and mounts: root.path/readonly/propagation, pivot_root vs --no-pivot, every mount
option of the spec, creation of targets, and targets resolved inside the rootfs (symlink attacks).

Effects are read from inside the container (its mountinfo, writes that fail) or from the host
(/proc/<pid>/mountinfo of a live container, the host's own mount table and files)."""
import os
import subprocess

import pytest

from test_init_support import (drop_ns, host_mounts, mount_at, mountinfo, namespace_mount_count,
                               run_sh, userns)

pytest_plugins = ("test_init_support",)  # its fixtures: userns_rootfs, open_dir


def _add_mount(c: dict, dest: str, mtype: str, source: str, options: list[str]) -> None:
    c["mounts"].append({"destination": dest, "type": mtype, "source": source, "options": options})


def _mi(rt, rootfs, mutate=None, script="cat /proc/self/mountinfo", extra=()) -> list[dict]:
    return mountinfo(run_sh(rt, rootfs, script, mutate, extra=extra))


# -- root -------------------------------------------------------------------------------------------

def test_root_path_relative_to_bundle(rt, busybox_rootfs):
    bundle = os.path.join(rt.tmp, "relbundle")
    os.makedirs(bundle)
    rel = os.path.relpath(busybox_rootfs, bundle)
    assert not rel.startswith("/")
    b = rt.bundle(["cat", "/proc/self/mountinfo"], busybox_rootfs,
                  mutate=lambda c: c["root"].__setitem__("path", rel), name="relbundle")
    p = rt.run("run", "--bundle", b, rt.new_id())
    assert p.returncode == 0, p.stderr
    root = mount_at(mountinfo(p.stdout.decode()), "/")
    assert root["root"] == os.path.realpath(busybox_rootfs)


def test_root_readonly(rt, rootfs_rw):
    out = run_sh(rt, rootfs_rw, "touch /x 2>&1; echo rc=$?; cat /proc/self/mountinfo")
    assert "Read-only file system" in out and "rc=1" in out
    assert "ro" in mount_at(mountinfo(out), "/")["opts"]
    assert not os.path.exists(os.path.join(rootfs_rw, "x"))


def test_root_writable_and_missing_cwd_created_even_when_readonly(rt, rootfs_rw):
    run_sh(rt, rootfs_rw, "touch /made-inside", lambda c: c["root"].__setitem__("readonly", False))
    assert os.path.exists(os.path.join(rootfs_rw, "made-inside"))

    def ro_cwd(c):
        c["process"]["cwd"] = "/work/here"
    assert run_sh(rt, rootfs_rw, "pwd", ro_cwd).strip() == "/work/here"


def test_host_mount_table_unchanged_before_during_after(rt, rootfs_rw, tmp_path):
    src = tmp_path / "vol"
    src.mkdir()

    def cfg(c):
        _add_mount(c, "/vol", "bind", str(src), ["rbind", "ro"])
        _add_mount(c, "/run/x", "tmpfs", "tmpfs", ["size=1m"])
        c["linux"]["devices"] = [{"path": "/dev/extra", "type": "c", "major": 1, "minor": 3}]
    before = host_mounts((str(tmp_path), rootfs_rw))
    b = rt.bundle(["sleep", "30"], rootfs_rw, mutate=cfg)
    cid = rt.new_id()
    rt.run("create", "--bundle", b, cid, check=True)
    during_created = host_mounts((str(tmp_path), rootfs_rw))
    rt.run("start", cid, check=True)
    during_running = host_mounts((str(tmp_path), rootfs_rw))
    rt.run("delete", "--force", cid, check=True)
    after = host_mounts((str(tmp_path), rootfs_rw))
    assert during_created == before, during_created ^ before
    assert during_running == before, during_running ^ before
    assert after == before, after ^ before


def _run_in_shared_host_ns(rt, bundle: str, cid: str) -> tuple[str, str, str]:
    """Run the container from a mount namespace whose mounts are all shared (a systemd host):
    returns (that namespace's mountinfo before, after, container output)."""
    script = ('cat /proc/self/mountinfo > "$T/before"; "$@" > "$T/out" 2> "$T/err"; echo $? > "$T/rc";'
              ' cat /proc/self/mountinfo > "$T/after"')
    env = dict(os.environ, T=rt.tmp)
    subprocess.run(["unshare", "--mount", "--propagation", "shared", "sh", "-c", script, "sh",
                    *rt.cmd("run", "--bundle", bundle, cid)], env=env, check=True, timeout=60)
    rd = lambda n: open(os.path.join(rt.tmp, n)).read()  # noqa: E731
    assert rd("rc").strip() == "0", rd("err")
    return rd("before"), rd("after"), rd("out")


def _norm(text: str, own: tuple[str, ...]) -> set:
    """Comparable mount entries; other sessions' mounts under /tmp are left out (see host_mounts)."""
    return {(e["mountpoint"], e["root"], e["fstype"], tuple(sorted(e["opts"])), tuple(e["optional"]))
            for e in mountinfo(text)
            if not e["mountpoint"].startswith("/tmp/") or any(e["mountpoint"].startswith(o) for o in own)}


@pytest.mark.parametrize("prop,want", [(None, "master:"), ("slave", "master:"), ("rslave", "master:"),
                                       ("private", ""), ("rprivate", ""), ("shared", "shared:"),
                                       ("rshared", "shared:"), ("unbindable", "unbindable")])
def test_rootfs_propagation_on_a_shared_host(rt, busybox_rootfs, prop, want):
    def cfg(c):
        if prop:
            c["linux"]["rootfsPropagation"] = prop
        _add_mount(c, "/run", "tmpfs", "tmpfs", ["size=1m"])
    bundle = rt.bundle(["cat", "/proc/self/mountinfo"], busybox_rootfs, mutate=cfg)
    before, after, out = _run_in_shared_host_ns(rt, bundle, rt.new_id())
    own = (rt.tmp, busybox_rootfs)
    assert _norm(before, own) == _norm(after, own), "the (shared) host mount table must not change"
    root = mount_at(mountinfo(out), "/")
    optional = " ".join(root["optional"])
    if want:
        assert want in optional, f"{prop}: {optional!r}"
    else:
        assert not optional, f"{prop}: {optional!r}"
    if want == "shared:":
        # (other sessions' /tmp mounts may come and go meanwhile, freeing their group ids for reuse)
        host_groups = {o for e in mountinfo(before) for o in e["optional"]
                       if not e["mountpoint"].startswith("/tmp/") or any(e["mountpoint"].startswith(x) for x in own)}
        assert not set(root["optional"]) & host_groups, "a shared rootfs must not be a peer of the host's"


@pytest.mark.parametrize("no_pivot", [False, True])
def test_pivot_root_and_no_pivot(rt, busybox_rootfs, no_pivot):
    b = rt.bundle(["sleep", "30"], busybox_rootfs)
    cid = rt.new_id()
    before = host_mounts((busybox_rootfs, rt.tmp))
    rt.run("run", "-d", *(["--no-pivot"] if no_pivot else []), "--bundle", b, cid, check=True)
    pid = rt.state(cid)["pid"]
    inside = os.listdir(f"/proc/{pid}/root/")
    assert "bin" in inside and "work" not in inside
    visible = mountinfo(open(f"/proc/{pid}/mountinfo").read())
    assert mount_at(visible, "/")["root"] == os.path.realpath(busybox_rootfs)
    # every mount of the namespace, also those above the process root (listmount(2))
    total = namespace_mount_count(f"/proc/{pid}/ns/mnt")
    if no_pivot:
        assert total > len(visible), "MS_MOVE+chroot keeps the host's mounts under the container root"
    else:
        assert total == len(visible), "pivot_root detaches the old root: only the container's mounts remain"
    rt.run("delete", "--force", cid, check=True)
    assert host_mounts((busybox_rootfs, rt.tmp)) == before


# -- mounts -----------------------------------------------------------------------------------------

def test_mounts_in_config_order_with_targets_created(rt, busybox_rootfs, tmp_path):
    src = tmp_path / "src"
    (src / "inner").mkdir(parents=True)
    (src / "inner" / "file").write_text("from-host\n")

    def cfg(c):
        _add_mount(c, "/a/b", "tmpfs", "tmpfs", ["size=1m"])                 # /a/b created
        _add_mount(c, "/a/b/c/d", "bind", str(src), ["rbind"])               # inside the tmpfs
        _add_mount(c, "/a/b/c/d/inner/t", "tmpfs", "tmpfs", ["size=2m"])     # on top of the bind
    mi = _mi(rt, busybox_rootfs, cfg, "cat /proc/self/mountinfo; cat /a/b/c/d/inner/file >&2")
    order = [e["mountpoint"] for e in mi if e["mountpoint"].startswith("/a/")]
    assert order == ["/a/b", "/a/b/c/d", "/a/b/c/d/inner/t"]
    assert mount_at(mi, "/a/b/c/d/inner/t")["parent"] == mount_at(mi, "/a/b/c/d")["id"]
    assert not (src / "inner" / "t").exists() or (src / "inner" / "t").is_dir()


def test_file_on_file_bind_and_bind_source_relative_to_bundle(rt, busybox_rootfs):
    bundle = os.path.join(rt.tmp, "fbundle")
    os.makedirs(bundle)
    with open(os.path.join(bundle, "hosts"), "w") as f:
        f.write("10.9.8.7 bound-hosts\n")

    def cfg(c):
        _add_mount(c, "/etc/hosts-new", "bind", "hosts", ["bind", "ro"])       # missing target: a file
        _add_mount(c, "/etc/passwd", "none", os.path.join(bundle, "hosts"), ["rbind"])  # over a file
    b = rt.bundle(["sh", "-c", "cat /etc/hosts-new /etc/passwd; stat -c %F /etc/hosts-new"], busybox_rootfs,
                  mutate=cfg, name="fbundle")
    p = rt.run("run", "--bundle", b, rt.new_id())
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode().splitlines() == ["10.9.8.7 bound-hosts"] * 2 + ["regular file"]


def test_bind_source_relative_path_resolves_against_bundle(rt, busybox_rootfs):
    bundle = os.path.join(rt.tmp, "relsrc")
    os.makedirs(os.path.join(bundle, "data"))
    with open(os.path.join(bundle, "data", "f"), "w") as f:
        f.write("rel-ok\n")
    b = rt.bundle(["cat", "/data/f"], busybox_rootfs, name="relsrc",
                  mutate=lambda c: _add_mount(c, "/data", "bind", "data", ["rbind"]))
    p = rt.run("run", "--bundle", b, rt.new_id())
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"rel-ok\n"


PER_MOUNT = [("ro", {"ro"}, set()), ("rw", {"rw"}, set()), ("defaults", {"rw"}, set()),
             ("nosuid", {"nosuid"}, set()), ("nodev", {"nodev"}, set()), ("noexec", {"noexec"}, set()),
             ("noatime", {"noatime"}, set()), ("nodiratime", {"nodiratime"}, set()),
             ("relatime", {"relatime"}, set()), ("strictatime", set(), {"relatime", "noatime"}),
             ("nosymfollow", {"nosymfollow"}, set())]


@pytest.mark.parametrize("opt,present,absent", PER_MOUNT, ids=[p[0] for p in PER_MOUNT])
@pytest.mark.parametrize("kind", ["tmpfs", "bind"])
def test_mount_flag_option(rt, busybox_rootfs, tmp_path, kind, opt, present, absent):
    def cfg(c):
        if kind == "tmpfs":
            _add_mount(c, "/m", "tmpfs", "tmpfs", [opt, "size=1m"])
        else:
            _add_mount(c, "/m", "bind", str(tmp_path), ["rbind", opt])
    m = mount_at(_mi(rt, busybox_rootfs, cfg), "/m")
    assert present <= m["opts"], (opt, m["opts"])
    assert not absent & m["opts"], (opt, m["opts"])


@pytest.mark.parametrize("opt", ["sync", "dirsync", "lazytime"])
def test_superblock_flag_option(rt, busybox_rootfs, opt):
    m = mount_at(_mi(rt, busybox_rootfs, lambda c: _add_mount(c, "/m", "tmpfs", "tmpfs", [opt])), "/m")
    assert opt in m["super"], m


@pytest.mark.parametrize("opts,absent", [(["ro", "rw"], "ro"), (["noexec", "exec"], "noexec"),
                                         (["nosuid", "suid"], "nosuid"), (["nodev", "dev"], "nodev"),
                                         (["noatime", "atime"], "noatime"),
                                         (["nosymfollow", "symfollow"], "nosymfollow")])
def test_later_option_clears_earlier(rt, busybox_rootfs, opts, absent):
    m = mount_at(_mi(rt, busybox_rootfs, lambda c: _add_mount(c, "/m", "tmpfs", "tmpfs", opts)), "/m")
    assert absent not in m["opts"], m


def test_flag_effects_ro_noexec_nodev(rt, busybox_rootfs, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    script = d / "run.sh"
    script.write_text("#!/bin/sh\necho ran\n")
    script.chmod(0o755)
    os.mknod(d / "null", 0o666 | 0o020000, os.makedev(1, 3))

    def cfg(c):
        _add_mount(c, "/plain", "bind", str(d), ["rbind"])
        _add_mount(c, "/locked", "bind", str(d), ["rbind", "ro", "noexec", "nodev"])
    out = run_sh(rt, busybox_rootfs,
                 "/plain/run.sh; echo x > /plain/null && echo plain-dev-ok;"
                 " /locked/run.sh 2>/dev/null || echo noexec-denied;"
                 " echo x > /locked/null 2>/dev/null || echo nodev-denied;"
                 " touch /locked/new 2>/dev/null || echo ro-denied", cfg)
    assert out.split() == ["ran", "plain-dev-ok", "noexec-denied", "nodev-denied", "ro-denied"]
    assert not (d / "new").exists()


@pytest.fixture
def src_with_submount(tmp_path):
    """tmp_path/src with a tmpfs mounted at src/sub (removed afterwards)."""
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "top-file").write_text("top\n")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "subtmp", str(src / "sub")], check=True)
    try:
        (src / "sub" / "sub-file").write_text("sub\n")
        yield str(src)
    finally:
        subprocess.run(["umount", "-l", str(src / "sub")], check=True)


def test_bind_is_not_recursive_rbind_is(rt, busybox_rootfs, src_with_submount):
    def cfg(c):
        _add_mount(c, "/bind", "bind", src_with_submount, ["bind"])
        _add_mount(c, "/rbind", "bind", src_with_submount, ["rbind"])
    out = run_sh(rt, busybox_rootfs, "ls /bind/sub; echo --; ls /rbind/sub", cfg)
    assert out.split() == ["--", "sub-file"]


@pytest.mark.parametrize("opts,top,sub", [
    (["rbind", "ro"], {"ro"}, {"rw"}),                          # ro: the top mount only (runc)
    (["rbind", "rro"], {"ro"}, {"ro"}),
    (["rbind", "rnosuid", "rnodev", "rnoexec"], {"nosuid", "nodev", "noexec"}, {"nosuid", "nodev", "noexec"}),
    (["rbind", "rnoatime"], {"noatime"}, {"noatime"}),
    (["rbind", "rnodiratime"], {"nodiratime"}, {"nodiratime"}),
    (["rbind", "rstrictatime"], set(), set()),
    (["rbind", "rnosymfollow"], {"nosymfollow"}, {"nosymfollow"}),
    (["rbind", "rro", "rrw"], {"rw"}, {"rw"}),
])
def test_recursive_mount_attributes(rt, busybox_rootfs, src_with_submount, opts, top, sub):
    mi = _mi(rt, busybox_rootfs, lambda c: _add_mount(c, "/v", "bind", src_with_submount, opts))
    t, s = mount_at(mi, "/v"), mount_at(mi, "/v/sub")
    assert top <= t["opts"], (opts, t["opts"])
    assert sub <= s["opts"], (opts, s["opts"])
    if opts[-1] == "rstrictatime":
        assert not {"relatime", "noatime"} & (t["opts"] | s["opts"])


@pytest.fixture
def shared_src(tmp_path):
    """A shared tmpfs on the host (its own peer group) to test propagation into containers."""
    src = tmp_path / "shared"
    src.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "sharedsrc", str(src)], check=True)
    subprocess.run(["mount", "--make-shared", str(src)], check=True)
    try:
        yield str(src)
    finally:
        subprocess.run(["umount", "-R", "-l", str(src)], check=True)


@pytest.mark.parametrize("prop,tag,propagates", [("rshared", "shared:", True), ("shared", "shared:", True),
                                                 ("rslave", "master:", True), ("slave", "master:", True),
                                                 ("rprivate", None, False), ("private", None, False),
                                                 ("runbindable", "unbindable", False)])
def test_bind_propagation_flags(rt, busybox_rootfs, shared_src, prop, tag, propagates):
    b = rt.bundle(["sleep", "30"], busybox_rootfs,
                  mutate=lambda c: _add_mount(c, "/vol", "bind", shared_src, ["rbind", prop]))
    cid = rt.new_id()
    rt.run("run", "-d", "--bundle", b, cid, check=True)
    pid = rt.state(cid)["pid"]
    new = os.path.join(shared_src, "late")
    os.mkdir(new)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "late", new], check=True)
    try:
        mi = mountinfo(open(f"/proc/{pid}/mountinfo").read())
        vol = mount_at(mi, "/vol")
        optional = " ".join(vol["optional"])
        if tag:
            assert tag in optional, (prop, optional)
        else:
            assert not optional, (prop, optional)
        arrived = any(e["mountpoint"] == "/vol/late" for e in mi)
        assert arrived == propagates, f"{prop}: a host mount made after start: propagated={arrived}"
    finally:
        rt.run("delete", "--force", cid)
        subprocess.run(["umount", "-l", new], check=True)


def test_special_filesystems_with_data_options(rt, busybox_rootfs):
    def cfg(c):
        c["mounts"] = [m for m in c["mounts"] if m["destination"] not in ("/proc", "/dev/pts")]
        c["mounts"].insert(0, {"destination": "/proc", "type": "proc", "source": "proc",
                               "options": ["nosuid", "noexec", "nodev", "hidepid=invisible"]})
        _add_mount(c, "/dev/pts", "devpts", "devpts", ["nosuid", "noexec", "newinstance", "ptmxmode=0666",
                                                       "mode=0620", "gid=5"])
        _add_mount(c, "/scratch", "tmpfs", "tmpfs", ["nodev", "mode=1733", "size=2m", "uid=7", "gid=8"])
        _add_mount(c, "/mq", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"])
    out = run_sh(rt, busybox_rootfs, "cat /proc/self/mountinfo; echo ===; stat -c '%a %u %g' /scratch;"
                 " stat -c '%a' /dev/pts/ptmx", cfg)
    text, _, rest = out.partition("===\n")
    mi = mountinfo(text)
    proc = mount_at(mi, "/proc")
    assert proc["fstype"] == "proc" and {"nosuid", "noexec", "nodev"} <= proc["opts"]
    assert "hidepid=invisible" in proc["super"], proc
    pts = mount_at(mi, "/dev/pts")
    assert pts["fstype"] == "devpts" and {"gid=5", "mode=620", "ptmxmode=666"} <= pts["super"], pts
    scratch = mount_at(mi, "/scratch")
    assert "size=2048k" in scratch["super"] and "nodev" in scratch["opts"], scratch
    assert mount_at(mi, "/mq")["fstype"] == "mqueue"
    sys_ = mount_at(mi, "/sys")
    assert sys_["fstype"] == "sysfs" and "ro" in sys_["opts"]
    assert rest.split() == ["1733", "7", "8", "666"]


@pytest.mark.parametrize("cgroupns", [True, False])
def test_cgroup_mount_shows_only_the_containers_cgroup(rt, busybox_rootfs, cgroupns):
    def cfg(c):
        if not cgroupns:
            drop_ns(c, "cgroup")
    out = run_sh(rt, busybox_rootfs, "cat /proc/self/mountinfo; echo ===; cat /sys/fs/cgroup/pids/cgroup.procs;"
                 " echo ===; ls /sys/fs/cgroup/memory; touch /sys/fs/cgroup/x 2>/dev/null || echo RO", cfg)
    text, procs, listing = out.split("===\n")
    mi = mountinfo(text)
    assert mount_at(mi, "/sys/fs/cgroup")["fstype"] in ("tmpfs", "cgroup2")
    pids = mount_at(mi, "/sys/fs/cgroup/pids")
    assert {"ro", "nosuid", "nodev", "noexec"} <= pids["opts"]
    # the container's own cgroup: only its processes, no host-wide files
    assert 1 <= len(procs.split()) <= 3, procs
    assert "release_agent" not in listing.split(), "the host's hierarchy root must not be visible"
    assert listing.split()[-1] == "RO"


# -- mount targets resolved inside the rootfs ---------------------------------------------------------

def test_symlinked_mount_targets_stay_inside_rootfs(rt, rootfs_rw, tmp_path):
    host = tmp_path / "hostside"
    host.mkdir()
    (host / "keep").write_text("host file\n")
    src = tmp_path / "src"
    src.mkdir()
    (src / "payload").write_text("payload\n")
    bound = tmp_path / "bound.conf"
    bound.write_text("nameserver 10.0.0.1\n")
    hostfile = host / "resolv.conf"
    hostfile.write_text("host resolv\n")
    os.symlink("/", os.path.join(rootfs_rw, "toroot"))
    os.symlink("../../../../../../../../..", os.path.join(rootfs_rw, "up"))
    os.symlink(str(host), os.path.join(rootfs_rw, "tohost"))
    os.symlink(str(hostfile), os.path.join(rootfs_rw, "etc/resolv.conf"))
    os.makedirs(os.path.join(rootfs_rw, "deep"))
    os.symlink("../up", os.path.join(rootfs_rw, "deep/chain"))

    def cfg(c):
        _add_mount(c, "/toroot/escape-a", "tmpfs", "tmpfs", ["size=1m"])
        _add_mount(c, f"/up{tmp_path}/escape-b", "bind", str(src), ["rbind"])
        _add_mount(c, "/tohost", "tmpfs", "tmpfs", ["size=1m"])
        _add_mount(c, "/tohost/sub", "bind", str(src), ["rbind"])
        _add_mount(c, "/etc/resolv.conf", "bind", str(bound), ["rbind", "ro"])
        _add_mount(c, f"/deep/chain{tmp_path}/escape-c", "tmpfs", "tmpfs", ["size=1m"])
    before = host_mounts((str(tmp_path), rootfs_rw))
    host_listing = sorted(os.listdir(host))
    b = rt.bundle(["sleep", "30"], rootfs_rw, mutate=cfg)
    cid = rt.new_id()
    rt.run("create", "--bundle", b, cid, check=True)
    try:
        pid = rt.state(cid)["pid"]
        assert host_mounts((str(tmp_path), rootfs_rw)) == before, "nothing may be mounted on the host"
        assert sorted(os.listdir(host)) == host_listing, "nothing may be created in the host directory"
        assert hostfile.read_text() == "host resolv\n"
        assert not os.path.exists("/escape-a") and not (tmp_path / "escape-b").exists()
        assert not (tmp_path / "escape-c").exists()
        mi = mountinfo(open(f"/proc/{pid}/mountinfo").read())
        points = {e["mountpoint"] for e in mi}
        # every target landed at its in-root resolution
        for p in ("/escape-a", f"{tmp_path}/escape-b", f"{tmp_path}/escape-c", str(host), f"{host}/sub",
                  f"{host}/resolv.conf"):
            assert p in points, (p, sorted(points))
        root = f"/proc/{pid}/root"
        assert open(f"{root}{host}/resolv.conf").read() == "nameserver 10.0.0.1\n"
        assert open(f"{root}{tmp_path}/escape-b/payload").read() == "payload\n"
    finally:
        rt.run("delete", "--force", cid)
    assert host_mounts((str(tmp_path), rootfs_rw)) == before
    assert sorted(os.listdir(host)) == host_listing


def test_dotdot_in_destination_cannot_leave_rootfs(rt, rootfs_rw, tmp_path):
    outside = tmp_path / "outside-target"

    def cfg(c):
        _add_mount(c, f"/../../../../../../..{outside}", "tmpfs", "tmpfs", ["size=1m"])
    out = run_sh(rt, rootfs_rw, f"grep -c ' {outside} ' /proc/self/mountinfo", cfg)
    assert out.strip() == "1"
    assert not outside.exists()


# -- user namespace ---------------------------------------------------------------------------------

def test_mounts_inside_user_namespace(rt, userns_rootfs, open_dir):
    vol = os.path.join(open_dir, "vol")
    os.mkdir(vol)
    with open(os.path.join(vol, "f"), "w") as f:
        f.write("vol\n")

    def cfg(c):
        userns(c)
        _add_mount(c, "/var", "bind", vol, ["rbind", "ro", "nosuid"])
    out = run_sh(rt, userns_rootfs, "cat /var/f; cat /proc/self/mountinfo", cfg)
    first, _, text = out.partition("\n")
    assert first == "vol"
    m = mount_at(mountinfo(text), "/var")
    assert {"ro", "nosuid"} <= m["opts"]


def test_tmpfs_tmpcopyup_keeps_contents_modes_owners_links(rt, rootfs_rw):
    etc = os.path.join(rootfs_rw, "etc/app")
    os.makedirs(os.path.join(etc, "sub"))
    with open(os.path.join(etc, "conf"), "w") as f:
        f.write("key=value\n")
    os.chmod(os.path.join(etc, "conf"), 0o604)
    os.chown(os.path.join(etc, "conf"), 12, 34)
    with open(os.path.join(etc, "sub/deep"), "w") as f:
        f.write("deep\n")
    os.symlink("conf", os.path.join(etc, "link"))

    def cfg(c):
        _add_mount(c, "/etc/app", "tmpfs", "tmpfs", ["tmpcopyup", "size=1m", "mode=755"])
    out = run_sh(rt, rootfs_rw, "cat /etc/app/conf /etc/app/sub/deep; stat -c '%a %u:%g' /etc/app/conf;"
                 " readlink /etc/app/link; echo new > /etc/app/added; grep ' /etc/app ' /proc/self/mountinfo", cfg)
    lines = out.splitlines()
    assert lines[:4] == ["key=value", "deep", "604 12:34", "conf"]
    assert " - tmpfs " in lines[4]
    assert not os.path.exists(os.path.join(etc, "added")), "writes go to the tmpfs, not the rootfs"


def test_readonly_dev_tmpfs_still_gets_devices(rt, busybox_rootfs):
    """runc mounts tmpfs writable and applies ``ro`` after /dev is populated."""
    def cfg(c):
        for m in c["mounts"]:
            if m["destination"] == "/dev":
                m["options"] = m["options"] + ["ro"]
        _add_mount(c, "/scratch", "tmpfs", "tmpfs", ["ro", "nosuid", "size=1m"])
    out = run_sh(rt, busybox_rootfs, "stat -c %t:%T /dev/null; touch /dev/x 2>/dev/null || echo dev-ro;"
                 " cat /proc/self/mountinfo", cfg)
    assert out.splitlines()[:2] == ["1:3", "dev-ro"]
    mi = mountinfo(out)
    assert "ro" in mount_at(mi, "/dev")["opts"]
    s = mount_at(mi, "/scratch")
    assert {"ro", "nosuid"} <= s["opts"] and "size=1024k" in s["super"]
