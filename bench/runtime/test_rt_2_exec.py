"""Scenario 4: ``exec`` of ``true`` into a running container.

4a ``exec ID true`` in the foreground (the target: pyrunc/runc ≤ 0.8);
4b the containerd shim's form: ``--root R --log B/log.json --log-format json exec --process F --detach
--pid-file P ID``, then wait for the process like the shim (we are its subreaper).
The process file is docker's (tests/fixtures/client-configs/docker-exec-process.json).
"""
import os
import shutil
import sys

import pytest

import rtbench
from rtbench import FIXTURES, ROUNDS, Scenario

pytestmark = pytest.mark.benchmark(group="runtime (one round = pyrunc + runc + crun; per-runtime stats in extra_info)")


def pyrunc_has_exec(pyrunc: str) -> bool:
    """Whether the installed pyrunc ships ``commands/exec.py`` (the lead is adding it)."""
    prefix = os.path.realpath(pyrunc).rsplit("/", 2)[0]
    site = f"{prefix}/lib/python{sys.version_info[0]}.{sys.version_info[1]}/site-packages"
    return os.path.exists(f"{site}/pyrunc/runtime/commands/exec.py")


@pytest.fixture(scope="module")
def sleepers(bench):
    """One running ``sleep`` container per runtime (created + started like the shim does)."""
    key = "s4_exec"
    cfg = dict(bench.spec, process=dict(bench.spec["process"], args=["sleep", "1000000"]))
    running = {}
    try:
        for rt in bench.runtimes:
            root = bench.root(rt, key)
            cid = bench.new_id(rt, key)
            b = bench.bundles(rt, key, cfg).make(cid)
            rt.call(["--root", root, "create", "--bundle", b, cid])
            rt.call(["--root", root, "start", cid])
            running[rt.name] = (root, cid, b)
        yield running
    finally:
        bench.clean_scenario(key)


def _skip_reason(bench) -> str | None:
    if not pyrunc_has_exec(bench.pyrunc):
        return ("pyrunc exec is not implemented yet (no pyrunc/runtime/commands/exec.py in the installed "
                "package); runc and crun were still measured for reference")
    return None


def test_s4a_exec_true(bench, sleepers, benchmark):
    sc = Scenario(bench, "s4_exec", "exec ID true (foreground) into a running container")
    reason = _skip_reason(bench)
    if reason:
        sc.skip(bench.rt("pyrunc"), reason)

    def step(rt) -> float:
        root, cid, _ = sleepers[rt.name]
        return rt.call(["--root", root, "exec", cid, "true"]).elapsed

    sc.warmup(step)
    benchmark.pedantic(sc.round, args=(step,), rounds=ROUNDS, iterations=1)
    benchmark.extra_info.update(sc.summary())
    if reason:
        pytest.skip(reason)


def test_s4b_exec_process_detached_shim(bench, sleepers, benchmark):
    sc = Scenario(bench, "s4b_exec_shim", "exec --process F --detach --pid-file (shim argv) + wait")
    reason = _skip_reason(bench)
    if reason:
        sc.skip(bench.rt("pyrunc"), reason)
    proc = os.path.join(bench.tmp, "docker-exec-process.json")
    shutil.copy(FIXTURES / "docker-exec-process.json", proc)
    n = [0]

    def step(rt) -> float:
        root, cid, b = sleepers[rt.name]
        n[0] += 1
        pidfile = os.path.join(b, f"e{n[0]}.pid")
        g = ["--root", root, "--log", os.path.join(b, "log.json"), "--log-format", "json"]
        t0 = rtbench.time.perf_counter()
        rt.call(g + ["exec", "--process", proc, "--detach", "--pid-file", pidfile, cid], cwd=b)
        with open(pidfile) as f:
            pid = int(f.read().strip())
        rtbench.wait_exit(pid)
        return rtbench.time.perf_counter() - t0

    sc.warmup(step)
    benchmark.pedantic(sc.round, args=(step,), rounds=ROUNDS, iterations=1)
    benchmark.extra_info.update(sc.summary())
    if reason:
        pytest.skip(reason)
