"""Shared fixtures for the engine (``pyctr``) tests.

- ``pyctr``: runs the installed ``pyctr`` with its own ``--root``/``--state`` under a unique temp dir;
  at teardown runs registered cleanups, the graph driver's ``cleanup()``, and fails if anything is still
  mounted (or a loop device still backed) under the temp dir (after removing it).
- ``busybox_image``: ``localhost/busybox:latest`` loaded into that ``pyctr`` (the ``Image``).
- ``image_files`` (session): offline images from ``tests/e2e/images.py`` (busybox, whiteout as OCI layout,
  oci-archive, docker-archive) plus, in the same layout, per-platform images ``plat-<arch><variant>``
  (busybox + a layer whose ``/platform`` file names the platform) and the index ``multi`` over them
  (with an attestation-style ``unknown/unknown`` entry first).
- ``registry`` (session): ``docker-registry`` on 127.0.0.1:<free port>, storage in a temp dir, with
  busybox, whiteout, ``multi`` (OCI index) and ``multi-v2s2`` (Docker manifest list) pushed by skopeo;
  stopped by pid at the end. ``token_registry`` (session): the same behind distribution's token auth
  with a tiny RS256 token server (users ``reader``/``pusher``; anonymous may pull ``public/*``).
Only loopback is ever contacted.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from types import SimpleNamespace

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shim_support import (PLATFORMS, LocalRegistry, Layout, Pyctr, TokenServer, _push_standard,  # noqa: E402
                          build_images, platform_name, tar_bytes)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running; excluded unless -m slow is given")


@pytest.fixture
def pyctr():
    base = tempfile.mkdtemp(prefix="pyctr-t-")
    p = Pyctr(base)
    try:
        yield p
    finally:
        errors = p.teardown()
        shutil.rmtree(base, ignore_errors=True)
        assert not errors, "; ".join(errors)


@pytest.fixture
def busybox_image(pyctr, image_files):
    """``localhost/busybox:latest`` loaded into ``pyctr``'s store; returns its ``Image``."""
    pyctr.run("load", "-i", image_files.oci_archive)
    return pyctr.store().get("localhost/busybox:latest")


@pytest.fixture(scope="session")
def image_files():
    d = tempfile.mkdtemp(prefix="pyctr-images-")
    try:
        info = build_images(d)
        lay = Layout(info["oci_layout"])
        entries = []
        att = lay.derive("busybox", "attestation", [tar_bytes({"platform": b"attestation\n"})])
        entries.append((att, {"architecture": "unknown", "os": "unknown"},
                        {"vnd.docker.reference.type": "attestation-manifest"}))
        for arch, variant in PLATFORMS:
            name = platform_name(arch, variant)
            desc = lay.derive("busybox", f"plat-{arch}{variant}", [tar_bytes({"platform": f"{name}\n".encode()})],
                              arch=arch, variant=variant)
            plat = {"architecture": arch, "os": "linux", **({"variant": variant} if variant else {})}
            entries.append((desc, plat, None))
        lay.make_index("multi", entries)
        yield SimpleNamespace(dir=d, layout=lay, **info)
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def registry(image_files):
    base = tempfile.mkdtemp(prefix="pyctr-registry-")
    reg = None
    try:
        reg = LocalRegistry(base)
        _push_standard(reg, image_files)
        yield reg
    finally:
        if reg is not None:
            reg.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def token_registry(image_files):
    """(registry, token server): ``reader``/``readpw`` may pull, ``pusher``/``pushpw`` pull+push."""
    base = tempfile.mkdtemp(prefix="pyctr-tokreg-")
    ts = reg = None
    try:
        ts = TokenServer(base, {"reader": ("readpw", {"pull"}), "pusher": ("pushpw", {"pull", "push"})})
        reg = LocalRegistry(base, auth=ts.auth_config())
        layout = image_files.oci_layout
        reg.push(layout, "busybox", "private/busybox:latest", creds="pusher:pushpw")
        reg.push(layout, "busybox", "public/busybox:latest", creds="pusher:pushpw")
        yield SimpleNamespace(registry=reg, tokens=ts, addr=reg.addr)
    finally:
        if reg is not None:
            reg.stop()
        if ts is not None:
            ts.stop()
        shutil.rmtree(base, ignore_errors=True)
