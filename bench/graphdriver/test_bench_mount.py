"""1. Mount latency vs image depth for each driver, plus lookup-miss and readdir on the view.

A container layer sits on an N-layer image (one small file per layer, ext4 host); we time
``get`` (the mount: fsopen + one lowerdir+ fd per layer for overlay2, mount(2) for the
classic variant, nothing for vfs, loop attach + mount for devicemapper).
"""
from __future__ import annotations

import io
import itertools
import os
import tarfile

import pytest

from gdbench import DEPTHS, VARIANTS, median_s, open_variant, record, syncfs, variants
from pyrunc.graphdriver import DriverError


def _layer_tar(i: int) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ti = tarfile.TarInfo(f"f{i}")
        data = f"layer {i}\n".encode()
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
    buf.seek(0)
    return buf


@pytest.fixture(scope="module")
def image(module_ws):
    """image(variant, depth) -> (driver, container id on a depth-layer image), built incrementally."""
    chains: dict[str, tuple[object, list[str]]] = {}
    extra: dict[str, object] = {}

    def get(variant: str, depth: int):
        base = VARIANTS[variant][0]
        if base not in chains:
            chains[base] = (module_ws.driver("ext4", base), [])
        d, ids = chains[base]
        grew = len(ids) < depth
        while len(ids) < depth:
            id, parent = f"L{len(ids)}", (ids[-1] if ids else None)
            d.create(id, parent)
            d.apply_diff(id, parent, _layer_tar(len(ids)))
            ids.append(id)
        ctr = f"ctr-{depth}"
        if not d.exists(ctr):
            d.create(ctr, ids[depth - 1], writable=True)
            grew = True
        if grew:
            syncfs(d.home)  # keep writeback of the build out of the timings
        if VARIANTS[variant][1]:
            if variant not in extra:
                extra[variant] = open_variant(variant, d.home)
                module_ws.drivers.append(extra[variant])
            d = extra[variant]
        return d, ctr

    return get


ROUNDS = {"devicemapper": 15}


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("variant", variants("overlay2", "overlay2-classic", "vfs", "devicemapper"))
def test_mount(benchmark, image, variant, depth):
    d, ctr = image(variant, depth)
    state = {"mounted": False}

    def setup():
        if state["mounted"]:
            d.put(ctr)
            state["mounted"] = False

    def mount():
        d.get(ctr)
        state["mounted"] = True

    try:
        benchmark.pedantic(mount, setup=setup, rounds=ROUNDS.get(variant, 40), iterations=1, warmup_rounds=1)
    except DriverError as e:
        record("mount", variant=variant, depth=depth, error=str(e).split(": ", 2)[-1])
        pytest.skip(f"{variant} cannot mount {depth} layers: {e}")
    finally:
        setup()
    record("mount", variant=variant, depth=depth, ms=1000 * (median_s(benchmark) or 0))


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("variant", variants("overlay2", "vfs", "devicemapper"))
def test_lookup_miss(benchmark, image, variant, depth):
    """stat() of a name that exists in no layer: overlay asks every lower layer."""
    d, ctr = image(variant, depth)
    root = d.get(ctr)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    names = (f"missing-{i}" for i in itertools.count())  # unique: no negative dentry reuse

    def miss():
        try:
            os.stat(next(names), dir_fd=fd)
        except FileNotFoundError:
            pass

    try:
        benchmark(miss)
    finally:
        os.close(fd)
        d.put(ctr)
    record("lookup_miss", variant=variant, depth=depth, us=1e6 * (median_s(benchmark) or 0))


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("variant", variants("overlay2", "vfs", "devicemapper"))
def test_readdir(benchmark, image, variant, depth):
    """listdir() of the root, which holds one file per layer."""
    d, ctr = image(variant, depth)
    root = d.get(ctr)
    try:
        names = benchmark(os.listdir, root)
        assert len(names) >= depth
    finally:
        d.put(ctr)
    record("readdir", variant=variant, depth=depth, us=1e6 * (median_s(benchmark) or 0))
