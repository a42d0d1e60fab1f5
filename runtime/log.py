"""runc-compatible logging: ``--log`` file in logrus text or JSON, errors mirrored on stderr.

JSON lines are ``{"level":..,"msg":..,"time":..}`` (keys sorted, RFC 3339 time) because the
containerd shim decodes ``time`` as a Go time.Time and podman parses exactly one object.
"""
from . import fastos as os
import time

from _json import encode_basestring_ascii as _esc

_path: str | None = None
_json = False
_debug = False


def configure(path: str | None, fmt: str, debug: bool) -> None:
    global _path, _json, _debug
    _path, _json, _debug = path or None, fmt == "json", debug


_T0 = time.perf_counter()


def _line(level: str, msg: str) -> str:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if level == "debug":
        msg = f"[+{(time.perf_counter() - _T0) * 1e3:.2f} ms] {msg}"
    if _json:
        return '{"level":"%s","msg":%s,"time":"%s"}\n' % (level, _esc(msg), now)
    return 'time="%s" level=%s msg=%s\n' % (now, level, _esc(msg))


def _write(level: str, msg: str) -> None:
    data = _line(level, msg).encode()
    if _path:
        fd = os.open(_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    else:
        os.write(2, data)


def error(msg: str) -> None:
    """Log one error line; with a log file, also print the bare message on stderr."""
    try:
        _write("error", msg)
    except OSError:
        pass
    if _path:
        try:
            os.write(2, (msg + "\n").encode())
        except OSError:
            pass


def warning(msg: str) -> None:
    try:
        _write("warning", msg)
    except OSError:
        pass


def debug(msg: str) -> None:
    if _debug:
        try:
            _write("debug", msg)
        except OSError:
            pass


def elapsed_ms(t0: float) -> str:
    return "%.2f ms" % ((time.perf_counter() - t0) * 1e3)


def out(text: str) -> None:
    """Write to stdout unbuffered (the hot path never builds a TextIOWrapper flush at exit)."""
    data = text.encode()
    while data:
        n = os.write(1, data)
        data = data[n:]

