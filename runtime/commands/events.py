"""``pyrunc events [--stats] [--interval 5s] ID``: runc's stats/oom JSON events."""
from .. import fastos as os
import select
import time

from .. import log, state
from ..errors import Error
from ..jsonlite import dumps
from . import need_id


def _interval(text: str | None) -> float:
    if not text:
        return 5.0
    t = text.strip()
    for suffix, mul in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if t.endswith(suffix):
            try:
                v = float(t[: -len(suffix)]) * mul
            except ValueError:
                break
            if v <= 0:
                break
            return v
    raise Error(f"invalid interval: {text!r}")


def run(gopts, opts, args) -> int:
    import gc
    gc.enable()  # a loop without end (the CLI turns the collector off for short commands)
    cid = need_id(args, "events")
    c = state.load(gopts.root, cid)
    if c.status() == "stopped":
        raise Error(f"container with id {cid} is not running")
    mgr = c.cgroup_manager()
    if mgr is None:
        raise Error("cgroup not exist")
    if opts.stats:
        log.out(dumps({"type": "stats", "id": cid, "data": mgr.stats()}) + "\n")
        return 0
    every = _interval(opts.interval)
    efd = mgr.oom_eventfd()
    last_oom = mgr.oom_count()
    next_stats = time.monotonic()
    try:
        while True:
            if not c.init_alive():
                return 0
            now = time.monotonic()
            if now >= next_stats:
                log.out(dumps({"type": "stats", "id": cid, "data": mgr.stats()}) + "\n")
                next_stats = now + every
            wait = max(0.0, min(next_stats - time.monotonic(), 0.5))
            if efd is not None:
                r, _, _ = select.select([efd], [], [], wait)
                if r:
                    os.read(efd, 8)
            else:
                time.sleep(wait)
            n = mgr.oom_count()
            if n > last_oom:
                for _ in range(n - last_oom):
                    log.out(dumps({"type": "oom", "id": cid}) + "\n")
                last_oom = n
            elif efd is not None and r and mgr.exists():
                log.out(dumps({"type": "oom", "id": cid}) + "\n")
    except KeyboardInterrupt:
        return 0
    finally:
        if efd is not None:
            os.close(efd)
