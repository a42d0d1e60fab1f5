"""4. Layer apply throughput: a 100 MB / 5000-file layer tar into a new layer, vs GNU tar.

All contenders include a syncfs of the target filesystem; the tar file sits in the page cache.
"python-tarfile" is plain ``TarFile.extractall`` (no whiteouts, no safety) for reference.
"""
from __future__ import annotations

import itertools
import os
import random
import shutil
import subprocess
import tarfile
import tempfile

import pytest

from gdbench import APPLY_BYTES, APPLY_FILES, HOSTS, median_s, record, syncfs, variants


@pytest.fixture(scope="module")
def layer_tar(hosts):
    """An uncompressed layer tar of APPLY_FILES files totalling ~APPLY_BYTES, made by GNU tar."""
    base = tempfile.mkdtemp(prefix="tar-", dir=next(iter(hosts.values())))
    src = os.path.join(base, "src")
    rnd = random.Random(7)
    blob = os.urandom(1 << 20)
    mean = APPLY_BYTES // APPLY_FILES
    for i in range(APPLY_FILES):
        d = os.path.join(src, f"dir{i % 50:02d}", f"sub{i % 7}")
        os.makedirs(d, exist_ok=True)
        n = min(len(blob), max(0, int(rnd.expovariate(1 / mean))))
        off = rnd.randrange(0, len(blob) - n + 1)
        with open(os.path.join(d, f"file{i}"), "wb") as f:
            f.write(blob[off:off + n])
    path = os.path.join(base, "layer.tar")
    subprocess.run(["tar", "-C", src, "-cf", path, "."], check=True)
    shutil.rmtree(src)
    try:
        yield path
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("variant", variants("overlay2", "vfs", "devicemapper") + ["gnu-tar", "python-tarfile"])
@pytest.mark.parametrize("host", HOSTS)
def test_apply(benchmark, ws, layer_tar, host, variant):
    seq = itertools.count()
    if variant in ("gnu-tar", "python-tarfile"):
        root = ws.dir(host)

        def setup():
            d = os.path.join(root, f"x{next(seq)}")
            os.mkdir(d)
            return (d,), {}

        def apply(dest: str) -> None:
            if variant == "gnu-tar":
                subprocess.run(["tar", "-xf", layer_tar, "-C", dest], check=True)
            else:
                with tarfile.open(layer_tar) as tf:
                    tf.extractall(dest)
            syncfs(dest)
    else:
        d = ws.driver(host, variant)

        def setup():
            id = f"l{next(seq)}"
            d.create(id, None)
            return (id,), {}

        def apply(id: str) -> None:
            with open(layer_tar, "rb") as f:
                d.apply_diff(id, None, f)
            syncfs(d.home)

    benchmark.pedantic(apply, setup=setup, rounds=3, iterations=1)
    s = median_s(benchmark) or 0
    size = os.path.getsize(layer_tar)
    record("apply", host=host, variant=variant, s=s, mb_s=(size / 1e6 / s) if s else 0,
           files_s=(APPLY_FILES / s) if s else 0, tar_bytes=size)
