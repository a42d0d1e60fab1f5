"""Issue 3, devices: the default set, /dev links, /dev/shm and /dev/pts, /dev/console with a
terminal, and linux.devices (mknod outside a user namespace, bind from the host inside one)."""
import array
import os
import socket
import stat
import threading

import pytest

from test_init_support import create_error, run_sh, userns

pytest_plugins = ("test_init_support",)  # its fixtures: userns_rootfs, open_dir

DEFAULTS = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9), "tty": (5, 0)}
STAT = "stat -c '%n %F %t:%T %a %u:%g'"


def _stat_lines(out: str) -> dict:
    res = {}
    for line in out.splitlines():
        if line.startswith("/dev/"):
            name, rest = line.split(" ", 1)
            res[name] = rest
    return res


def test_default_devices_links_shm_pts(rt, busybox_rootfs):
    names = " ".join(f"/dev/{n}" for n in DEFAULTS)
    out = run_sh(rt, busybox_rootfs,
                 f"{STAT} {names}; for l in fd stdin stdout stderr ptmx;"
                 " do echo \"/dev/$l -> $(readlink /dev/$l)\"; done;"
                 " head -c 3 /dev/zero | wc -c; echo x > /dev/null && echo null-ok;"
                 " echo x > /dev/full 2>/dev/null || echo full-ENOSPC; head -c 8 /dev/urandom | wc -c;"
                 " echo shm > /dev/shm/f && cat /dev/shm/f; stat -c '%a' /dev/shm;"
                 " ls /dev/fd/ | head -3 | tr '\\n' ' '; echo")
    st = _stat_lines(out)
    for n, (ma, mi) in DEFAULTS.items():
        assert st[f"/dev/{n}"] == f"character special file {ma:x}:{mi:x} 666 0:0", (n, st.get(f"/dev/{n}"))
    links = {ln.split(" -> ")[0]: ln.split(" -> ")[1] for ln in out.splitlines() if " -> " in ln}
    assert links == {"/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0", "/dev/stdout": "/proc/self/fd/1",
                     "/dev/stderr": "/proc/self/fd/2", "/dev/ptmx": "pts/ptmx"}
    tail = [ln for ln in out.splitlines() if "->" not in ln and not ln.startswith("/dev/")]
    assert tail[:6] == ["3", "null-ok", "full-ENOSPC", "8", "shm", "1777"], tail
    assert tail[6].split()[:3] == ["0", "1", "2"]


def test_dev_ptmx_opens_a_pty_of_the_containers_devpts(rt, busybox_rootfs):
    # opening /dev/ptmx (-> pts/ptmx) must create a pts in the container's own devpts instance
    out = run_sh(rt, busybox_rootfs, "exec 3<>/dev/ptmx; ls /dev/pts | sort | tr '\\n' ' '; echo;"
                 " stat -c '%a' /dev/pts/ptmx")
    listing, mode = out.splitlines()
    assert listing.split() == ["0", "ptmx"], "a fresh devpts instance: pts 0 is the first and only pty"
    assert mode == "666"


def _run_with_console(rt, rootfs: str, script: str, mutate=None) -> list[str]:
    """create --console-socket, take the pty master the runtime sends, start, read all output."""
    sock_path = os.path.join(rt.tmp, "c.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(1)
    got: dict = {}

    def serve():
        conn, _ = srv.accept()
        fds = array.array("i")
        _msg, anc, _f, _a = conn.recvmsg(4096, socket.CMSG_LEN(4 * fds.itemsize))
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
        got["fd"] = fds[0]
        conn.close()
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        def cfg(c):
            c["process"]["terminal"] = True
            if mutate:
                mutate(c)
        b = rt.bundle(["sh", "-c", script], rootfs, mutate=cfg)
        cid = rt.new_id()
        rt.run("create", "--bundle", b, "--console-socket", sock_path, cid, check=True)
        t.join(10)
        master = got["fd"]
        rt.run("start", cid, check=True)
        data = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the last slave fd is closed
                break
            if not chunk:
                break
            data += chunk
        os.close(master)
        return data.decode().replace("\r", "").split("\n")
    finally:
        srv.close()


def test_dev_console_is_the_pty_when_terminal(rt, busybox_rootfs):
    lines = _run_with_console(rt, busybox_rootfs,
                              "tty; stat -c '%t:%T' /dev/console; readlink /proc/self/fd/0; sleep 0.3")
    assert lines[0] == "/dev/pts/0", lines
    assert lines[1] == "88:0", "/dev/console is the bind of pts 0 (char 136:0)"
    assert lines[2] == "/dev/pts/0"


def test_dev_console_in_user_namespace(rt, userns_rootfs):
    lines = _run_with_console(rt, userns_rootfs, "tty; stat -c '%t:%T' /dev/console", userns)
    assert lines[:2] == ["/dev/pts/0", "88:0"], lines


def test_linux_devices_mknod(rt, busybox_rootfs):
    def cfg(c):
        c["linux"]["devices"] = [
            {"path": "/dev/my-null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o640, "uid": 12, "gid": 34},
            {"path": "/dev/sub/dir/zero2", "type": "c", "major": 1, "minor": 5, "fileMode": 0o600},
            {"path": "/dev/myloop", "type": "b", "major": 7, "minor": 200, "fileMode": 0o660, "gid": 6},
            {"path": "/dev/mypipe", "type": "p", "fileMode": 0o620},
            {"path": "/dev/unbuf", "type": "u", "major": 1, "minor": 9},
            {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229},
        ]
        # as docker --device does: the device cgroup rule comes with the device (runc adds none)
        c["linux"]["resources"]["devices"].append({"allow": True, "type": "c", "major": 10, "minor": 229,
                                                   "access": "rw"})
        c["linux"]["resources"]["devices"].append({"allow": False, "type": "c", "major": 10, "minor": 229,
                                                   "access": "w"})
    out = run_sh(rt, busybox_rootfs, f"{STAT} /dev/my-null /dev/sub/dir/zero2 /dev/myloop /dev/mypipe /dev/unbuf;"
                 " exec 3</dev/fuse && echo fuse-read-ok; (exec 4>/dev/fuse) 2>/dev/null || echo write-denied",
                 cfg)
    st = _stat_lines(out)
    assert st["/dev/my-null"] == "character special file 1:3 640 12:34"
    assert st["/dev/sub/dir/zero2"] == "character special file 1:5 600 0:0"
    assert st["/dev/myloop"] == "block special file 7:c8 660 0:6"
    assert st["/dev/mypipe"].startswith("fifo ") and st["/dev/mypipe"].endswith(" 620 0:0")
    assert st["/dev/unbuf"] == "character special file 1:9 666 0:0", "fileMode defaults to 0666"
    assert out.splitlines()[-2:] == ["fuse-read-ok", "write-denied"], "the device cgroup applies to listed devices"


def test_linux_devices_replace_default_and_umask_does_not_apply(rt, busybox_rootfs):
    def cfg(c):
        c["process"]["user"]["umask"] = 0o077
        c["linux"]["devices"] = [{"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666}]
    st = _stat_lines(run_sh(rt, busybox_rootfs, f"{STAT} /dev/null /dev/zero", cfg))
    assert st["/dev/null"] == "character special file 1:3 666 0:0"
    assert st["/dev/zero"].endswith(" 666 0:0")


def test_devices_in_user_namespace_are_host_binds(rt, userns_rootfs):
    def cfg(c):
        userns(c)
        c["linux"]["devices"] = [{"path": "/dev/net/tun", "type": "c", "major": 10, "minor": 200,
                                  "fileMode": 0o666}]
    out = run_sh(rt, userns_rootfs, f"{STAT} /dev/null /dev/net/tun;"
                 " grep -E ' /dev/(null|net/tun) ' /proc/self/mountinfo;"
                 " echo x > /dev/null && echo null-ok", cfg)
    st = _stat_lines(out)
    assert st["/dev/null"].startswith("character special file 1:3 ")
    assert st["/dev/net/tun"].startswith("character special file a:c8 ")
    binds = [ln for ln in out.splitlines() if " - " in ln]
    assert len(binds) == 2 and all(ln.split()[3] in ("/null", "/net/tun") for ln in binds), binds
    assert out.splitlines()[-1] == "null-ok"


def test_device_path_outside_dev_is_rejected(rt, busybox_rootfs):
    err = create_error(rt, busybox_rootfs, lambda c: c["linux"].__setitem__(
        "devices", [{"path": "/etc/evil", "type": "c", "major": 1, "minor": 3}]))
    assert "linux.devices[0].path" in err


def test_bind_mounted_dev_gets_no_default_devices(rt, busybox_rootfs, tmp_path):
    devdir = tmp_path / "mydev"
    devdir.mkdir()
    (devdir / "marker").write_text("mine\n")
    os.mknod(devdir / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # maskedPaths bind it

    def cfg(c):
        c["mounts"] = [m for m in c["mounts"] if not m["destination"].startswith("/dev")]
        c["mounts"].append({"destination": "/dev", "type": "bind", "source": str(devdir), "options": ["rbind"]})
    out = run_sh(rt, busybox_rootfs, "ls /dev", cfg)
    assert out.split() == ["marker", "null"], "a bind-mounted /dev is the caller's: nothing is added"
    assert sorted(os.listdir(devdir)) == ["marker", "null"]


def test_dev_symlinks_in_rootfs_are_not_followed_to_host(rt, rootfs_rw, tmp_path):
    """A rootfs whose /dev is a symlink to a host directory: devices land inside the rootfs."""
    hostdev = tmp_path / "hostdev"
    hostdev.mkdir()
    os.rmdir(os.path.join(rootfs_rw, "dev"))
    os.symlink(str(hostdev), os.path.join(rootfs_rw, "dev"))
    out = run_sh(rt, rootfs_rw, f"{STAT} /dev/null")
    assert _stat_lines(out)["/dev/null"].startswith("character special file 1:3")
    assert os.listdir(hostdev) == [], "nothing may be created in the host directory"


@pytest.mark.parametrize("fake", ["symlink", "file"])
def test_masking_refuses_a_fake_dev_null(rt, busybox_rootfs, tmp_path, fake):
    """maskedPaths binds /dev/null over files; a /dev whose null is a symlink or a plain file
    (CVE-2025-31133 class) must be refused, not bound over /proc/keys."""
    devdir = tmp_path / "mydev"
    devdir.mkdir()
    if fake == "symlink":
        os.symlink("/etc/passwd", devdir / "null")
    else:
        (devdir / "null").write_text("not null\n")

    def cfg(c):
        c["mounts"] = [m for m in c["mounts"] if not m["destination"].startswith("/dev")]
        c["mounts"].append({"destination": "/dev", "type": "bind", "source": str(devdir), "options": ["rbind"]})
        c["linux"]["maskedPaths"] = ["/proc/keys"]
    err = create_error(rt, busybox_rootfs, cfg)
    assert "/dev/null is not the null device" in err, err
