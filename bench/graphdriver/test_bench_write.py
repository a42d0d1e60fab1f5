"""2. First 4 KiB write into a file that lives in a lower layer, vs the file's size.

Per round a fresh container layer is created and mounted (not timed); the timed part is
open(O_WRONLY) + pwrite(4 KiB) + close of the image's file, i.e. overlay's copy-up (a full
data copy on ext4, a clone on XFS reflink), nothing for vfs (paid at create, see bench 3),
block CoW in the devicemapper image.
"""
from __future__ import annotations

import itertools
import os

import pytest

from gdbench import HOSTS, WRITE_SIZES, human, median_s, record, syncfs, variants

CHUNK = os.urandom(1 << 20)


def write_file(path: str, size: int) -> None:
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, len(CHUNK))
            f.write(CHUNK[:n])
            left -= n


@pytest.mark.parametrize("size", WRITE_SIZES, ids=human)
@pytest.mark.parametrize("variant", variants("overlay2", "overlay2-volatile", "vfs", "devicemapper"))
@pytest.mark.parametrize("host", HOSTS)
def test_first_write(benchmark, ws, host, variant, size):
    d = ws.driver(host, variant)
    d.create("img", None)
    write_file(os.path.join(d.get("img"), "big"), size)
    d.put("img")
    syncfs(d.home)
    seq = itertools.count()
    state: dict[str, str] = {}

    def drop():
        if "ctr" in state:
            ctr = state.pop("ctr")
            d.put(ctr)
            d.remove(ctr)

    def setup():
        drop()
        ctr = f"c{next(seq)}"
        d.create(ctr, "img", writable=True)
        root = d.get(ctr)
        state["ctr"] = ctr
        return (os.path.join(root, "big"),), {}

    def first_write(path: str) -> None:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.pwrite(fd, b"w" * 4096, 0)
        finally:
            os.close(fd)

    try:
        benchmark.pedantic(first_write, setup=setup, rounds=10 if size <= (64 << 20) else 3, iterations=1)
    finally:
        drop()
    record("first_write", host=host, variant=variant, size=size, ms=1000 * (median_s(benchmark) or 0))
