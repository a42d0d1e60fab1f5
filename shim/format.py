"""docker's human-readable durations and sizes (go-units), its column printer, and small file helpers
shared by the image and container stores."""
from __future__ import annotations

import contextlib
import os
from typing import Iterator


def human_duration(seconds: float) -> str:
    """docker's units.HumanDuration."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    m = int(seconds / 60)
    if m == 1:
        return "About a minute"
    if m < 60:
        return f"{m} minutes"
    h = int(seconds / 3600 + 0.5)
    if h == 1:
        return "About an hour"
    if h < 48:
        return f"{h} hours"
    if h < 24 * 7 * 2:
        return f"{h // 24} days"
    if h < 24 * 30 * 2:
        return f"{h // 24 // 7} weeks"
    if h < 24 * 365 * 2:
        return f"{h // 24 // 30} months"
    return f"{h // 24 // 365} years"


def _size(n: float, base: int, units: list[str], precision: int = 4) -> str:
    i = 0
    while n >= base and i < len(units) - 1:
        n /= base
        i += 1
    return f"{n:.{precision}g}{units[i]}"


def bytes_size(n: float) -> str:
    """Binary units, as docker stats shows memory: 1.5MiB."""
    return _size(float(n), 1024, ["B", "KiB", "MiB", "GiB", "TiB", "PiB"])


def human_size(n: float, precision: int = 4) -> str:
    """Decimal units, as docker shows I/O (and, with precision 3, image) sizes: 1.2MB."""
    return _size(float(n), 1000, ["B", "kB", "MB", "GB", "TB", "PB", "EB"], precision)


def table(header: list[str], rows: list[list[str]]) -> str:
    """docker's tabwriter (minwidth 10, padding 3); the last column is not padded."""
    widths = [max([len(str(h))] + [len(str(r[i])) for r in rows]) for i, h in enumerate(header)]
    lines = []
    for r in [header, *rows]:
        cells = [str(c).ljust(max(10, widths[i] + 3)) for i, c in enumerate(r[:-1])] + [str(r[-1])]
        lines.append("".join(cells).rstrip())
    return "\n".join(lines)


def write_json(path: str, doc) -> None:
    """Write a temp file next to ``path``, fsync, rename: readers never see half a document."""
    import json
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@contextlib.contextmanager
def flocked(directory: str) -> Iterator[None]:
    """An exclusive flock on ``directory``/.lock for the duration of one change."""
    import fcntl
    fd = os.open(os.path.join(directory, ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
