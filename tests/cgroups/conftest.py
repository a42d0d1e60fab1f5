"""Fixtures for real-cgroup tests: unique parents, tracked child processes, guaranteed cleanup."""
import os
import signal
import subprocess
import sys
import uuid

import pytest

from pyrunc.runtime.cgroups import _fs, new_manager


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running test, not in the default run")


def _all_roots() -> list:
    v1, v2, _ = _fs.mounts()
    roots = sorted({mnt for mnt, _root in v1.values()})
    if v2:
        roots.append(v2[0])
    return roots


class CgTest:
    """Factory for managers below one unique parent cgroup + child processes to put in them."""

    def __init__(self) -> None:
        self.parent = f"/pyrunc-test-{uuid.uuid4().hex[:12]}"
        self.managers: list = []
        self.procs: list = []

    def manager(self, resources=None, name="c", mode=None):
        m = new_manager(f"{self.parent}/{name}", name, resources, mode=mode)
        self.managers.append(m)
        return m

    def spawn(self, argv, **kw) -> subprocess.Popen:
        p = subprocess.Popen(argv, **kw)
        self.procs.append(p)
        return p

    def py(self, code: str) -> subprocess.Popen:
        """A Python child that waits for one stdin line before running ``code`` (so it can be
        moved into a cgroup first); talk to it with go()/line()."""
        prog = "import os, sys, time\nsys.stdin.readline()\n" + code
        return self.spawn([sys.executable, "-I", "-S", "-c", prog], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True)

    @staticmethod
    def go(p: subprocess.Popen) -> None:
        p.stdin.write("\n")
        p.stdin.flush()

    def leftovers(self) -> list:
        return [r + self.parent for r in _all_roots() if os.path.exists(r + self.parent)]

    def cleanup(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            p.wait()
            for f in (p.stdin, p.stdout):
                if f:
                    f.close()
        errs = []
        for m in self.managers:
            try:
                m.destroy()
            except Exception as e:  # keep going: the parents must still go
                errs.append(e)
        for d in self.leftovers():
            try:
                _fs.rmdir_tree(d)
            except Exception as e:
                errs.append(e)
        assert not self.leftovers(), f"cgroup dirs left behind: {self.leftovers()}"
        assert not errs, errs


@pytest.fixture
def cg():
    t = CgTest()
    try:
        yield t
    finally:
        t.cleanup()
