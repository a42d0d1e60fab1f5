"""Issue 6: dockerd 20.10 drives the runtime under test (daemon.json ``runtimes``, ``docker run --runtime``).

One private dockerd per module: own data-root, exec-root, pidfile, trust key and socket under a temp dir, a
unique cgroup parent. dockerd starts its own containerd; the shim calls the runtime as
``--root EXEC_ROOT/runtime-<name>/moby --log BUNDLE/log.json --log-format json <cmd>``
(tests/fixtures/client-traces/docker-runtime-calls.txt). dockerd 20.10 never calls ``features``; it runs
``<default runtime> --version`` for ``docker info`` / ``docker version``.
"""
import glob
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

from daemon_util import (drive_shell, remove_cgroup_parents, remove_if_created, stop_process, unmount_under,
                         wait_for_socket, wait_until)
from e2e_support import PtySession, cgroup_file, read, reap_processes_mentioning, require_tools
from images import BUSYBOX_REF, WHITEOUT_CHECK, WHITEOUT_EXPECT, WHITEOUT_REF
from support import mounts_under, pid_alive, unique

pytestmark = pytest.mark.e2e

RUNTIME = "pyrunc"  # the name in daemon.json; its path is the runtime under test (pyrunc or runc)
TRACED = "pyrunc-traced"  # same runtime behind a wrapper that records every argv
# dockerd/containerd paths that are fixed whatever the config says: removed afterwards only if we created them
FIXED_HOST_DIRS = ("/run/docker", "/run/containerd", "/opt/containerd")


def _docker_client() -> str:
    """The docker.io package's client (matches the 20.10 daemon), else whatever ``docker`` is on PATH."""
    return "/usr/bin/docker" if os.access("/usr/bin/docker", os.X_OK) else (shutil.which("docker") or "docker")


class Docker:
    """The docker CLI bound to our daemon's socket, with a private client config dir."""

    def __init__(self, work: str, runtime: str, cgroup_parent: str) -> None:
        self.work, self.runtime, self.cgroup_parent = work, runtime, cgroup_parent
        self.sock = os.path.join(work, "docker.sock")
        self.exec_root = os.path.join(work, "exec")
        self.trace = os.path.join(work, "runtime-argv.log")
        self.log = os.path.join(work, "dockerd.log")
        self.env = dict(os.environ, DOCKER_HOST=f"unix://{self.sock}", DOCKER_CONFIG=os.path.join(work, "client"))
        self.client = _docker_client()

    def argv(self, *args: str) -> list[str]:
        return [self.client, *args]

    def __call__(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        p = subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=timeout, env=self.env,
                           stdin=subprocess.DEVNULL)
        if check and p.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} failed ({p.returncode}):\n{p.stdout}{p.stderr}")
        return p

    def run_argv(self, *flags: str, image: str = BUSYBOX_REF, cmd: list[str], runtime: str = RUNTIME) -> list[str]:
        return self.argv("run", "--runtime", runtime, "--network", "none", "--pull", "never", *flags, image, *cmd)

    def run(self, *flags: str, image: str = BUSYBOX_REF, cmd: list[str], runtime: str = RUNTIME,
            check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        return self(*self.run_argv(*flags, image=image, cmd=cmd, runtime=runtime)[1:], check=check, timeout=timeout)

    def inspect(self, cid: str) -> dict:
        return json.loads(self("inspect", cid).stdout)[0]

    def state_dirs(self, cid: str) -> list[str]:
        """The runtime's state dir for ``cid`` under any ``--root EXEC_ROOT/runtime-*/moby`` dockerd passes."""
        return glob.glob(os.path.join(self.exec_root, "runtime-*", "moby", cid))


def _daemon_json(work: str, runtime: str, cgroup_parent: str) -> dict:
    return {
        "data-root": os.path.join(work, "data"), "exec-root": os.path.join(work, "exec"),
        "pidfile": os.path.join(work, "docker.pid"), "hosts": [f"unix://{work}/docker.sock"],
        "deprecated-key-path": os.path.join(work, "key.json"),
        "bridge": "none", "iptables": False, "ip-masq": False, "ip-forward": False, "userland-proxy": False,
        "storage-driver": "overlay2", "exec-opts": ["native.cgroupdriver=cgroupfs"], "cgroup-parent": cgroup_parent,
        "runtimes": {RUNTIME: {"path": runtime}, TRACED: {"path": os.path.join(work, "runtime-wrapper")}},
        # the default runtime is the one whose --version dockerd reports; every test names its runtime anyway
        "default-runtime": TRACED,
    }


@pytest.fixture(scope="module")
def dockerd(e2e_images, runtime_path):
    """A private dockerd (and the containerd it starts) with both images loaded; stopped by pid and cleaned
    (containers, shims, mounts incl. the data-root bind, cgroups, fixed host dirs it created) at the end."""
    require_tools("dockerd", "docker", "containerd", "containerd-shim-runc-v2")
    work = tempfile.mkdtemp(prefix="pyrunc-e2e-dockerd-")
    existed = {d: os.path.isdir(d) for d in FIXED_HOST_DIRS}
    cgroup_parent = unique("pyrunc-e2e-docker")
    docker = Docker(work, runtime_path, cgroup_parent)
    with open(os.path.join(work, "runtime-wrapper"), "w") as f:
        f.write(f'#!/bin/sh\necho "$*" >> {docker.trace}\nexec {runtime_path} "$@"\n')
    os.chmod(os.path.join(work, "runtime-wrapper"), 0o755)
    with open(os.path.join(work, "daemon.json"), "w") as f:
        json.dump(_daemon_json(work, runtime_path, cgroup_parent), f)
    log_path = docker.log
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(["dockerd", "--config-file", os.path.join(work, "daemon.json")], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for_socket(docker.sock, proc, log_path)
        wait_until(lambda: docker("version", check=False).returncode == 0, 30)
        for key in ("docker_archive", "whiteout_docker_archive"):
            docker("load", "-i", e2e_images[key])
        yield docker
    finally:
        left_states: list[str] = []
        try:
            if proc.poll() is None:
                ids = docker("ps", "-aq", check=False).stdout.split()
                if ids:
                    docker("rm", "-f", *ids, check=False)
            for root in glob.glob(os.path.join(docker.exec_root, "runtime-*", "moby")):
                left_states += [os.path.join(root, c) for c in os.listdir(root) if not c.startswith(".")]
        finally:
            stop_process(proc, timeout=60)
            reap_processes_mentioning(work)  # its containerd and shims, if they outlived it
            unmount_under(work)  # the data-root stays a shared bind mount after dockerd exits
            shutil.rmtree(work, ignore_errors=True)
            for d in FIXED_HOST_DIRS:
                remove_if_created(d, existed[d])
            left_cgroups = remove_cgroup_parents(cgroup_parent)
    assert not left_states, f"runtime state dirs left after docker rm: {left_states}"
    assert not left_cgroups, f"container cgroups left behind: {left_cgroups}"


@pytest.fixture
def detached(dockerd):
    """Start ``docker run -d`` containers; force-removed after the test."""
    made = []

    def start(cmd: list[str], *flags: str) -> str:
        cid = dockerd.run("-d", *flags, cmd=cmd).stdout.strip()
        made.append(cid)
        return cid

    yield start
    for cid in made:
        dockerd("rm", "-f", cid, check=False)


def _running_pid(docker: Docker, cid: str) -> int:
    st = wait_until(lambda: (state := docker.inspect(cid)["State"])["Running"] and state)
    assert st, f"{cid} is not running"
    return st["Pid"]


def test_daemon_reports_the_runtime_version(dockerd):
    """dockerd 20.10 runs ``<default runtime> --version`` and parses "<name> version X" and "commit: Y"."""
    runtimes = json.loads(dockerd("info", "--format", "{{json .Runtimes}}").stdout)
    assert runtimes[RUNTIME]["path"] == dockerd.runtime
    lines = subprocess.run([dockerd.runtime, "--version"], capture_output=True, text=True, check=True).stdout
    version = lines.splitlines()[0].split("version", 1)[1].strip()
    commit = next(ln.split(":", 1)[1].strip() for ln in lines.splitlines() if ln.startswith("commit:"))
    components = json.loads(dockerd("version", "--format", "{{json .Server.Components}}").stdout)
    mine = next(c for c in components if c["Name"] == TRACED)
    assert (mine["Version"], mine["Details"]["GitCommit"]) == (version, commit)
    assert json.loads(dockerd("info", "--format", "{{json .RuncCommit}}").stdout)["ID"] == commit
    with open(dockerd.trace) as f:
        assert "--version" in f.read().splitlines()


def test_client_calls_runtime_under_test(dockerd):
    """The shim execs the configured path with the documented global flags and verbs."""
    with open(dockerd.trace) as f:
        before = len(f.read().splitlines())
    cid = dockerd.run("-d", cmd=["true"], runtime=TRACED).stdout.strip()
    try:
        assert dockerd("wait", cid).stdout.strip() == "0"
        assert dockerd.inspect(cid)["HostConfig"]["Runtime"] == TRACED
    finally:
        dockerd("rm", cid)
    with open(dockerd.trace) as f:
        calls = f.read().splitlines()[before:]
    shim_root = re.compile(rf"--root {re.escape(dockerd.exec_root)}/runtime-[^/ ]+/moby --log ")
    shim_calls = [c for c in calls if shim_root.match(c)]
    verbs = [c.split(" --log-format json ", 1)[1].split()[0] for c in shim_calls]
    assert verbs[:2] == ["create", "start"] and "delete" in verbs[2:], calls
    assert all(c.endswith(cid) for c in shim_calls), calls


def test_run_rm_prints_output_and_cleans_up(dockerd):
    name = unique("d")
    p = dockerd.run("--rm", "--name", name, cmd=["sh", "-c", "echo hello-$((6*7)); id -u; echo pid=$$"])
    assert p.stdout == "hello-42\n0\npid=1\n", p.stderr
    assert dockerd("ps", "-aq", "--filter", f"name={name}").stdout.strip() == ""


@pytest.mark.parametrize("cmd,code", [("exit 7", 7), ("false", 1), ("exit 255", 255)])
def test_exit_status_is_reported(dockerd, cmd, code):
    p = dockerd.run("--rm", cmd=["sh", "-c", cmd], check=False)
    assert p.returncode == code, p.stderr


def test_create_error_reaches_the_client(dockerd):
    """The runtime's error travels log.json -> shim -> dockerd -> CLI, which maps "no such file" to 127."""
    name = unique("d")
    p = dockerd.run("--rm", "--name", name, cmd=["/nonexistent-binary"], check=False)
    assert p.returncode == 127, p.stderr
    assert "/nonexistent-binary" in p.stderr and "no such file or directory" in p.stderr, p.stderr


def test_rlimit_error_reaches_the_client(dockerd):
    """Raising the hard nofile limit above ours needs CAP_SYS_RESOURCE, which is not in the bounding set."""
    with open("/proc/self/limits") as f:
        hard = int(next(line for line in f if line.startswith("Max open files")).split()[4])
    p = dockerd.run("--rm", "--ulimit", f"nofile={hard + 1}:{hard + 1}", cmd=["true"], check=False)
    if p.returncode == 0:
        pytest.skip("this machine lets us raise RLIMIT_NOFILE above its hard limit")
    assert p.returncode != 0
    assert "rlimit" in p.stderr.lower() and "operation not permitted" in p.stderr, p.stderr


def test_exec_without_and_with_tty(dockerd, detached):
    cid = detached(["sleep", "300"])
    _running_pid(dockerd, cid)
    p = dockerd("exec", cid, "sh", "-c",
                "echo in-exec; tr '\\0' ' ' < /proc/1/cmdline; echo; [ -t 0 ] || echo no-tty; exit 5", check=False)
    assert p.returncode == 5, p.stderr
    assert p.stdout.splitlines() == ["in-exec", "sleep 300 ", "no-tty"]
    s = PtySession(dockerd.argv("exec", "-it", cid, "sh"), env=dockerd.env)
    try:
        drive_shell(s, 4)
        assert s.wait() == 4, s.out
    finally:
        s.close()


def test_logs_keep_stdout_and_stderr_apart(dockerd, detached):
    cid = detached(["sh", "-c", "echo to-stdout; echo to-stderr >&2; exec sleep 300"])
    p = wait_until(lambda: (lambda r: "to-stdout" in r.stdout and "to-stderr" in r.stderr and r)(
        dockerd("logs", cid)))
    assert p, dockerd("logs", cid)
    assert p.stdout == "to-stdout\n" and p.stderr == "to-stderr\n"


def test_top_lists_the_container_processes(dockerd, detached):
    cid = detached(["sh", "-c", "sleep 301 & sleep 302 & wait"])
    init = _running_pid(dockerd, cid)

    def children() -> list[int]:
        with open(f"/proc/{init}/task/{init}/children") as f:
            return [int(x) for x in f.read().split()]

    kids = wait_until(lambda: len(children()) == 2 and children())
    assert kids, "both sleeps started"
    out = dockerd("top", cid).stdout.splitlines()
    col = out[0].split().index("PID")
    assert sorted(int(line.split()[col]) for line in out[1:]) == sorted([init, *kids])


def test_pause_and_unpause(dockerd, detached):
    cid = detached(["sleep", "300"])
    init = _running_pid(dockerd, cid)
    state = cgroup_file(init, "freezer", "freezer.state")
    dockerd("pause", cid)
    assert dockerd.inspect(cid)["State"]["Status"] == "paused"
    assert read(state) == "FROZEN"
    dockerd("unpause", cid)
    assert dockerd.inspect(cid)["State"]["Status"] == "running"
    assert read(state) == "THAWED"


def test_update_changes_the_cgroup(dockerd, detached):
    cid = detached(["sleep", "300"], "--memory", "96m", "--cpu-shares", "256")
    init = _running_pid(dockerd, cid)
    mem = cgroup_file(init, "memory", "memory.limit_in_bytes")
    assert int(read(mem)) == 96 << 20
    dockerd("update", "--memory", "64m", "--memory-swap", "128m", "--cpu-shares", "512", "--pids-limit", "50", cid)
    assert int(read(mem)) == 64 << 20
    assert read(cgroup_file(init, "cpu", "cpu.shares")) == "512"
    assert read(cgroup_file(init, "pids", "pids.max")) == "50"
    memsw = cgroup_file(init, "memory", "memory.memsw.limit_in_bytes")
    if os.path.exists(memsw):
        assert int(read(memsw)) == 128 << 20
    assert dockerd.inspect(cid)["HostConfig"]["Memory"] == 64 << 20


def test_stop_term_then_kill_then_start_and_rm(dockerd, detached):
    """``stop -t 1``: TERM (handled but ignored), KILL a second later; ``start`` re-creates; ``rm -f`` ends it."""
    cid = detached(["sh", "-c", 'trap "echo got-term" TERM; echo ready; while :; do sleep 0.1; done'])
    init = _running_pid(dockerd, cid)
    assert wait_until(lambda: "ready" in dockerd("logs", cid).stdout)
    cgroup_dir = os.path.dirname(cgroup_file(init, "freezer", "freezer.state"))
    t0 = time.monotonic()
    dockerd("stop", "-t", "1", cid)
    assert time.monotonic() - t0 >= 1, "KILL came only after the timeout"
    assert "got-term" in dockerd("logs", cid).stdout, "SIGTERM reached the container's init"
    st = dockerd.inspect(cid)["State"]
    assert (st["Status"], st["ExitCode"]) == ("exited", 137)
    assert not pid_alive(init)
    assert not dockerd.state_dirs(cid), "delete removed the runtime's state dir"
    assert not os.path.exists(cgroup_dir), "delete removed the container's cgroup"
    dockerd("start", cid)
    init2 = _running_pid(dockerd, cid)
    assert init2 != init and dockerd.state_dirs(cid)
    merged = dockerd.inspect(cid)["GraphDriver"]["Data"]["MergedDir"]
    assert mounts_under(merged)
    dockerd("rm", "-f", cid)
    assert dockerd("ps", "-aq", "--filter", f"id={cid}").stdout.strip() == ""
    assert not pid_alive(init2)
    assert not dockerd.state_dirs(cid)
    assert not mounts_under(merged)


def test_interactive_tty_session(dockerd):
    """``docker run -it`` in a pty: type a command, read its answer, exit with a status."""
    name = unique("d")
    s = PtySession(dockerd.run_argv("-it", "--rm", "--name", name, cmd=["sh"]), env=dockerd.env)
    try:
        drive_shell(s, 3)
        assert s.wait() == 3, s.out
    finally:
        s.close()
    assert dockerd("ps", "-aq", "--filter", f"name={name}").stdout.strip() == ""


def test_whiteout_image_shows_the_right_files(dockerd):
    p = dockerd.run("--rm", image=WHITEOUT_REF, cmd=["sh", "-c", WHITEOUT_CHECK])
    assert p.stdout.strip() == WHITEOUT_EXPECT
