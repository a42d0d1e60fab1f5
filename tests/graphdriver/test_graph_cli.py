"""The pyrunc-graph command, run as a separate process like an operator would."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import io

import pytest

from graphtest_util import mounts_under, tar_bytes

LAUNCHER = os.path.join(os.path.dirname(sys.executable), "pyrunc-graph")


def graph(*args, input: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [LAUNCHER] if os.path.exists(LAUNCHER) else \
        [sys.executable, "-c", "from pyrunc.graphdriver.cli import main; main()"]
    res = subprocess.run(cmd + list(args), input=input, capture_output=True, timeout=60)
    if check and res.returncode != 0:
        raise AssertionError(f"pyrunc-graph {' '.join(args)} failed: {res.stderr.decode()}")
    return res


def test_drivers_listing():
    out = graph("drivers", "--help", check=False)
    assert out.returncode == 0
    out = graph("--json", "drivers").stdout
    rows = json.loads(out)
    assert rows["overlay2"] == "usable" and rows["vfs"] == "usable"


@pytest.mark.parametrize("name", ["overlay2", "vfs"])
def test_layer_workflow(tmpdir_unique, name):
    home = os.path.join(tmpdir_unique, name)
    g = ("--driver", name, "--home", home)
    layer = os.path.join(tmpdir_unique, "layer.tar")
    with open(layer, "wb") as f:
        f.write(tar_bytes([("etc", "d", None), ("etc/os-release", "f", b"ID=test\n"), ("gone", "f", b"x")]))
    graph(*g, "create", "base")
    assert graph(*g, "apply", "base", layer).stdout.strip() == b"9"
    graph(*g, "create", "ctr", "--parent", "base", "--writable")
    assert graph(*g, "ls").stdout.decode().split("\n")[:2] == ["base\t-", "ctr\tbase"]
    root = graph(*g, "get", "ctr").stdout.decode().strip()
    assert open(os.path.join(root, "etc/os-release")).read() == "ID=test\n"
    if name == "overlay2":
        assert mounts_under(root) == [root]
    with open(os.path.join(root, "added"), "w") as f:
        f.write("hello")
    os.unlink(os.path.join(root, "gone"))
    assert graph(*g, "changes", "ctr").stdout.decode().split("\n") == ["A /added", "D /gone", ""]
    diff = graph(*g, "diff", "ctr").stdout
    with tarfile.open(fileobj=io.BytesIO(diff)) as tf:
        assert sorted(tf.getnames()) == [".wh.gone", "added"]
    assert graph(*g, "diff-size", "ctr").stdout.strip() == b"5"
    graph(*g, "put", "ctr")
    assert not mounts_under(home)
    status = json.loads(graph("--json", *g, "status").stdout)
    assert status["Storage Driver"] == name and status["Backing Filesystem"] == "extfs"
    md = json.loads(graph("--json", *g, "metadata", "ctr").stdout)
    assert md
    # apply from stdin, compressed
    zst = subprocess.run(["zstd", "-q", "-c"], input=diff, capture_output=True, check=True).stdout
    graph(*g, "create", "copy", "--parent", "base")
    graph(*g, "apply", "copy", "-", input=zst)
    root = graph(*g, "get", "copy").stdout.decode().strip()
    assert sorted(os.listdir(root)) == ["added", "etc"]
    graph(*g, "put", "copy")
    graph(*g, "get", "ctr")
    graph(*g, "cleanup")
    assert not mounts_under(home)
    for id in ("copy", "ctr", "base"):
        graph(*g, "rm", id)
    assert graph(*g, "ls").stdout == b""
    assert graph(*g, "exists", "base", check=False).returncode == 1


def test_errors_are_one_line(tmpdir_unique):
    res = graph("--driver", "nosuch", "--home", tmpdir_unique, "ls", check=False)
    assert res.returncode == 1 and b"unknown graph driver 'nosuch'" in res.stderr
    res = graph("--driver", "vfs", "--home", tmpdir_unique, "get", "missing", check=False)
    assert res.returncode == 1 and res.stderr.decode().count("\n") == 1 and b"missing" in res.stderr
    assert b"Traceback" not in res.stderr


def test_cli_does_not_import_the_runtime():
    code = ("import sys, pyrunc.graphdriver.cli, pyrunc.graphdriver.registry;"
            "bad=[m for m in sys.modules if m.startswith('pyrunc.runtime')]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
