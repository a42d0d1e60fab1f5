"""docker's human-readable durations and sizes (go-units), and a column printer."""
from __future__ import annotations


def human_duration(seconds: float) -> str:
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
    h = int(round(seconds / 3600))
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


def _size(n: float, base: int, units: list[str]) -> str:
    i = 0
    while n >= base and i < len(units) - 1:
        n /= base
        i += 1
    return f"{n:.4g}{units[i]}"


def bytes_size(n: float) -> str:
    """Binary units, as docker stats shows memory: 1.5MiB."""
    return _size(float(n), 1024, ["B", "KiB", "MiB", "GiB", "TiB", "PiB"])


def human_size(n: float) -> str:
    """Decimal units, as docker shows I/O and image sizes: 1.2MB."""
    return _size(float(n), 1000, ["B", "kB", "MB", "GB", "TB", "PB"])


def table(header: list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell, three spaces apart (docker's tabwriter look)."""
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    lines = []
    for r in [header] + rows:
        cells = [str(v).ljust(widths[i]) if i < len(header) - 1 else str(v) for i, v in enumerate(r)]
        lines.append("   ".join(cells).rstrip())
    return "\n".join(lines)
