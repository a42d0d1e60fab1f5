"""pyctr containers: spec generation (pure, unit) and real containers through the installed ``pyctr``, with the
default runtime (this venv's pyrunc) and with ``--runtime /usr/sbin/runc``.

Each runtime gets one engine root (module scope: the busybox image is loaded once with ``pyctr load -i``);
every test names its containers uniquely, removes them at the end even when it fails, and checks that nothing
of them is left: container dir, runtime state, mounts, cgroups, monitor processes.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))
from e2e_support import PtySession, drive_shell  # noqa: E402
from support import processes_mentioning  # noqa: E402

from pyrunc.shim.containers import spec, stream  # noqa: E402
from pyrunc.shim.format import human_duration  # noqa: E402
from pyrunc.shim.containers.lifecycle import parse_signal  # noqa: E402
from pyrunc.shim.containers.monitor import JsonFileLog  # noqa: E402
from pyrunc.shim.containers.users import resolve  # noqa: E402
from pyrunc.shim.errors import EngineError  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(HERE), "fixtures", "client-configs")
PYCTR = os.path.join(sys.prefix, "bin", "pyctr")
RUNTIMES = {"pyrunc": os.path.join(sys.prefix, "bin", "pyrunc"), "runc": "/usr/sbin/runc"}
CGROUP_ROOT = "/sys/fs/cgroup"

PASSWD = ("root:x:0:0:root:/root:/bin/sh\n"
          "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
          "app:x:1000:1001:App:/home/app:/bin/sh\n"
          "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
GROUP = "root:x:0:root\ndaemon:x:1:\napp:x:1001:\nwheel:x:10:app,daemon\naudio:x:29:app\nnogroup:x:65534:\n"


def _image_config(**cfg) -> dict:
    return {"architecture": "amd64", "os": "linux",
            "config": {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin"], "Cmd": ["/bin/sh"], **cfg}}


def _spec(cfg: dict | None = None, hc: dict | None = None, **kw) -> dict:
    config = spec.container_config(_image_config(), image="busybox", **{"cmd": ["true"], "hostname": "abc123def456",
                                                                         **(cfg or {})})
    return spec.runtime_spec("a" * 64, config, spec.host_config(**(hc or {})), "/rootfs",
                             etc_files={"hostname": "/c/hostname", "hosts": "/c/hosts", "resolv.conf": "/c/resolv"},
                             passwd=PASSWD, group=GROUP, host=kw.get("host"))


# ====================================================================== unit: spec generation
class TestSpec:
    def test_matches_dockers_generated_config(self):
        """The fields dockerd 20.10 generates for ``docker run busybox sleep 100`` (the recorded fixture)."""
        with open(os.path.join(FIXTURES, "docker-config-sleep.json")) as f:
            docker = json.load(f)
        ours = _spec({"cmd": ["sleep", "100"]})
        assert ours["process"]["capabilities"] == docker["process"]["capabilities"]
        assert ours["process"]["user"] == docker["process"]["user"]   # root: additionalGids [0] from /etc/group
        dm = {m["destination"]: m for m in docker["mounts"]}
        om = {m["destination"]: m for m in ours["mounts"]}
        assert list(om) == list(dm)
        for dest in ("/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue", "/dev/shm"):
            assert om[dest]["type"] == dm[dest]["type"] and om[dest]["options"] == dm[dest]["options"], dest
        for dest in ("/etc/resolv.conf", "/etc/hostname", "/etc/hosts"):
            assert om[dest]["options"] == dm[dest]["options"] and om[dest]["type"] == "bind"
        assert ours["linux"]["resources"]["devices"] == docker["linux"]["resources"]["devices"]
        assert sorted(n["type"] for n in ours["linux"]["namespaces"]) == \
            sorted(n["type"] for n in docker["linux"]["namespaces"])
        assert ours["linux"]["sysctl"] == docker["linux"]["sysctl"]
        assert set(docker["linux"]["maskedPaths"]) <= set(ours["linux"]["maskedPaths"])
        assert ours["linux"]["readonlyPaths"] == docker["linux"]["readonlyPaths"]
        assert ours["linux"]["cgroupsPath"] == "/pyctr/" + "a" * 64
        assert ours["hostname"] == "abc123def456"
        assert ours["root"] == {"path": "/rootfs", "readonly": False}

    def test_env_merge(self):
        cfg = spec.container_config(_image_config(Env=["PATH=/img/bin", "A=1", "B=2"]), image="x", cmd=["true"],
                                    env=["B=3", "C=4"], hostname="h1", tty=True)
        assert cfg["Env"] == ["PATH=/img/bin", "A=1", "B=3", "C=4"]
        env = spec.process_env(cfg)
        assert env == ["PATH=/img/bin", "HOSTNAME=h1", "TERM=xterm", "A=1", "B=3", "C=4"]
        cfg = spec.container_config({"config": {"Cmd": ["x"]}}, image="x", hostname="h2")
        assert spec.process_env(cfg) == [f"PATH={spec.DEFAULT_PATH}", "HOSTNAME=h2"]

    def test_entrypoint_and_cmd(self):
        img = _image_config(Entrypoint=["/entry", "-x"], Cmd=["default"])
        assert spec.process_args(spec.container_config(img, image="x")) == ["/entry", "-x", "default"]
        assert spec.process_args(spec.container_config(img, image="x", cmd=["mine", "1"])) == ["/entry", "-x", "mine", "1"]
        assert spec.process_args(spec.container_config(img, image="x", entrypoint="/other")) == ["/other"]
        assert spec.process_args(spec.container_config(img, image="x", entrypoint="", cmd=["ls"])) == ["ls"]
        with pytest.raises(EngineError, match="No command specified"):
            spec.container_config({"config": {}}, image="x")

    def test_workdir_and_user_from_image(self):
        cfg = spec.container_config(_image_config(WorkingDir="/srv", User="app"), image="x", cmd=["true"])
        assert (cfg["WorkingDir"], cfg["User"]) == ("/srv", "app")
        cfg = spec.container_config(_image_config(WorkingDir="/srv", User="app"), image="x", cmd=["true"],
                                    workdir="/tmp", user="0")
        assert (cfg["WorkingDir"], cfg["User"]) == ("/tmp", "0")
        with pytest.raises(EngineError):
            spec.container_config(_image_config(), image="x", cmd=["true"], workdir="relative")
        s = _spec({"user": "app", "workdir": "/w"})
        assert s["process"]["cwd"] == "/w"
        assert s["process"]["user"] == {"uid": 1000, "gid": 1001, "additionalGids": [10, 29]}

    @pytest.mark.parametrize("user,expect", [
        ("", (0, 0, [0])), ("root", (0, 0, [0])), ("app", (1000, 1001, [10, 29])), ("1000", (1000, 1001, [10, 29])),
        ("app:wheel", (1000, 10, [])), ("app:5", (1000, 5, [])), ("4242", (4242, 0, [])), ("4242:4343", (4242, 4343, [])),
        ("nobody:nogroup", (65534, 65534, [])),
    ])
    def test_user_resolution(self, user, expect):
        u = resolve(user, PASSWD, GROUP)
        assert (u.uid, u.gid, u.additional_gids) == expect

    @pytest.mark.parametrize("user,msg", [("ghost", "unable to find user ghost"), ("app:ghosts", "unable to find group ghosts")])
    def test_unknown_user_or_group_is_an_error(self, user, msg):
        with pytest.raises(EngineError, match=msg):
            resolve(user, PASSWD, GROUP)
        with pytest.raises(EngineError, match="unable to find"):   # no /etc/passwd in the image
            resolve(user, None, None)

    def test_capabilities(self):
        assert spec.capabilities([], []) == spec.DEFAULT_CAPS
        caps = spec.capabilities(["net_admin", "CAP_SYS_TIME"], ["chown", "CAP_KILL"])
        assert "CAP_NET_ADMIN" in caps and "CAP_SYS_TIME" in caps
        assert "CAP_CHOWN" not in caps and "CAP_KILL" not in caps
        assert spec.capabilities(["NET_RAW"], ["ALL"]) == ["CAP_NET_RAW"]
        assert spec.capabilities(["ALL"], []) == spec.ALL_CAPS
        with pytest.raises(EngineError, match="unknown capability"):
            spec.capabilities(["NOPE"], [])
        s = _spec(hc={"cap_add": ["SYS_ADMIN"], "cap_drop": ["ALL"]})
        assert all(v == ["CAP_SYS_ADMIN"] for v in s["process"]["capabilities"].values())

    def test_resources(self):
        s = _spec(hc={"memory": "64m", "cpus": "1.5", "pids_limit": 50, "cpu_shares": 512},
                  host=spec.HostInfo(memsw=True))
        r = s["linux"]["resources"]
        assert r["memory"] == {"limit": 64 << 20, "swap": 128 << 20}
        assert r["cpu"] == {"period": 100000, "quota": 150000, "shares": 512}
        assert r["pids"] == {"limit": 50}
        r = _spec(hc={"memory": "1g", "memory_swap": "-1"}, host=spec.HostInfo(memsw=True))["linux"]["resources"]
        assert r["memory"] == {"limit": 1 << 30, "swap": -1}
        r = _spec(hc={"memory": "1g"}, host=spec.HostInfo(memsw=False))["linux"]["resources"]
        assert r["memory"] == {"limit": 1 << 30}
        assert "pids" not in _spec()["linux"]["resources"]
        with pytest.raises(EngineError, match="Minimum memory"):
            spec.host_config(memory="1m")
        with pytest.raises(EngineError, match="invalid size"):
            spec.host_config(memory="lots")

    def test_rlimits_within_host_limits(self):
        s = _spec(host=spec.HostInfo(nofile_hard=20000))
        assert s["process"]["rlimits"] == [{"type": "RLIMIT_NOFILE", "soft": 20000, "hard": 20000}]
        s = _spec(host=spec.HostInfo(nofile_hard=1 << 30))
        assert s["process"]["rlimits"][0]["hard"] == spec.DEFAULT_NOFILE
        s = _spec(hc={"ulimits": ["nofile=100:200", "nproc=50"]}, host=spec.HostInfo(nofile_hard=20000))
        assert {"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200} in s["process"]["rlimits"]
        assert {"type": "RLIMIT_NPROC", "soft": 50, "hard": 50} in s["process"]["rlimits"]
        with pytest.raises(EngineError):
            spec.parse_ulimit("nofile=10:5")

    def test_mounts_binds_tmpfs_readonly(self):
        s = _spec(hc={"binds": ["/h/data:/data:ro", "/h/x/:/data/sub/", "/h/hosts:/etc/hosts"],
                      "tmpfs": ["/scratch:size=1m,exec"], "read_only": True})
        m = {x["destination"]: x for x in s["mounts"]}
        assert m["/data"] == {"destination": "/data", "type": "bind", "source": "/h/data",
                              "options": ["rbind", "rprivate", "ro"]}
        assert m["/data/sub"]["source"] == "/h/x" and "ro" not in m["/data/sub"]["options"]
        assert m["/etc/hosts"]["source"] == "/h/hosts"       # a user bind replaces the default one
        assert [x["destination"] for x in s["mounts"]].count("/etc/hosts") == 1
        assert m["/etc/hostname"]["options"] == ["rbind", "rprivate", "ro"]   # read-only root: etc files too
        assert m["/scratch"]["type"] == "tmpfs" and m["/scratch"]["options"] == ["nosuid", "nodev", "size=1m"]
        dests = [x["destination"] for x in s["mounts"]]
        assert dests.index("/data") < dests.index("/data/sub")
        assert s["root"]["readonly"] is True
        for bad in ("rel/ative:/x", "/x", "/x:rel", "/a:/b:bogus", "./rel:/x"):
            with pytest.raises(EngineError):
                spec.parse_bind(bad)
        # a name is a named volume: its directory under the engine's volumes dir
        assert spec.parse_bind("vol1:/v:ro", "/e/volumes") == {
            "destination": "/v", "type": "bind", "source": "/e/volumes/vol1/_data", "options": ["rbind", "rprivate", "ro"]}

    def test_network_modes(self):
        none = _spec(hc={"network": "none"})
        assert {"type": "network"} in none["linux"]["namespaces"]
        host = _spec(hc={"network": "host"})
        assert {"type": "network"} not in host["linux"]["namespaces"]
        assert "sysctl" not in host["linux"]     # net sysctls would change the host's network namespace
        assert {"type": "uts"} in host["linux"]["namespaces"]
        bridge = _spec(hc={"network": "bridge"})     # a namespace of its own; eth0 is added by the monitor
        assert {"type": "network"} in bridge["linux"]["namespaces"] and "sysctl" in bridge["linux"]
        with pytest.raises(EngineError, match="no user-defined networks"):
            spec.host_config(network="mynet")

    def test_terminal_console_size(self):
        s = _spec({"tty": True}, {"console_size": (30, 100)})
        assert s["process"]["terminal"] is True
        assert s["process"]["consoleSize"] == {"height": 30, "width": 100}
        assert "TERM=xterm" in s["process"]["env"]


class TestHelpers:
    def test_frames_split_anywhere(self):
        data = stream.frame(stream.STDOUT, b"hello") + stream.frame(stream.EXIT, {"ExitCode": 3})
        r = stream.FrameReader()
        got = []
        for i in range(len(data)):
            got += r.feed(data[i:i + 1])
        assert got == [(b"O", b"hello"), (b"X", b'{"ExitCode": 3}')]

    def test_json_file_log_lines(self, tmp_path):
        path = str(tmp_path / "ctr.log")
        log = JsonFileLog(path)
        log.write("stdout", b"a\nb")
        log.write("stderr", b"err\n")
        log.write("stdout", b"c\n\xff\n")
        log.write("stdout", b"tail")
        log.close()
        recs = [json.loads(line) for line in open(path)]
        assert [(r["stream"], r["log"]) for r in recs] == [
            ("stdout", "a\n"), ("stderr", "err\n"), ("stdout", "bc\n"), ("stdout", "\ufffd\n"), ("stdout", "tail")]
        assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", r["time"]) for r in recs)

    def test_durations_and_signals(self):
        assert human_duration(0.2) == "Less than a second"
        assert human_duration(5) == "5 seconds"
        assert human_duration(70) == "About a minute"
        assert human_duration(3 * 3600) == "3 hours"
        assert parse_signal("TERM") == parse_signal("SIGTERM") == parse_signal("15") == 15
        assert parse_signal(None) == 15
        with pytest.raises(EngineError):
            parse_signal("NOPE")

    def test_inspect_template(self):
        from pyrunc.shim.commands.inspect import render
        obj = {"State": {"Status": "running", "Pid": 7, "Running": True}, "Config": {"Env": ["A=1"]}}
        assert render("{{.State.Status}} {{.State.Pid}} {{.State.Running}}", obj) == "running 7 true"
        assert render("{{json .Config.Env}}", obj) == '["A=1"]'


# ====================================================================== real containers
def _cgroup_dirs(cid: str) -> list[str]:
    found = []
    for hier in os.listdir(CGROUP_ROOT):
        d = os.path.join(CGROUP_ROOT, hier, "pyctr", cid)
        if not os.path.islink(os.path.join(CGROUP_ROOT, hier)) and os.path.isdir(d):
            found.append(d)
    return found


def _mounts_mentioning(text: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if text in line]


class Engine:
    """pyctr with a private root/state and one runtime; ``names`` made by a test are removed by ``forget``."""

    def __init__(self, base: str, runtime: str) -> None:
        self.base = base
        self.root = os.path.join(base, "root")
        self.state = os.path.join(base, "state")
        self.runtime = runtime
        self.runtime_root = os.path.join(self.state, "runtime", os.path.basename(runtime))

    def argv(self, *args: str) -> list[str]:
        return [PYCTR, "--root", self.root, "--state", self.state, "--runtime", self.runtime, *args]

    def __call__(self, *args: str, check: bool = True, input: str | None = None,
                 timeout: float = 60) -> subprocess.CompletedProcess:
        p = subprocess.run(self.argv(*args), capture_output=True, text=True, input=input, timeout=timeout,
                           stdin=None if input is not None else subprocess.DEVNULL)
        if check and p.returncode != 0:
            raise AssertionError(f"pyctr {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
        return p

    def run_bytes(self, *args: str, input: bytes | None = None, timeout: float = 60) -> bytes:
        """Like calling the engine, with binary stdin/stdout (tar streams); fails on a non-zero exit."""
        p = subprocess.run(self.argv(*args), capture_output=True, input=input, timeout=timeout,
                           stdin=None if input is not None else subprocess.DEVNULL)
        if p.returncode != 0:
            raise AssertionError(f"pyctr {' '.join(args)} failed ({p.returncode}): {p.stderr.decode(errors='replace')}")
        return p.stdout

    def inspect(self, name: str) -> dict:
        return json.loads(self("inspect", name).stdout)[0]

    def leftovers(self, cid: str) -> list[str]:
        """Everything of container ``cid`` that should be gone once it is removed."""
        left = []
        if os.path.exists(os.path.join(self.root, "containers", cid)):
            left.append("container dir")
        if os.path.exists(os.path.join(self.state, "containers", cid)):
            left.append("state dir")
        if os.path.exists(os.path.join(self.runtime_root, cid)):
            left.append("runtime state")
        left += [f"mount {m}" for m in _mounts_mentioning(cid)]
        left += [f"cgroup {d}" for d in _cgroup_dirs(cid)]
        if os.path.exists(os.path.join(self.root, "storage", cid)):
            left.append("writable layer")
        return left


@pytest.fixture(scope="module", params=sorted(RUNTIMES), ids=sorted(RUNTIMES))
def engine(request, image_files):
    runtime = RUNTIMES[request.param]
    if not os.path.exists(runtime):
        pytest.fail(f"runtime {runtime} is not installed (scripts/apt-packages.txt)")
    base = tempfile.mkdtemp(prefix="pyctr-ctr-")
    eng = Engine(base, runtime)
    try:
        eng("load", "-i", image_files.oci_archive)
        yield eng
    finally:
        errors = []
        ids = eng("ps", "-a", "-q", "--no-trunc", check=False).stdout.split()
        if ids:
            eng("rm", "-f", *ids, check=False)
            errors.append(f"containers left behind: {ids}")
        for cid in ids:
            errors += [f"{cid[:12]}: {x}" for x in eng.leftovers(cid)]
        deadline = time.monotonic() + 10
        while (procs := processes_mentioning(base)) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in procs:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if procs:
            errors.append(f"processes left behind: {procs}")
        try:
            from pyrunc.shim.context import Context
            Context(root=eng.root, state=eng.state).driver().cleanup()
        except Exception as e:  # noqa: BLE001
            errors.append(f"driver cleanup: {e}")
        mounts = _mounts_mentioning(base)
        for mp in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], capture_output=True)
        if mounts:
            errors.append(f"mounts left behind: {mounts}")
        shutil.rmtree(base, ignore_errors=True)
        assert not errors, "; ".join(errors)


@pytest.fixture
def ctr(engine):
    """Unique container names for one test; each is force-removed afterwards and must leave nothing behind."""
    made: list[str] = []

    def name(prefix: str = "c") -> str:
        n = f"{prefix}-{uuid.uuid4().hex[:8]}"
        made.append(n)
        return n

    yield name
    errors = []
    for n in made:
        p = engine("inspect", "-f", "{{.Id}}", n, check=False)
        if p.returncode != 0:
            continue  # never created, or already removed
        cid = p.stdout.strip()
        rm = engine("rm", "-f", n, check=False)
        if rm.returncode != 0:
            errors.append(f"rm -f {n}: {rm.stderr.strip()}")
        errors += [f"{n}: {x}" for x in engine.leftovers(cid)]
    assert not errors, "; ".join(errors)


def _wait_for(pred, timeout: float = 10, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_run_rm_echo_leaves_nothing(engine, tmp_path):
    cidfile = str(tmp_path / "cid")
    p = engine("run", "--rm", "--cidfile", cidfile, "busybox", "echo", "hi")
    assert p.stdout == "hi\n"
    assert p.returncode == 0
    cid = open(cidfile).read().strip()
    assert len(cid) == 64
    assert engine.leftovers(cid) == []
    assert engine("ps", "-a", "-q").stdout == ""
    # the image's layers are all that is left in the graph driver
    layers = [d for d in os.listdir(os.path.join(engine.root, "storage")) if len(d) == 64]
    assert cid not in layers


@pytest.mark.parametrize("argv,code", [
    (["sh", "-c", "exit 3"], 3),
    (["nosuch-command"], 127),
    (["/etc/passwd"], 126),                # exists, no exec bit
    (["sh", "-c", "exit 255"], 255),
])
def test_exit_codes(engine, argv, code):
    p = engine("run", "--rm", "busybox", *argv, check=False)
    assert p.returncode == code, p.stderr
    if code in (126, 127):
        assert ("not found" if code == 127 else "permission denied") in p.stderr


def test_engine_errors_exit_125(engine, ctr):
    assert engine("run", "--rm", "--pull", "never", "no-such-image", "true", check=False).returncode == 125
    assert engine("run", "--rm", "--cap-add", "BOGUS", "busybox", "true", check=False).returncode == 125
    assert engine("run", "--rm", "-u", "ghost", "busybox", "true", check=False).returncode == 125
    name = ctr()
    engine("create", "--name", name, "busybox", "true")
    p = engine("create", "--name", name, "busybox", "true", check=False)
    assert p.returncode == 125 and "already in use" in p.stderr


def test_failed_start_keeps_created_container_with_error(engine, ctr):
    name = ctr()
    assert engine("run", "--name", name, "busybox", "nosuch", check=False).returncode == 127
    st = engine.inspect(name)["State"]
    assert st["Status"] == "created" and st["ExitCode"] == 127 and "nosuch" in st["Error"]


def test_detached_lifecycle(engine, ctr):
    """run -d, ps, logs, exec, top, stats, stop with a TERM handler, start again with the same ID, rm."""
    name = ctr("life")
    script = ('trap "echo got-TERM; exit 0" TERM; echo started; echo to-stderr >&2; '
              'while true; do sleep 0.1; done')
    cid = engine("run", "-d", "--name", name, "busybox", "sh", "-c", script).stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid)
    ps = engine("ps").stdout
    assert cid[:12] in ps and name in ps and "Up " in ps
    assert engine("ps", "-q").stdout.split() == [cid[:12]]
    _wait_for(lambda: "started" in engine("logs", name).stdout, what="logs")
    logs = engine("logs", name)
    assert logs.stdout == "started\n" and logs.stderr == "to-stderr\n"

    ex = engine("exec", "-e", "X=y", name, "sh", "-c", "echo $X; echo err >&2; exit 4", check=False)
    assert (ex.stdout, ex.stderr, ex.returncode) == ("y\n", "err\n", 4)
    assert engine("exec", name, "nosuch", check=False).returncode == 127

    pid = engine.inspect(name)["State"]["Pid"]
    assert pid > 0
    top = engine("top", name).stdout.splitlines()
    assert "PID" in top[0].split()
    col = top[0].split().index("PID")
    assert pid in [int(line.split()[col]) for line in top[1:]]

    stats = engine("stats", "--no-stream", "--format", "{{json .}}", name).stdout
    row = json.loads(stats)
    assert row["Name"] == name and int(row["PIDs"]) >= 1 and " / " in row["MemUsage"]

    t0 = time.monotonic()
    engine("stop", "-t", "5", name)
    assert time.monotonic() - t0 < 4, "a handled SIGTERM must not wait for the timeout"
    st = engine.inspect(name)["State"]
    assert st["Status"] == "exited" and st["ExitCode"] == 0 and not st["Running"]
    assert "got-TERM" in engine("logs", name).stdout
    assert not _cgroup_dirs(cid) and not os.path.exists(os.path.join(engine.runtime_root, cid))
    assert "Exited (0)" in engine("ps", "-a").stdout

    engine("start", name)
    st2 = engine.inspect(name)["State"]
    assert st2["Running"] and st2["Pid"] != pid and engine.inspect(name)["Id"] == cid
    rm = engine("rm", name, check=False)
    assert rm.returncode != 0 and "cannot remove a running container" in rm.stderr
    engine("rm", "-f", name)
    assert engine.leftovers(cid) == []


def test_stop_kills_after_timeout(engine, ctr):
    name = ctr("stubborn")
    engine("run", "-d", "--name", name, "busybox", "sh", "-c",
           "trap '' TERM; echo ready; while true; do sleep 0.1; done")
    _wait_for(lambda: "ready" in engine("logs", name).stdout, what="ready")
    t0 = time.monotonic()
    engine("stop", "-t", "1", name)
    elapsed = time.monotonic() - t0
    assert 1 <= elapsed < 10
    st = engine.inspect(name)["State"]
    assert st["Status"] == "exited" and st["ExitCode"] == 137


def test_exec_tty_through_pty(engine, ctr):
    name = ctr("tty")
    engine("run", "-d", "--name", name, "busybox", "sleep", "1000")
    sess = PtySession(engine.argv("exec", "-it", name, "sh"))
    try:
        drive_shell(sess, 7)
        assert sess.wait() == 7
    finally:
        sess.close()
    p = engine("exec", "-t", name, "tty")
    assert re.fullmatch(r"/dev/pts/\d+\r?\n", p.stdout)
    assert engine("exec", name, "tty", check=False).stdout.strip() == "not a tty"


def test_run_interactive_tty(engine):
    sess = PtySession(engine.argv("run", "--rm", "-it", "busybox", "sh"))
    try:
        drive_shell(sess, 5)
        assert sess.wait() == 5
    finally:
        sess.close()


def test_run_stdin_and_separate_streams(engine):
    p = engine("run", "--rm", "-i", "busybox", "sh", "-c", "cat; echo done; echo oops >&2", input="piped\n")
    assert (p.stdout, p.stderr, p.returncode) == ("piped\ndone\n", "oops\n", 0)
    p = engine("run", "--rm", "busybox", "cat", input="ignored\n")   # no -i: stdin is empty
    assert p.stdout == ""


def test_run_options(engine, tmp_path):
    """-e, -w, -u, --read-only, -v (rw and ro), --tmpfs, --hostname."""
    data, ro = tmp_path / "data", tmp_path / "ro"
    ro.mkdir()
    (ro / "f").write_text("from-host\n")
    script = ("echo env=$FOO; pwd; id -u; id -g; echo host=$(hostname); "
              "touch /rootfile 2>/dev/null && echo root-writable || echo root-ro; "
              "cat /ro/f; touch /ro/g 2>/dev/null && echo ro-writable || echo ro-ro; "
              "grep ' /scratch ' /proc/mounts | cut -d' ' -f3")
    p = engine("run", "--rm", "-e", "FOO=bar", "-w", "/tmp", "-u", "65534:65534", "--read-only",
               "--hostname", "box1", "-v", f"{ro}:/ro:ro", "--tmpfs", "/scratch",
               "busybox", "sh", "-c", script)
    assert p.stdout.splitlines() == ["env=bar", "/tmp", "65534", "65534", "host=box1", "root-ro",
                                     "from-host", "ro-ro", "tmpfs"], p.stderr
    assert not (ro / "g").exists()
    p = engine("run", "--rm", "-v", f"{data}:/data", "-w", "/new/dir", "busybox", "sh", "-c",
               "echo written > /data/out; pwd; touch /rootfile && echo root-writable")
    assert p.stdout.splitlines() == ["/new/dir", "root-writable"], p.stderr
    assert (data / "out").read_text() == "written\n"   # the missing host dir was created, like docker does
    p = engine("run", "--rm", "-u", "nobody", "busybox", "id")
    assert p.stdout.startswith("uid=65534(nobody) gid=65534(nogroup)")


def test_capabilities_in_container(engine):
    p = engine("run", "--rm", "--cap-drop", "ALL", "--cap-add", "NET_RAW", "busybox", "grep", "CapEff",
               "/proc/self/status")
    assert int(p.stdout.split()[1], 16) == 1 << 13
    p = engine("run", "--rm", "busybox", "grep", "CapBnd", "/proc/self/status")
    assert int(p.stdout.split()[1], 16) == 0xa80425fb   # docker's 14 default capabilities


def test_resources_in_cgroup_files(engine, ctr):
    name = ctr("res")
    cid = engine("run", "-d", "--name", name, "--memory", "64m", "--pids-limit", "50", "--cpus", "0.5",
                 "busybox", "sleep", "1000").stdout.strip()
    mem = os.path.join(CGROUP_ROOT, "memory", "pyctr", cid)
    assert open(os.path.join(mem, "memory.limit_in_bytes")).read().strip() == str(64 << 20)
    assert open(os.path.join(CGROUP_ROOT, "pids", "pyctr", cid, "pids.max")).read().strip() == "50"
    assert open(os.path.join(CGROUP_ROOT, "cpu", "pyctr", cid, "cpu.cfs_quota_us")).read().strip() == "50000"
    pid = engine.inspect(name)["State"]["Pid"]
    assert str(pid) in open(os.path.join(mem, "cgroup.procs")).read().split()
    row = json.loads(engine("stats", "--no-stream", "--format", "{{json .}}", name).stdout)
    assert row["MemUsage"].endswith("/ 64MiB")
    hc = engine.inspect(name)["HostConfig"]
    assert (hc["Memory"], hc["PidsLimit"], hc["NanoCpus"]) == (64 << 20, 50, 500000000)


def test_inspect_fields(engine, ctr):
    name = ctr("insp")
    engine("run", "-d", "--name", name, "-e", "A=1", "-w", "/tmp", "busybox", "sleep", "1000")
    info = engine.inspect(name)
    assert info["Name"] == "/" + name and re.fullmatch(r"[0-9a-f]{64}", info["Id"])
    assert info["Path"] == "sleep" and info["Args"] == ["1000"]
    st = info["State"]
    assert st["Status"] == "running" and st["Running"] and st["Pid"] > 0 and st["ExitCode"] == 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", st["StartedAt"])
    assert info["Image"].startswith("sha256:")
    cfg = info["Config"]
    assert "A=1" in cfg["Env"] and cfg["WorkingDir"] == "/tmp" and cfg["Cmd"] == ["sleep", "1000"]
    assert cfg["Hostname"] == info["Id"][:12]
    assert info["HostConfig"]["NetworkMode"] == "none" and info["HostConfig"]["Runtime"] == engine.runtime
    assert info["GraphDriver"]["Name"] and os.path.exists(info["LogPath"])
    assert open(info["HostnamePath"]).read().strip() == info["Id"][:12]
    assert engine("inspect", "-f", "{{.State.Status}} {{.Name}}", name).stdout == f"running /{name}\n"
    p = engine("inspect", "nothing-" + uuid.uuid4().hex, check=False)
    assert p.returncode == 1 and "No such object" in p.stderr


def test_attach_to_running_container(engine, ctr):
    name = ctr("att")
    engine("run", "-d", "--name", name, "busybox", "sh", "-c",
           "sleep 1; for i in 1 2 3; do echo line$i; sleep 0.2; done; echo bye >&2; exit 5")
    att = subprocess.Popen(engine.argv("attach", name), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, text=True)
    try:
        out, err = att.communicate(timeout=30)
    finally:
        if att.poll() is None:
            att.kill()
            att.wait()
    assert "line1\nline2\nline3\n" in out
    assert "bye" in err
    assert att.returncode == 5
    assert engine.inspect(name)["State"]["ExitCode"] == 5


def test_logs_follow_and_create_start(engine, ctr):
    name = ctr("follow")
    engine("create", "--name", name, "busybox", "sh", "-c", "for i in 1 2 3; do echo n$i; sleep 0.2; done")
    assert "Created" in engine("ps", "-a").stdout
    assert engine.inspect(name)["State"]["Status"] == "created"
    engine("start", name)
    p = engine("logs", "-f", name, timeout=30)
    assert p.stdout == "n1\nn2\nn3\n"
    assert engine("logs", "--tail", "1", name).stdout == "n3\n"
    p = engine("start", "-a", name)   # again, attached: the same output once more, exit code 0
    assert p.stdout == "n1\nn2\nn3\n" and p.returncode == 0
    assert engine("logs", name).stdout == "n1\nn2\nn3\n" * 2


def test_kill_and_rm_force(engine, ctr):
    name = ctr("kill")
    cid = engine("run", "-d", "--name", name, "busybox", "sh", "-c",
                 'trap "echo got-USR1" USR1; while true; do sleep 0.1; done').stdout.strip()
    engine("kill", "-s", "USR1", name)   # delivered to the init's handler
    _wait_for(lambda: "got-USR1" in engine("logs", name).stdout, what="USR1 handled")
    assert engine.inspect(name)["State"]["Running"]
    engine("kill", name)                 # SIGKILL by default
    _wait_for(lambda: engine.inspect(name)["State"]["Status"] == "exited", what="exit")
    assert engine.inspect(name)["State"]["ExitCode"] == 128 + signal.SIGKILL
    assert engine("kill", name, check=False).returncode == 1   # not running any more
    engine("start", name)
    engine("rm", "-f", name)
    assert engine.leftovers(cid) == []
    assert engine("inspect", name, check=False).returncode == 1


def test_run_detached_rm_removes_itself(engine, ctr):
    name = ctr("drm")
    cid = engine("run", "-d", "--rm", "--name", name, "busybox", "sh", "-c", "sleep 0.3").stdout.strip()
    _wait_for(lambda: engine("inspect", name, check=False).returncode != 0, what="auto removal")
    _wait_for(lambda: not engine.leftovers(cid), what=f"cleanup of {cid}")


def test_info(engine):
    out = engine("info").stdout
    assert re.search(r"^Storage Driver: \w+", out, re.M)
    assert f"Runtime Path: {engine.runtime}" in out
    assert re.search(r"^Images: 1$", out, re.M)


def test_network_none_and_host(engine, tmp_path):
    """Inside a network namespace made for this test: none = a new namespace with only lo; host = the caller's."""
    script = (f"readlink /proc/self/ns/net; "
              f"{shlex.join(engine.argv('run', '--rm', 'busybox', 'sh', '-c', 'readlink /proc/self/ns/net; ls /sys/class/net'))}; "
              f"{shlex.join(engine.argv('run', '--rm', '--network', 'host', 'busybox', 'readlink', '/proc/self/ns/net'))}")
    p = subprocess.run(["unshare", "--net", "sh", "-c", script], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    outer, none_ns, none_links, host_ns = p.stdout.split("\n")[:4]
    assert outer.startswith("net:[") and none_ns.startswith("net:[")
    assert none_ns != outer and host_ns == outer
    assert none_links.split() == ["lo"]


def test_foreground_run_forwards_signals(engine, ctr):
    """docker's --sig-proxy: a SIGTERM to the attached ``pyctr run`` reaches the container's init."""
    name = ctr("sig")
    p = subprocess.Popen(engine.argv("run", "--name", name, "busybox", "sh", "-c",
                                     'trap "echo got-TERM; exit 3" TERM; echo ready; while true; do sleep 0.1; done'),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        assert p.stdout.readline() == "ready\n"
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert out == "got-TERM\n" and p.returncode == 3, err
