"""Issue 2: the runc CLI contract, driven through the real binary on real containers."""
import json
import os
import re
import socket
import subprocess
import threading
import time

import pytest

from support import cgroup_dirs, pid_alive, read_until

RFC3339NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")


def test_version_lines(rt):
    out = rt.run("--version", check=True).stdout.decode().splitlines()
    assert out[0].startswith("pyrunc version ")
    assert any(line.startswith("commit: ") for line in out)
    assert any(line.startswith("spec: ") for line in out)
    assert any(line.startswith("libseccomp: ") for line in out)


def test_run_bundle_directory_prints_output(rt, busybox_rootfs):
    bundle = rt.bundle(["echo", "hello from the container"], busybox_rootfs, name="mybundle")
    p = subprocess.run([rt.bin, "--root", rt.root, "run", bundle], capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"hello from the container\n"
    assert not os.path.exists(os.path.join(rt.root, "mybundle")), "run without --keep deletes the container"


@pytest.mark.parametrize("script,code", [("exit 0", 0), ("exit 3", 3), ("kill -9 $$", 137), ("kill -15 $$", 143)])
def test_run_exit_status(rt, busybox_rootfs, script, code):
    def no_pidns(cfg):  # pid 1 of a pid namespace ignores its own signals: use the host's
        cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "pid"]
    bundle = rt.bundle(["sh", "-c", script], busybox_rootfs, mutate=no_pidns)
    p = rt.run("run", "--bundle", bundle, rt.new_id())
    assert p.returncode == code, p.stderr


def test_create_start_state_delete(rt, busybox_rootfs):
    bundle = rt.bundle(["sleep", "30"], busybox_rootfs)
    cid = rt.new_id()
    pidfile = os.path.join(rt.tmp, "init.pid")
    rt.run("create", "--bundle", bundle, "--pid-file", pidfile, cid, check=True)
    raw = open(pidfile, "rb").read()
    assert raw.isdigit(), f"pid file must be a bare decimal without newline: {raw!r}"
    out = rt.run("state", cid, check=True).stdout
    assert not out.endswith(b"\n"), "state output has no trailing newline (runc)"
    st = json.loads(out)
    assert list(st) == ["ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "owner"]
    assert st["status"] == "created" and st["id"] == cid and st["bundle"] == bundle
    assert st["pid"] == int(raw) and pid_alive(st["pid"])
    assert RFC3339NANO.match(st["created"]), st["created"]
    assert out.startswith(b'{\n  "ociVersion"'), "2-space indentation like runc"
    # the init sits in its final cgroup when create returns
    cg = open(f"/proc/{st['pid']}/cgroup").read()
    assert cid in cg
    rt.run("start", cid, check=True)
    assert rt.state(cid)["status"] == "running"
    p = rt.run("start", cid)
    assert p.returncode == 1 and b"cannot start an already running container" in p.stderr
    p = rt.run("delete", cid)
    assert p.returncode == 1 and b"is not stopped: running" in p.stderr
    rt.run("kill", cid, "KILL", check=True)
    st = rt.wait_status(cid, "stopped")
    assert st["status"] == "stopped" and st["pid"] == 0
    p = rt.run("start", cid)
    assert p.returncode == 1 and b"cannot start a container that has stopped" in p.stderr
    rt.run("delete", cid, check=True)
    p = rt.run("state", cid)
    assert p.returncode == 1 and b"container does not exist" in p.stderr
    assert not cgroup_dirs(cid)


def test_delete_created_container_kills_init(rt, busybox_rootfs):
    bundle = rt.bundle(["true"], busybox_rootfs)
    cid = rt.new_id()
    rt.run("create", "--bundle", bundle, cid, check=True)
    pid = rt.state(cid)["pid"]
    rt.run("delete", cid, check=True)
    deadline = time.monotonic() + 5
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not pid_alive(pid)


def test_delete_force_running_and_unknown(rt, busybox_rootfs):
    bundle = rt.bundle(["sleep", "30"], busybox_rootfs)
    cid = rt.new_id()
    rt.run("run", "-d", "--bundle", bundle, cid, check=True)
    pid = rt.state(cid)["pid"]
    rt.run("delete", "--force", cid, check=True)
    assert not pid_alive(pid)
    assert rt.run("delete", "-f", "never-existed").returncode == 0
    p = rt.run("delete", "never-existed")
    assert p.returncode == 1 and b"container does not exist" in p.stderr


@pytest.mark.parametrize("sig", ["KILL", "SIGKILL", "9"])
def test_kill_signal_forms(rt, busybox_rootfs, sig):
    bundle = rt.bundle(["sleep", "30"], busybox_rootfs)
    cid = rt.new_id()
    rt.run("run", "--detach", "--bundle", bundle, cid, check=True)
    rt.run("kill", cid, sig, check=True)
    assert rt.wait_status(cid, "stopped")["status"] == "stopped"
    p = rt.run("kill", cid, "9")
    assert p.returncode == 1 and b"container not running" in p.stderr
    assert rt.run("kill", "--all", cid, "9").returncode == 0


def test_kill_default_is_sigterm(rt, busybox_rootfs):
    marker = os.path.join(rt.tmp, "term")
    bundle = rt.bundle(["sh", "-c", "trap 'echo TERM > /out/term; exit 0' TERM; while true; do sleep 0.05; done"],
                       busybox_rootfs, mutate=lambda c: c["mounts"].append(
                           {"destination": "/out", "type": "bind", "source": rt.tmp, "options": ["rbind", "rw"]}))
    cid = rt.new_id()
    rt.run("run", "-d", "--bundle", bundle, cid, check=True)
    time.sleep(0.2)
    rt.run("kill", cid, check=True)
    rt.wait_status(cid, "stopped")
    assert open(marker).read() == "TERM\n"


def test_error_words_and_exit_codes(rt, busybox_rootfs):
    bundle = rt.bundle(["sleep", "30"], busybox_rootfs)
    cid = rt.new_id()
    rt.run("create", "--bundle", bundle, cid, check=True)
    p = rt.run("create", "--bundle", bundle, cid)
    assert p.returncode == 1 and b"container with given ID already exists" in p.stderr
    for bad in ("a/b", "..", "a b", "x:y"):
        p = rt.run("create", "--bundle", bundle, bad)
        assert p.returncode == 1 and b"invalid container ID format" in p.stderr, bad
    p = rt.run("state", "nope")
    assert p.returncode == 1 and b"container does not exist" in p.stderr
    p = rt.run("frobnicate")
    assert p.returncode == 1


def test_executable_not_found_message_and_no_leftovers(rt, busybox_rootfs):
    bundle = rt.bundle(["no-such-binary"], busybox_rootfs)
    cid = rt.new_id()
    p = rt.run("create", "--bundle", bundle, cid)
    assert p.returncode == 1
    # runc's words; on stderr without --log they come in logrus text form, quotes escaped
    assert b'exec: \\"no-such-binary\\": executable file not found in $PATH' in p.stderr, p.stderr
    assert not os.path.exists(os.path.join(rt.root, cid)), "failed create must remove its state dir"
    assert not cgroup_dirs(cid), "failed create must remove its cgroups"
    assert not _procs_in_cgroup_named(cid)


def _procs_in_cgroup_named(name: str) -> list[int]:
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if name in open(f"/proc/{d}/cgroup").read():
                    found.append(int(d))
            except OSError:
                pass
    return found


def test_log_format_json_on_failure(rt, busybox_rootfs):
    bundle = rt.bundle(["no-such-binary"], busybox_rootfs)
    logf = os.path.join(rt.tmp, "log.json")
    p = rt.run("create", "--bundle", bundle, rt.new_id(), log=logf, log_format="json")
    assert p.returncode == 1
    lines = open(logf).read().splitlines()
    errors = [json.loads(line) for line in lines if '"error"' in line]
    assert len(errors) == 1, lines
    e = errors[0]
    assert list(e) == ["level", "msg", "time"] and e["level"] == "error"
    assert "executable file not found" in e["msg"]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", e["time"])
    assert b"executable file not found" in p.stderr, "errors are mirrored on stderr"


def test_global_flags_equals_form(rt, busybox_rootfs):
    bundle = rt.bundle(["true"], busybox_rootfs)
    logf = os.path.join(rt.tmp, "l.json")
    p = subprocess.run([rt.bin, f"--root={rt.root}", f"--log={logf}", "--log-format=json", "--criu", "/x",
                        "--debug", "run", "--bundle", bundle, rt.new_id()], capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert os.path.isdir(rt.root)
    p = rt.run("--log-format", "yaml", "list")
    assert p.returncode == 1 and b"invalid log-format: yaml" in p.stderr


def test_systemd_cgroup_without_systemd(rt, busybox_rootfs):
    if os.path.isdir("/run/systemd/system"):
        pytest.skip("systemd is running here")
    bundle = rt.bundle(["true"], busybox_rootfs)
    p = subprocess.run([rt.bin, "--root", rt.root, "--systemd-cgroup", "run", "--bundle", bundle, rt.new_id()],
                       capture_output=True, timeout=30)
    assert p.returncode == 1 and b"systemd" in p.stderr


def test_list_formats(rt, busybox_rootfs):
    bundle = rt.bundle(["sleep", "30"], busybox_rootfs)
    a, b = rt.new_id("la"), rt.new_id("lb")
    rt.run("create", "--bundle", bundle, a, check=True)
    rt.run("run", "-d", "--bundle", bundle, b, check=True)
    table = rt.run("list", check=True).stdout.decode().splitlines()
    assert table[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    rows = {line.split()[0]: line.split() for line in table[1:]}
    assert rows[a][2] == "created" and rows[b][2] == "running"
    js = json.loads(rt.run("list", "--format", "json", check=True).stdout)
    assert {s["id"]: s["status"] for s in js} == {a: "created", b: "running"}
    assert all(s["owner"] == "root" for s in js)
    assert sorted(rt.run("list", "-q", check=True).stdout.split()) == sorted([a.encode(), b.encode()])


def test_spec_writes_default_and_refuses_overwrite(rt):
    d = os.path.join(rt.tmp, "specb")
    os.mkdir(d)
    rt.run("spec", "--bundle", d, check=True)
    cfg = json.load(open(os.path.join(d, "config.json")))
    assert cfg["root"]["path"] == "rootfs" and cfg["process"]["args"] == ["sh"]
    p = rt.run("spec", "--bundle", d)
    assert p.returncode == 1 and b"exists" in p.stderr
    d2 = os.path.join(rt.tmp, "specr")
    os.mkdir(d2)
    rt.run("spec", "--rootless", "--bundle", d2, check=True)
    cfg = json.load(open(os.path.join(d2, "config.json")))
    assert {"type": "user"} in cfg["linux"]["namespaces"] and "resources" not in cfg["linux"]


def test_features_json(rt):
    f = json.loads(rt.run("features", check=True).stdout)
    assert f["ociVersionMin"] and f["ociVersionMax"]
    assert "rro" in f["mountOptions"] and "rbind" in f["mountOptions"]
    assert "mount" in f["linux"]["namespaces"] and "CAP_SYS_ADMIN" in f["linux"]["capabilities"]
    assert set(f["hooks"]) >= {"prestart", "createRuntime", "poststop"}


def test_stdio_passes_through_and_no_pipe_copy_kept(rt, busybox_rootfs):
    bundle = rt.bundle(["sh", "-c", "read line; echo got:$line; echo err >&2"], busybox_rootfs)
    cid = rt.new_id()
    r_in, w_in = os.pipe()
    r_out, w_out = os.pipe()
    r_err, w_err = os.pipe()
    p = subprocess.run(rt.cmd("create", "--bundle", bundle, cid), stdin=r_in, stdout=w_out, stderr=w_err,
                       timeout=30)
    for fd in (r_in, w_out, w_err):
        os.close(fd)
    assert p.returncode == 0
    rt.run("start", cid, check=True)
    os.write(w_in, b"ping\n")
    os.close(w_in)
    deadline = time.monotonic() + 10
    out = b""
    while time.monotonic() < deadline:  # EOF proves that no copy of the pipe stayed open anywhere
        chunk = os.read(r_out, 4096)
        if not chunk:
            break
        out += chunk
    assert out == b"got:ping\n"
    assert os.read(r_err, 100) == b"err\n"
    os.close(r_out)
    os.close(r_err)


def test_console_socket_delivers_pty_master(rt, busybox_rootfs):
    def tty(cfg):
        cfg["process"]["terminal"] = True
        cfg["process"]["consoleSize"] = {"height": 33, "width": 101}
    bundle = rt.bundle(["sh", "-c", "stty size; tty; read x; echo answer:$x"], busybox_rootfs, mutate=tty)
    sock_path = os.path.join(rt.tmp, "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(1)
    cid = rt.new_id()
    # with a terminal, --console-socket is required for a detached create
    p = rt.run("create", "--bundle", bundle, rt.new_id())
    assert p.returncode == 1 and b"console socket" in p.stderr
    rt.run("create", "--bundle", bundle, "--console-socket", sock_path, cid, check=True)
    conn, _ = srv.accept()
    msg, fds, _flags, _addr = socket.recv_fds(conn, 4096, 1)
    assert msg and len(fds) == 1, "non-empty payload and exactly one fd"
    master = fds[0]
    rt.run("start", cid, check=True)
    os.write(master, b"42\n")
    data = read_until(master, b"answer:42")
    os.close(master)
    conn.close()
    srv.close()
    assert b"33 101" in data, data
    assert b"/dev/pts/" in data or b"/dev/console" in data
    assert b"answer:42" in data


def test_parallel_create_start_delete_cycles(rt, busybox_rootfs):
    bundle = rt.bundle(["true"], busybox_rootfs)
    ids = [rt.new_id("par") for _ in range(20)]
    errors = []

    def cycle(cid):
        try:
            rt.run("create", "--bundle", bundle, cid, check=True)
            rt.run("start", cid, check=True)
            deadline = time.monotonic() + 20
            while rt.state(cid)["status"] != "stopped" and time.monotonic() < deadline:
                time.sleep(0.02)
            rt.run("delete", cid, check=True)
        except Exception as e:  # collected, asserted below
            errors.append(f"{cid}: {e}")

    threads = [threading.Thread(target=cycle, args=(cid,)) for cid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert not [c for c in os.listdir(rt.root) if not c.startswith(".")]
    assert not [d for cid in ids for d in cgroup_dirs(cid)]


def test_run_forwards_signals_to_the_container(rt, busybox_rootfs):
    bundle = rt.bundle(["sh", "-c", "trap 'echo got-usr1; exit 5' USR1; echo ready; while :; do sleep 0.05; done"],
                       busybox_rootfs)
    p = subprocess.Popen(rt.cmd("run", "--bundle", bundle, rt.new_id()), stdout=subprocess.PIPE)
    try:
        assert p.stdout.readline() == b"ready\n"
        p.send_signal(10)  # SIGUSR1 to pyrunc, forwarded to the container's init
        out, _ = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert b"got-usr1" in out and p.returncode == 5


def test_recycled_pid_is_not_taken_for_the_init(rt, busybox_rootfs):
    bundle = rt.bundle(["sleep", "30"], busybox_rootfs)
    cid = rt.new_id()
    rt.run("run", "-d", "--bundle", bundle, cid, check=True)
    assert rt.state(cid)["status"] == "running"
    # a different start time for the same pid is exactly what a recycled pid looks like
    path = os.path.join(rt.root, cid, "state.json")
    st = json.load(open(path))
    st["pid_start"] += 1
    with open(path, "w") as f:
        json.dump(st, f)
    assert rt.state(cid)["status"] == "stopped" and rt.state(cid)["pid"] == 0
    p = rt.run("kill", cid, "KILL")
    assert p.returncode == 1 and b"container not running" in p.stderr, "never signal a recycled pid"
    st["pid_start"] -= 1
    with open(path, "w") as f:
        json.dump(st, f)


def test_failure_after_start_is_reported_on_stderr(rt, rootfs_rw):
    """execve itself happens after the start handshake: its failure must reach the container's
    stderr instead of vanishing in an exit status."""
    bad = os.path.join(rootfs_rw, "bad-exe")
    with open(bad, "wb") as f:
        f.write(b"\x00\x01 not an executable format\n")
    os.chmod(bad, 0o755)
    bundle = rt.bundle(["/bad-exe"], rootfs_rw, mutate=lambda c: c["root"].update(readonly=False))
    p = rt.run("run", "--bundle", bundle, rt.new_id())
    assert p.returncode != 0
    assert b"container init failed" in p.stderr and b"exec format error" in p.stderr.lower(), p.stderr
