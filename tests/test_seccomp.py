"""pyrunc.runtime.seccomp on the real kernel: every behaviour test forks a child that loads the
filter and then execs busybox or runs a Python snippet; the parent checks exit status / errno."""
from __future__ import annotations

import ctypes
import errno
import json
import os
import platform
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pyrunc.runtime import seccomp
from pyrunc.runtime import seccomp_notify
from pyrunc.runtime.seccomp import SeccompError, compile_filter

BUSYBOX = "/bin/busybox"
HERE = Path(__file__).parent
X86_64 = platform.machine() == "x86_64"
needs_x86_64 = pytest.mark.skipif(not X86_64, reason="docker/podman fixtures list x86 arches")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def nr(name: str) -> int:
    from pyrunc._seccomp import lib
    n = lib.seccomp_syscall_resolve_name(name.encode())
    assert n >= 0, name
    return n


def raw_syscall(number: int, *args: int) -> tuple[int, int]:
    """(return value, errno) of syscall(2); errno is 0 on success."""
    ctypes.set_errno(0)
    rc = _libc.syscall(ctypes.c_long(number), *[ctypes.c_ulong(a) for a in args])
    return rc, (ctypes.get_errno() if rc == -1 else 0)


def fixture_profile(name: str) -> dict:
    """Seccomp section of a real client config (client-configs/ copied by the lead wins)."""
    full = HERE / "fixtures" / "client-configs" / f"{name}-config-true.json"
    if full.exists():
        return json.loads(full.read_text())["linux"]["seccomp"]
    return json.loads((HERE / "fixtures" / "seccomp" / f"{name}-default.json").read_text())


def profile(default: str = "SCMP_ACT_ALLOW", *rules: dict, **extra) -> dict:
    return {"defaultAction": default, "architectures": ["SCMP_ARCH_X86_64"] if X86_64 else [],
            "syscalls": list(rules), **extra}


def rule(names, action: str, **extra) -> dict:
    return {"names": [names] if isinstance(names, str) else list(names), "action": action, **extra}


def run_child(program, target, timeout: float = 20.0) -> tuple[int, str]:
    """Fork; the child loads ``program`` then execs argv ``target`` or returns ``target()`` as its
    exit code. Returns (wait status, stdout+stderr). The child is killed if it outlives timeout."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 120
        try:
            os.close(r)
            os.dup2(w, 1)
            os.dup2(w, 2)
            seccomp.load(program)
            if isinstance(target, list):
                os.execv(target[0], target)
            code = target()
        except BaseException as e:  # noqa: BLE001
            try:
                os.write(2, f"child error: {e!r}\n".encode())
            finally:
                os._exit(120)
        os._exit(code)
    os.close(w)
    out, deadline = b"", time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([r], [], [], left)[0]:
                os.kill(pid, signal.SIGKILL)
                raise AssertionError(f"child timed out; output so far: {out!r}")
            chunk = os.read(r, 65536)
            if not chunk:
                break
            out += chunk
    finally:
        os.close(r)
        _, status = os.waitpid(pid, 0)
    return status, out.decode(errors="replace")


def exit_code(status: int) -> int:
    assert os.WIFEXITED(status), f"child did not exit normally: status {status:#x}"
    return os.WEXITSTATUS(status)


def mkdir_errno(path: str):
    def target() -> int:
        try:
            os.mkdir(path)
        except OSError as e:
            return e.errno
        return 0
    return target


# --- actions ----------------------------------------------------------------------------------

def test_errno_defaults_to_eperm(tmp_path):
    prog = compile_filter(profile("SCMP_ACT_ALLOW", rule(["mkdir", "mkdirat"], "SCMP_ACT_ERRNO")))
    status, _ = run_child(prog, mkdir_errno(str(tmp_path / "d")))
    assert exit_code(status) == errno.EPERM
    assert not (tmp_path / "d").exists()
    status, out = run_child(prog, [BUSYBOX, "mkdir", str(tmp_path / "e")])
    assert exit_code(status) == 1 and "Operation not permitted" in out
    assert not (tmp_path / "e").exists()


def test_errno_ret_custom_and_default_errno_ret(tmp_path):
    prog = compile_filter(profile("SCMP_ACT_ALLOW",
                                  rule(["mkdir", "mkdirat"], "SCMP_ACT_ERRNO", errnoRet=42)))
    status, _ = run_child(prog, mkdir_errno(str(tmp_path / "d")))
    assert exit_code(status) == 42

    # defaultErrnoRet applies to the default action only
    prog = compile_filter(profile("SCMP_ACT_ERRNO",
                                  rule(["exit_group", "exit", "getpid"], "SCMP_ACT_ALLOW"),
                                  defaultErrnoRet=95))
    status, _ = run_child(prog, lambda: raw_syscall(nr("getppid"))[1])
    assert exit_code(status) == 95
    # a rule's ERRNO without errnoRet is EPERM, not defaultErrnoRet
    prog = compile_filter(profile("SCMP_ACT_ERRNO",
                                  rule(["exit_group", "exit"], "SCMP_ACT_ALLOW"),
                                  rule("getppid", "SCMP_ACT_ERRNO"), defaultErrnoRet=95))
    status, _ = run_child(prog, lambda: raw_syscall(nr("getppid"))[1])
    assert exit_code(status) == errno.EPERM


@pytest.mark.parametrize("action", ["SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD"])
def test_kill_actions_die_with_sigsys(action):
    prog = compile_filter(profile("SCMP_ACT_ALLOW", rule("getppid", action)))
    status, _ = run_child(prog, lambda: (os.getppid(), 0)[1])
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSYS


def test_trap_delivers_catchable_sigsys():
    prog = compile_filter(profile("SCMP_ACT_ALLOW", rule("getppid", "SCMP_ACT_TRAP")))

    def target() -> int:
        signal.signal(signal.SIGSYS, lambda *_: os._exit(42))
        raw_syscall(nr("getppid"))
        time.sleep(5)  # the Python-level handler runs at the next bytecode boundary
        return 1

    status, _ = run_child(prog, target)
    assert exit_code(status) == 42
    # without a handler the default disposition kills the process
    status, _ = run_child(prog, lambda: (os.getppid(), 0)[1])
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSYS


def test_log_lets_the_syscall_run():
    prog = compile_filter(profile("SCMP_ACT_ALLOW", rule("getppid", "SCMP_ACT_LOG")))
    parent = os.getpid()
    status, _ = run_child(prog, lambda: 0 if os.getppid() == parent else 1)
    assert exit_code(status) == 0
    prog = compile_filter(profile("SCMP_ACT_LOG"))  # LOG as the default action
    status, out = run_child(prog, [BUSYBOX, "true"])
    assert exit_code(status) == 0, out


def test_trace_without_tracer_is_enosys():
    prog = compile_filter(profile("SCMP_ACT_ALLOW", rule("getppid", "SCMP_ACT_TRACE", errnoRet=5)))
    status, _ = run_child(prog, lambda: raw_syscall(nr("getppid"))[1])
    assert exit_code(status) == errno.ENOSYS


# --- argument comparisons ----------------------------------------------------------------------

@needs_x86_64
def test_docker_personality_argument_filter():
    prog = compile_filter(fixture_profile("docker"))

    def target() -> int:
        results = [raw_syscall(nr("personality"), v)[1] for v in (0xFFFFFFFF, 0x0008, 0x0040000)]
        return 0 if results == [0, 0, errno.EPERM] else 100 + results.index(max(results))

    status, out = run_child(prog, target)
    assert exit_code(status) == 0, out


def test_same_index_conditions_are_ored_like_runc():
    args = [{"index": 0, "op": "SCMP_CMP_EQ", "value": 0x0008},
            {"index": 0, "op": "SCMP_CMP_EQ", "value": 0x20000}]
    prog = compile_filter(profile("SCMP_ACT_ALLOW",
                                  rule("personality", "SCMP_ACT_ERRNO", errnoRet=7, args=args)))

    def target() -> int:
        got = [raw_syscall(nr("personality"), v)[1] for v in (0x0008, 0x20000, 0xFFFFFFFF)]
        return 0 if got == [7, 7, 0] else 1

    assert exit_code(run_child(prog, target)[0]) == 0


def test_different_index_conditions_are_anded():
    args = [{"index": 0, "op": "SCMP_CMP_EQ", "value": 0},       # PRIO_PROCESS
            {"index": 1, "op": "SCMP_CMP_EQ", "value": 999999}]  # who
    prog = compile_filter(profile("SCMP_ACT_ALLOW",
                                  rule("getpriority", "SCMP_ACT_ERRNO", errnoRet=77, args=args)))

    def target() -> int:
        gp = nr("getpriority")
        got = [raw_syscall(gp, 0, 999999)[1], raw_syscall(gp, 1, 999999)[1], raw_syscall(gp, 0, 0)[1]]
        return 0 if got == [77, errno.ESRCH, 0] else 1

    assert exit_code(run_child(prog, target)[0]) == 0


@pytest.mark.parametrize("op,value,value2,denied,allowed", [
    ("SCMP_CMP_MASKED_EQ", 0x00FF0000, 0x00020000, [0x20000, 0x20008], [0x0008, 0xFFFFFFFF]),
    ("SCMP_CMP_NE", 0x0008, 0, [0x20000, 0xFFFFFFFF], [0x0008]),
    ("SCMP_CMP_GT", 0x0008, 0, [0x20000], [0x0008, 0]),
    ("SCMP_CMP_GE", 0x0008, 0, [0x0008, 0x20000], [0]),
    ("SCMP_CMP_LT", 0x0008, 0, [0], [0x0008, 0x20000]),
    ("SCMP_CMP_LE", 0x0008, 0, [0, 0x0008], [0x20000]),
])
def test_comparison_operators(op, value, value2, denied, allowed):
    args = [{"index": 0, "op": op, "value": value, "valueTwo": value2}]
    prog = compile_filter(profile("SCMP_ACT_ALLOW",
                                  rule("personality", "SCMP_ACT_ERRNO", errnoRet=11, args=args)))

    def target() -> int:
        p = nr("personality")
        ok = all(raw_syscall(p, v)[1] == 11 for v in denied)
        return 0 if ok and all(raw_syscall(p, v)[1] == 0 for v in allowed) else 1

    assert exit_code(run_child(prog, target)[0]) == 0


# --- real profiles ------------------------------------------------------------------------------

@needs_x86_64
def test_docker_default_profile_runs_busybox(tmp_path):
    prog = compile_filter(fixture_profile("docker"))
    assert prog.flags == 4 and not prog.has_notify  # SPEC_ALLOW by default, like runc
    status, out = run_child(prog, [BUSYBOX, "true"])
    assert exit_code(status) == 0, out
    status, out = run_child(prog, [BUSYBOX, "mkdir", str(tmp_path / "ok")])
    assert exit_code(status) == 0, out
    assert (tmp_path / "ok").is_dir()
    # namespaces need CAP_SYS_ADMIN in docker's profile: unshare is refused although we are root
    status, out = run_child(prog, [BUSYBOX, "unshare", "-u", BUSYBOX, "true"])
    assert exit_code(status) != 0 and "Operation not permitted" in out


@needs_x86_64
def test_docker_profile_enosys_stub():
    """runc's patchbpf: syscalls newer than the profile get ENOSYS, older unknown ones EPERM."""
    prog = compile_filter(fixture_profile("docker"))

    def target() -> int:
        got = [raw_syscall(nr("acct"), 0)[1],          # old, not allowed -> default EPERM
               raw_syscall(1000)[1],                    # beyond the profile -> ENOSYS
               raw_syscall(0x40000000 | 1000)[1],       # x32 beyond the profile -> ENOSYS
               raw_syscall(0x40000000 | nr("acct"))[1],  # x32 within -> the filter (EPERM)
               raw_syscall(nr("clone3"), 0, 0)[1]]      # explicit errnoRet 38
        want = [errno.EPERM, errno.ENOSYS, errno.ENOSYS, errno.EPERM, errno.ENOSYS]
        return 0 if got == want else 1 + next(i for i, (a, b) in enumerate(zip(got, want)) if a != b)

    status, out = run_child(prog, target)
    assert exit_code(status) == 0, out


@needs_x86_64
def test_podman_default_profile_runs_busybox():
    prog = compile_filter(fixture_profile("podman"))
    status, out = run_child(prog, [BUSYBOX, "true"])
    assert exit_code(status) == 0, out
    status, _ = run_child(prog, lambda: raw_syscall(nr("acct"), 0)[1])
    assert exit_code(status) == errno.EPERM  # explicit rule errnoRet 1 beats defaultErrnoRet 38


def test_no_enosys_stub_for_permissive_default():
    plain = compile_filter(profile("SCMP_ACT_ALLOW", rule("getppid", "SCMP_ACT_ERRNO")))
    strict = compile_filter(profile("SCMP_ACT_ERRNO", rule("getppid", "SCMP_ACT_ALLOW")))
    first = lambda p: p.bpf[:8]  # noqa: E731
    assert first(plain) == first(strict)  # both start with "ld arch"
    assert len(strict.bpf) > len(plain.bpf)


# --- notify -------------------------------------------------------------------------------------

@pytest.mark.parametrize("flags", [None, ["SECCOMP_FILTER_FLAG_TSYNC",
                                          "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]])
def test_notify_agent_answers_mkdir(tmp_path, flags):
    sock_path = str(tmp_path / "agent.sock")
    extra = {"listenerPath": sock_path, "listenerMetadata": "meta-1"}
    if flags is not None:
        extra["flags"] = flags
    prog = compile_filter(profile("SCMP_ACT_ALLOW", rule(["mkdir", "mkdirat"], "SCMP_ACT_NOTIFY"),
                                  **extra))
    assert prog.has_notify and prog.flags & 8
    if flags:
        assert prog.flags & (1 | 16 | 32) == 1 | 16 | 32  # TSYNC + TSYNC_ESRCH + WAIT_KILLABLE_RECV
    state = {"ociVersion": "1.2.0", "id": "c1", "status": "creating", "pid": 0,
             "bundle": str(tmp_path), "annotations": {"a": "b\u00e9"}}
    a, b = tmp_path / "a", tmp_path / "b"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path)
    listener.listen(1)
    listener.settimeout(20)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.dup2(w, 1)
            os.dup2(w, 2)
            listener.close()
            fd = seccomp.load(prog)
            seccomp.send_listener(sock_path, fd, dict(state, pid=os.getpid()), "meta-1")
            os.close(fd)
            os.execv(BUSYBOX, [BUSYBOX, "mkdir", str(a), str(b)])
        finally:
            os._exit(120)
    os.close(w)
    notify_fd = -1
    try:
        conn, _ = listener.accept()
        with conn:
            msg, fds, _, _ = socket.recv_fds(conn, 65536, 4)
        assert len(fds) == 1
        notify_fd = fds[0]
        doc = json.loads(msg)
        assert doc["ociVersion"] == "1.2.0" and doc["fds"] == ["seccompFd"]
        assert doc["pid"] == pid and doc["metadata"] == "meta-1"
        assert doc["state"] == dict(state, pid=pid)
        answers = []
        for reply in ({"error": 42}, {"val": 0}):  # mkdir a -> ENOMSG; mkdir b -> fake success
            assert select.select([notify_fd], [], [], 20)[0], "no notification"
            n = seccomp_notify.recv(notify_fd)
            assert n.pid == pid and n.nr in (nr("mkdir"), nr("mkdirat"))
            assert seccomp_notify.id_valid(notify_fd, n.id)
            seccomp_notify.respond(notify_fd, n.id, **reply)
            answers.append(n)
        out = b""
        while chunk := os.read(r, 65536):
            out += chunk
        _, status = os.waitpid(pid, 0)
        pid = 0
    finally:
        listener.close()
        os.close(r)
        if notify_fd >= 0:
            os.close(notify_fd)
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    assert exit_code(status) == 1
    assert os.strerror(errno.ENOMSG) in out.decode() and str(a) in out.decode()
    assert not a.exists() and not b.exists()  # "success" for b was faked by the agent


def test_send_listener_error_names_field(tmp_path):
    with pytest.raises(SeccompError, match=r"^linux\.seccomp\.listenerPath: "):
        seccomp.send_listener(str(tmp_path / "missing.sock"), 0, {"pid": 1}, "")


# --- cache --------------------------------------------------------------------------------------

@needs_x86_64
def test_cache_hit_and_miss_are_identical(tmp_path):
    docker = fixture_profile("docker")
    fresh = compile_filter(docker)
    miss = compile_filter(docker, str(tmp_path / "cache"))
    hit = compile_filter(docker, str(tmp_path / "cache"))
    assert (fresh.cached, miss.cached, hit.cached) == (False, False, True)
    assert fresh.bpf == miss.bpf == hit.bpf
    assert fresh.flags == miss.flags == hit.flags
    entries = list((tmp_path / "cache").iterdir())
    assert len(entries) == 1 and entries[0].suffix == ".bpf"
    for prog in (miss, hit):
        status, out = run_child(prog, [BUSYBOX, "true"])
        assert exit_code(status) == 0, out
        status, _ = run_child(prog, lambda: raw_syscall(nr("acct"), 0)[1])
        assert exit_code(status) == errno.EPERM
    # the key covers the profile: another profile is another entry
    other = dict(docker, defaultErrnoRet=13)
    assert not compile_filter(other, str(tmp_path / "cache")).cached
    assert len(list((tmp_path / "cache").iterdir())) == 2
    # ... but not fields that do not reach the BPF
    assert compile_filter(dict(docker, flags=[]), str(tmp_path / "cache")).cached


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage", "empty", "append"])
def test_corrupted_cache_entry_is_rebuilt(tmp_path, damage):
    prof = profile("SCMP_ACT_ALLOW", rule(["mkdir", "mkdirat"], "SCMP_ACT_ERRNO", errnoRet=42))
    cache = tmp_path / "cache"
    good = compile_filter(prof, str(cache))
    (entry,) = cache.iterdir()
    data = entry.read_bytes()
    damaged = {"flip": data[:-3] + bytes([data[-3] ^ 0x40]) + data[-2:],
               "truncate": data[:-8], "garbage": os.urandom(len(data)), "empty": b"",
               "append": data + data[-8:]}[damage]
    entry.write_bytes(damaged)
    again = compile_filter(prof, str(cache))
    assert not again.cached and again.bpf == good.bpf
    assert entry.read_bytes() == data  # rebuilt in place
    assert compile_filter(prof, str(cache)).cached
    status, _ = run_child(again, mkdir_errno(str(tmp_path / "d")))
    assert exit_code(status) == 42


@needs_x86_64
def test_concurrent_compiles_share_the_cache_safely(tmp_path):
    docker = fixture_profile("docker")
    cache = tmp_path / "cache"
    gate_r, gate_w = os.pipe()
    pids = []
    for i in range(6):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.close(gate_w)
                os.read(gate_r, 1)  # all children start together when the gate closes
                prog = compile_filter(docker, str(cache))
                (tmp_path / f"out{i}").write_bytes(prog.bpf)
                code = 0
            finally:
                os._exit(code)
        pids.append(pid)
    os.close(gate_r)
    os.close(gate_w)
    codes = [exit_code(os.waitpid(p, 0)[1]) for p in pids]
    assert codes == [0] * 6
    want = compile_filter(docker).bpf
    assert all((tmp_path / f"out{i}").read_bytes() == want for i in range(6))
    assert [p.suffix for p in cache.iterdir()] == [".bpf"]  # no temp files left behind
    assert compile_filter(docker, str(cache)).cached


def test_unwritable_cache_dir_still_compiles(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a dir")
    prog = compile_filter(profile("SCMP_ACT_ALLOW"), str(blocker / "cache"))
    assert prog is not None and not prog.cached and len(prog.bpf) % 8 == 0


# --- semantics without running ------------------------------------------------------------------

def test_disabled_profiles_return_none():
    assert compile_filter(None) is None
    assert compile_filter({}) is None
    assert compile_filter({"defaultAction": "", "syscalls": []}) is None


def test_unknown_syscalls_are_skipped_and_logged(tmp_path):
    notes = []
    prog = compile_filter(profile("SCMP_ACT_ALLOW", rule(["no_such_syscall_x", "mkdir", "mkdirat"],
                                                         "SCMP_ACT_ERRNO", errnoRet=42)),
                          log=notes.append)
    assert any("no_such_syscall_x" in n and "syscalls[0].names[0]" in n for n in notes)
    status, _ = run_child(prog, mkdir_errno(str(tmp_path / "d")))
    assert exit_code(status) == 42


def test_rule_equal_to_default_is_skipped():
    prog = compile_filter(profile("SCMP_ACT_ERRNO", rule("mkdir", "SCMP_ACT_ERRNO"),
                                  rule("read", "SCMP_ACT_ERRNO", errnoRet=1)))
    assert prog is not None


def test_flags_mapping():
    base = profile("SCMP_ACT_ALLOW")
    assert compile_filter(base).flags == 4  # absent -> SPEC_ALLOW (runc)
    assert compile_filter(dict(base, flags=[])).flags == 0
    assert compile_filter(dict(base, flags=["SECCOMP_FILTER_FLAG_LOG",
                                            "SECCOMP_FILTER_FLAG_TSYNC"])).flags == 3
    # WAIT_KILLABLE_RECV only means something with a listener; the kernel rejects it otherwise
    assert compile_filter(dict(base, flags=["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"])).flags == 0
    prog = compile_filter(dict(base, flags=["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_TSYNC",
                                            "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]))
    status, out = run_child(prog, [BUSYBOX, "true"])
    assert exit_code(status) == 0, out


def test_architectures():
    prog = compile_filter({"defaultAction": "SCMP_ACT_ALLOW",
                           "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32",
                                             "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
                           "syscalls": [rule("mkdir", "SCMP_ACT_ERRNO")]})
    status, out = run_child(prog, [BUSYBOX, "true"])
    assert exit_code(status) == 0, out
    unsupported = [a for a in seccomp.ARCHS if a not in seccomp.features()["archs"]]
    if unsupported:
        with pytest.raises(SeccompError, match=r"^linux\.seccomp\.architectures\[0\]: .*not supported"):
            compile_filter({"defaultAction": "SCMP_ACT_ALLOW", "architectures": unsupported[:1]})


@pytest.mark.parametrize("mutate,message", [
    (lambda p: p.update(defaultAction="SCMP_ACT_FOO"),
     'linux.seccomp.defaultAction: unknown action "SCMP_ACT_FOO"'),
    (lambda p: p["syscalls"][3].update(action="SCMP_ACT_FOO"),
     'linux.seccomp.syscalls[3].action: unknown action "SCMP_ACT_FOO"'),
    (lambda p: p["syscalls"][1].update(args=[{"index": 6, "op": "SCMP_CMP_EQ", "value": 1}]),
     "linux.seccomp.syscalls[1].args[0].index: must be an integer in [0, 5]"),
    (lambda p: p["syscalls"][1].update(args=[{"index": 0, "op": "SCMP_CMP_XX", "value": 1}]),
     'linux.seccomp.syscalls[1].args[0].op: unknown operator "SCMP_CMP_XX"'),
    (lambda p: p["syscalls"][0].update(args=[{"index": 0, "op": "SCMP_CMP_EQ", "value": -1}]),
     "linux.seccomp.syscalls[0].args[0].value: must be an integer"),
    (lambda p: p["syscalls"][0].update(args=[{"index": 0, "op": "SCMP_CMP_EQ", "value": 1 << 64}]),
     "linux.seccomp.syscalls[0].args[0].value: must be an integer"),
    (lambda p: p["syscalls"][2].update(names=[]), "linux.seccomp.syscalls[2].names: must be"),
    (lambda p: p["syscalls"][2].update(names=["read", ""]),
     "linux.seccomp.syscalls[2].names[1]: must be a non-empty string"),
    (lambda p: p["syscalls"][0].update(errnoRet="x"), "linux.seccomp.syscalls[0].errnoRet: must be"),
    (lambda p: p.update(defaultErrnoRet=-3), "linux.seccomp.defaultErrnoRet: must be"),
    (lambda p: p.update(architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_VAX"]),
     'linux.seccomp.architectures[1]: unknown architecture "SCMP_ARCH_VAX"'),
    (lambda p: p.update(flags=["SECCOMP_FILTER_FLAG_NOPE"]),
     'linux.seccomp.flags[0]: unknown flag "SECCOMP_FILTER_FLAG_NOPE"'),
    (lambda p: p.update(defaultAction="SCMP_ACT_NOTIFY"),
     "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be used as default action"),
    (lambda p: p["syscalls"][1].update(action="SCMP_ACT_NOTIFY", names=["read", "write"],
                                       **{}) or p.update(listenerPath="/x"),
     "linux.seccomp.syscalls[1].names[1]: SCMP_ACT_NOTIFY cannot be used for the write syscall"),
    (lambda p: p["syscalls"][1].update(action="SCMP_ACT_NOTIFY"),
     "linux.seccomp.listenerPath: required when SCMP_ACT_NOTIFY is used"),
    (lambda p: p["syscalls"].__setitem__(2, "mkdir"), "linux.seccomp.syscalls[2]: must be an object"),
    (lambda p: p.update(syscalls={"names": ["x"]}), "linux.seccomp.syscalls: must be an array"),
])
def test_validation_errors_name_the_field(mutate, message):
    prof = profile("SCMP_ACT_ERRNO", rule("read", "SCMP_ACT_ALLOW"), rule("mkdir", "SCMP_ACT_ALLOW"),
                   rule("close", "SCMP_ACT_ALLOW"), rule("exit", "SCMP_ACT_ALLOW"))
    mutate(prof)
    with pytest.raises(SeccompError) as info:
        compile_filter(prof)
    text = str(info.value)
    assert text.startswith(message) and "\n" not in text


def test_missing_default_action_with_syscalls_is_an_error():
    with pytest.raises(SeccompError, match=r'^linux\.seccomp\.defaultAction: unknown action ""'):
        compile_filter({"syscalls": [rule("read", "SCMP_ACT_ALLOW")]})


@pytest.mark.parametrize("bpf", [b"\x00" * 12, b"\xff\xff" + b"\x00" * 6, b""])
def test_load_rejects_garbage_program(bpf):
    status, out = run_child(seccomp.Program(bpf, 0, False), [BUSYBOX, "true"])
    assert exit_code(status) == 120 and "Invalid argument" in out


# --- introspection, constants and the hot-path import rule ----------------------------------

def test_features_and_version():
    f = seccomp.features()
    assert f["enabled"] is True
    assert {"SCMP_ACT_NOTIFY", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_LOG"} <= set(f["actions"])
    assert "SCMP_CMP_MASKED_EQ" in f["operators"]
    assert {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64"} <= set(f["archs"])
    assert set(f["supportedFlags"]) <= set(f["knownFlags"])
    assert "SECCOMP_FILTER_FLAG_SPEC_ALLOW" in f["supportedFlags"]  # kernel 6.18
    v = seccomp.libseccomp_version()
    assert v.count(".") == 2 and all(p.isdigit() for p in v.split("."))


def test_constants_match_libseccomp():
    from pyrunc._seccomp import lib
    for name, value in seccomp.OPERATORS.items():
        assert getattr(lib, name) == value
    assert lib.SECCOMP_FILTER_FLAG_TSYNC == 1 and lib.SECCOMP_FILTER_FLAG_LOG == 2
    assert lib.SECCOMP_FILTER_FLAG_SPEC_ALLOW == 4 and lib.SECCOMP_FILTER_FLAG_NEW_LISTENER == 8
    assert lib.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV == 32


def test_hot_path_imports_stay_light(tmp_path):
    site = str(Path(seccomp.__file__).resolve().parents[2])
    code = (
        "import sys; sys.path.insert(0, %r)\n"
        "from pyrunc.runtime import seccomp\n"
        "p = seccomp.compile_filter({'defaultAction': 'SCMP_ACT_ERRNO', 'syscalls': ["
        "{'names': ['read', 'write'], 'action': 'SCMP_ACT_ALLOW'}]}, %r)\n"
        "bad = [m for m in ('json', 're', 'argparse', 'ctypes', 'logging', 'hashlib', 'socket',"
        " 'enum') if m in sys.modules]\n"
        "print(p.cached, bad)\n" % (site, str(tmp_path / "c"))
    )
    outs = [subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True,
                           text=True, timeout=60) for _ in range(2)]
    assert [o.stdout.strip() for o in outs] == ["False []", "True []"], [o.stderr for o in outs]
