"""3. Container create time (create writable layer + get) and disk used vs image size."""
from __future__ import annotations

import itertools
import os

import pytest

from gdbench import HOSTS, IMAGE_SIZES, fs_used, human, median_s, record, syncfs, variants

CHUNK = os.urandom(1 << 20)


def fill_image(root: str, size: int) -> None:
    """``size`` bytes as 1 MiB files, 100 per directory (an image-like tree)."""
    for i in range(max(1, size // len(CHUNK))):
        d = os.path.join(root, "usr", f"d{i // 100}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i}"), "wb") as f:
            f.write(CHUNK[: min(len(CHUNK), size)])


@pytest.mark.parametrize("size", IMAGE_SIZES, ids=human)
@pytest.mark.parametrize("variant", variants("overlay2", "vfs", "devicemapper"))
@pytest.mark.parametrize("host", HOSTS)
def test_container_create(benchmark, ws, host, variant, size):
    d = ws.driver(host, variant)
    d.create("img", None)
    fill_image(d.get("img"), size)
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
        syncfs(d.home)
        return (f"c{next(seq)}",), {}

    def create(ctr: str) -> None:
        d.create(ctr, "img", writable=True)
        d.get(ctr)
        state["ctr"] = ctr

    try:
        benchmark.pedantic(create, setup=setup, rounds=5 if size <= (200 << 20) else 3, iterations=1)
        drop()
        syncfs(d.home)
        before = fs_used(d.home)
        create("disk")
        syncfs(d.home)
        used = fs_used(d.home) - before
    finally:
        drop()
    record("create", host=host, variant=variant, size=size, ms=1000 * (median_s(benchmark) or 0),
           disk=max(used, 0))
