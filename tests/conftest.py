"""Fixtures for real containers: a shared busybox rootfs, and a per-test runtime root."""
import os
import tempfile

import pytest

from support import Runtime, cgroup_dirs, make_rootfs, mounts_under, rmtree


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running; excluded unless -m slow is given")


@pytest.fixture(scope="session")
def busybox_rootfs():
    """A read-only-by-convention busybox rootfs shared by tests whose config marks root readonly."""
    d = tempfile.mkdtemp(prefix="pyrunc-rootfs-")
    make_rootfs(os.path.join(d, "rootfs"))
    yield os.path.join(d, "rootfs")
    rmtree(d)


@pytest.fixture
def rootfs_rw(tmp_path):
    """A private, writable busybox rootfs."""
    path = os.path.join(str(tmp_path), "rootfs")
    make_rootfs(path)
    return path


@pytest.fixture
def rt(tmp_path):
    """A runtime root for one test; afterwards no container, mount or cgroup of it may remain."""
    r = Runtime(str(tmp_path))
    yield r
    r.cleanup()
    left = [c for c in (os.listdir(r.root) if os.path.isdir(r.root) else []) if not c.startswith(".")]
    leaked_mounts = mounts_under(str(tmp_path))
    leaked_cgroups = [d for cid in r.ids for d in cgroup_dirs(cid)]
    rmtree(str(tmp_path))
    assert not left, f"state dirs left behind: {left}"
    assert not leaked_mounts, f"mounts left behind: {leaked_mounts}"
    assert not leaked_cgroups, f"cgroups left behind: {leaked_cgroups}"
