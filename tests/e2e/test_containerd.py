"""Issue 6: containerd 1.6 + ctr drive the runtime under test (``ctr run --runc-binary``) end to end.

One private containerd per module (own root/state/sockets under a temp dir, a unique namespace). The shim
calls the runtime as ``--root /run/containerd/runc/<ns> --log BUNDLE/log.json --log-format json <cmd>``
(tests/fixtures/client-traces/ctr-runtime-calls.txt). ctr has no ``update``.
"""
import os
import shutil
import subprocess
import tempfile

import pytest

from daemon_util import (drive_shell, remove_cgroup_parents, remove_if_created, stop_process, unmount_under,
                         wait_for_socket, wait_until)
from e2e_support import PtySession, cgroup_file, read, reap_processes_mentioning, require_tools
from images import BUSYBOX_REF, WHITEOUT_CHECK, WHITEOUT_EXPECT, WHITEOUT_REF
from support import mounts_under, pid_alive, unique

pytestmark = pytest.mark.e2e

SHIM_RUNC_ROOT = "/run/containerd/runc"  # fixed in containerd 1.6's runc shim; we own only <ns> below it
CTR_FIFO_ROOT = "/run/containerd/fifo"  # ctr's stdio fifos: DIR/<exec-or-container id>-std{in,out,err}


class Ctr:
    """``ctr`` bound to our daemon's socket and namespace, running containers with the runtime under test."""

    def __init__(self, work: str, sock: str, ns: str, runtime: str) -> None:
        self.work, self.sock, self.ns, self.runtime = work, sock, ns, runtime
        self.state = os.path.join(work, "state")
        self.ids: list[str] = []

    def new_id(self, prefix: str = "c") -> str:
        """A unique container or exec id, remembered so the fixture can find the fifos ctr leaves."""
        self.ids.append(unique(prefix))
        return self.ids[-1]

    def argv(self, *args: str) -> list[str]:
        return ["ctr", "-a", self.sock, "-n", self.ns, *args]

    def __call__(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        p = subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        if check and p.returncode != 0:
            raise AssertionError(f"ctr {' '.join(args)} failed ({p.returncode}):\n{p.stdout}{p.stderr}")
        return p

    def run_argv(self, *flags: str, image: str = BUSYBOX_REF, cid: str, cmd: list[str]) -> list[str]:
        return self.argv("run", "--runc-binary", self.runtime, *flags, image, cid, *cmd)

    def run(self, *flags: str, image: str = BUSYBOX_REF, cid: str, cmd: list[str], check: bool = True,
            timeout: float = 60) -> subprocess.CompletedProcess:
        return self("run", "--runc-binary", self.runtime, *flags, image, cid, *cmd, check=check, timeout=timeout)

    def task(self, cid: str) -> tuple[int, str] | None:
        """(pid, status) of the task from ``ctr task ls``, or None if there is no task."""
        for line in self("task", "ls").stdout.splitlines()[1:]:
            f = line.split()
            if f and f[0] == cid:
                return int(f[1]), f[2]
        return None

    def wait_status(self, cid: str, status: str, timeout: float = 15) -> tuple[int, str] | None:
        wait_until(lambda: (self.task(cid) or (0, ""))[1] == status, timeout)
        return self.task(cid)

    def containers(self) -> list[str]:
        return self("containers", "ls", "-q").stdout.split()

    def runtime_state_dir(self, cid: str) -> str:
        return os.path.join(SHIM_RUNC_ROOT, self.ns, cid)

    def remove(self, cid: str) -> None:
        """Best-effort: kill and delete the task, then the container."""
        if self.task(cid):
            self("task", "kill", "-s", "KILL", cid, check=False)
            self.wait_status(cid, "STOPPED", timeout=10)
            self("task", "rm", "-f", cid, check=False)
        self("containers", "rm", cid, check=False)


CONFIG = """version = 2
root = "{w}/root"
state = "{w}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{w}/containerd.sock"
[ttrpc]
  address = "{w}/containerd.sock.ttrpc"
[debug]
  address = "{w}/debug.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "{w}/opt"
"""


@pytest.fixture(scope="module")
def containerd(e2e_images, runtime_path):
    """A private containerd with both images imported; stopped by pid and cleaned (mounts, shims, state dirs,
    cgroups) at the end. Fails the module's teardown if the runtime left a state dir or cgroup behind."""
    require_tools("containerd", "ctr", "containerd-shim-runc-v2")
    work = tempfile.mkdtemp(prefix="pyrunc-e2e-ctrd-")
    ns = unique("pyrunc-e2e-ctrd")
    sock = os.path.join(work, "containerd.sock")
    run_containerd_existed = os.path.isdir("/run/containerd")
    with open(os.path.join(work, "config.toml"), "w") as f:
        f.write(CONFIG.format(w=work))
    log_path = os.path.join(work, "containerd.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(["containerd", "--config", os.path.join(work, "config.toml")], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    ctr = Ctr(work, sock, ns, runtime_path)
    try:
        wait_for_socket(sock, proc, log_path)
        for key in ("oci_archive", "whiteout_oci_archive"):
            ctr("images", "import", e2e_images[key], timeout=120)
        yield ctr
    finally:
        try:
            if proc.poll() is None:
                for cid in ctr.containers():
                    ctr.remove(cid)
        finally:
            stop_process(proc)
            reap_processes_mentioning(sock)  # shims of tasks that were never deleted
            left_mounts = unmount_under(work)
            shutil.rmtree(work, ignore_errors=True)
            state_root = os.path.join(SHIM_RUNC_ROOT, ns)
            left_states = [c for c in (os.listdir(state_root) if os.path.isdir(state_root) else [])
                           if not c.startswith(".")]  # hidden entries are a runtime's caches, not containers
            shutil.rmtree(state_root, ignore_errors=True)
            shutil.rmtree(os.path.join("/run/containerd/io.containerd.runtime.v2.task", ns), ignore_errors=True)
            _remove_ctr_fifos(ctr.ids)
            remove_if_created("/run/containerd", run_containerd_existed)
            left_cgroups = remove_cgroup_parents(ns)
    assert not left_states, f"runtime state dirs left in {state_root}: {left_states}"
    assert not left_cgroups, f"container cgroups left behind: {left_cgroups}"
    assert not left_mounts, f"mounts left under {work}: {left_mounts}"


def _remove_ctr_fifos(ids: list[str]) -> None:
    """ctr leaves the fifo dir of a ``--detach`` exec behind; remove the ones named after our ids."""
    if not os.path.isdir(CTR_FIFO_ROOT):
        return
    for d in os.listdir(CTR_FIFO_ROOT):
        path = os.path.join(CTR_FIFO_ROOT, d)
        try:
            names = os.listdir(path)
        except OSError:
            continue
        if names and all(any(n.startswith(f"{i}-") for i in ids) for n in names):
            shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def detached(containerd):
    """Start ``ctr run -d`` containers whose stdout/stderr go to a log file; removed after the test."""
    made = []

    def start(cmd: list[str]) -> tuple[str, str]:
        cid = containerd.new_id()
        log = os.path.join(containerd.work, f"{cid}.log")
        made.append(cid)
        containerd.run("-d", "--log-uri", f"file://{log}", cid=cid, cmd=cmd)
        return cid, log

    yield start
    for cid in made:
        containerd.remove(cid)


def _log_has(path: str, text: str, timeout: float = 15) -> bool:
    return bool(wait_until(lambda: os.path.exists(path) and text in open(path, errors="replace").read(), timeout))


def test_client_calls_runtime_under_test(containerd, tmp_path):
    """The shim execs exactly the binary given by --runc-binary, with the documented global flags."""
    trace = tmp_path / "argv.log"
    wrapper = tmp_path / "runtime-wrapper"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {trace}\nexec {containerd.runtime} "$@"\n')
    wrapper.chmod(0o755)
    cid = containerd.new_id()
    p = containerd("run", "--runc-binary", str(wrapper), "--rm", BUSYBOX_REF, cid, "echo", "traced")
    assert p.stdout == "traced\n"
    calls = trace.read_text().splitlines()
    prefix = f"--root {SHIM_RUNC_ROOT}/{containerd.ns} --log "
    assert calls and all(c.startswith(prefix) and " --log-format json " in c for c in calls), calls
    verbs = [c.split(" --log-format json ", 1)[1].split()[0] for c in calls]
    assert verbs[:2] == ["create", "start"] and "delete" in verbs[2:], verbs


def test_run_rm_prints_output_and_cleans_up(containerd):
    cid = containerd.new_id()
    p = containerd.run("--rm", cid=cid, cmd=["sh", "-c", "echo hello-$((6*7)); id -u; echo pid=$$"])
    assert p.stdout == "hello-42\n0\npid=1\n", "the command ran as root, pid 1 of its pid namespace"
    assert cid not in containerd.containers()
    assert not os.path.exists(containerd.runtime_state_dir(cid)), "delete removed the runtime's state dir"
    assert not mounts_under(os.path.join(containerd.state, "io.containerd.runtime.v2.task", containerd.ns, cid))


@pytest.mark.parametrize("cmd,code", [("exit 7", 7), ("false", 1), ("exit 255", 255)])
def test_exit_status_is_reported(containerd, cmd, code):
    p = containerd.run("--rm", cid=containerd.new_id(), cmd=["sh", "-c", cmd], check=False)
    assert p.returncode == code, p.stderr


def test_create_error_reaches_the_client(containerd):
    """The shim reads the runtime's error from --log (json, last "error" line) and ctr prints it."""
    cid = containerd.new_id()
    p = containerd.run("--rm", cid=cid, cmd=["/nonexistent-binary"], check=False)
    assert p.returncode != 0
    assert "/nonexistent-binary" in p.stderr and "no such file or directory" in p.stderr, p.stderr
    assert cid not in containerd.containers()
    assert not os.path.exists(containerd.runtime_state_dir(cid))


def test_exec_without_and_with_tty(containerd, detached):
    cid, _ = detached(["sleep", "300"])
    containerd.wait_status(cid, "RUNNING")
    p = containerd("task", "exec", "--exec-id", containerd.new_id("e"), cid, "sh", "-c",
                   "echo in-exec; tr '\\0' ' ' < /proc/1/cmdline; echo; [ -t 0 ] || echo no-tty; exit 5",
                   check=False)
    assert p.returncode == 5, p.stderr
    assert p.stdout.splitlines() == ["in-exec", "sleep 300 ", "no-tty"]
    s = PtySession(containerd.argv("task", "exec", "-t", "--exec-id", containerd.new_id("e"), cid, "sh"))
    try:
        drive_shell(s, 4)
        assert s.wait() == 4, s.out
    finally:
        s.close()


def test_logs_capture_stdout_and_stderr(containerd, detached):
    cid, log = detached(["sh", "-c", "echo to-stdout; echo to-stderr >&2; exec sleep 300"])
    assert _log_has(log, "to-stdout") and _log_has(log, "to-stderr"), open(log).read()


def test_ps_lists_the_container_processes(containerd, detached):
    cid, _ = detached(["sh", "-c", "sleep 301 & sleep 302 & wait"])
    init, _ = containerd.wait_status(cid, "RUNNING")

    def children() -> list[int]:
        with open(f"/proc/{init}/task/{init}/children") as f:
            return [int(x) for x in f.read().split()]

    kids = wait_until(lambda: len(children()) == 2 and children())
    assert kids, "both sleeps started"
    out = containerd("task", "ps", cid).stdout.splitlines()
    assert out[0].split()[0] == "PID"
    assert sorted(int(line.split()[0]) for line in out[1:]) == sorted([init, *kids])


def test_pause_and_resume(containerd, detached):
    cid, _ = detached(["sleep", "300"])
    init, _ = containerd.wait_status(cid, "RUNNING")
    state = cgroup_file(init, "freezer", "freezer.state")
    containerd("task", "pause", cid)
    assert containerd.task(cid)[1] == "PAUSED"
    assert read(state) == "FROZEN"
    containerd("task", "resume", cid)
    assert containerd.task(cid)[1] == "RUNNING"
    assert read(state) == "THAWED"


def test_stop_term_then_kill_then_rm(containerd, detached):
    """``task kill`` sends TERM (handled, ignored by the trap), then ``kill -s KILL`` ends it; rm cleans up."""
    cid, log = detached(["sh", "-c", 'trap "echo got-term" TERM; echo ready; while :; do sleep 0.1; done'])
    init, _ = containerd.wait_status(cid, "RUNNING")
    assert _log_has(log, "ready")
    cgroup_dir = os.path.dirname(cgroup_file(init, "freezer", "freezer.state"))
    containerd("task", "kill", cid)
    assert _log_has(log, "got-term"), "SIGTERM reached the container's init"
    assert containerd.task(cid)[1] == "RUNNING" and pid_alive(init)
    containerd("task", "kill", "-s", "KILL", cid)
    assert containerd.wait_status(cid, "STOPPED")[1] == "STOPPED"
    p = containerd("task", "rm", cid)
    assert "exit code 137" in p.stderr, p.stderr
    assert containerd.task(cid) is None
    assert not os.path.exists(containerd.runtime_state_dir(cid)), "delete removed the runtime's state dir"
    assert not os.path.exists(cgroup_dir), "delete removed the container's cgroup"
    assert not mounts_under(os.path.join(containerd.state, "io.containerd.runtime.v2.task", containerd.ns, cid))
    containerd("containers", "rm", cid)
    assert cid not in containerd.containers()


def test_kill_all_ends_exec_processes_too(containerd, detached):
    cid, _ = detached(["sleep", "300"])
    init, _ = containerd.wait_status(cid, "RUNNING")
    containerd("task", "exec", "--detach", "--exec-id", containerd.new_id("bg"), cid, "sleep", "301")
    extra = wait_until(lambda: [p for p in _pids_in(init) if p != init])
    assert extra, "the detached exec runs"
    containerd("task", "kill", "--all", "-s", "KILL", cid)
    assert containerd.wait_status(cid, "STOPPED")[1] == "STOPPED"
    assert wait_until(lambda: not any(pid_alive(p) for p in [init, *extra]))


def _pids_in(init: int) -> list[int]:
    with open(cgroup_file(init, "pids", "cgroup.procs")) as f:
        return [int(x) for x in f.read().split()]


def test_interactive_tty_session(containerd):
    """``ctr run -t`` in a pty: type a command, read its answer, exit with a status."""
    cid = containerd.new_id()
    s = PtySession(containerd.run_argv("-t", "--rm", cid=cid, cmd=["sh"]))
    try:
        drive_shell(s, 3)
        assert s.wait() == 3, s.out
    finally:
        s.close()
    assert cid not in containerd.containers()


def test_whiteout_image_shows_the_right_files(containerd):
    p = containerd.run("--rm", image=WHITEOUT_REF, cid=containerd.new_id(), cmd=["sh", "-c", WHITEOUT_CHECK])
    assert p.stdout.strip() == WHITEOUT_EXPECT
