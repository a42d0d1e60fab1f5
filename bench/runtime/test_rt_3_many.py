"""Scenario 5: 100 sequential containers (crun's published benchmark) and 10 started in parallel.

Sequential: one sample = the wall time of SEQ_N back-to-back ``run`` of ``true``; per container is that
divided by SEQ_N. Parallel: one sample = the time until all PAR_N concurrent ``run`` have exited.
Bundles are written before the clock starts.
"""
import os

import pytest

import rtbench
from rtbench import PAR_N, PAR_ROUNDS, SEQ_N, SEQ_ROUNDS, Scenario

pytestmark = pytest.mark.benchmark(group="runtime (one round = pyrunc + runc + crun; per-runtime stats in extra_info)")


@pytest.mark.timeout(1800)
def test_s5a_sequential_containers(bench, benchmark):
    key = "s5_sequential"
    sc = Scenario(bench, key, f"{SEQ_N} containers run one after another (run true)",
                  unit_note=f"one sample = {SEQ_N} containers", calls=SEQ_N)
    roots = {rt.name: bench.root(rt, key) for rt in sc.runtimes}
    makers = {rt.name: bench.bundles(rt, key, bench.spec) for rt in sc.runtimes}

    def step(rt) -> float:
        todo = []
        for _ in range(SEQ_N):
            cid = bench.new_id(rt, key)
            todo.append((cid, makers[rt.name].make(cid)))
        t0 = rtbench.time.perf_counter()
        for cid, b in todo:
            rt.call(["--root", roots[rt.name], "run", "--bundle", b, cid])
        return rtbench.time.perf_counter() - t0

    def one(rt) -> float:
        cid = bench.new_id(rt, key)
        return rt.call(["--root", roots[rt.name], "run", "--bundle", makers[rt.name].make(cid), cid]).elapsed

    try:
        sc.warmup(one)
        benchmark.pedantic(sc.round, args=(step,), rounds=SEQ_ROUNDS, iterations=1)
        benchmark.extra_info.update(sc.summary())
    finally:
        bench.clean_scenario(key)


@pytest.mark.timeout(900)
def test_s5b_parallel_containers(bench, benchmark):
    key = "s5_parallel"
    sc = Scenario(bench, key, f"{PAR_N} containers run in parallel (run true)",
                  unit_note=f"one sample = all {PAR_N} finished", calls=None)
    roots = {rt.name: bench.root(rt, key) for rt in sc.runtimes}
    makers = {rt.name: bench.bundles(rt, key, bench.spec) for rt in sc.runtimes}

    def step(rt) -> float:
        todo = []
        for _ in range(PAR_N):
            cid = bench.new_id(rt, key)
            todo.append((cid, makers[rt.name].make(cid)))
        t0 = rtbench.time.perf_counter()
        pids = [rt.spawn(["--root", roots[rt.name], "run", "--bundle", b, cid]) for cid, b in todo]
        bad = []
        for pid, (cid, _) in zip(pids, todo):
            _, status, _ = os.wait4(pid, 0)
            if status:
                bad.append(f"{cid}: exit {os.waitstatus_to_exitcode(status)}")
        elapsed = rtbench.time.perf_counter() - t0
        if bad:
            raise rtbench.RuntimeFailed(f"{rt.name}: parallel run failed: {bad}: {rt.output_since(0)[-800:]}")
        return elapsed

    try:
        sc.warmup(step, n=1)
        benchmark.pedantic(sc.round, args=(step,), rounds=PAR_ROUNDS, iterations=1)
        benchmark.extra_info.update(sc.summary())
    finally:
        bench.clean_scenario(key)
