"""``pyctr stats [--no-stream] [--format T] [CONTAINER...]``: CPU, memory, block I/O and pids of running containers,
read from their cgroup files (docker's columns; CPU % is measured over half a second, 100% = one CPU)."""
import json
import sys
import time

from ..containers.cgstats import sample
from ..format import bytes_size, human_size, table
from ..containers.store import ContainerStore
from ..errors import EngineError
from .inspect import render

HELP = "Display a live stream of container resource usage statistics"
INTERVAL = 0.5


def add_arguments(p) -> None:
    p.add_argument("--no-stream", action="store_true", help="print one sample and exit")
    p.add_argument("--no-trunc", action="store_true", help="do not truncate IDs")
    p.add_argument("--format", help="'{{json .}}' or a template over ID, Name, CPUPerc, MemUsage, MemPerc, NetIO, "
                                    "BlockIO, PIDs")
    p.add_argument("containers", nargs="*", metavar="CONTAINER")


def _rows(containers, trunc: bool) -> list[dict]:
    first, t0 = {}, time.monotonic()
    for c in containers:
        try:
            first[c.id] = sample(c.state["Pid"])
        except (OSError, KeyError):
            pass
    time.sleep(INTERVAL)
    dt = time.monotonic() - t0
    out = []
    for c in containers:
        if c.id not in first:
            continue
        s = sample(c.state["Pid"])
        cpu = max(0, s["cpu_ns"] - first[c.id]["cpu_ns"]) / (dt * 1e9) * 100
        mem_pct = s["mem_usage"] / s["mem_limit"] * 100 if s["mem_limit"] else 0.0
        out.append({
            "ID": c.id[:12] if trunc else c.id, "Container": c.id[:12] if trunc else c.id, "Name": c.name,
            "CPUPerc": f"{cpu:.2f}%", "MemUsage": f"{bytes_size(s['mem_usage'])} / {bytes_size(s['mem_limit'])}",
            "MemPerc": f"{mem_pct:.2f}%", "NetIO": "0B / 0B",
            "BlockIO": f"{human_size(s['blk_read'])} / {human_size(s['blk_write'])}", "PIDs": str(s["pids"]),
            "Raw": s,
        })
    return out


def _print(rows: list[dict], fmt: str | None) -> None:
    if fmt:
        for r in rows:
            r = {k: v for k, v in r.items() if k != "Raw"} if fmt.strip() == "{{json .}}" else r
            print(json.dumps(r) if fmt.strip() == "{{json .}}" else render(fmt, r))
        return
    print(table(["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"],
                [[r["ID"], r["Name"], r["CPUPerc"], r["MemUsage"], r["MemPerc"], r["NetIO"], r["BlockIO"], r["PIDs"]]
                 for r in rows]))


def run(ctx, args) -> int:
    store = ContainerStore(ctx)
    if args.containers:
        containers = [store.get(ref) for ref in args.containers]
        for c in containers:
            if not c.running():
                raise EngineError(f"Container {c.id} is not running")
    else:
        containers = [c for c in store.list() if c.running()]
    while True:
        rows = _rows([c for c in containers if c.refresh().running()], not args.no_trunc)
        if not args.no_stream and sys.stdout.isatty():
            sys.stdout.write("\x1b[2J\x1b[H")
        _print(rows, args.format)
        sys.stdout.flush()
        if args.no_stream:
            return 0
