"""pyctr cp between the host and running or stopped containers (with pyrunc and with runc): docker's path
rules, owners, tar streams, and that no symlink inside a container ever reaches a host path."""
from __future__ import annotations

import io
import os
import tarfile

from test_containers import ctr, engine  # noqa: F401 (fixtures)


def _running(engine, ctr, setup: str = "true") -> str:
    name = ctr("cp")
    engine("run", "-d", "--name", name, "busybox", "sh", "-c", f"{setup}; sleep 1000")
    return name


def test_copy_out_of_a_running_container(engine, ctr, tmp_path):
    name = _running(engine, ctr, "mkdir -p /data/sub && echo one > /data/f && echo two > /data/sub/g")
    engine("exec", name, "true")  # the setup has run
    engine("cp", f"{name}:/data/f", str(tmp_path))
    assert (tmp_path / "f").read_text() == "one\n" and (tmp_path / "f").stat().st_uid == 0
    engine("cp", f"{name}:/data", str(tmp_path / "new"))            # dir -> missing DEST: DEST is the copy
    assert (tmp_path / "new" / "sub" / "g").read_text() == "two\n"
    engine("cp", f"{name}:/data", str(tmp_path / "new"))            # dir -> existing dir: DEST/data
    assert (tmp_path / "new" / "data" / "f").read_text() == "one\n"
    (tmp_path / "contents").mkdir()
    engine("cp", f"{name}:/data/.", str(tmp_path / "contents"))     # SRC/. -> the contents
    assert sorted(os.listdir(tmp_path / "contents")) == ["f", "sub"]
    engine("cp", f"{name}:/data/f", str(tmp_path / "renamed"))      # file -> new path
    assert (tmp_path / "renamed").read_text() == "one\n"
    # the container's own mounts are seen: /etc/hostname is the engine's bind mount
    engine("cp", f"{name}:/etc/hostname", str(tmp_path / "hn"))
    assert (tmp_path / "hn").read_text().strip() == engine.inspect(name)["Config"]["Hostname"]


def test_copy_into_a_running_container(engine, ctr, tmp_path):
    name = _running(engine, ctr)
    (tmp_path / "d" / "e").mkdir(parents=True)
    (tmp_path / "d" / "e" / "x").write_text("ex\n")
    os.chown(tmp_path / "d" / "e" / "x", 1234, 1234)
    (tmp_path / "file").write_text("hello\n")
    engine("cp", str(tmp_path / "file"), f"{name}:/tmp/")
    engine("cp", str(tmp_path / "d"), f"{name}:/tmp/d2")
    engine("cp", "-a", str(tmp_path / "d"), f"{name}:/root/")
    out = engine("exec", name, "sh", "-c", "cat /tmp/file /tmp/d2/e/x; stat -c %u /tmp/d2/e/x /root/d/e/x").stdout
    assert out.split() == ["hello", "ex", "0", "1234"], out   # root-owned unless -a (docker)


def test_stopped_container_both_ways(engine, ctr, tmp_path):
    name = ctr("cps")
    engine("create", "--name", name, "busybox", "cat", "/in/msg")
    (tmp_path / "msg").write_text("copied in while stopped\n")
    engine("cp", str(tmp_path / "msg"), f"{name}:/in")       # /in does not exist: the file becomes /in
    engine("cp", f"{name}:/in", str(tmp_path / "back"))
    assert (tmp_path / "back").read_text() == "copied in while stopped\n"
    p = engine("run", "--rm", "busybox", "true")  # (another container: the engine still works)
    assert p.returncode == 0
    engine("cp", f"{name}:/bin/busybox", str(tmp_path))
    assert os.path.getsize(tmp_path / "busybox") > 100000


def test_tar_stream_out_and_in(engine, ctr):
    name = _running(engine, ctr, "mkdir /t && echo z > /t/z")
    engine("exec", name, "true")
    data = engine.run_bytes("cp", f"{name}:/t", "-")
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        assert sorted(tf.getnames()) == ["t", "t/z"]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("from-stdin")
        info.size = 4
        tf.addfile(info, io.BytesIO(b"tar\n"))
    engine.run_bytes("cp", "-", f"{name}:/tmp", input=buf.getvalue())
    assert engine("exec", name, "cat", "/tmp/from-stdin").stdout == "tar\n"


def test_symlinks_in_the_container_never_reach_the_host(engine, ctr, tmp_path):
    name = _running(engine, ctr, "echo inside > /etc/marker; mkdir /data; ln -s /etc /data/escape; ln -s / /data/root")
    engine("exec", name, "true")
    # out: /data/escape/marker is the container's /etc/marker (a host /etc/marker does not exist)
    engine("cp", f"{name}:/data/escape/marker", str(tmp_path / "m"))
    assert (tmp_path / "m").read_text() == "inside\n"
    # in: writing through a symlink to / lands in the container's /, not the host's
    target = f"pyctr-cp-escape-{os.getpid()}"
    (tmp_path / target).write_text("x\n")
    engine("cp", str(tmp_path / target), f"{name}:/data/root/tmp/")
    assert not os.path.exists(f"/tmp/{target}"), "wrote through the container's symlink onto the host"
    assert engine("exec", name, "cat", f"/tmp/{target}").stdout == "x\n"
    # the same for a stopped container (its layer, chrooted)
    engine("stop", "-t", "0", name)
    engine("cp", str(tmp_path / target), f"{name}:/data/root/etc/")
    assert not os.path.exists(f"/etc/{target}")
    engine("cp", f"{name}:/data/escape/{target}", str(tmp_path / "back"))
    assert (tmp_path / "back").read_text() == "x\n"


def test_cp_errors(engine, ctr, tmp_path):
    name = _running(engine, ctr)
    p = engine("cp", f"{name}:/nope", str(tmp_path), check=False)
    assert p.returncode == 1 and "Could not find the file /nope in container" in p.stderr, p.stderr
    p = engine("cp", f"{name}:/etc", f"{name}:/tmp", check=False)
    assert p.returncode == 1 and "copying between containers is not supported" in p.stderr
    p = engine("cp", str(tmp_path), str(tmp_path), check=False)
    assert p.returncode == 1 and "must specify at least one container source" in p.stderr
    p = engine("cp", str(tmp_path / "missing"), f"{name}:/tmp", check=False)
    assert p.returncode == 1 and "no such file or directory" in p.stderr
    p = engine("cp", "/etc/hostname", "nosuch-ctr:/tmp", check=False)
    assert p.returncode == 1 and "No such container" in p.stderr
