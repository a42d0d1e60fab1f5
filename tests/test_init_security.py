"""Issue 3, hardening: maskedPaths, readonlyPaths, sysctl, no leaked fds or host cwd, and the
host interpreter out of reach through /proc/<pid>/exe (CVE-2019-5736)."""
import hashlib
import os
import subprocess
import time

import pytest

from test_init_support import (add_ns, all_caps, create_error, drop_ns, mount_at, mountinfo, run_sh,
                               userns)

pytest_plugins = ("test_init_support",)  # its fixtures: userns_rootfs, open_dir

# -- maskedPaths / readonlyPaths --------------------------------------------------------------------


def test_masked_paths_files_and_dirs(rt, rootfs_rw):
    os.makedirs(os.path.join(rootfs_rw, "srv/secretdir"))
    with open(os.path.join(rootfs_rw, "srv/secretdir/key"), "w") as f:
        f.write("hidden\n")
    with open(os.path.join(rootfs_rw, "etc/secret.txt"), "w") as f:
        f.write("hidden\n")

    def cfg(c):
        c["linux"]["maskedPaths"] = ["/proc/keys", "/proc/acpi", "/sys/firmware", "/etc/secret.txt",
                                     "/srv/secretdir", "/does/not/exist"]
    out = run_sh(rt, rootfs_rw,
                 "for f in /proc/keys /etc/secret.txt; do echo \"$f $(wc -c < $f) $(stat -c %t:%T $f)\"; done;"
                 " for d in /proc/acpi /sys/firmware /srv/secretdir; do echo \"$d [$(ls -A $d)]\";"
                 " touch $d/x 2>/dev/null && echo $d-WRITABLE; done; cat /proc/self/mountinfo", cfg)
    lines = out.splitlines()
    assert lines[0] == "/proc/keys 0 1:3" and lines[1] == "/etc/secret.txt 0 1:3", lines[:2]
    assert lines[2:5] == ["/proc/acpi []", "/sys/firmware []", "/srv/secretdir []"], lines[2:5]
    assert not any("WRITABLE" in ln for ln in lines)
    mi = mountinfo(out)
    for d in ("/proc/acpi", "/sys/firmware", "/srv/secretdir"):
        m = mount_at(mi, d)
        assert m["fstype"] == "tmpfs" and "ro" in m["opts"], m
    assert open(os.path.join(rootfs_rw, "etc/secret.txt")).read() == "hidden\n"


def test_masked_paths_in_user_namespace(rt, userns_rootfs):
    def cfg(c):
        userns(c)
        c["linux"]["maskedPaths"] = ["/proc/keys", "/proc/acpi"]
    out = run_sh(rt, userns_rootfs, "wc -c < /proc/keys; ls -A /proc/acpi | wc -l", cfg)
    assert out.split() == ["0", "0"]


def test_readonly_paths(rt, rootfs_rw):
    os.makedirs(os.path.join(rootfs_rw, "data/sub"))
    os.makedirs(os.path.join(rootfs_rw, "other"))

    def cfg(c):
        c["root"]["readonly"] = False
        c["linux"]["readonlyPaths"] = ["/proc/sys", "/proc/sysrq-trigger", "/data", "/does/not/exist"]
        c["mounts"].append({"destination": "/data/sub", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]})
    out = run_sh(rt, rootfs_rw, "touch /data/x 2>&1; touch /data/sub/y 2>&1; touch /other/z && echo other-ok;"
                 " cat /proc/self/mountinfo", cfg)
    assert "touch: /data/x: Read-only file system" in out
    assert "touch: /data/sub/y: Read-only file system" in out, "read-only applies to mounts below too"
    assert "other-ok" in out
    mi = mountinfo(out)
    assert "ro" in mount_at(mi, "/proc/sys")["opts"]
    assert "ro" in mount_at(mi, "/data")["opts"] and "ro" in mount_at(mi, "/data/sub")["opts"]
    assert not os.path.exists(os.path.join(rootfs_rw, "data/x"))


def test_proc_sys_readonly_but_namespaced_sysctl_applied_first(rt, busybox_rootfs):
    """runc's order: sysctls are written before /proc/sys turns read-only."""
    def cfg(c):
        c["linux"]["sysctl"] = {"net.ipv4.ip_unprivileged_port_start": "0"}
    out = run_sh(rt, busybox_rootfs, "cat /proc/sys/net/ipv4/ip_unprivileged_port_start;"
                 " echo 5 > /proc/sys/net/ipv4/ip_unprivileged_port_start 2>/dev/null || echo RO", cfg)
    assert out.split() == ["0", "RO"]


# -- sysctl -----------------------------------------------------------------------------------------

def test_namespaced_sysctls_set_inside_only(rt, busybox_rootfs):
    keys = {"net.ipv4.ip_unprivileged_port_start": "77", "net.ipv4.ping_group_range": "0 2147483647",
            "kernel.shmmax": "123456789", "kernel.msgmax": "9000", "fs.mqueue.msg_max": "33",
            "kernel.domainname": "sysctl.example"}
    host = {k: open("/proc/sys/" + k.replace(".", "/")).read().strip() for k in keys}
    out = run_sh(rt, busybox_rootfs, "; ".join(f"cat /proc/sys/{k.replace('.', '/')}" for k in keys),
                 lambda c: c["linux"].__setitem__("sysctl", keys))
    got = [" ".join(line.split()) for line in out.splitlines()]
    assert got == list(keys.values())
    for k, v in host.items():
        assert open("/proc/sys/" + k.replace(".", "/")).read().strip() == v, f"host {k} changed"


@pytest.mark.parametrize("key,drop", [("vm.swappiness", None), ("kernel.pid_max", None),
                                      ("net.ipv4.ip_forward", "network"), ("kernel.shmmax", "ipc"),
                                      ("fs.mqueue.msg_max", "ipc"), ("kernel.hostname", "uts")])
def test_non_namespaced_sysctl_is_rejected(rt, busybox_rootfs, key, drop):
    def cfg(c):
        c["linux"]["sysctl"] = {key: "1"}
        if drop:
            drop_ns(c, drop)
            if drop == "uts":
                c.pop("hostname", None)
    err = create_error(rt, busybox_rootfs, cfg)
    assert f"linux.sysctl.{key}" in err, err


@pytest.mark.parametrize("key,value", [("net.ipv4.no_such_knob", "1"), ("net.ipv4.ip_unprivileged_port_start", "abc")])
def test_sysctl_refused_by_kernel_names_the_key(rt, busybox_rootfs, key, value):
    err = create_error(rt, busybox_rootfs, lambda c: c["linux"].__setitem__("sysctl", {key: value}))
    assert f"linux.sysctl.{key}" in err, err


def test_hostname_needs_uts_namespace(rt, busybox_rootfs):
    err = create_error(rt, busybox_rootfs, lambda c: drop_ns(c, "uts"))
    assert "hostname" in err and "UTS" in err, err


# -- no leaks ---------------------------------------------------------------------------------------

def _fds(pid: int) -> dict:
    d = f"/proc/{pid}/fd"
    return {int(n): os.readlink(f"{d}/{n}") for n in os.listdir(d)}


def test_only_stdio_open_at_exec_and_cwd_root_inside_rootfs(rt, busybox_rootfs):
    b = rt.bundle(["sleep", "30"], busybox_rootfs)
    cid = rt.new_id()
    rt.run("create", "--bundle", b, cid, check=True)
    rt.run("start", cid, check=True)
    pid = rt.state(cid)["pid"]
    deadline = time.monotonic() + 5
    while open(f"/proc/{pid}/comm").read().strip() != "sleep" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert open(f"/proc/{pid}/comm").read().strip() == "sleep"
    assert sorted(_fds(pid)) == [0, 1, 2], _fds(pid)
    want = os.stat(busybox_rootfs)
    for link in ("cwd", "root"):  # the rootfs itself (readlink would print "/": unreachable from here)
        st = os.stat(f"/proc/{pid}/{link}")
        assert (st.st_dev, st.st_ino) == (want.st_dev, want.st_ino), link
    rt.run("delete", "--force", cid, check=True)


def test_listing_own_fds_inside(rt, busybox_rootfs):
    # ls opens its directory as fd 3; nothing else may be there
    out = run_sh(rt, busybox_rootfs, "ls /proc/self/fd | tr '\\n' ' '")
    assert out.split() == ["0", "1", "2", "3"]


def test_preserve_fds_and_listen_fds(rt, busybox_rootfs, tmp_path):
    a, b_ = tmp_path / "a", tmp_path / "b"
    a.write_text("A\n")
    b_.write_text("B\n")

    def run_with_fds(*args, env=None):
        # a shell opens fds 3 and 4 for pyrunc only (this process's own fds stay untouched)
        # LISTEN_PID=$$: the shell's pid, which pyrunc keeps through exec (systemd's contract)
        return subprocess.run(["sh", "-c", 'exec 3<"$FA" 4<"$FB"; [ -n "$LISTEN_FDS" ] && export LISTEN_PID=$$;'
                               ' exec "$@"', "sh", *rt.cmd(*args)],
                              env=dict(env or os.environ, FA=str(a), FB=str(b_)), capture_output=True, timeout=60)

    bundle = rt.bundle(["sh", "-c", "cat <&3; cat <&4; ls /proc/self/fd | tr '\\n' ' '"], busybox_rootfs)
    p = run_with_fds("run", "--preserve-fds", "2", "--bundle", bundle, rt.new_id())
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode().split() == ["A", "B", "0", "1", "2", "3", "4", "5"]
    env = dict(os.environ, LISTEN_FDS="1")
    bundle = rt.bundle(["sh", "-c", "cat <&3; ls /proc/self/fd | tr '\\n' ' '"], busybox_rootfs)
    p = run_with_fds("run", "--bundle", bundle, rt.new_id(), env=env)
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode().split() == ["A", "0", "1", "2", "3", "4"], "fd 4 is not a listen fd: closed"


# -- CVE-2019-5736: the runtime's interpreter out of reach ---------------------------------------

PYTHON = os.path.realpath("/usr/bin/python3.11")
ATTACK = ("for p in /proc/1/exe /proc/self/exe; do"
          " readlink $p >/dev/null 2>&1 && echo \"$p readlink-ok $(readlink $p)\";"
          " (exec 3<$p) 2>/dev/null && echo \"$p open-read-ok\";"
          " (exec 3>>$p) 2>/dev/null && echo \"$p open-write-ok\";"
          " echo '#pwned' 2>/dev/null >> $p && echo \"$p WROTE\"; done; echo done")


def _hash(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


LIMITED = ["CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_CHOWN"]


@pytest.mark.parametrize("case", ["host-limited-caps", "in-victim-userns-all-caps",
                                  "in-victim-identity-userns-all-caps", "host-privileged"])
def test_runtime_interpreter_not_reachable_through_proc_exe(rt, userns_rootfs, case):
    """An attacker container joins the pid namespace of a created container whose init is still the
    runtime (a fork of the host python) and tries to read and write it through /proc/1/exe and its
    own /proc/self/exe. Reading is refused unless the attacker holds CAP_SYS_PTRACE over the host
    (non-dumpable init); writing is always refused; the host interpreter is unchanged."""
    before = _hash(PYTHON)
    with_userns = case.startswith("in-victim")

    def victim(c):
        if with_userns:  # identity map: root stays host uid 0, so only PR_SET_DUMPABLE protects
            userns(c, 0 if "identity" in case else 100000)
    b = rt.bundle(["sleep", "30"], userns_rootfs, mutate=victim)
    cid = rt.new_id()
    rt.run("create", "--bundle", b, cid, check=True)
    try:
        pid = rt.state(cid)["pid"]
        if not os.environ.get("PYRUNC_TEST_RUNTIME"):
            assert os.path.realpath(f"/proc/{pid}/exe") == PYTHON, "the created init is the runtime's interpreter"

        def attacker(c):
            add_ns(c, "pid", f"/proc/{pid}/ns/pid")
            caps = LIMITED if case == "host-limited-caps" else all_caps()
            c["process"]["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted")}
            if with_userns:  # root of the victim's user namespace with every capability there
                add_ns(c, "user", f"/proc/{pid}/ns/user")
                c["process"]["noNewPrivileges"] = False
        out = run_sh(rt, userns_rootfs, ATTACK, attacker)
        assert out.splitlines()[-1] == "done"
        lines = out.splitlines()[:-1]
        if case != "host-privileged":
            assert not [ln for ln in lines if ln.startswith("/proc/1/")], f"the init's exe was reachable: {lines}"
        assert not [ln for ln in lines if "write" in ln or "WROTE" in ln], lines
    finally:
        rt.run("delete", "--force", cid)
    assert _hash(PYTHON) == before, "the host interpreter was modified"
