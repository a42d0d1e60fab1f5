"""Scenarios 1-3: ``run`` of busybox ``true`` (plain and docker's seccomp/caps) and the shim's lifecycle.

pytest-benchmark times whole rounds (one invocation per runtime, first runtime rotating); the
per-runtime samples, their min/median/max and the ratios pyrunc/runc and pyrunc/crun go into
``extra_info`` and results.json. Compare ratios from one run, never absolute times across runs.
"""
import os

import pytest

import rtbench
from rtbench import ROUNDS, Scenario, docker_config

pytestmark = pytest.mark.benchmark(group="runtime (one round = pyrunc + runc + crun; per-runtime stats in extra_info)")


def _run_true(bench, key: str, title: str, cfg: dict, benchmark, settle_s: float | None = None) -> None:
    sc = Scenario(bench, key, title, settle_s=settle_s)
    roots = {rt.name: bench.root(rt, key) for rt in sc.runtimes}
    makers = {rt.name: bench.bundles(rt, key, cfg) for rt in sc.runtimes}

    def step(rt) -> float:
        cid = bench.new_id(rt, key)
        b = makers[rt.name].make(cid)
        return rt.call(["--root", roots[rt.name], "run", "--bundle", b, cid]).elapsed

    try:
        sc.warmup(step)
        benchmark.pedantic(sc.round, args=(step,), rounds=ROUNDS, iterations=1)
        benchmark.extra_info.update(sc.summary())
    finally:
        bench.clean_scenario(key)


def test_s1_run_true(bench, benchmark):
    """1. ``run`` of a busybox ``true`` bundle from ``pyrunc spec`` (no seccomp)."""
    _run_true(bench, "s1_run", "run true (pyrunc spec config, no seccomp)", bench.spec, benchmark)


def test_s1b_run_true_back_to_back(bench, benchmark):
    """1b. Scenario 1 without the pause: each runtime's join may ride on the previous runtime's RCU
    grace period (see rtbench.SETTLE_S), which helps runc and crun, never pyrunc. No target."""
    _run_true(bench, "s1b_run_back_to_back", "run true, back to back (no pause between invocations)",
              bench.spec, benchmark, settle_s=0)


def test_s2_run_true_docker_seccomp(bench, benchmark):
    """2. The same with docker's default seccomp profile and capabilities (warm seccomp cache in --root)."""
    _run_true(bench, "s2_run_docker_seccomp", "run true + docker default seccomp & caps",
              docker_config(bench.spec), benchmark)


def test_s3_shim_create_start_wait_delete(bench, benchmark):
    """3. create, start, wait, delete as separate invocations with the containerd shim's flags."""
    key = "s3_shim_lifecycle"
    sc = Scenario(bench, key, "create + start + wait + delete (containerd shim argv)", calls=3)
    roots = {rt.name: bench.root(rt, key) for rt in sc.runtimes}
    makers = {rt.name: bench.bundles(rt, key, bench.spec) for rt in sc.runtimes}

    parts = {rt.name: {"create": [], "start": [], "wait": [], "delete": []} for rt in sc.runtimes}
    recording = [False]

    def step(rt) -> float:
        cid = bench.new_id(rt, key)
        b = makers[rt.name].make(cid)
        g = ["--root", roots[rt.name], "--log", os.path.join(b, "log.json"), "--log-format", "json"]
        pidfile = os.path.join(b, "init.pid")
        perf = rtbench.time.perf_counter
        t0 = perf()
        rt.call(g + ["create", "--bundle", b, "--pid-file", pidfile, cid], cwd=b)
        t1 = perf()
        with open(pidfile) as f:
            pid = int(f.read().strip())
        rt.call(g + ["start", cid], cwd=b)
        t2 = perf()
        rtbench.wait_exit(pid)
        t3 = perf()
        rt.call(g + ["delete", cid], cwd=b)
        t4 = perf()
        if recording[0]:
            for name, a, z in (("create", t0, t1), ("start", t1, t2), ("wait", t2, t3), ("delete", t3, t4)):
                parts[rt.name][name].append(z - a)
        return t4 - t0

    try:
        sc.warmup(step)
        recording[0] = True
        benchmark.pedantic(sc.round, args=(step,), rounds=ROUNDS, iterations=1)
        benchmark.extra_info.update(sc.summary())
        rtbench.RESULTS["scenarios"][key]["parts_s"] = parts
    finally:
        bench.clean_scenario(key)


def test_s0_crun_wrapper_overhead(bench, benchmark):
    """What the hybrid-cgroup wrapper adds to every crun invocation (so crun's times can be read fairly)."""
    crun = bench.rt("crun")
    if crun is None:
        pytest.skip("crun is not installed")
    direct = rtbench.Runtime("crun-direct", [bench.crun_direct], os.path.dirname(crun.log))
    pairs: list[tuple[float, float]] = []

    def one_round(record: bool = True) -> None:
        first, second = (direct, crun) if len(pairs) % 2 else (crun, direct)
        t = {r.name: r.call(["--version"]).elapsed for r in (first, second)}
        if record:
            pairs.append((t["crun-direct"], t["crun"]))

    for _ in range(2):
        one_round(record=False)
    benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1)
    d = rtbench.statistics.median(a for a, _ in pairs)
    w = rtbench.statistics.median(b for _, b in pairs)
    rtbench.RESULTS["crun_wrapper_overhead_s"] = {"direct_median": d, "wrapper_median": w,
                                                 "overhead_median": w - d}
    benchmark.extra_info.update(rtbench.RESULTS["crun_wrapper_overhead_s"])
