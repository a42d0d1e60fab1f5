"""Fixtures for graph-driver tests: real driver homes on ext4 (/tmp) and on a loop-mounted
XFS with reflink=1, and leak checks (no mount, no loop device left behind).

The ``driver`` fixture is parametrised over ``registry.DRIVERS`` x backing filesystem, so a
driver registered later (e.g. devicemapper) is tested automatically; a driver whose
``probe`` fails on a backing filesystem is skipped with the probe's reason.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid

import pytest

from pyrunc.graphdriver import registry

import graphtest_util as util

BACKINGS = ("ext4", "xfs")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: large or long-running case, not in the default run")


@pytest.fixture(scope="session")
def xfs_mount():
    """A 1 GiB sparse XFS (reflink=1) loop mount, torn down at session end even on failure."""
    base = tempfile.mkdtemp(prefix="pyrunc-gd-xfs-")
    img = os.path.join(base, "xfs.img")
    mnt = os.path.join(base, "mnt")
    os.mkdir(mnt)
    loop = None
    try:
        with open(img, "wb") as f:
            f.truncate(1 << 30)
        subprocess.run(["mkfs.xfs", "-q", "-m", "reflink=1", img], check=True, capture_output=True)
        loop = subprocess.run(["losetup", "-f", "--show", img], check=True, capture_output=True,
                              text=True).stdout.strip()
        subprocess.run(["mount", "-t", "xfs", loop, mnt], check=True, capture_output=True)
        yield mnt
    finally:
        util.teardown_mount(mnt, loop)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=BACKINGS)
def backing(request):
    """A fresh unique directory on the named backing filesystem."""
    if request.param == "ext4":
        root = tempfile.mkdtemp(prefix="pyrunc-gd-")
    else:
        root = os.path.join(request.getfixturevalue("xfs_mount"), "t-" + uuid.uuid4().hex[:10])
        os.mkdir(root)
    try:
        yield root
    finally:
        util.assert_nothing_left(root)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=list(registry.DRIVERS))
def driver_name(request):
    return request.param


@pytest.fixture
def driver(driver_name, backing):
    """A driver of every registered kind on every backing fs; cleaned up and leak-checked."""
    yield from util.make_driver(driver_name, os.path.join(backing, driver_name))


@pytest.fixture
def tmpdir_unique():
    d = tempfile.mkdtemp(prefix="pyrunc-gd-t-")
    try:
        yield d
    finally:
        util.assert_nothing_left(d)
        shutil.rmtree(d, ignore_errors=True)
