"""Render bench/results/runtime/results.json into report.md + PNG bar charts (matplotlib).

usage: python bench/runtime/report.py [results.json [outdir]]
The benchmark session (``pytest bench/runtime --benchmark-only``) writes results.json; this script
only reads it, so a report can be re-rendered without re-running anything. matplotlib comes from
requirements-bench.txt; without it the markdown is still written (no charts).
"""
from __future__ import annotations

import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT = os.path.join(REPO, "bench", "results", "runtime", "results.json")
COMMAND = (".venv/bin/python -m pytest bench/runtime --benchmark-only && "
           ".venv/bin/python bench/runtime/report.py")
RUNTIMES = ("pyrunc", "runc", "crun")
COLORS = {"pyrunc": "#3572A5", "runc": "#00ADD8", "crun": "#A8B9CC"}
# (scenario key, other runtime, max ratio pyrunc/other of medians) -- issue 8
TARGETS = [
    ("s1_run", "runc", 0.70), ("s1_run", "crun", 1.5),
    ("s2_run_docker_seccomp", "runc", 0.55), ("s2_run_docker_seccomp", "crun", 0.95),
    ("s3_shim_lifecycle", "runc", 0.9),
    ("s4_exec", "runc", 0.8),
]
SHORT = {"s1_run": "1 run", "s1b_run_back_to_back": "1b run, no pause", "s2_run_docker_seccomp": "2 run+seccomp",
         "s3_shim_lifecycle": "3 shim lifecycle",
         "s4_exec": "4 exec", "s4b_exec_shim": "4b exec (shim)", "s5_sequential": "5 sequential",
         "s5_parallel": "5 parallel"}


def _ms(v: float | None) -> str:
    return "–" if v is None else f"{v * 1e3:.1f}"


def _mib(kib: float | None) -> str:
    return "–" if kib is None else f"{kib / 1024:.1f} MiB"


def _med(xs) -> float | None:
    return statistics.median(xs) if xs else None


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return out + ["| " + " | ".join(r) + " |" for r in rows] + [""]


def _verdict(ratio: float, limit: float) -> str:
    if ratio <= limit:
        return "**met**"
    return f"**missed** ({ratio:.2f} > {limit}: pyrunc needs {1 - limit / ratio:.0%} less time)"


def crun_without_wrapper(res: dict, key: str) -> float | None:
    """pyrunc/crun if crun ran without the hybrid-cgroup wrapper: crun's median minus the overhead."""
    sc, ov = res.get("scenarios", {}).get(key), res.get("crun_wrapper_overhead_s")
    if not sc or not ov or not sc.get("calls"):
        return None
    st = sc["summary"]["stats"]
    if "pyrunc" not in st or "crun" not in st:
        return None
    crun = st["crun"]["median"] - sc["calls"] * ov["overhead_median"]
    return st["pyrunc"]["median"] / crun if crun > 0 else None


def target_rows(res: dict) -> list[list[str]]:
    rows = []
    scs = res.get("scenarios", {})
    for key, other, limit in TARGETS:
        sc = scs.get(key)
        label = f"{SHORT.get(key, key)}: pyrunc/{other} ≤ {limit}"
        if not sc:
            rows.append([label, "not run", "–", "–"])
            continue
        r = sc["summary"]["ratios"].get(other)
        if r is None:
            why = sc.get("skipped", {}).get("pyrunc") or sc.get("skipped", {}).get(other) or "no samples"
            rows.append([label, "not measured", "–", f"**not measured**: {why}"])
            continue
        p = r["paired"]
        measured = f"{r['median']:.2f}"
        if other == "crun":
            adj = crun_without_wrapper(res, key)
            if adj:
                measured += f" ({adj:.2f} without crun's wrapper, est.)"
        rows.append([label, measured, f"{p['min']:.2f} / {p['median']:.2f} / {p['max']:.2f}",
                     _verdict(r["median"], limit)])
    mem = res.get("memory", {}).get("min_limit_bytes") or {}
    label = "6 memory: smallest limit pyrunc ≤ runc"
    if mem.get("pyrunc") and mem.get("runc"):
        ok = mem["pyrunc"] <= mem["runc"]
        rows.append([label, f"{mem['pyrunc'] / mem['runc']:.2f}",
                     f"pyrunc {mem['pyrunc'] >> 10} KiB, runc {mem['runc'] >> 10} KiB",
                     "**met**" if ok else f"**missed** (pyrunc needs {(mem['pyrunc'] - mem['runc']) >> 10} KiB more)"])
    else:
        rows.append([label, "not run", "–", "–"])
    return rows


def scenario_rows(res: dict) -> list[list[str]]:
    rows = []
    for key, sc in sorted(res.get("scenarios", {}).items()):
        summ = sc["summary"]
        per = None
        if key == "s5_sequential":
            n = res.get("machine", {}).get("rounds", {}).get("seq_n") or 100
            per = n
        for rt in RUNTIMES:
            st = summ["stats"].get(rt)
            if not st:
                why = sc.get("skipped", {}).get(rt)
                if why:
                    rows.append([sc["title"], rt, "skipped", "", "", "", "", why])
                continue
            rat = ["", ""]
            if rt == "pyrunc":
                for i, other in enumerate(("runc", "crun")):
                    r = summ["ratios"].get(other)
                    if r:
                        rat[i] = f"{r['min']:.2f} / **{r['median']:.2f}** / {r['max']:.2f}"
            extra = f"{st['median'] * 1e3 / per:.1f} ms per container" if per else ""
            rows.append([sc["title"] if rt == "pyrunc" else "", rt, _ms(st["min"]), _ms(st["median"]),
                         _ms(st["max"]), rat[0], rat[1], extra or f"n={st['n']}"])
    return rows


def memory_rows(res: dict) -> list[list[str]]:
    mem = res.get("memory", {})
    rows = []
    for rt in RUNTIMES:
        b = (mem.get("bisect") or {}).get(rt, {})
        lim = b.get("min_limit")
        fail = b.get("largest_failing")
        ch = (mem.get("created_memcg_max_usage_bytes") or {}).get(rt) or []
        charged = _med(ch)
        rows.append([rt, _mib(_med((mem.get("peak_rss_kib") or {}).get(rt))),
                     _mib(_med((mem.get("create_rss_kib") or {}).get(rt))),
                     _mib(_med((mem.get("created_init_vmhwm_kib") or {}).get(rt))),
                     "–" if charged is None else f"{min(ch) >> 10} / {charged / 1024:.0f} / {max(ch) >> 10} KiB",
                     "–" if lim is None else f"{lim >> 10} KiB",
                     "–" if not fail else f"{fail >> 10} KiB: {(b.get('failure_below') or '?').strip()[:140]}"])
    return rows


def render_markdown(res: dict, charts: list[str]) -> str:
    m = res.get("machine", {})
    v = m.get("versions", {})
    r = m.get("rounds", {})
    lines = ["# pyrunc vs runc vs crun: runtime benchmark", "",
             f"Generated from `results.json` of one benchmark run ({m.get('date', '?')}). "
             "All three runtimes were timed **interleaved in the same run** (each round runs pyrunc, runc "
             "and crun one after the other, rotating who goes first), so compare the **ratios**; absolute "
             "times move ±10–30 % between runs on this machine. "
             f"Every timed step of scenarios 1–4 starts after a {r.get('settle_ms', 0)} ms pause, so no kernel "
             "state of the previous runtime's invocation carries over (see the notes); scenario 1b repeats scenario 1 "
             "without the pause, and scenario 5 runs its containers back to back.", "",
             "Command (repo root, after `scripts/install.sh` and `pip install -r requirements-bench.txt`):", "",
             f"    {COMMAND}", "",
             "## Machine and versions", ""]
    lines += _table(["", ""], [
        ["date", m.get("date", "?")], ["CPUs (nproc)", str(m.get("nproc", "?"))], ["CPU", m.get("cpu", "?")],
        ["kernel", m.get("kernel", "?")], ["cgroups", m.get("cgroup", "?")], ["python", m.get("python", "?")],
        ["pyrunc", v.get("pyrunc", "?") + f" (repo {m.get('commit', '?')})"], ["runc", v.get("runc", "–")],
        ["crun", (v.get("crun", "–") + " — through the hybrid-cgroup wrapper (see notes)")],
        ["rounds", f"{r.get('s1-s4')} per scenario 1–4 (+{r.get('warmup')} warm-up), "
                   f"{r.get('seq_rounds')}×{r.get('seq_n')} sequential, {r.get('par_rounds')}×{r.get('par_n')} "
                   f"parallel, {r.get('mem_rounds')} memory rounds; "
                   f"{r.get('settle_ms', 0)} ms pause before each timed step of 1–4 (not 1b)"],
    ])
    if m.get("missing"):
        lines += [f"Missing runtimes: {', '.join(m['missing'])}", ""]
    lines += ["## Targets (issue 8; ratio of medians, same run)", ""]
    lines += _table(["target", "measured", "paired per-round ratio min / median / max", "verdict"],
                    target_rows(res))
    lines += ["## Times per scenario (ms; ratios = pyrunc/X of min / **median** / max)", ""]
    lines += _table(["scenario", "runtime", "min", "median", "max", "pyrunc/runc", "pyrunc/crun", ""],
                    scenario_rows(res))
    parts = (res.get("scenarios", {}).get("s3_shim_lifecycle") or {}).get("parts_s")
    if parts:
        lines += ["Scenario 3 step by step (median ms of each invocation; `wait` = from `start` returning "
                  "to the container process being reaped):", ""]
        steps = ("create", "start", "wait", "delete")
        lines += _table(["runtime"] + list(steps), [[rt] + [_ms(_med(parts[rt][s])) for s in steps]
                                                     for rt in RUNTIMES if rt in parts])
    if "times.png" in charts:
        lines += ["![median times, whiskers min..max](times.png)", ""]
    if "ratios.png" in charts:
        lines += ["![pyrunc/runc and pyrunc/crun with targets](ratios.png)", ""]
    lines += ["## Memory (scenario 6)", "",
              "Peak RSS is GNU time's `%M` (ru_maxrss of the runtime and every descendant it reaped: runc's "
              "re-exec'd `runc init`, pyrunc's forked init). \"created\" columns are read while the container "
              "waits in `created` (all runtime setup done, nothing of the user's process yet): the init's "
              "VmHWM and the bytes charged to the container's memory cgroup. The smallest limit is bisected "
              "to 64 KiB on `linux.resources.memory.limit` with `swap` equal to it (cgroup v1 "
              "memory.limit_in_bytes + memory.memsw.limit_in_bytes), a probe passing only when 3 starts in a "
              "row succeed, and the answer confirmed by 10 starts in a row: the charge before exec varies "
              "from start to start (min / median / max of the memcg charge in the table).", ""]
    lines += _table(["runtime", "peak RSS `run`", "peak RSS `create`", "init VmHWM (created)",
                     "memcg charge when created, min / median / max", "smallest limit that starts", "largest limit that failed, and how"],
                    memory_rows(res))
    if "memory.png" in charts:
        lines += ["![memory](memory.png)", ""]
    notes = ["crun 1.8.1 refuses hybrid cgroups, so it runs as `unshare -m --propagation slave /bin/sh -c "
             "'umount -l /sys/fs/cgroup/unified; exec crun \"$@\"'` (a wrapper script in the bench temp dir); "
             "that costs crun an extra sh + unshare + umount per invocation"]
    ov = res.get("crun_wrapper_overhead_s")
    if ov:
        notes[0] += (f": measured {ov['wrapper_median'] * 1e3:.1f} ms for `wrapper --version` vs "
                     f"{ov['direct_median'] * 1e3:.1f} ms for `crun --version`, i.e. ~{ov['overhead_median'] * 1e3:.1f}"
                     " ms per invocation are added to crun's times (pyrunc/crun ratios are that much kinder "
                     "to pyrunc)")
    notes += [
        "configs come from `pyrunc spec` (busybox `true`, terminal off, read-only root) with `ociVersion` "
        "set to `1.0.2-dev`: crun 1.8.1 rejects `1.2.0` (\"unknown version specified\")",
        "every container gets its own bundle directory and `cgroupsPath` `/pyrunc-bench-<token>/<id>` "
        "(the same depth for all runtimes), its own id, and each scenario its own `--root` per runtime",
        "scenario 2 takes `process.capabilities` and `linux.seccomp` from the docker fixture "
        "(x86_64 + x86 + x32); pyrunc's compiled-filter cache in `<root>/.seccomp-cache` is warm after the "
        "warm-up rounds, as it is for a containerd shim whose `--root` persists",
        "the pause before each timed step: a cgroup v1 `cgroup.procs` write leaves the kernel's global "
        "threadgroup rwsem in its slow mode for ~10–20 ms, and a runtime whose join falls in that window "
        "skips the RCU grace period (7–16 ms here) it would otherwise wait for; back to back, runc and crun "
        "would get that for free from each other. pyrunc never waits for it: its init is born in its cgroup2 "
        "directory (clone3 `CLONE_INTO_CGROUP`) and joins the v1 hierarchies itself by writing `0` to their "
        "`tasks` files (a single-thread move, which skips that rwsem). The previous container's namespace "
        "teardown also continues in kernel workers for tens of ms",
        "scenario 3 and 4b use the containerd shim's argv (`--root R --log B/log.json --log-format json` "
        "before each subcommand, cwd = bundle) and wait for the container process as its subreaper",
    ]
    notes += res.get("notes", [])
    lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(lines)


# ---------------------------------------------------------------- charts

def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _bars(ax, groups: list[str], data: dict[str, list], err: dict[str, list] | None, ylabel: str) -> None:
    names = [rt for rt in RUNTIMES if rt in data]
    w = 0.8 / max(1, len(names))
    for i, rt in enumerate(names):
        xs = [g + (i - (len(names) - 1) / 2) * w for g in range(len(groups))]
        vals = [v if v is not None else 0 for v in data[rt]]
        kw = {}
        if err and rt in err:
            kw = {"yerr": list(zip(*err[rt])), "capsize": 3, "ecolor": "#555"}
        ax.bar(xs, vals, w, label=rt, color=COLORS[rt], **kw)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, fontsize=8)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)


def chart_times(res: dict, out: str) -> bool:
    scs = res.get("scenarios", {})
    left = [k for k in ("s1_run", "s1b_run_back_to_back", "s2_run_docker_seccomp", "s3_shim_lifecycle", "s4_exec",
                        "s4b_exec_shim")
            if k in scs]
    right = [k for k in ("s5_sequential", "s5_parallel") if k in scs]
    if not left and not right:
        return False
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [max(1, len(left)), 2]})
    n_seq = res.get("machine", {}).get("rounds", {}).get("seq_n") or 100
    for ax, keys, title in ((axes[0], left, "scenarios 1–4 (median, whiskers min..max)"),
                            (axes[1], right, f"scenario 5: per container of {n_seq} sequential;\n"
                                             f"whole batch of parallel")):
        data, err = {}, {}
        for rt in RUNTIMES:
            vals, errs = [], []
            for k in keys:
                st = scs[k]["summary"]["stats"].get(rt)
                div = n_seq if k == "s5_sequential" else 1
                if st:
                    med = st["median"] * 1e3 / div
                    vals.append(med)
                    errs.append((med - st["min"] * 1e3 / div, st["max"] * 1e3 / div - med))
                else:
                    vals.append(None)
                    errs.append((0, 0))
            if any(v is not None for v in vals):
                data[rt], err[rt] = vals, errs
        if keys:
            _bars(ax, [SHORT.get(k, k) for k in keys], data, err, "ms")
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return True


def chart_ratios(res: dict, out: str) -> bool:
    scs = res.get("scenarios", {})
    keys = [k for k in sorted(scs) if scs[k]["summary"]["ratios"]]
    if not keys:
        return False
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 4.2))
    w = 0.38
    for i, other in enumerate(("runc", "crun")):
        xs = [j + (i - 0.5) * w for j in range(len(keys))]
        vals = [scs[k]["summary"]["ratios"].get(other, {}).get("median", 0) for k in keys]
        lo = [v - scs[k]["summary"]["ratios"].get(other, {}).get("paired", {}).get("min", v) for v, k in zip(vals, keys)]
        hi = [scs[k]["summary"]["ratios"].get(other, {}).get("paired", {}).get("max", v) - v for v, k in zip(vals, keys)]
        ax.bar(xs, vals, w, label=f"pyrunc/{other}", color=COLORS[other], yerr=[lo, hi], capsize=3, ecolor="#555")
        for key, o, limit in TARGETS:
            if o == other and key in keys:
                j = keys.index(key) + (i - 0.5) * w
                ax.plot([j - w / 2, j + w / 2], [limit, limit], color="#c00", lw=2)
    ax.axhline(1.0, color="black", lw=0.8, ls="--")
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels([SHORT.get(k, k) for k in keys], fontsize=8)
    ax.set_ylabel("ratio of medians (lower is better for pyrunc)")
    ax.set_title("pyrunc / runc and pyrunc / crun; red = issue-8 target, whiskers = paired per-round min..max",
                 fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return True


def chart_memory(res: dict, out: str) -> bool:
    mem = res.get("memory", {})
    if not mem:
        return False
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    series = [("peak RSS run", {rt: _med(v) for rt, v in (mem.get("peak_rss_kib") or {}).items()}),
              ("init VmHWM (created)", {rt: _med(v) for rt, v in (mem.get("created_init_vmhwm_kib") or {}).items()})]
    groups = [s[0] for s in series]
    data = {rt: [(s[1].get(rt) or 0) / 1024 for s in series] for rt in RUNTIMES}
    _bars(axes[0], groups, data, None, "MiB")
    axes[0].set_title("peak RSS of the runtime (median)", fontsize=9)
    lim = mem.get("min_limit_bytes") or {}
    chg = mem.get("created_memcg_max_usage_bytes") or {}
    data = {rt: [(_med(chg.get(rt)) or 0) / 1024, max(chg.get(rt) or [0]) / 1024, (lim.get(rt) or 0) / 1024]
            for rt in RUNTIMES}
    _bars(axes[1], ["memcg charge when\ncreated (median)", "memcg charge when\ncreated (max)",
                    "smallest limit that\nstarts reliably"], data, None, "KiB")
    axes[1].set_title("memory inside the container's cgroup", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return True


def render(results_path: str = DEFAULT, outdir: str | None = None) -> str:
    with open(results_path) as f:
        res = json.load(f)
    outdir = outdir or os.path.dirname(os.path.abspath(results_path))
    os.makedirs(outdir, exist_ok=True)
    charts = []
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("matplotlib missing (pip install -r requirements-bench.txt): report without charts", file=sys.stderr)
    else:
        for name, fn in (("times.png", chart_times), ("ratios.png", chart_ratios), ("memory.png", chart_memory)):
            if fn(res, os.path.join(outdir, name)):
                charts.append(name)
    path = os.path.join(outdir, "report.md")
    with open(path, "w") as f:
        f.write(render_markdown(res, charts))
    return path


if __name__ == "__main__":
    a = sys.argv[1:]
    print(render(a[0] if a else DEFAULT, a[1] if len(a) > 1 else None))
