"""Named volumes: created by ``volume create`` or on first ``-v NAME:/path``, filled from the image while new,
shared between containers, kept after them, and not removable while in use (with pyrunc and with runc)."""
from __future__ import annotations

import json
import os

from test_containers import ctr, engine  # noqa: F401 (fixtures)


def _vol(engine, name: str) -> str:
    return f"{name}-{os.path.basename(engine.root.rstrip('/'))[-6:]}"


def test_named_volume_outlives_its_containers(engine, ctr):
    vol = _vol(engine, "data")
    try:
        a = ctr("va")
        engine("run", "--name", a, "-v", f"{vol}:/data", "busybox", "sh", "-c", "echo kept > /data/f")
        info = json.loads(engine("volume", "inspect", vol).stdout)[0]
        assert info["Name"] == vol and info["Driver"] == "local"
        assert open(os.path.join(info["Mountpoint"], "f")).read() == "kept\n"
        assert vol in engine("volume", "ls", "-q").stdout.split()
        mounts = engine.inspect(a)["Mounts"]
        assert mounts[0]["Type"] == "volume" and mounts[0]["Name"] == vol and mounts[0]["Destination"] == "/data"
        p = engine("volume", "rm", vol, check=False)
        assert p.returncode == 1 and "volume is in use" in p.stderr
        engine("rm", a)
        p = engine("run", "--rm", "-v", f"{vol}:/other:ro", "busybox", "sh", "-c", "cat /other/f; touch /other/g || true")
        assert p.stdout == "kept\n" and "Read-only file system" in p.stderr
        assert engine("volume", "rm", vol).stdout.strip() == vol
        assert vol not in engine("volume", "ls", "-q").stdout.split()
    finally:
        engine("volume", "rm", "-f", vol, check=False)


def test_new_volume_is_filled_from_the_image_once(engine, ctr):
    vol, empty = _vol(engine, "etc"), _vol(engine, "nocopy")
    try:
        # a new volume over the image's /etc starts with the image's files (docker's copy-up)
        p = engine("run", "--rm", "-v", f"{vol}:/etc", "busybox", "sh", "-c", "grep -c root /etc/passwd; rm /etc/group")
        assert p.stdout.strip() == "1", p.stderr
        # not again: it is no longer new (the removed file stays removed)
        p = engine("run", "--rm", "-v", f"{vol}:/etc", "busybox", "sh", "-c", "ls /etc/group 2>&1 || true")
        assert "No such file" in p.stdout
        p = engine("run", "--rm", "-v", f"{empty}:/etc:nocopy", "busybox", "sh", "-c", "ls /etc")
        # empty but for the mount points of the engine's hostname, hosts and resolv.conf
        assert sorted(p.stdout.split()) == ["hostname", "hosts", "resolv.conf"], p.stdout
    finally:
        engine("volume", "rm", "-f", vol, empty, check=False)


def test_volume_commands_and_errors(engine):
    vol = _vol(engine, "made")
    try:
        assert engine("volume", "create", vol).stdout.strip() == vol
        assert engine("volume", "create", vol).stdout.strip() == vol   # existing: fine, like docker
        anon = engine("volume", "create").stdout.strip()
        assert len(anon) == 64
        engine("volume", "rm", anon)
        p = engine("volume", "inspect", "nosuch-volume", check=False)
        assert p.returncode == 1 and "no such volume" in p.stderr
        for bad in ("bad/name", "bad$name"):
            p = engine("run", "--rm", "-v", f"{bad}:/x", "busybox", "true", check=False)
            assert p.returncode == 125 and "invalid characters for a local volume name" in p.stderr, p.stderr
        p = engine("run", "--rm", "-v", f"{vol}:relative", "busybox", "true", check=False)
        assert p.returncode == 125 and "mount path must be absolute" in p.stderr, p.stderr
    finally:
        engine("volume", "rm", "-f", vol, check=False)


def test_image_volume_gets_an_anonymous_volume(engine, ctr, image_files):
    engine("load", "-i", image_files.withvol_oci_archive)
    image = image_files.withvol_ref
    a = ctr("anon")
    p = engine("run", "--name", a, image, "sh", "-c", "cat /data/seed; echo mine > /data/new")
    assert p.stdout == "from the image\n", p.stderr
    mounts = engine.inspect(a)["Mounts"]
    assert [(m["Type"], m["Destination"]) for m in mounts] == [("volume", "/data")]
    name = mounts[0]["Name"]
    assert len(name) == 64 and name in engine("volume", "ls", "-q").stdout.split()
    assert open(os.path.join(mounts[0]["Source"], "new")).read() == "mine\n"
    engine("rm", a)                                    # without -v the volume stays (dangling), like docker
    assert name in engine("volume", "ls", "-q").stdout.split()
    engine("volume", "rm", name)
    b = ctr("anonv")
    engine("create", "--name", b, image, "true")
    name = engine.inspect(b)["Mounts"][0]["Name"]
    engine("rm", "-v", b)                               # -v removes it with the container
    assert name not in engine("volume", "ls", "-q").stdout.split()
    before = set(engine("volume", "ls", "-q").stdout.split())
    engine("run", "--rm", image, "true")                # --rm too
    assert set(engine("volume", "ls", "-q").stdout.split()) == before
    c = ctr("anonb")                                    # a user mount on the path: no anonymous volume
    engine("run", "--name", c, "--tmpfs", "/data", image, "true")
    assert [m["Type"] for m in engine.inspect(c)["Mounts"]] == ["tmpfs"]
