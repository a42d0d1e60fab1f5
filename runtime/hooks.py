"""OCI hooks: each runs with the state JSON on stdin, its own args/env and optional timeout.

Only imported when a config has hooks (subprocess is not cheap to import).
"""
from . import fastos as os
import subprocess

from .errors import Error
from .jsonlite import dumps


def run_hooks(hooks: list[dict], name: str, state: dict, warn_only: bool = False) -> None:
    """Run ``hooks`` in order; the first failure raises Error (or only warns, for poststop)."""
    data = dumps(state).encode()
    for i, h in enumerate(hooks):
        try:
            _run_one(h, data)
        except Error as e:
            msg = f"error running {name} hook #{i}: {e}"
            if warn_only:
                from . import log
                log.warning(msg)
                continue
            raise Error(msg) from None


def _run_one(h: dict, data: bytes) -> None:
    path = h["path"]
    args = h.get("args") or [path]
    env = {}
    for kv in h.get("env", ()):
        k, _, v = kv.partition("=")
        env[k] = v
    timeout = h.get("timeout")
    if timeout is not None and timeout <= 0:
        raise Error(f"timeout must be greater than zero, got {timeout}")
    try:
        p = subprocess.Popen(args, executable=path, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, close_fds=True, start_new_session=True)
    except OSError as e:
        raise Error(f"fork/exec {path}: {(e.strerror or str(e)).lower()}") from None
    try:
        out, _ = p.communicate(data, timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, 9)
        except OSError:
            p.kill()
        p.wait()
        raise Error(f"hook ran past specified timeout of {float(timeout):.1f}s") from None
    except BrokenPipeError:
        out = b""
        p.wait()
    if p.returncode != 0:
        how = f"exit status {p.returncode}" if p.returncode > 0 else f"signal: {-p.returncode}"
        tail = out.decode(errors="replace").strip()
        raise Error(f"{how}" + (f", stdout: {tail}" if tail else ""))
