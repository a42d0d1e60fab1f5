"""Render bench/results/graphdriver/results.json into report.md + PNG plots.

Run by the benchmark session at its end; can be re-run by hand:
``python bench/graphdriver/report.py [results.json [outdir]]``.
"""
from __future__ import annotations

import json
import os
import sys

COMMAND = (".venv/bin/python -m pytest bench/graphdriver --benchmark-only "
           "--benchmark-columns=min,median,max,rounds")


def _human(n: int) -> str:
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div:
            v = n / div
            return f"{v:.0f} {unit}" if v == int(v) else f"{v:.1f} {unit}"
    return f"{n} B"


def _fmt(v: float | None, unit: str = "") -> str:
    if v is None:
        return "–"
    if v >= 100:
        s = f"{v:.0f}"
    elif v >= 10:
        s = f"{v:.1f}"
    elif v >= 1:
        s = f"{v:.2f}"
    else:
        s = f"{v:.3f}"
    return s + unit


def _ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "–"
    return f"{a / b:.2f}×" if a / b < 100 else f"{a / b:.0f}×"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out + [""]


def _size_ticks(ax, sizes) -> None:
    ax.set_xticks(sizes)
    ax.set_xticklabels([_human(s).replace(" ", "") for s in sizes])
    ax.minorticks_off()


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _order(items, preferred=("overlay2", "overlay2-classic", "overlay2-volatile", "vfs", "devicemapper",
                             "gnu-tar", "python-tarfile")):
    items = list(dict.fromkeys(items))
    return sorted(items, key=lambda v: preferred.index(v) if v in preferred else len(preferred))


def section_mount(res: list[dict], outdir: str, lines: list[str]) -> None:
    mount = [r for r in res if r["bench"] == "mount"]
    if not mount:
        return
    lines.append("## 1. Mount latency vs image depth (ext4 host)\n")
    lines.append("`get()` of a container layer on an N-layer image; median of ≥15 rounds. "
                 "overlay2 uses fsopen + one `lowerdir+` fd per layer; overlay2-classic is mount(2) "
                 "(absolute paths, then `l/` links from a chdir'ed child, then a clear error).\n")
    variants = _order(r["variant"] for r in mount)
    depths = sorted({r["depth"] for r in mount})
    val = {(r["variant"], r["depth"]): r for r in mount}
    rows = []
    for dep in depths:
        row = [str(dep)]
        for v in variants:
            r = val.get((v, dep))
            row.append("error" if r and "error" in r else _fmt(r and r.get("ms")))
        o, c = val.get(("overlay2", dep)), val.get(("overlay2-classic", dep))
        row.append(_ratio(c and c.get("ms"), o and o.get("ms")))
        rows.append(row)
    lines += _table(["layers"] + [f"{v} ms" for v in variants] + ["classic / fsopen"], rows)
    errors = sorted({(r["variant"], r["depth"], r["error"]) for r in mount if "error" in r})
    for v, dep, err in errors:
        lines.append(f"- {v} at {dep} layers: `{err}`")
    if errors:
        lines.append("")
    for bench, unit, title in (("lookup_miss", "us", "lookup miss (stat of a missing name)"),
                               ("readdir", "us", "readdir of the root (one file per layer)")):
        rs = [r for r in res if r["bench"] == bench]
        if not rs:
            continue
        vs = _order(r["variant"] for r in rs)
        val2 = {(r["variant"], r["depth"]): r[unit] for r in rs}
        lines.append(f"**{title}, µs**\n")
        lines += _table(["layers"] + vs + ["overlay2 / vfs"],
                        [[str(dep)] + [_fmt(val2.get((v, dep))) for v in vs]
                         + [_ratio(val2.get(("overlay2", dep)), val2.get(("vfs", dep)))] for dep in depths])
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, (bench, key, ylabel) in zip(axes, (("mount", "ms", "mount (get) ms"), ("lookup_miss", "us", "lookup miss µs"),
                                               ("readdir", "us", "readdir µs"))):
        rs = [r for r in res if r["bench"] == bench and key in r]
        for v in _order(r["variant"] for r in rs):
            pts = sorted((r["depth"], r[key]) for r in rs if r["variant"] == v)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=v)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("image layers")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "mount_depth.png"), dpi=100)
    plt.close(fig)
    lines.append("![mount latency, lookup miss and readdir vs depth](mount_depth.png)\n")


def section_write(res: list[dict], outdir: str, lines: list[str]) -> None:
    rs = [r for r in res if r["bench"] == "first_write"]
    if not rs:
        return
    lines.append("## 2. First 4 KiB write into a lower-layer file vs file size\n")
    lines.append("open(O_WRONLY) + pwrite 4 KiB + close on a fresh container; median. overlay2 copies the "
                 "whole file up (a clone on XFS reflink); vfs paid at create; devicemapper does block CoW "
                 "inside its image. The file is in the page cache.\n")
    hosts = list(dict.fromkeys(r["host"] for r in rs))
    sizes = sorted({r["size"] for r in rs})
    val = {(r["host"], r["variant"], r["size"]): r["ms"] for r in rs}
    for host in hosts:
        vs = _order(r["variant"] for r in rs if r["host"] == host)
        lines.append(f"**{host} host, ms**\n")
        rows = []
        for s in sizes:
            row = [_human(s)] + [_fmt(val.get((host, v, s))) for v in vs]
            row.append(_ratio(val.get((host, "overlay2", s)), val.get((host, "overlay2-volatile", s))))
            rows.append(row)
        lines += _table(["file size"] + vs + ["overlay2 / volatile"], rows)
    if len(hosts) > 1:
        lines.append("**overlay2 ext4 / xfs-reflink**: " + ", ".join(
            f"{_human(s)} {_ratio(val.get(('ext4', 'overlay2', s)), val.get(('xfs', 'overlay2', s)))}" for s in sizes)
            + "\n")
    plt = _plt()
    fig, axes = plt.subplots(1, len(hosts), figsize=(6.5 * len(hosts), 4.2), squeeze=False)
    for ax, host in zip(axes[0], hosts):
        for v in _order(r["variant"] for r in rs if r["host"] == host):
            pts = sorted((r["size"], r["ms"]) for r in rs if r["host"] == host and r["variant"] == v)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=v)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        _size_ticks(ax, sizes)
        ax.set_xlabel("size of the lower file")
        ax.set_ylabel("first write ms")
        ax.set_title(f"{host} host")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "first_write.png"), dpi=100)
    plt.close(fig)
    lines.append("![first write latency vs file size](first_write.png)\n")


def section_create(res: list[dict], outdir: str, lines: list[str]) -> None:
    rs = [r for r in res if r["bench"] == "create"]
    if not rs:
        return
    lines.append("## 3. Container create (create + get) time and disk used vs image size\n")
    lines.append("Image = one layer of 1 MiB files; disk = growth of the backing filesystem's used blocks "
                 "after syncfs for one container (0 B is drawn as 1 B on the log plot).\n")
    hosts = list(dict.fromkeys(r["host"] for r in rs))
    sizes = sorted({r["size"] for r in rs})
    val = {(r["host"], r["variant"], r["size"]): r for r in rs}
    for host in hosts:
        vs = _order(r["variant"] for r in rs if r["host"] == host)
        lines.append(f"**{host} host** (time ms / disk used)\n")
        rows = []
        for s in sizes:
            row = [_human(s)]
            for v in vs:
                r = val.get((host, v, s))
                row.append("–" if not r else f"{_fmt(r['ms'])} / {_human(r['disk'])}")
            o, f = val.get((host, "vfs", s)), val.get((host, "overlay2", s))
            row.append(_ratio(o and o["ms"], f and f["ms"]))
            rows.append(row)
        lines += _table(["image"] + vs + ["vfs / overlay2 time"], rows)
    plt = _plt()
    fig, axes = plt.subplots(2, len(hosts), figsize=(6.5 * len(hosts), 7.5), squeeze=False)
    for col, host in enumerate(hosts):
        for row, (key, ylabel) in enumerate((("ms", "create + get ms"), ("disk", "disk used (bytes)"))):
            ax = axes[row][col]
            for v in _order(r["variant"] for r in rs if r["host"] == host):
                pts = sorted((r["size"], max(r[key], 1)) for r in rs if r["host"] == host and r["variant"] == v)
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=v)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            _size_ticks(ax, sizes)
            ax.set_xlabel("image size")
            ax.set_ylabel(ylabel)
            ax.set_title(f"{host} host")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "create.png"), dpi=100)
    plt.close(fig)
    lines.append("![container create time and disk used vs image size](create.png)\n")


def section_apply(res: list[dict], outdir: str, lines: list[str]) -> None:
    rs = [r for r in res if r["bench"] == "apply"]
    if not rs:
        return
    size = rs[0].get("tar_bytes", 0)
    lines.append(f"## 4. Layer apply throughput ({_human(size)} tar) vs GNU tar\n")
    lines.append("apply_diff into a new layer + syncfs, vs `tar -xf` into an empty dir + syncfs; median of 3.\n")
    hosts = list(dict.fromkeys(r["host"] for r in rs))
    val = {(r["host"], r["variant"]): r for r in rs}
    rows = []
    for host in hosts:
        gnu = val.get((host, "gnu-tar"))
        for v in _order(r["variant"] for r in rs if r["host"] == host):
            r = val[(host, v)]
            rows.append([host, v, _fmt(r["s"], " s"), _fmt(r["mb_s"]), _fmt(r["files_s"]),
                         _ratio(r["s"], gnu and gnu["s"])])
    lines += _table(["host", "contender", "time", "MB/s", "files/s", "time / GNU tar"], rows)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4.2))
    vs = _order(r["variant"] for r in rs)
    width = 0.8 / max(1, len(hosts))
    for i, host in enumerate(hosts):
        xs = [j + i * width for j in range(len(vs))]
        ax.bar(xs, [val[(host, v)]["mb_s"] if (host, v) in val else 0 for v in vs], width, label=f"{host} host")
    ax.set_xticks([j + width * (len(hosts) - 1) / 2 for j in range(len(vs))])
    ax.set_xticklabels(vs, rotation=15)
    ax.set_ylabel("MB/s (higher is better)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "apply.png"), dpi=100)
    plt.close(fig)
    lines.append("![layer apply throughput](apply.png)\n")


def write_report(results_json: str, outdir: str) -> str:
    with open(results_json) as f:
        data = json.load(f)
    res, meta = data["results"], data.get("meta", {})
    os.makedirs(outdir, exist_ok=True)
    lines = ["# Graph-driver benchmarks", "",
             f"Run {meta.get('when', '?')}, kernel {meta.get('kernel', '?')}, {meta.get('cpus', '?')} CPUs, "
             f"drivers {', '.join(meta.get('drivers', []))}, hosts {', '.join(meta.get('hosts', []))}. "
             "Compare ratios within this run: the machine is a loaded VM.", "",
             f"Command: `{COMMAND}`", ""]
    for section in (section_mount, section_write, section_create, section_apply):
        section(res, outdir, lines)
    path = os.path.join(outdir, "report.md")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(os.path.dirname(here), "results", "graphdriver")
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(default, "results.json")
    print(write_report(src, sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.abspath(src))))
