"""Issue 5: seccomp applied to real containers (init and exec), cache behaviour, notify."""
import json
import os
import socket
import threading

from support import FIXTURES


def _seccomp(rules, default="SCMP_ACT_ALLOW", **extra):
    def mutate(cfg):
        cfg["linux"]["seccomp"] = {"defaultAction": default, "architectures": ["SCMP_ARCH_X86_64"],
                                   "syscalls": rules, **extra}
    return mutate


def test_errno_for_mkdir(rt, busybox_rootfs):
    rules = [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]
    bundle = rt.bundle(["sh", "-c", "mkdir /tmp/x 2>&1; echo rc=$?"], busybox_rootfs, mutate=_seccomp(rules))
    p = rt.run("run", "--bundle", bundle, rt.new_id(), check=True)
    assert b"Permission denied" in p.stdout and b"rc=1" in p.stdout


def test_argument_filter(rt, busybox_rootfs):
    # personality(0xffffffff) (a query) allowed, everything else EPERM: busybox `linux32` sets PER_LINUX32
    rules = [{"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
              "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]
    bundle = rt.bundle(["sh", "-c", "linux32 uname -m 2>&1; echo rc=$?; uname -m"], busybox_rootfs,
                       mutate=_seccomp(rules))
    out = rt.run("run", "--bundle", bundle, rt.new_id(), check=True).stdout.decode()
    assert "rc=1" in out and "x86_64" in out and "i686" not in out


def test_kill_process(rt, busybox_rootfs):
    rules = [{"names": ["getcwd"], "action": "SCMP_ACT_KILL_PROCESS"}]
    def mutate(cfg):
        _seccomp(rules)(cfg)
        cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "pid"]
    bundle = rt.bundle(["sh", "-c", "pwd"], busybox_rootfs, mutate=mutate)
    p = rt.run("run", "--bundle", bundle, rt.new_id())
    assert p.returncode == 128 + 31, (p.returncode, p.stderr)  # SIGSYS


def test_docker_default_profile_runs_true_and_blocks_unshare(rt, busybox_rootfs):
    docker = json.load(open(os.path.join(FIXTURES, "client-configs", "docker-config-true.json")))

    def mutate(cfg):
        cfg["linux"]["seccomp"] = docker["linux"]["seccomp"]
        cfg["process"]["capabilities"] = docker["process"]["capabilities"]
    bundle = rt.bundle(["sh", "-c", "true && unshare -U true; echo rc=$?"], busybox_rootfs, mutate=mutate)
    for _ in range(2):  # the second run is served from the compiled-filter cache
        p = rt.run("run", "--bundle", bundle, rt.new_id(), check=True)
        assert b"rc=1" in p.stdout
    cache = os.path.join(rt.root, ".seccomp-cache")
    assert os.listdir(cache), "the compiled filter was cached under the runtime root"


def test_cache_corruption_is_rebuilt(rt, busybox_rootfs):
    rules = [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    bundle = rt.bundle(["sh", "-c", "mkdir /tmp/y 2>/dev/null; echo rc=$?"], busybox_rootfs,
                       mutate=_seccomp(rules))
    assert b"rc=1" in rt.run("run", "--bundle", bundle, rt.new_id(), check=True).stdout
    cache = os.path.join(rt.root, ".seccomp-cache")
    for name in os.listdir(cache):
        with open(os.path.join(cache, name), "r+b") as f:
            data = bytearray(f.read())
            data[len(data) // 2] ^= 0xFF
            f.seek(0)
            f.write(data)
    assert b"rc=1" in rt.run("run", "--bundle", bundle, rt.new_id(), check=True).stdout


def test_exec_gets_the_container_filter(rt, busybox_rootfs):
    rules = [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    bundle = rt.bundle(["sleep", "30"], busybox_rootfs, mutate=_seccomp(rules))
    cid = rt.new_id()
    rt.run("run", "-d", "--bundle", bundle, cid, check=True)
    p = rt.run("exec", cid, "sh", "-c", "mkdir /tmp/z 2>/dev/null; echo rc=$?", check=True)
    assert b"rc=1" in p.stdout


def test_notify_listener_receives_fd_and_answers(rt, busybox_rootfs):
    from pyrunc.runtime import seccomp_notify
    sock_path = os.path.join(rt.tmp, "agent.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(1)
    got = {}

    def agent():
        conn, _ = srv.accept()
        msg, fds, _f, _a = socket.recv_fds(conn, 65536, 1)
        got["state"] = json.loads(msg)
        fd = fds[0]
        req = seccomp_notify.recv(fd)
        got["nr"] = req.nr if hasattr(req, "nr") else req["nr"]
        seccomp_notify.respond(fd, req.id, error=42)
        os.close(fd)
        conn.close()

    t = threading.Thread(target=agent, daemon=True)
    t.start()
    rules = [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
    bundle = rt.bundle(["sh", "-c", "mkdir /tmp/n 2>/dev/null; echo rc=$?; [ -d /tmp/n ] && echo made; true"],
                       busybox_rootfs, mutate=_seccomp(rules, listenerPath=sock_path, listenerMetadata="meta1"))
    cid = rt.new_id()
    try:
        p = rt.run("run", "--bundle", bundle, cid, check=True, timeout=30)
    finally:
        t.join(10)
        srv.close()
    assert b"rc=1" in p.stdout and b"made" not in p.stdout
    st = got["state"]
    assert st["fds"] == ["seccompFd"] and st["metadata"] == "meta1" and st["state"]["id"] == cid


def test_log_action_lets_the_syscall_through(rt, busybox_rootfs):
    rules = [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_LOG"}]
    bundle = rt.bundle(["sh", "-c", "mkdir /dev/shm/logged && echo made"], busybox_rootfs, mutate=_seccomp(rules))
    assert rt.run("run", "--bundle", bundle, rt.new_id(), check=True).stdout == b"made\n"


def test_default_errno_and_allow_list(rt, busybox_rootfs):
    # everything not listed fails with defaultErrnoRet (38 = ENOSYS): mkdir is not on the list
    docker = json.load(open(os.path.join(FIXTURES, "client-configs", "docker-config-true.json")))
    allowed = [g for g in docker["linux"]["seccomp"]["syscalls"] if g["action"] == "SCMP_ACT_ALLOW"]
    names = sorted({n for g in allowed for n in g["names"]} - {"mkdir", "mkdirat"})
    rules = [{"names": names, "action": "SCMP_ACT_ALLOW"}]
    bundle = rt.bundle(["sh", "-c", "mkdir /dev/shm/x 2>&1; echo rc=$?"], busybox_rootfs,
                       mutate=_seccomp(rules, default="SCMP_ACT_ERRNO", defaultErrnoRet=38))
    out = rt.run("run", "--bundle", bundle, rt.new_id(), check=True).stdout
    assert b"rc=1" in out and b"not implemented" in out.lower(), out


def test_filter_sent_after_the_fork_leaves_no_fd_in_the_container(rt, busybox_rootfs):
    # the program travels through a pipe while the init sets up: nothing of it may reach the process
    rules = [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]
    bundle = rt.bundle(["sh", "-c", "ls /proc/self/fd | sort -n | tr '\\n' ' '; mkdir /tmp/z 2>/dev/null; echo rc=$?"],
                       busybox_rootfs, mutate=_seccomp(rules))
    out = rt.run("run", "--bundle", bundle, rt.new_id(), check=True).stdout.decode()
    assert out.split("rc=")[0].split() == ["0", "1", "2", "3"], out  # 3: the fd ls opens for /proc/self/fd
    assert "rc=1" in out


def test_invalid_profile_found_after_the_fork_fails_create_cleanly(rt, busybox_rootfs):
    rules = [{"names": ["mkdir"], "action": "SCMP_ACT_BOGUS"}]
    bundle = rt.bundle(["true"], busybox_rootfs, mutate=_seccomp(rules))
    cid = rt.new_id()
    p = rt.run("create", "--bundle", bundle, cid)
    assert p.returncode == 1
    err = p.stderr.decode().strip()
    assert len(err.splitlines()) == 1 and "linux.seccomp.syscalls[0].action" in err, err
    assert rt.run("state", cid).returncode == 1  # nothing half-made: no state (cgroups: the rt fixture)
