"""Emulated devicemapper: cost of the device life cycle on a reflink pool vs the ext4 fallback.

Run: python -m pytest bench/graphdriver/test_bench_devicemapper.py --benchmark-only
Reference (measurements.md §2): FICLONE snapshot ~1-2 ms for any size, sparse copy ~0.3 s per
100 MiB of data, attach 0.3-0.4 ms, ext4 mount 1-7 ms, umount + autoclear 2-3.5 ms.
"""
from __future__ import annotations

import io
import itertools
import os
import shutil
import subprocess
import tarfile
import tempfile

import pytest

from pyrunc.graphdriver.devicemapper import DeviceMapperDriver

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root and loop devices")
POOLS = {"xfs-reflink": {"dm.loopback_xfs": "true"}, "ext4-sparse-copy": {}}
_seq = itertools.count()


@pytest.fixture(params=sorted(POOLS))
def drv(request):
    home = tempfile.mkdtemp(prefix="pyrunc-dm-bench-", dir="/tmp")
    d = DeviceMapperDriver(home, dict(POOLS[request.param]))
    try:
        d.create("parent", None)
        p = d.get("parent")
        with open(os.path.join(p, "blob"), "wb") as f:      # a 64 MiB layer to snapshot
            for _ in range(64):
                f.write(os.urandom(1 << 20))
        d.put("parent")
        yield d
    finally:
        d.cleanup()
        r = subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True, text=True)
        for mp in sorted((m for m in r.stdout.split() if m.startswith(home)), reverse=True):
            subprocess.run(["umount", "-l", mp], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def test_snapshot_64mib_layer(benchmark, drv):
    """create(child, parent): reflink vs SEEK_DATA/copy_file_range."""
    def setup():
        return (f"s{next(_seq)}",), {}

    def snap(id):
        drv.create(id, "parent")

    benchmark.pedantic(snap, setup=setup, rounds=10)


def test_get_put(benchmark, drv):
    """Attach + mount + (trim) + umount + autoclear detach of one device."""
    drv.create("gp", "parent")

    def cycle():
        drv.get("gp")
        drv.put("gp")

    benchmark.pedantic(cycle, rounds=30, warmup_rounds=2)


def test_get_put_without_trim(benchmark, drv):
    d = DeviceMapperDriver(drv.home, {**drv.options, "dm.trim_on_put": "false"})
    d.create("gpn", "parent")

    def cycle():
        d.get("gpn")
        d.put("gpn")

    benchmark.pedantic(cycle, rounds=30, warmup_rounds=2)


def test_apply_small_layer(benchmark, drv):
    """apply_diff of a 100-file layer into a fresh snapshot (mount, untar, syncfs, trim, umount)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for i in range(100):
            ti = tarfile.TarInfo(f"d{i % 10}/f{i}")
            ti.size = 4096
            tf.addfile(ti, io.BytesIO(b"x" * 4096))
    data = buf.getvalue()

    def setup():
        id = f"a{next(_seq)}"
        drv.create(id, "parent")
        return (id,), {}

    def apply(id):
        drv.apply_diff(id, "parent", io.BytesIO(data))

    benchmark.pedantic(apply, setup=setup, rounds=10)
