"""Scenario 6: memory. Peak RSS of each runtime and the smallest memory limit it can start ``true`` under.

6a, interleaved rounds, per runtime:
  * ``run`` (foreground) of ``true``: ru_maxrss (GNU time %M) = the largest RSS of the runtime process
    and every descendant it reaped (runc's re-exec'd ``runc init``, pyrunc's forked init, crun's child);
  * ``create`` with a 512 MiB limit: ru_maxrss of the create invocation, then, while the container
    sits in "created" (the init blocked on exec.fifo, all runtime setup done), the init's VmHWM/VmRSS
    and the memory charged to the container's memory cgroup (memory.max_usage_in_bytes) -- the
    number that decides the smallest limit a container can start with.
6b, per runtime: bisect linux.resources.memory.limit (memory.swap set equal, so the v1 memsw limit
  makes the OOM killer act instead of swapping) for the smallest limit at which ``run true`` exits 0
  reliably: to 64 KiB, each probe needing 3 successes in a row, the answer 10 (else it moves up by
  128 KiB). Reliably, because what a runtime charges to the cgroup before exec varies between starts.
"""
import os
import statistics

import pytest

import rtbench
from rtbench import MEM_ROUNDS, RESULTS

pytestmark = pytest.mark.benchmark(group="runtime memory (not a timing: see results.json / report)")

KEY = "s6_memory"
STEP = 64 * 1024
HI = 256 * 1024 * 1024
PROBE_TIMES = 3     # a bisect probe passes only if this many starts in a row succeed
CONFIRM_TIMES = 10  # then the answer must start this many times in a row


def _with_limit(cfg: dict, limit: int) -> dict:
    linux = dict(cfg["linux"])
    res = dict(linux.get("resources") or {})
    res["memory"] = {"limit": limit, "swap": limit}
    linux["resources"] = res
    return dict(cfg, linux=linux)


def _status_kib(pid: int) -> dict:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for ln in f:
            k, _, v = ln.partition(":")
            if k in ("VmHWM", "VmRSS"):
                out[k] = int(v.split()[0])
    return out


def _memcg_charge(pid: int) -> dict:
    with open(f"/proc/{pid}/cgroup") as f:
        path = next((ln.rstrip("\n").split(":", 2)[2] for ln in f if ":memory:" in ln), None)
    d = f"/sys/fs/cgroup/memory{path}"
    out = {"memcg": path}
    for name in ("max_usage_in_bytes", "usage_in_bytes"):
        try:
            with open(f"{d}/memory.{name}") as f:
                out[name] = int(f.read())
        except OSError:
            pass
    return out


def test_s6a_peak_rss(bench, benchmark):
    if not os.access(rtbench.GNU_TIME, os.X_OK):
        pytest.skip(f"{rtbench.GNU_TIME} (Debian package 'time') is needed to measure peak RSS")
    runtimes = list(bench.runtimes)
    roots = {rt.name: bench.root(rt, KEY) for rt in runtimes}
    plain = {rt.name: bench.bundles(rt, KEY + "-plain", bench.spec) for rt in runtimes}
    limited = {rt.name: bench.bundles(rt, KEY + "-limit", _with_limit(bench.spec, 512 << 20)) for rt in runtimes}
    mem = RESULTS["memory"]
    rss_run = mem.setdefault("peak_rss_kib", {rt.name: [] for rt in runtimes})
    rss_create = mem.setdefault("create_rss_kib", {rt.name: [] for rt in runtimes})
    init_hwm = mem.setdefault("created_init_vmhwm_kib", {rt.name: [] for rt in runtimes})
    charged = mem.setdefault("created_memcg_max_usage_bytes", {rt.name: [] for rt in runtimes})
    k = [0]

    def step(rt) -> None:
        cid = bench.new_id(rt, "m")
        rss_run[rt.name].append(rt.call_rss(["--root", roots[rt.name], "run", "--bundle",
                                         plain[rt.name].make(cid), cid]).maxrss_kib)
        cid = bench.new_id(rt, "m")
        b = limited[rt.name].make(cid)
        pidfile = os.path.join(b, "init.pid")
        c = rt.call_rss(["--root", roots[rt.name], "create", "--bundle", b, "--pid-file", pidfile, cid])
        rss_create[rt.name].append(c.maxrss_kib)
        with open(pidfile) as f:
            pid = int(f.read().strip())
        init_hwm[rt.name].append(_status_kib(pid)["VmHWM"])
        cg = _memcg_charge(pid)
        if cg["memcg"] and cid in cg["memcg"] and "max_usage_in_bytes" in cg:
            charged[rt.name].append(cg["max_usage_in_bytes"])
        rt.call(["--root", roots[rt.name], "start", cid])
        rtbench.wait_exit(pid)
        rt.call(["--root", roots[rt.name], "delete", cid])

    def one_round() -> None:
        j = k[0] % len(runtimes)
        k[0] += 1
        for rt in runtimes[j:] + runtimes[:j]:
            step(rt)

    try:
        benchmark.pedantic(one_round, rounds=MEM_ROUNDS, iterations=1)
        benchmark.extra_info.update({name: {kk: statistics.median(v[name]) for kk, v in
                                            (("run_maxrss_kib", rss_run), ("created_init_vmhwm_kib", init_hwm))
                                            if v.get(name)} for name in rss_run})
    finally:
        bench.clean_scenario(KEY)
        bench.clean_scenario(KEY + "-plain")
        bench.clean_scenario(KEY + "-limit")


def _starts(bench, rt, root: str, limit: int) -> tuple[bool, str]:
    cid = bench.new_id(rt, "b")
    maker = rtbench.BundleMaker(_with_limit(bench.spec, limit), bench.rootfs, bench.cgparent,
                                os.path.join(bench.tmp, KEY + "-bisect", rt.name, "b"))
    b = maker.make(cid)
    start = os.path.getsize(rt.log) if os.path.exists(rt.log) else 0
    try:
        c = rt.call(["--root", root, "run", "--bundle", b, cid], check=False, timeout=60)
        ok, msg = c.status == 0, ("" if c.status == 0 else rtbench.failure_reason(rt.output_since(start), c.code))
    except rtbench.RuntimeFailed as e:
        ok, msg = False, str(e)
    if not ok:
        rt.force_delete_all()
        rtbench.reap_strays()
    return ok, msg[-600:]


def _reliably_starts(bench, rt, root: str, limit: int, times: int) -> tuple[bool, str]:
    """``times`` starts in a row succeed (the charge before exec varies from start to start)."""
    for _ in range(times):
        ok, msg = _starts(bench, rt, root, limit)
        if not ok:
            return False, msg
    return True, ""


def _bisect(bench, rt) -> dict:
    root = bench.root(rt, KEY + "-bisect")
    ok, msg = _starts(bench, rt, root, HI)
    if not ok:
        return {"min_limit": None, "note": f"does not start even with {HI >> 20} MiB: {msg}"}
    lo, hi, fail_msg = 0, HI, ""
    while hi - lo > STEP:
        mid = (lo + hi) // 2 // 4096 * 4096
        ok, msg = _reliably_starts(bench, rt, root, mid, PROBE_TIMES)
        if ok:
            hi = mid
        else:
            lo, fail_msg = mid, msg
    for _ in range(16):  # confirm, else move up and retry
        ok, msg = _reliably_starts(bench, rt, root, hi, CONFIRM_TIMES)
        if ok:
            break
        lo, fail_msg = hi, msg
        hi += 2 * STEP
    return {"min_limit": hi, "largest_failing": lo, "failure_below": fail_msg}


@pytest.mark.timeout(1200)
def test_s6b_smallest_memory_limit(bench, benchmark):
    found = {}

    def bisect_all() -> None:
        for rt in bench.runtimes:
            found[rt.name] = _bisect(bench, rt)

    try:
        benchmark.pedantic(bisect_all, rounds=1, iterations=1)
    finally:
        bench.clean_scenario(KEY + "-bisect")
    RESULTS["memory"]["min_limit_bytes"] = {k: v["min_limit"] for k, v in found.items()}
    RESULTS["memory"]["bisect"] = found
    benchmark.extra_info.update({k: v["min_limit"] for k, v in found.items()})
    assert found["pyrunc"]["min_limit"] is not None, found["pyrunc"]["note"]
