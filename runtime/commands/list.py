"""``pyrunc list [--format table|json] [-q]``."""
from .. import fastos as os

from .. import log, state
from ..errors import Error
from ..jsonlite import dumps


def _owner(path: str) -> str:
    import pwd
    uid = os.stat(path).st_uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"#{uid}"


def run(gopts, opts, args) -> int:
    fmt = opts.format or "table"
    if fmt not in ("table", "json"):
        raise Error(f"invalid format option: {fmt}")
    items = []
    try:
        names = sorted(os.listdir(gopts.root))
    except FileNotFoundError:
        names = []
    for name in names:
        if name.startswith("."):
            continue
        try:
            c = state.load(gopts.root, name)
        except Error:
            continue
        st = c.oci_state()
        st["owner"] = _owner(c.dir)
        items.append(st)
    if opts.quiet:
        log.out("".join(s["id"] + "\n" for s in items))
    elif fmt == "json":
        log.out(dumps(items) + "\n")
    else:
        rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
        rows += [(s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], s["owner"]) for s in items]
        widths = [max(len(r[i]) for r in rows) for i in range(6)]
        log.out("".join("   ".join(v.ljust(widths[i]) for i, v in enumerate(r)).rstrip() + "\n" for r in rows))
    return 0
