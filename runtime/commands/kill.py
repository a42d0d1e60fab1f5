"""``pyrunc kill [--all] ID [SIGNAL]``: signal the init (or every process of the cgroup)."""
from .. import fastos as os

from .. import state
from ..errors import NOT_RUNNING, Error
from . import need_id

SIGNALS = {"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7, "FPE": 8,
           "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15, "STKFLT": 16,
           "CHLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24,
           "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29, "POLL": 29, "PWR": 30, "SYS": 31}


def parse_signal(text: str) -> int:
    if text.isdigit():
        n = int(text)
        if 0 < n < 65:
            return n
        raise Error(f"unknown signal {text!r}")
    name = text.upper()
    if name.startswith("SIG"):
        name = name[3:]
    if name.startswith("RTMIN") or name.startswith("RTMAX"):
        base, off = (34, 1) if name.startswith("RTMIN") else (64, -1)
        rest = name[5:]
        return base + (off * int(rest.lstrip("+-")) if rest else 0)
    n = SIGNALS.get(name)
    if n is None:
        raise Error(f"unknown signal {text!r}")
    return n


def signal_container(c: state.Container, sig: int, all_procs: bool) -> None:
    st = c.status()
    if st == "stopped":
        if all_procs:
            return
        raise Error(NOT_RUNNING)
    if all_procs:
        mgr = c.cgroup_manager()
        if mgr is not None:
            mgr.signal_all(sig)
            return
    try:
        os.kill(c.pid, sig)
    except ProcessLookupError:
        raise Error(NOT_RUNNING) from None
    if st == "paused" and sig == 9:
        mgr = c.cgroup_manager()
        if mgr is not None:
            mgr.thaw()


def run(gopts, opts, args) -> int:
    cid = need_id(args, "kill", "<container-id> [signal]")
    sig = parse_signal(args[1]) if len(args) > 1 else 15
    c = state.load(gopts.root, cid)
    signal_container(c, sig, bool(opts.all))
    return 0
