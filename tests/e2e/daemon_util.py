"""Helpers for the containerd and dockerd end-to-end modules: start/stop a private daemon and find what it
left behind (shims, mounts, cgroups, fixed host dirs). The pty driver and cgroup readers are in e2e_support.

Every daemon runs with its own temp root, sockets and state; these helpers only ever act on paths under
that temp dir, on processes whose command line names it, and on cgroups named after the test run.
"""
import os
import signal
import subprocess
import time

from e2e_support import PROMPT, drive_shell  # noqa: F401  (re-exported for the daemon modules)
from support import cgroup_dirs, mounts_under


def wait_for_socket(sock: str, proc: subprocess.Popen, log: str, timeout: float = 60) -> None:
    """Block until ``sock`` exists; fail with the daemon's log tail if it died or never listened."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(sock):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"daemon did not listen on {sock} (exit {proc.poll()}):\n{tail(log)}")
        time.sleep(0.05)


def tail(path: str, n: int = 40) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def stop_process(proc: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM the daemon we started (by pid), SIGKILL it if it does not exit in time."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def unmount_under(prefix: str) -> list[str]:
    """Lazily unmount everything mounted at or below ``prefix``, deepest first; returns what was mounted."""
    found = mounts_under(prefix)
    for mp in sorted(set(found), key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], capture_output=True)
    return found


def cgroup_parents(name: str) -> list[str]:
    """Every cgroup directory named exactly ``name`` (the per-run parent) in any hierarchy."""
    return cgroup_dirs(name, exact=True)


def remove_cgroup_parents(name: str) -> list[str]:
    """rmdir the per-run parent cgroups; returns the container cgroups the runtime failed to delete."""
    leftovers = []
    for parent in cgroup_parents(name):
        for dirpath, dirnames, _ in os.walk(parent, topdown=False):
            if dirpath != parent:
                leftovers.append(dirpath)
            try:
                os.rmdir(dirpath)
            except OSError:
                pass
    return leftovers


def remove_if_created(path: str, existed: bool) -> None:
    """Remove a directory tree of empty dirs a daemon created at a fixed host path (never if it pre-existed)."""
    if existed or not os.path.isdir(path):
        return
    for dirpath, _, _ in os.walk(path, topdown=False):
        try:
            os.rmdir(dirpath)
        except OSError:
            pass


def wait_until(pred, timeout: float = 15, interval: float = 0.05):
    """Poll ``pred`` until it returns a truthy value (returned) or the timeout passes (returns the last value)."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


