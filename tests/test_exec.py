"""Issue 5: exec into running containers, with runc's flags, through the real binary."""
import json
import os
import socket
import time

import pytest

from support import pid_alive, read_until

pytest_plugins = ("test_init_support",)  # its fixture userns_rootfs


@pytest.fixture
def running(rt, busybox_rootfs):
    """A running container (sleep) with hostname set; yields its id."""
    bundle = rt.bundle(["sleep", "60"], busybox_rootfs, mutate=lambda c: c.update(hostname="exechost"))
    cid = rt.new_id()
    rt.run("run", "-d", "--bundle", bundle, cid, check=True)
    return cid


def test_exec_joins_namespaces_and_returns_status(rt, running):
    p = rt.run("exec", running, "sh", "-c", "hostname; cat /proc/1/cmdline | tr '\\0' ' '; exit 7")
    assert p.returncode == 7, p.stderr
    lines = p.stdout.decode().splitlines()
    assert lines[0] == "exechost"
    assert lines[1].strip() == "sleep 60", "pid 1 of the exec'd process's pid namespace is the container's init"
    init = rt.state(running)["pid"]
    for ns in ("mnt", "pid", "net", "uts", "ipc"):
        inner = rt.run("exec", running, "readlink", f"/proc/self/ns/{ns}", check=True).stdout.decode().strip()
        assert inner == os.readlink(f"/proc/{init}/ns/{ns}"), ns


def test_exec_sees_container_mounts_and_cgroup(rt, running):
    p = rt.run("exec", running, "sh", "-c", "grep ' /dev/shm ' /proc/self/mountinfo; cat /proc/self/cgroup",
               check=True)
    assert b"/dev/shm" in p.stdout
    init = rt.state(running)["pid"]
    # the exec'd process is in the same cgroups as the init (compare from the host)
    p = rt.run("exec", "-d", "--pid-file", os.path.join(rt.tmp, "e.pid"), running, "sleep", "30", check=True)
    epid = int(open(os.path.join(rt.tmp, "e.pid")).read())
    assert open(f"/proc/{epid}/cgroup").read() == open(f"/proc/{init}/cgroup").read()
    ps = json.loads(rt.run("ps", "--format", "json", running, check=True).stdout)
    assert init in ps and epid in ps


def test_exec_flags_env_cwd_user_groups_caps_nnp(rt, running):
    p = rt.run("exec", "--env", "FOO=bar", "-e", "X=1", "--cwd", "/tmp", "--user", "1000:1001",
               "--additional-gids", "5", "--additional-gids", "6", "--no-new-privs", running,
               "sh", "-c", "echo $FOO$X; pwd; id -u; id -g; id -G; grep NoNewPrivs /proc/self/status", check=True)
    out = p.stdout.decode().split("\n")
    assert out[0] == "bar1" and out[1] == "/tmp" and out[2] == "1000" and out[3] == "1001"
    assert set(out[4].split()) == {"1001", "5", "6"}
    assert out[5].split() == ["NoNewPrivs:", "1"]
    base = rt.run("exec", running, "grep", "CapBnd", "/proc/self/status", check=True).stdout.split()[1]
    more = rt.run("exec", "--cap", "CAP_SYS_ADMIN", running, "grep", "CapBnd", "/proc/self/status",
                  check=True).stdout.split()[1]
    assert int(more, 16) == int(base, 16) | (1 << 21)


def test_exec_process_file(rt, running):
    proc = {"args": ["sh", "-c", "echo from-file $V; pwd"], "env": ["PATH=/bin:/usr/bin", "V=42"], "cwd": "/etc",
            "user": {"uid": 0, "gid": 0}, "terminal": False}
    f = os.path.join(rt.tmp, "process.json")
    with open(f, "w") as fh:
        json.dump(proc, fh)
    # with --process the other process flags are ignored
    p = rt.run("exec", "--process", f, "--cwd", "/tmp", running, check=True)
    assert p.stdout == b"from-file 42\n/etc\n"


def test_exec_detach_pid_file(rt, running):
    pidfile = os.path.join(rt.tmp, "exec.pid")
    rt.run("exec", "--detach", "--pid-file", pidfile, running, "sleep", "20", check=True)
    raw = open(pidfile, "rb").read()
    assert raw.isdigit()
    assert pid_alive(int(raw))


def test_exec_not_found(rt, running):
    p = rt.run("exec", running, "nope-not-here")
    assert p.returncode == 1 and b"executable file not found in $PATH" in p.stderr


def test_exec_refused_in_stopped_and_paused(rt, busybox_rootfs, running):
    rt.run("pause", running, check=True)
    p = rt.run("exec", running, "true")
    assert p.returncode == 1 and b"cannot exec in a paused container" in p.stderr
    rt.run("exec", "-d", "--ignore-paused", running, "true", check=True)
    rt.run("resume", running, check=True)
    rt.run("kill", running, "KILL", check=True)
    rt.wait_status(running, "stopped")
    p = rt.run("exec", running, "true")
    assert p.returncode == 1 and b"cannot exec in a stopped container" in p.stderr


def test_exec_lsm_flags_rejected_without_lsm(rt, running):
    if os.path.isdir("/sys/kernel/security/apparmor"):
        pytest.skip("apparmor present")
    p = rt.run("exec", "--apparmor", "docker-default", running, "true")
    assert p.returncode == 1 and b"apparmor" in p.stderr


def test_exec_tty_through_console_socket(rt, running):
    sock_path = os.path.join(rt.tmp, "c.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(1)
    try:
        rt.run("exec", "-d", "-t", "--console-socket", sock_path, running, "sh", "-c", "tty; read x; echo got:$x",
               check=True)
        conn, _ = srv.accept()
        _msg, fds, _f, _a = socket.recv_fds(conn, 4096, 1)
        master = fds[0]
        os.write(master, b"yo\n")
        data = read_until(master, b"got:yo")
        os.close(master)
        conn.close()
        assert b"/dev/pts/" in data and b"got:yo" in data, data
    finally:
        srv.close()


ATTACKER_C = r"""
/* Scan /proc as fast as possible; for every process whose cmdline names pyrunc (a fork of the
 * host python entering the container), open /proc/<pid>/exe and report what the open returned. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(void) {
    char path[64], buf[4096], got[4096];
    int seen = 0, opened = 0;
    for (long round = 0; round < 4000000 && access("/dev/shm/stop", F_OK) != 0; round++) {
        DIR *d = opendir("/proc");
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
            snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
            int fd = open(path, O_RDONLY);
            if (fd < 0) continue;
            ssize_t n = read(fd, buf, sizeof buf - 1);
            close(fd);
            if (n <= 0) continue;
            for (ssize_t i = 0; i < n; i++) if (!buf[i]) buf[i] = ' ';
            buf[n] = 0;
            if (!strstr(buf, "pyrunc")) continue;
            seen++;
            snprintf(path, sizeof path, "/proc/%s/exe", e->d_name);
            int x = open(path, O_RDONLY);
            if (x >= 0) {
                snprintf(path, sizeof path, "/proc/self/fd/%d", x);
                n = readlink(path, got, sizeof got - 1);
                if (n > 0) { got[n] = 0; if (strstr(got, "python")) opened++; }
                close(x);
            }
        }
        if (d) closedir(d);
    }
    printf("seen=%d opened=%d\n", seen, opened);
    return 0;
}
"""


def test_exec_cannot_reach_host_interpreter(rt, rootfs_rw):
    """CVE-2019-5736: while `pyrunc exec` enters a container, its processes are forks of the host
    python. An attacker inside, scanning /proc in a tight loop, sees them (their cmdline) but cannot
    open their /proc/<pid>/exe (non-dumpable from before the first setns), which is the first step
    of the attack (open O_PATH, reopen for writing once the process is gone)."""
    import hashlib
    import subprocess
    src = os.path.join(rt.tmp, "attacker.c")
    with open(src, "w") as f:
        f.write(ATTACKER_C)
    subprocess.run(["gcc", "-static", "-O2", "-o", os.path.join(rootfs_rw, "attacker"), src], check=True)
    target = os.path.realpath("/usr/bin/python3")
    before = hashlib.sha256(open(target, "rb").read()).hexdigest()
    out = os.path.join(rt.tmp, "out")
    os.mkdir(out)

    def cfg(c):
        c["root"]["readonly"] = False
        c["mounts"].append({"destination": "/out", "type": "bind", "source": out, "options": ["rbind"]})
    bundle = rt.bundle(["sh", "-c", "/attacker > /out/result"], rootfs_rw, mutate=cfg)
    cid = rt.new_id()
    rt.run("run", "-d", "--bundle", bundle, cid, check=True)
    for _ in range(20):
        rt.run("exec", cid, "true", check=True)
    rt.run("exec", cid, "touch", "/dev/shm/stop", check=True)
    deadline = time.monotonic() + 30
    while rt.state(cid)["status"] != "stopped" and time.monotonic() < deadline:
        time.sleep(0.05)
    result = dict(kv.split("=") for kv in open(os.path.join(out, "result")).read().split())
    assert int(result["seen"]) > 0, "the attacker never saw a runtime process: the test would prove nothing"
    assert int(result["opened"]) == 0, result
    assert hashlib.sha256(open(target, "rb").read()).hexdigest() == before


def test_exec_joins_user_and_time_namespaces(rt, userns_rootfs):
    from test_init_support import add_ns, userns

    def cfg(c):
        userns(c, 300000, 65536)
        add_ns(c, "time")
        c["linux"]["timeOffsets"] = {"monotonic": {"secs": 86400, "nanosecs": 0}}
        c["process"]["args"] = ["sleep", "60"]
    bundle = rt.bundle(["sleep", "60"], userns_rootfs, mutate=cfg)
    cid = rt.new_id()
    rt.run("run", "-d", "--bundle", bundle, cid, check=True)
    init = rt.state(cid)["pid"]
    p = rt.run("exec", cid, "sh", "-c", "cat /proc/self/uid_map; readlink /proc/self/ns/user; readlink /proc/self/ns/time; "
               "cat /proc/self/timens_offsets; id -u", check=True)
    out = p.stdout.decode()
    assert out.split("\n")[0].split() == ["0", "300000", "65536"]
    assert os.readlink(f"/proc/{init}/ns/user") in out and os.readlink(f"/proc/{init}/ns/time") in out
    assert "monotonic" in out and "86400" in out
    assert out.strip().endswith("0"), "root inside the user namespace"


def test_exec_preserve_fds(rt, running):
    import subprocess
    r, w = os.pipe()
    os.write(w, b"fd-for-exec\n")
    os.close(w)
    try:
        p = subprocess.run(["/bin/bash", "-c", f'exec "$@" 3<&{r}', "bash",
                            *rt.cmd("exec", "--preserve-fds", "1", running, "sh", "-c", "cat <&3")],
                           pass_fds=(r,), capture_output=True, timeout=60)
    finally:
        os.close(r)
    assert p.returncode == 0 and p.stdout == b"fd-for-exec\n", p.stderr


def test_exec_uses_the_config_the_container_was_created_with(rt, busybox_rootfs):
    """Editing or removing the bundle's config.json after create changes nothing (runtime spec):
    exec still gets the container's process defaults and its seccomp filter."""
    rules = [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]

    def cfg(c):
        c["process"]["env"].append("FROM_CREATE=yes")
        c["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules}
    bundle = rt.bundle(["sleep", "60"], busybox_rootfs, mutate=cfg)
    cid = rt.new_id()
    rt.run("run", "-d", "--bundle", bundle, cid, check=True)
    os.unlink(os.path.join(bundle, "config.json"))
    p = rt.run("exec", cid, "sh", "-c", "echo $FROM_CREATE; mkdir /tmp/q 2>/dev/null; echo rc=$?", check=True)
    assert p.stdout == b"yes\nrc=1\n", p.stdout
