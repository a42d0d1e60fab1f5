"""Capability names <-> numbers (the names live in spec/capabilities.py)."""
from pyrunc.spec.capabilities import NAMES
NUMBERS = {n: i for i, n in enumerate(NAMES)}


def last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap", "rb") as f:
            return int(f.read())
    except OSError:
        return len(NAMES) - 1


def mask(names: list[str] | None, unknown: list[str]) -> int:
    """Bit mask of ``names``; names the kernel or pyrunc does not know go to ``unknown`` (warn, not fail)."""
    m = 0
    for n in names or ():
        i = NUMBERS.get(n.upper() if n.upper().startswith("CAP_") else "CAP_" + n.upper())
        if i is None:
            unknown.append(n)
        else:
            m |= 1 << i
    return m
