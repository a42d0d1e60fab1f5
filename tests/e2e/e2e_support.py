"""Helpers shared by the client modules: tools check, a pty driver, cgroup/process/mount leak checks."""
import fcntl
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import termios
import time

from support import processes_mentioning  # noqa: F401 (re-exported)

import pytest


def require_tools(*tools: str) -> None:
    """Fail (not skip) when a client is missing: the set-up command installs scripts/apt-packages.txt."""
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        pytest.fail(f"not installed (see scripts/apt-packages.txt): {', '.join(missing)}")


def cgroup_dirs(path: str) -> list[str]:
    """The directory of cgroup ``path`` (e.g. "/pyrunc-e2e-x") in every hierarchy that has it."""
    found = []
    for hier in sorted(os.listdir("/sys/fs/cgroup")):
        d = os.path.join("/sys/fs/cgroup", hier, path.lstrip("/"))
        if not os.path.islink(os.path.join("/sys/fs/cgroup", hier)) and os.path.isdir(d):
            found.append(d)
    return found


def cgroup_tree(top: str) -> list[str]:
    """``top`` and every cgroup below it, deepest first."""
    return sorted((d for d, _, _ in os.walk(top)), key=lambda d: -d.count("/"))


def remove_cgroup_tree(top: str) -> list[str]:
    """rmdir every cgroup below and including ``top``; returns those that could not be removed."""
    left = []
    for d in cgroup_tree(top):
        try:
            os.rmdir(d)
        except OSError:
            left.append(d)
    return left


def cgroup_file(pid: int, controller: str, name: str) -> str:
    """Host path of ``name`` in the v1 ``controller`` cgroup that ``pid`` is in."""
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if controller in ctrls.split(","):
                base = os.path.join("/sys/fs/cgroup", controller)
                if not os.path.isdir(base):
                    base = os.path.join("/sys/fs/cgroup", ctrls)
                return os.path.join(base, path.lstrip("/"), name)
    raise AssertionError(f"pid {pid} has no {controller} cgroup")


def read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def reap_processes_mentioning(text: str, grace: float = 10) -> list[int]:
    """Give processes naming ``text`` ``grace`` seconds to finish, SIGKILL the rest (by pid); return those."""
    deadline = time.monotonic() + grace
    while (pids := processes_mentioning(text)) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pids


class PtySession:
    """A client command whose stdin/stdout/stderr is the slave of a fresh 24x80 pty (its controlling tty).

    ``expect`` reads until a regex matches; ``type`` writes keystrokes. Used for ``run -it`` / ``exec -it``.
    """

    def __init__(self, argv: list[str], env: dict | None = None, cwd: str | None = None) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
                                     start_new_session=True,
                                     preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        os.close(slave)
        self.out = b""

    def _pump(self, timeout: float) -> bool:
        """Read what is available within ``timeout``; False once the terminal is closed."""
        if not select.select([self.master], [], [], max(timeout, 0))[0]:
            return True
        try:
            chunk = os.read(self.master, 4096)
        except OSError:  # EIO: every slave fd is closed
            return False
        self.out += chunk
        return bool(chunk)

    def expect(self, pattern: bytes, timeout: float = 30) -> re.Match:
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(pattern, self.out)
            if m:
                self.out = self.out[m.end():]
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {pattern!r} within {timeout}s; terminal shows {self.out!r}")
            if not self._pump(left):
                raise AssertionError(f"terminal closed before {pattern!r}; it showed {self.out!r}")

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def wait(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._pump(0.1)
        return self.proc.wait(timeout=1)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


# a busybox ash prompt, possibly followed by its cursor-position query (ESC[6n) or, when the client resizes the
# tty after the shell started (docker exec -it), by the redrawn prompt's clear-to-end (ESC[J)
PROMPT = rb"[#$] (\x1b\[[0-9;]*[A-Za-z])*$"


def drive_shell(sess: PtySession, code: int) -> None:
    """At a busybox sh prompt: check arithmetic, the tty name and its 24x80 size, then ``exit code``.
    Newlines may arrive as "\\r\\r\\n": containerd/console (ctr) keeps OPOST on in raw mode, so the
    container's ONLCR output is translated once more by our terminal."""
    sess.expect(PROMPT)
    sess.type("echo ans-$((6*7))\r")
    sess.expect(rb"ans-42\r+\n")
    sess.type("tty; stty size\r")
    sess.expect(rb"/dev/pts/\d+\r+\n24 80\r+\n")
    sess.type(f"exit {code}\r")
