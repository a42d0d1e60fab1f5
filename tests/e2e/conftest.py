"""Shared fixtures for the end-to-end client tests (podman, containerd, dockerd).

``e2e_images``: the offline busybox and whiteout images (tests/e2e/images.py), built once per session.
``runtime_path``: the runtime binary the clients exec (pyrunc, or $PYRUNC_TEST_RUNTIME such as runc).
"""
import os
import shutil
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_support import require_tools  # noqa: E402
from images import build_images  # noqa: E402
from support import pyrunc_bin  # noqa: E402

_TOOLS = ("umoci", "skopeo")  # image building


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: drives a real container engine (podman, containerd, dockerd)")
    config.addinivalue_line("markers", "slow: long-running; excluded unless -m slow is given")


@pytest.fixture(scope="session")
def e2e_images():
    """Paths of the offline images: oci_layout, oci_archive, docker_archive, whiteout_{oci,docker}_archive."""
    require_tools(*_TOOLS)
    d = tempfile.mkdtemp(prefix="pyrunc-e2e-images-")
    try:
        yield build_images(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def runtime_path() -> str:
    """Absolute path of the runtime binary under test (tests/support.py pyrunc_bin())."""
    path = pyrunc_bin()
    if not os.path.isabs(path):
        path = shutil.which(path) or path
    assert os.access(path, os.X_OK), f"runtime not executable: {path}"
    return path
