"""``pyrunc ps [--format table|json] ID [ps args]``: the container's processes (host pids)."""
import subprocess

from .. import log, state
from ..errors import Error
from ..jsonlite import dumps
from . import need_id


def run(gopts, opts, args) -> int:
    c = state.load(gopts.root, need_id(args, "ps", "<container-id> [ps options]"))
    fmt = opts.format or "table"
    if fmt not in ("table", "json"):
        raise Error(f"invalid format option: {fmt}")
    mgr = c.cgroup_manager()
    pids = sorted(mgr.pids()) if mgr is not None else ([c.pid] if c.status() != "stopped" else [])
    if fmt == "json":
        log.out(dumps(pids) + "\n")
        return 0
    ps_args = args[1:] or ["-ef"]
    out = subprocess.run(["ps", *ps_args], capture_output=True, text=True)
    if out.returncode != 0:
        raise Error(f"ps: {out.stderr.strip()}")
    lines = out.stdout.splitlines()
    if not lines:
        return 0
    header = lines[0].split()
    if "PID" not in header:
        raise Error("couldn't find PID field in ps output")
    col = header.index("PID")
    wanted = set(pids)
    rows = [lines[0]] + [ln for ln in lines[1:] if len(ln.split()) > col and ln.split()[col].isdigit()
                         and int(ln.split()[col]) in wanted]
    log.out("\n".join(rows) + "\n")
    return 0

