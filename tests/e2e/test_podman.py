"""podman drives the runtime under test end to end (issue 6): conmon execs it exactly as it execs runc.

Everything podman keeps lives under one temp dir (graphroot, runroot, tmp_dir, events log) named by
CONTAINERS_CONF / CONTAINERS_STORAGE_CONF / CONTAINERS_REGISTRIES_CONF; every container gets a unique
cgroup parent. The module fixture removes all of it and then asserts that no mount, cgroup, process or
runtime state dir is left. PYRUNC_TEST_RUNTIME=/usr/sbin/runc runs the same assertions against runc.
"""
import json
import os
import re
import resource
import signal
import subprocess
import time
import uuid

import pytest

from e2e_support import (PtySession, cgroup_dirs, cgroup_file, cgroup_tree, drive_shell, read,
                         reap_processes_mentioning, remove_cgroup_tree, require_tools)
from images import WHITEOUT_CHECK, WHITEOUT_EXPECT
from support import mounts_under, pid_alive, rmtree

pytestmark = pytest.mark.e2e

RUNTIME_NAME = "pyrunc"  # the name podman knows the runtime by, whatever binary it points to
CAP_SYS_RESOURCE = 24


def _ulimits() -> tuple[int, int]:
    """Hard nofile/nproc the containers get: podman's root defaults (nofile=1048576) may be out of reach."""
    return (min(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 20000),
            min(resource.getrlimit(resource.RLIMIT_NPROC)[1], 32768))


def _can_raise_hard_limits() -> bool:
    with open("/proc/self/status") as f:
        bnd = next(int(line.split()[1], 16) for line in f if line.startswith("CapBnd:"))
    return bool(bnd >> CAP_SYS_RESOURCE & 1)


def _conf(w: str, runtime: str) -> dict[str, str]:
    """Write containers.conf, storage.conf and registries.conf under ``w``; return the env that selects them."""
    tmp = os.path.join(w, "tmp")
    os.makedirs(tmp)
    nofile, nproc = _ulimits()
    files = {
        "CONTAINERS_CONF": ("containers.conf", f"""\
[containers]
netns = "none"
log_driver = "k8s-file"
# CI machines: hard nofile 20000 and no CAP_SYS_RESOURCE, so podman's nofile=1048576 cannot be set
default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{w}/events.log"
tmp_dir = "{tmp}"
image_copy_tmp_dir = "{tmp}"
runtime = "{RUNTIME_NAME}"
# without this podman would not pass --log-format=json --log FILE to the runtime
runtime_supports_json = ["{RUNTIME_NAME}"]

[engine.runtimes]
{RUNTIME_NAME} = ["{runtime}"]
"""),
        # static_dir stays at its default (graphroot/libpod): conmon's exit command only gets --root
        "CONTAINERS_STORAGE_CONF": ("storage.conf", f"""\
[storage]
driver = "overlay"
graphroot = "{w}/graphroot"
runroot = "{w}/runroot"
"""),
        "CONTAINERS_REGISTRIES_CONF": ("registries.conf", "unqualified-search-registries = []\n"),
    }
    env = dict(os.environ, TMPDIR=tmp)
    for var, (name, text) in files.items():
        path = os.path.join(w, name)
        with open(path, "w") as f:
            f.write(text)
        env[var] = path
    return env


class Podman:
    """podman with this module's config; every container lands below one unique cgroup parent."""

    def __init__(self, w: str, runtime: str) -> None:
        self.w = w
        self.runtime = runtime
        self.env = _conf(w, runtime)
        self.cgroup_parent = f"/pyrunc-e2e-{uuid.uuid4().hex[:10]}"
        self.state_root = "/run/runc" if os.path.basename(runtime) == "runc" else "/run/pyrunc"
        self.host_pids: set[int] = set()

    def argv(self, *args: str) -> list[str]:
        return ["podman", "--runtime", RUNTIME_NAME, *args]

    def __call__(self, *args: str, check: bool = True, timeout: float = 90,
                 raw: bool = False, input: str | None = None) -> subprocess.CompletedProcess:
        """Run podman; output as str, or bytes with ``raw`` (a tty's CR LF must survive)."""
        p = subprocess.run(self.argv(*args), env=self.env, cwd=self.w, input=input,
                           stdin=subprocess.DEVNULL if input is None else None,
                           capture_output=True, text=not raw, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
        return p

    def container_opts(self) -> list[str]:
        return ["--pull=never", "--network", "none", "--cgroup-parent", self.cgroup_parent]

    def run(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return self("run", *self.container_opts(), *args, **kw)

    def inspect(self, name: str) -> dict:
        return json.loads(self("container", "inspect", name).stdout)[0]

    def pid(self, name: str) -> int:
        pid = self.inspect(name)["State"]["Pid"]
        assert pid > 0
        self.host_pids.add(pid)
        return pid

    def event_ids(self) -> set[str]:
        path = os.path.join(self.w, "events.log")
        if not os.path.exists(path):
            return set()
        with open(path) as f:
            return {json.loads(line).get("ID", "") for line in f if line.strip()} - {""}


@pytest.fixture(scope="module")
def podman(e2e_images, runtime_path, tmp_path_factory):
    require_tools("podman", "conmon")
    w = str(tmp_path_factory.mktemp("podman"))
    pm = Podman(w, runtime_path)
    try:
        pm("load", "-i", e2e_images["docker_archive"])
        pm("load", "-i", e2e_images["whiteout_oci_archive"])
        yield pm
    finally:
        _teardown(pm)


def _teardown(pm: Podman) -> None:
    """Remove every container, then check for and clean what anyone left: processes, mounts, cgroups, state."""
    ids = pm.event_ids()
    pm("rm", "--all", "--force", "--time", "0", check=False)
    stray = reap_processes_mentioning(pm.w)
    live = [p for p in pm.host_pids if pid_alive(p)]
    for pid in live:
        os.kill(pid, signal.SIGKILL)
    # podman itself keeps graphroot/overlay bind-mounted; the containers' mounts must be gone
    leaked_mounts = [m for m in mounts_under(pm.w) if "/overlay-containers/" in m or m.endswith("/merged")]
    rmtree(pm.w)
    left_state = [i for i in ids if os.path.exists(os.path.join(pm.state_root, i))]
    for cid in left_state:
        subprocess.run([pm.runtime, "delete", "--force", cid], capture_output=True, timeout=60)
    tops = cgroup_dirs(pm.cgroup_parent)
    # podman keeps <parent> and <parent>/conmon; a container cgroup left behind is the runtime's leak
    leaked_cgroups = sorted({os.path.basename(d) for top in tops for d in cgroup_tree(top)
                             if os.path.basename(d).startswith("libpod-")})
    unremovable = [d for top in tops for d in remove_cgroup_tree(top)]
    assert not stray, f"podman/conmon processes left: {stray}"
    assert not live, f"container processes left: {live}"
    assert not leaked_mounts, f"container mounts left: {leaked_mounts}"
    assert not left_state, f"runtime state left in {pm.state_root}: {left_state}"
    assert not leaked_cgroups, f"container cgroups left below {pm.cgroup_parent}: {leaked_cgroups}"
    assert not unremovable, f"cgroups still busy: {unremovable}"


def _name() -> str:
    return f"pe2e-{uuid.uuid4().hex[:8]}"


def test_run_rm_prints_output(podman):
    name = _name()
    p = podman.run("--rm", "--name", name, "localhost/busybox", "echo", "hello", "from", "podman")
    assert p.stdout == "hello from podman\n"
    assert podman("container", "exists", name, check=False).returncode == 1  # --rm removed it


def test_stdio_streams_stay_apart(podman):
    p = podman.run("--rm", "-i", "localhost/busybox", "sh", "-c",
                   "read line; echo out-$line; echo err-$line >&2", input="piped\n")
    assert (p.stdout, p.stderr) == ("out-piped\n", "err-piped\n")


def test_process_settings_reach_the_container(podman):
    p = podman.run("--rm", "--user", "65534:65534", "--workdir", "/tmp", "--env", "FOO=bar", "--read-only",
                   "--cap-drop", "all", "--cap-add", "chown", "--hostname", "pe2e-host",
                   "localhost/busybox", "sh", "-c",
                   "id -u; id -g; pwd; echo $FOO; hostname; grep CapEff /proc/self/status; "
                   "touch /x 2>/dev/null || echo ro-root")
    assert p.stdout.split("\n") == ["65534", "65534", "/tmp", "bar", "pe2e-host", "CapEff:\t0000000000000001",
                                    "ro-root", ""]
    # --init: podman bind-mounts catatonit as pid 1, which runs the command as its child
    p = podman.run("--rm", "--init", "localhost/busybox", "sh", "-c", "tr '\\0' ' ' </proc/1/cmdline")
    assert p.stdout.startswith("/run/podman-init -- sh -c")


def test_detached_container_lifecycle(podman):
    name = _name()
    cid = podman.run("-d", "--name", name, "localhost/busybox",
                     "sh", "-c", "echo started-ok; exec sleep 1000").stdout.strip()
    pid = podman.pid(name)
    assert podman.inspect(name)["State"]["Status"] == "running"
    # like runc, the container process leads its own session: conmon signals its process group
    assert os.getsid(pid) == os.getpgid(pid) == pid

    # exec without a tty: in the container's pid namespace, output and exit code come back
    p = podman("exec", name, "sh", "-c", "tty; cat /proc/1/cmdline | tr '\\0' ' '; echo")
    assert p.stdout == "not a tty\nsleep 1000 \n"
    assert podman("exec", name, "sh", "-c", "exit 5", check=False).returncode == 5
    # exec with a tty (console socket on exec): output arrives through the pty's line discipline
    assert re.fullmatch(rb"/dev/pts/\d+\r\n", podman("exec", "-t", name, "tty", raw=True).stdout)

    # logs and top
    deadline = time.monotonic() + 10
    while "started-ok" not in podman("logs", name).stdout and time.monotonic() < deadline:
        time.sleep(0.1)
    assert podman("logs", name).stdout == "started-ok\n"
    top = podman("top", name, "pid", "args").stdout
    assert re.search(r"^\s*1\s+sleep 1000\s*$", top, re.M), top

    # pause / unpause freeze and thaw the container's cgroup
    freezer = cgroup_file(pid, "freezer", "freezer.state")
    assert podman.cgroup_parent in freezer
    podman("pause", name)
    assert podman.inspect(name)["State"]["Status"] == "paused"
    assert read(freezer) == "FROZEN"
    podman("unpause", name)
    assert podman.inspect(name)["State"]["Status"] == "running"
    assert read(freezer) == "THAWED"
    assert podman("exec", name, "echo", "alive").stdout == "alive\n"

    # update rewrites the live cgroup limits
    podman("update", "--memory", "64m", "--cpu-shares", "512", name)
    assert read(cgroup_file(pid, "memory", "memory.limit_in_bytes")) == str(64 << 20)
    assert read(cgroup_file(pid, "cpu", "cpu.shares")) == "512"

    # stop: sleep as pid 1 ignores SIGTERM, so podman must wait out -t 2 and then SIGKILL
    t0 = time.monotonic()
    podman("stop", "-t", "2", name)
    assert time.monotonic() - t0 >= 2
    st = podman.inspect(name)["State"]
    assert (st["Status"], st["ExitCode"]) == ("exited", 137)
    assert not pid_alive(pid)

    # rm removes the container, its runtime state and its cgroup
    podman("rm", name)
    assert podman("container", "exists", name, check=False).returncode == 1
    assert not os.path.exists(os.path.join(podman.state_root, cid))
    assert not os.path.exists(os.path.dirname(freezer))


def test_stop_delivers_sigterm_first(podman):
    name = _name()
    podman.run("-d", "--name", name, "localhost/busybox", "sh", "-c",
               "trap 'echo got-term; exit 3' TERM; echo ready; while :; do sleep 0.1; done")
    pid = podman.pid(name)
    deadline = time.monotonic() + 10
    while "ready" not in podman("logs", name).stdout and time.monotonic() < deadline:
        time.sleep(0.1)
    podman("stop", "-t", "60", name, timeout=50)  # returns long before the timeout: TERM was handled
    st = podman.inspect(name)["State"]
    assert (st["Status"], st["ExitCode"]) == ("exited", 3)
    assert podman("logs", name).stdout == "ready\ngot-term\n"
    assert not pid_alive(pid)
    podman("rm", name)


def test_restart_and_start_again_reuse_the_id(podman):
    """restart / start after stop call create again with the same id: the old state must be gone."""
    name = _name()
    podman.run("-d", "--name", name, "localhost/busybox", "sleep", "1000")
    first = podman.pid(name)
    podman("restart", "-t", "0", name)
    second = podman.pid(name)
    assert second != first and not pid_alive(first)
    assert podman.inspect(name)["State"]["Status"] == "running"
    podman("kill", name)
    assert podman("wait", name).stdout.strip() == "137"
    podman("start", name)
    assert podman.pid(name) not in (first, second)
    assert podman("exec", name, "echo", "again").stdout == "again\n"
    podman("rm", "-f", "-t", "0", name)


def test_exec_process_leads_its_own_session(podman):
    name = _name()
    podman.run("-d", "--name", name, "localhost/busybox", "sleep", "1000")
    podman.pid(name)
    # inside the container's pid namespace: the exec'd shell is its own session and group leader
    p = podman("exec", name, "sh", "-c", "cut -d' ' -f1,5,6 /proc/self/stat")
    own, pgrp, sid = p.stdout.split()
    assert own == pgrp == sid, p.stdout
    podman("rm", "-f", "-t", "0", name)


def test_run_timeout_kills_the_container(podman):
    """conmon --timeout SIGKILLs the container's process group: it must not be conmon's own group."""
    name = _name()
    p = podman.run("--rm", "--name", name, "--timeout", "2", "localhost/busybox", "sleep", "600", check=False,
                   timeout=60)
    assert p.returncode == 255, p.stderr
    assert podman("container", "exists", name, check=False).returncode == 1


def test_interactive_run_through_pty(podman):
    sess = PtySession(podman.argv("run", "-it", "--rm", *podman.container_opts(), "localhost/busybox", "sh"),
                      podman.env, podman.w)
    try:
        drive_shell(sess, 3)
        assert sess.wait() == 3
    finally:
        sess.close()


def test_interactive_exec_through_pty(podman):
    name = _name()
    podman.run("-d", "--name", name, "localhost/busybox", "sleep", "1000")
    podman.pid(name)
    sess = PtySession(podman.argv("exec", "-it", name, "sh"), podman.env, podman.w)
    try:
        drive_shell(sess, 4)
        assert sess.wait() == 4
    finally:
        sess.close()
    podman("rm", "-f", "-t", "0", name)


def test_exit_codes_and_errors(podman):
    assert podman.run("--rm", "localhost/busybox", "sh", "-c", "exit 7", check=False).returncode == 7
    # the runtime's error reaches podman through --log (json): podman maps "not found" to 127
    p = podman.run("--rm", "localhost/busybox", "/no/such/binary", check=False)
    assert p.returncode == 127, p.stderr
    assert "/no/such/binary" in p.stderr and "no such file or directory" in p.stderr
    # a file without an x bit: create fails with "permission denied", which podman maps to 126
    p = podman.run("--rm", "localhost/busybox", "/etc/passwd", check=False)
    assert p.returncode == 126, p.stderr
    assert '"/etc/passwd": permission denied' in p.stderr
    # an rlimit above the hard limit needs CAP_SYS_RESOURCE; without it: a clear error naming it, code 126
    p = podman.run("--rm", "--ulimit", "nofile=1048576:1048576", "localhost/busybox", "true", check=False)
    if _can_raise_hard_limits():
        assert p.returncode == 0, p.stderr
    else:
        assert p.returncode == 126, p.stderr
        assert "rlimit" in p.stderr and "operation not permitted" in p.stderr
    # default_ulimits from containers.conf reach the process
    p = podman.run("--rm", "localhost/busybox", "sh", "-c", "ulimit -Hn; ulimit -Hu")
    assert p.stdout == "%d\n%d\n" % _ulimits()


def test_whiteout_layers(podman):
    p = podman.run("--rm", "localhost/whiteout", "sh", "-c", WHITEOUT_CHECK)
    assert p.stdout.strip() == WHITEOUT_EXPECT
