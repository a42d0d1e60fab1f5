"""Issue 2: the remaining create/run flags on real containers."""
import os
import subprocess

import pytest


def _unmask_keys(cfg):
    cfg["linux"]["maskedPaths"] = [p for p in cfg["linux"]["maskedPaths"] if p != "/proc/keys"]


def test_new_session_keyring_unless_no_new_keyring(rt, busybox_rootfs):
    bundle = rt.bundle(["cat", "/proc/keys"], busybox_rootfs, mutate=_unmask_keys)
    cid = rt.new_id()
    p = rt.run("run", "--bundle", bundle, cid, check=True)
    assert f"keyring  {cid}:".encode() in p.stdout or cid.encode() in p.stdout, p.stdout
    cid2 = rt.new_id()
    p = rt.run("run", "--no-new-keyring", "--bundle", bundle, cid2, check=True)
    assert cid2.encode() not in p.stdout


def test_preserve_fds_passes_extra_fds(rt, busybox_rootfs):
    bundle = rt.bundle(["sh", "-c", "ls /proc/self/fd | sort -n | tr '\\n' ' '; cat <&3"], busybox_rootfs)
    r, w = os.pipe()
    os.write(w, b"through-fd-3\n")
    os.close(w)
    try:  # the shell puts the pipe on fd 3 of pyrunc (pytest itself uses our fd 3)
        p = subprocess.run(["/bin/bash", "-c", f'exec "$@" 3<&{r}', "bash",
                            *rt.cmd("run", "--preserve-fds", "1", "--bundle", bundle, rt.new_id())],
                           pass_fds=(r,), capture_output=True, timeout=60)
    finally:
        os.close(r)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split(b" ")[:5] == [b"0", b"1", b"2", b"3", b"4"], p.stdout
    assert b"through-fd-3" in p.stdout


def test_only_stdio_open_without_preserve(rt, busybox_rootfs):
    bundle = rt.bundle(["sh", "-c", "ls /proc/self/fd | sort -n | tr '\\n' ' '"], busybox_rootfs)
    r, w = os.pipe()
    try:
        p = subprocess.run(rt.cmd("run", "--bundle", bundle, rt.new_id()), pass_fds=(r, w), capture_output=True,
                           timeout=60)
    finally:
        os.close(r)
        os.close(w)
    # 0-2 plus the fd ls itself opens for /proc/self/fd
    assert p.stdout.split() == [b"0", b"1", b"2", b"3"], p.stdout


def test_preserve_fds_not_open_is_an_error(rt, busybox_rootfs):
    bundle = rt.bundle(["true"], busybox_rootfs)
    p = rt.run("run", "--preserve-fds", "40", "--bundle", bundle, rt.new_id())
    assert p.returncode == 1 and b"preserve-fds" in p.stderr


def test_run_keep_leaves_stopped_container(rt, busybox_rootfs):
    bundle = rt.bundle(["sh", "-c", "exit 4"], busybox_rootfs)
    cid = rt.new_id()
    p = rt.run("run", "--keep", "--bundle", bundle, cid)
    assert p.returncode == 4
    st = rt.state(cid)
    assert st["status"] == "stopped" and st["pid"] == 0
    rt.run("delete", cid, check=True)


@pytest.mark.parametrize("flag", ["-d", "--detach"])
def test_run_detach_returns_with_running_container(rt, busybox_rootfs, flag):
    bundle = rt.bundle(["sleep", "30"], busybox_rootfs)
    cid = rt.new_id()
    pidfile = os.path.join(rt.tmp, "p")
    rt.run("run", flag, "--pid-file", pidfile, "--bundle", bundle, cid, check=True)
    assert rt.state(cid)["status"] == "running"
    assert int(open(pidfile).read()) == rt.state(cid)["pid"]


def test_unknown_config_field_is_named(rt, busybox_rootfs):
    bundle = rt.bundle(["true"], busybox_rootfs, mutate=lambda c: c["process"].update(bogusField=1))
    cid = rt.new_id()
    p = rt.run("create", "--bundle", bundle, cid)
    assert p.returncode == 1 and b"process.bogusField: unknown field" in p.stderr
    assert not os.path.exists(os.path.join(rt.root, cid))
    bundle = rt.bundle(["true"], busybox_rootfs, mutate=lambda c: c["linux"].update(maskedPaths="nope"))
    p = rt.run("create", "--bundle", bundle, rt.new_id())
    assert p.returncode == 1 and b"linux.maskedPaths: expected an array" in p.stderr


def test_socket_activation_fds_and_env(rt, busybox_rootfs):
    bundle = rt.bundle(["sh", "-c", "echo $LISTEN_FDS $LISTEN_PID; cat <&3"], busybox_rootfs)
    r, w = os.pipe()
    os.write(w, b"activated\n")
    os.close(w)
    env = dict(os.environ, LISTEN_FDS="1")
    env.pop("LISTEN_PID", None)
    try:
        p = subprocess.run(["/bin/bash", "-c", f'exec "$@" 3<&{r}', "bash",
                            *rt.cmd("run", "--bundle", bundle, rt.new_id())],
                           pass_fds=(r,), capture_output=True, timeout=60, env=env)
    finally:
        os.close(r)
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"1 1\nactivated\n"
