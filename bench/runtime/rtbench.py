"""Side-by-side runtime benchmark machinery: pyrunc, runc and crun timed interleaved in one run.

Why interleaved: this 2-vCPU VM is noisy (±10–30 %); running the three runtimes one after the other
inside every round (rotating who goes first) makes a noise burst hit all of them, so the ratio of
medians measured in one run is meaningful while absolute times across runs are not.

Each invocation is started with posix_spawn (a vfork: the size of the pytest process does not leak
into the timing) and reaped with wait4, which also yields ru_maxrss of the process tree it reaped.
The bench process is a child subreaper, like the containerd shim, so a detached container init is
re-parented to it and "wait" means waitpid() on the pid from --pid-file.
"""
from __future__ import annotations

import copy
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
from make_bundle import make_rootfs  # noqa: E402

FIXTURES = REPO / "tests" / "fixtures" / "client-configs"
RESULTS_DIR = Path(os.environ.get("PYRUNC_BENCH_OUT") or REPO / "bench" / "results" / "runtime")
ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}
GNU_TIME = "/usr/bin/time"  # Debian package "time"
# crun 1.8.1 refuses a hybrid cgroup setup: hide cgroup2 in a private mount namespace (real-clients.md).
CRUN_WRAPPER = """#!/bin/sh
exec unshare -m --propagation slave /bin/sh -c 'umount -l /sys/fs/cgroup/unified; exec {crun} "$@"' crun "$@"
"""


def env_int(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(name, "")))
    except ValueError:
        return default


ROUNDS = env_int("PYRUNC_BENCH_ROUNDS", 50)          # scenarios 1-4
WARMUP = env_int("PYRUNC_BENCH_WARMUP", 3)
SEQ_N = env_int("PYRUNC_BENCH_SEQ_N", 100)           # scenario 5, containers per batch
SEQ_ROUNDS = env_int("PYRUNC_BENCH_SEQ_ROUNDS", 5)
PAR_N = env_int("PYRUNC_BENCH_PAR_N", 10)
PAR_ROUNDS = env_int("PYRUNC_BENCH_PAR_ROUNDS", 20)
MEM_ROUNDS = env_int("PYRUNC_BENCH_MEM_ROUNDS", 20)   # scenario 6, RSS and charge samples
# Pause before every timed step, so that no kernel state left by the previous runtime's invocation
# carries over: a cgroup v1 cgroup.procs write leaves the global threadgroup rwsem in its slow mode
# for ~10-20 ms, and a join inside that window skips the RCU grace period (7-16 ms here) it would
# otherwise wait for; the previous container's namespace teardown also goes on in kernel workers
# for tens of ms, competing for the 2 CPUs. 0 runs the steps back to back.
SETTLE_S = max(0, int(os.environ.get("PYRUNC_BENCH_SETTLE_MS", "100") or 0)) / 1000

# Everything measured in this session; written to results.json at session end.
RESULTS: dict = {"scenarios": {}, "memory": {}, "notes": []}


class RuntimeFailed(AssertionError):
    pass


# ---------------------------------------------------------------- process plumbing

def set_subreaper() -> None:
    import ctypes  # bench side only; never on pyrunc's hot path
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def reap_strays() -> None:
    """Reap re-parented zombies (inits of deleted containers). Only call with no Popen pending."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def wait_exit(pid: int, timeout: float = 30) -> None:
    """Wait for a (re-parented) container process; fall back to a pidfd if it is not our child."""
    try:
        os.waitpid(pid, 0)
        return
    except ChildProcessError:
        pass
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        import select
        p = select.poll()
        p.register(fd, select.POLLIN)
        if not p.poll(timeout * 1000):
            raise RuntimeFailed(f"process {pid} did not exit within {timeout}s")
    finally:
        os.close(fd)


class Call:
    """One finished runtime invocation."""
    __slots__ = ("argv", "status", "elapsed", "maxrss_kib")

    def __init__(self, argv, status, elapsed, maxrss_kib):
        self.argv, self.status, self.elapsed, self.maxrss_kib = argv, status, elapsed, maxrss_kib

    @property
    def code(self) -> int:
        return os.waitstatus_to_exitcode(self.status)


class Runtime:
    """One runtime binary (argv prefix), its log file for stdio and the --root dirs it used."""

    def __init__(self, name: str, argv: list[str], logdir: str) -> None:
        self.name, self.argv = name, argv
        self.log = os.path.join(logdir, f"{name}.out")
        self.roots: set[str] = set()

    def spawn(self, args: list[str], cwd: str | None = None) -> int:
        argv = self.argv + args
        fd = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        actions = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                   (os.POSIX_SPAWN_DUP2, fd, 1), (os.POSIX_SPAWN_DUP2, fd, 2)]
        old = None
        if cwd:
            old = os.getcwd()
            os.chdir(cwd)  # posix_spawn has no chdir action before 3.13; the bench is single-threaded
        try:
            return os.posix_spawn(argv[0], argv, ENV, file_actions=actions)
        finally:
            if old:
                os.chdir(old)
            os.close(fd)

    def call(self, args: list[str], cwd: str | None = None, check: bool = True, timeout: float = 60) -> Call:
        """Run to completion; time it from spawn to reap."""
        start = os.path.getsize(self.log) if os.path.exists(self.log) else 0
        t0 = time.perf_counter()
        pid = self.spawn(args, cwd)
        _, status, ru = _wait4(pid, timeout)
        c = Call(self.argv + args, status, time.perf_counter() - t0, ru.ru_maxrss)
        if check and status != 0:
            raise RuntimeFailed(f"{self.name} {' '.join(args)} -> exit {c.code}: {self.output_since(start)}")
        return c

    def call_rss(self, args: list[str], cwd: str | None = None) -> Call:
        """Like call, under GNU time: its ru_maxrss is that of the runtime tree, not of the bench.

        wait4's ru_maxrss of a posix_spawn (vfork) child includes the spawning process's own
        high-water mark (the kernel folds the shared mm's hiwater in at exec), so the peak is taken
        by /usr/bin/time (~1 MiB itself), which forks the runtime from a small process.
        """
        out = os.path.join(os.path.dirname(self.log), f"{self.name}.rss")
        c = Runtime(self.name, [GNU_TIME, "-f", "%M", "-o", out, "--"] + self.argv, os.path.dirname(self.log))
        c.log = self.log
        r = c.call(args, cwd)
        with open(out) as f:
            r.maxrss_kib = int(f.read().split()[-1])
        return r

    def output_since(self, offset: int) -> str:
        try:
            with open(self.log, "rb") as f:
                f.seek(offset)
                return f.read()[-2000:].decode(errors="replace").strip()
        except OSError:
            return ""

    def force_delete_all(self) -> None:
        """delete -f every container left in any root this runtime used (cleanup, failures ignored)."""
        for root in self.roots:
            if not os.path.isdir(root):
                continue
            for cid in os.listdir(root):
                if cid.startswith(".") or not os.path.isdir(os.path.join(root, cid)):
                    continue
                subprocess.run(self.argv + ["--root", root, "delete", "--force", cid], env=ENV,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               timeout=60)

    def version(self) -> str:
        p = subprocess.run(self.argv + ["--version"], env=ENV, capture_output=True, text=True, timeout=30)
        return " ".join(p.stdout.split("\n")[0].split()) or p.stderr.strip()


def _wait4(pid: int, timeout: float):
    """wait4 with a deadline: a hung runtime is SIGKILLed (what it left is force-deleted later)."""
    deadline = time.monotonic() + timeout
    while True:
        got, status, ru = os.wait4(pid, os.WNOHANG)
        if got == pid:
            return got, status, ru
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            got, status, ru = os.wait4(pid, 0)
            raise RuntimeFailed(f"pid {pid} timed out after {timeout}s")
        # poll with a pidfd so that timing stays precise (no sleep granularity)
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            import select
            p = select.poll()
            p.register(fd, select.POLLIN)
            p.poll(max(1, int((deadline - time.monotonic()) * 1000)))
        finally:
            os.close(fd)


# ---------------------------------------------------------------- configs

def spec_config(pyrunc: str, tmp: str) -> dict:
    """``pyrunc spec`` output for busybox ``true``, terminal off, ociVersion crun 1.8.1 accepts."""
    d = tempfile.mkdtemp(dir=tmp, prefix="spec-")
    subprocess.run([pyrunc, "spec", "--bundle", d], env=ENV, check=True, timeout=60)
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    shutil.rmtree(d)
    cfg["process"]["args"] = ["true"]
    cfg["process"]["terminal"] = False
    # crun 1.8.1 rejects any ociVersion but 1.0.x ("unknown version specified"); runc 1.1.5 writes 1.0.2-dev
    cfg["ociVersion"] = "1.0.2-dev"
    return cfg


def docker_config(base: dict) -> dict:
    """Scenario 2: the spec config plus docker's default seccomp profile and capability sets."""
    with open(FIXTURES / "docker-config-true.json") as f:
        docker = json.load(f)
    cfg = copy.deepcopy(base)
    cfg["process"]["capabilities"] = docker["process"]["capabilities"]
    cfg["linux"]["seccomp"] = docker["linux"]["seccomp"]
    return cfg


class BundleMaker:
    """One bundle dir per container (as engines do) so each gets a unique cgroupsPath."""

    def __init__(self, cfg: dict, rootfs: str, cgparent: str, where: str) -> None:
        cfg = copy.deepcopy(cfg)
        cfg["root"] = {"path": rootfs, "readonly": True}
        cfg["linux"]["cgroupsPath"] = "@CGPATH@"
        self.template = json.dumps(cfg, indent=1)
        self.cgparent, self.where = cgparent, where
        os.makedirs(where, exist_ok=True)

    def make(self, cid: str) -> str:
        b = os.path.join(self.where, cid)
        os.mkdir(b)
        with open(os.path.join(b, "config.json"), "w") as f:
            f.write(self.template.replace("@CGPATH@", f"/{self.cgparent}/{cid}"))
        return b


# ---------------------------------------------------------------- the session environment

class Bench:
    """Temp dir, shared busybox rootfs, the three runtimes, a cgroup parent; cleaned up at the end."""

    def __init__(self) -> None:
        self.tmp = tempfile.mkdtemp(prefix="pyrunc-rtbench-")
        self.token = uuid.uuid4().hex[:8]
        self.cgparent = f"pyrunc-bench-{self.token}"
        self.rootfs = os.path.join(self.tmp, "rootfs")
        make_rootfs(self.rootfs)
        logdir = os.path.join(self.tmp, "logs")
        os.makedirs(logdir)
        self.pyrunc = os.environ.get("PYRUNC_BENCH_PYRUNC") or os.path.join(sys.prefix, "bin", "pyrunc")
        runc = os.environ.get("PYRUNC_BENCH_RUNC") or "/usr/sbin/runc"
        crun = os.environ.get("PYRUNC_BENCH_CRUN") or "/usr/bin/crun"
        self.missing: list[str] = []
        self.runtimes: list[Runtime] = [Runtime("pyrunc", [self.pyrunc], logdir)]
        for name, path in (("runc", runc), ("crun", crun)):
            if not os.access(path, os.X_OK):
                self.missing.append(f"{name} ({path} not found)")
                continue
            if name == "crun":
                wrapper = os.path.join(self.tmp, "crun-hybrid")
                with open(wrapper, "w") as f:
                    f.write(CRUN_WRAPPER.format(crun=path))
                os.chmod(wrapper, 0o755)
                self.crun_direct = path
                self.runtimes.append(Runtime("crun", [wrapper], logdir))
            else:
                self.runtimes.append(Runtime(name, [path], logdir))
        self.spec = spec_config(self.pyrunc, self.tmp)
        set_subreaper()

    def rt(self, name: str) -> Runtime | None:
        return next((r for r in self.runtimes if r.name == name), None)

    def root(self, rt: Runtime, scenario: str) -> str:
        r = os.path.join(self.tmp, scenario, rt.name, "root")
        os.makedirs(os.path.dirname(r), exist_ok=True)
        rt.roots.add(r)
        return r

    def bundles(self, rt: Runtime, scenario: str, cfg: dict) -> BundleMaker:
        return BundleMaker(cfg, self.rootfs, self.cgparent, os.path.join(self.tmp, scenario, rt.name, "b"))

    def new_id(self, rt: Runtime, scenario: str) -> str:
        return f"{scenario}-{rt.name}-{uuid.uuid4().hex[:8]}"

    def clean_scenario(self, scenario: str) -> None:
        """Force-delete what a scenario left and drop its bundles (keeps the temp dir small)."""
        for rt in self.runtimes:
            rt.force_delete_all()
            rt.roots = {r for r in rt.roots if not r.startswith(os.path.join(self.tmp, scenario) + "/")}
        reap_strays()
        path = os.path.join(self.tmp, scenario)
        if not mounts_under(path):
            shutil.rmtree(path, ignore_errors=True)

    def close(self) -> list[str]:
        """Tear everything down; return what could not be cleaned (for the caller to report)."""
        for rt in self.runtimes:
            try:
                rt.force_delete_all()
            except Exception:  # keep cleaning
                pass
        reap_strays()
        problems = remove_cgroup_tree(self.cgparent)
        left = mounts_under(self.tmp)
        for mp in sorted(left, reverse=True):
            subprocess.run(["umount", "-l", mp], capture_output=True)
        if left:
            problems.append(f"mounts left under {self.tmp} (lazily unmounted): {left}")
        shutil.rmtree(self.tmp, ignore_errors=True)
        return problems

    def machine_info(self) -> dict:
        info = {
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "nproc": os.cpu_count(),
            "kernel": platform.release(),
            "cgroup": cgroup_mode(),
            "cpu": _cpu_model(),
            "python": sys.version.split()[0],
            "versions": {rt.name: rt.version() for rt in self.runtimes},
            "commit": _git_commit(),
            "rounds": {"s1-s4": ROUNDS, "warmup": WARMUP, "seq_n": SEQ_N, "seq_rounds": SEQ_ROUNDS,
                       "par_n": PAR_N, "par_rounds": PAR_ROUNDS, "mem_rounds": MEM_ROUNDS,
                       "settle_ms": round(SETTLE_S * 1000)},
            "missing": self.missing,
        }
        return info


def mounts_under(prefix: str) -> list[str]:
    prefix = prefix.rstrip("/") + "/"
    with open("/proc/self/mountinfo") as f:
        return [ln.split()[4] for ln in f if (ln.split()[4] + "/").startswith(prefix)]


def remove_cgroup_tree(name: str) -> list[str]:
    """rmdir /sys/fs/cgroup/<every hierarchy>/<name> bottom-up; return dirs that would not go."""
    left = []
    base = "/sys/fs/cgroup"
    for h in os.listdir(base):
        top = os.path.join(base, h, name)
        if os.path.islink(os.path.join(base, h)) or not os.path.isdir(top):
            continue
        for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda t: -t[0].count("/")):
            try:
                os.rmdir(dirpath)
            except OSError as e:
                left.append(f"{dirpath}: {e.strerror}")
    return left


def cgroup_mode() -> str:
    types: dict[str, str] = {}
    with open("/proc/self/mountinfo") as f:
        for ln in f:
            mp, fstype = ln.split()[4], ln.split(" - ")[1].split()[0]
            if mp == "/sys/fs/cgroup" or mp.startswith("/sys/fs/cgroup/"):
                types[mp] = fstype
    if types.get("/sys/fs/cgroup") == "cgroup2":
        return "v2 (unified)"
    if "cgroup2" in types.values():
        return "v1 hybrid (cgroup2 at /sys/fs/cgroup/unified, no controllers)"
    return "v1 (legacy)"


def _cpu_model() -> str:
    try:
        for ln in open("/proc/cpuinfo"):
            if ln.startswith("model name"):
                return ln.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def _git_commit() -> str:
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head + ("+dirty" if dirty else "") if head else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# ---------------------------------------------------------------- interleaved scenarios

class Scenario:
    """Samples of one scenario, collected round by round with a rotating runtime order."""

    def __init__(self, bench: Bench, key: str, title: str, unit_note: str = "", calls: int | None = 1,
                 settle_s: float | None = None) -> None:
        self.bench, self.key, self.title = bench, key, title
        self.settle_s = SETTLE_S if settle_s is None else settle_s
        self.runtimes = list(bench.runtimes)
        self.samples: dict[str, list[float]] = {rt.name: [] for rt in self.runtimes}
        self.round_no = 0
        self.skipped: dict[str, str] = {}
        # calls: runtime invocations per sample (to correct crun's times for its wrapper); None: not linear
        RESULTS["scenarios"][key] = {"title": title, "note": unit_note, "samples_s": self.samples,
                                     "skipped": self.skipped, "calls": calls}

    def skip(self, rt: Runtime, reason: str) -> None:
        self.runtimes = [r for r in self.runtimes if r is not rt]
        self.samples.pop(rt.name, None)
        self.skipped[rt.name] = reason

    def round(self, step, record: bool = True) -> None:
        """One round: ``step(rt) -> seconds`` for every runtime, first runtime rotating."""
        k = self.round_no % len(self.runtimes)
        order = self.runtimes[k:] + self.runtimes[:k]
        self.round_no += 1
        for rt in order:
            if self.settle_s:
                time.sleep(self.settle_s)
            t = step(rt)
            if record:
                self.samples[rt.name].append(t)

    def warmup(self, step, n: int = WARMUP) -> None:
        for _ in range(n):
            self.round(step, record=False)
        self.round_no = 0

    def summary(self) -> dict:
        return summarize(self.samples)


def stats(xs: list[float]) -> dict:
    if not xs:
        return {}
    return {"n": len(xs), "min": min(xs), "median": statistics.median(xs), "max": max(xs),
            "mean": statistics.fmean(xs), "stdev": statistics.stdev(xs) if len(xs) > 1 else 0.0}


def summarize(samples: dict[str, list[float]]) -> dict:
    """Per-runtime min/median/max, ratios pyrunc/X of min/median/max and of paired per-round values."""
    out: dict = {"stats": {k: stats(v) for k, v in samples.items() if v}, "ratios": {}}
    py = samples.get("pyrunc") or []
    for other in ("runc", "crun"):
        ov = samples.get(other) or []
        if not py or not ov:
            continue
        s, o = out["stats"]["pyrunc"], out["stats"][other]
        paired = [a / b for a, b in zip(py, ov) if b > 0]
        out["ratios"][other] = {"min": s["min"] / o["min"], "median": s["median"] / o["median"],
                                "max": s["max"] / o["max"],
                                "paired": {"min": min(paired), "median": statistics.median(paired),
                                           "max": max(paired)}}
    return out


def write_results() -> Path | None:
    """Write results.json for report.py; None if nothing ran."""
    if not RESULTS["scenarios"] and not RESULTS["memory"]:
        return None
    for sc in RESULTS["scenarios"].values():
        sc["summary"] = summarize(sc["samples_s"])
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / "results.json"
    path.write_text(json.dumps(RESULTS, indent=1, sort_keys=False) + "\n")
    return path


def summary_lines() -> list[str]:
    """A terminal table of medians and ratios (what the report will say)."""
    lines = []
    for key, sc in sorted(RESULTS["scenarios"].items()):
        summ = summarize(sc["samples_s"])
        st = summ["stats"]
        if not st:
            continue
        meds = "  ".join(f"{k} {v['median'] * 1e3:8.1f} ms" for k, v in st.items())
        rat = "  ".join(f"/{k} {v['median']:.2f} (paired {v['paired']['min']:.2f}..{v['paired']['max']:.2f})"
                        for k, v in summ["ratios"].items())
        lines.append(f"{key:28s} {meds}   " + (f"pyrunc{rat}" if rat else ""))
        for rt, why in sc.get("skipped", {}).items():
            lines.append(f"{'':28s} {rt}: skipped: {why}")
    mem = RESULTS["memory"]
    if mem.get("peak_rss_kib"):
        lines.append("peak RSS (run, KiB, median)  " + "  ".join(
            f"{k} {statistics.median(v):.0f}" for k, v in mem["peak_rss_kib"].items() if v))
    if mem.get("min_limit_bytes"):
        lines.append("smallest memory limit        " + "  ".join(
            f"{k} {_kib(v)}" for k, v in mem["min_limit_bytes"].items()))
    return lines


def _kib(v) -> str:
    return f"{v // 1024} KiB" if isinstance(v, int) else str(v)


def failure_reason(text: str, code: int | None = None) -> str:
    """The runtime's last error message (logrus msg="..." unwrapped), or what the exit code says."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if lines:
        last = lines[-1]
        i = last.find('msg="')
        return last[i + 5:].rsplit('"', 1)[0] if i >= 0 else last
    if code == 137:
        return "exit 137: SIGKILL (OOM killer) of the container process"
    return f"exit {code}" if code is not None else ""
