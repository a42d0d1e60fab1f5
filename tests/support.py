"""Shared test helpers: the pyrunc binary, busybox bundles and a runtime root that cleans up.

Tests drive the installed ``pyrunc`` as a subprocess, exactly like containerd or conmon do.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "scripts"))
from make_bundle import make_rootfs  # noqa: E402

FIXTURES = os.path.join(HERE, "fixtures")


def pyrunc_bin() -> str:
    """The runtime under test: $PYRUNC_TEST_RUNTIME (e.g. runc), else this venv's pyrunc."""
    return os.environ.get("PYRUNC_TEST_RUNTIME") or os.path.join(sys.prefix, "bin", "pyrunc")


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def base_config(args: list[str], rootfs: str) -> dict:
    """``pyrunc spec`` output (terminal off) with ``args`` and an absolute rootfs path."""
    from pyrunc.spec.defaults import default_config
    cfg = default_config()
    cfg["process"]["args"] = args
    cfg["process"]["terminal"] = False
    cfg["root"]["path"] = rootfs
    return cfg


class Runtime:
    """One test's runtime root; every container it made is force-deleted at the end."""

    def __init__(self, tmp: str) -> None:
        self.tmp = tmp
        self.root = os.path.join(tmp, "state")
        self.bin = pyrunc_bin()
        self.ids: list[str] = []

    def cmd(self, *args, log: str | None = None, log_format: str | None = None) -> list[str]:
        argv = [self.bin, "--root", self.root]
        if log:
            argv += ["--log", log]
        if log_format:
            argv += ["--log-format", log_format]
        return argv + [str(a) for a in args]

    def run(self, *args, check: bool = False, input: bytes | None = None, timeout: float = 60,
            **kw) -> subprocess.CompletedProcess:
        log, fmt = kw.pop("log", None), kw.pop("log_format", None)
        # files, not pipes: a created container inherits pyrunc's stdio and keeps it open
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            p = subprocess.run(self.cmd(*args, log=log, log_format=fmt), input=input, stdout=out, stderr=err,
                               timeout=timeout, **kw)
            out.seek(0)
            err.seek(0)
            p.stdout, p.stderr = out.read(), err.read()
        if check and p.returncode != 0:
            raise AssertionError(f"pyrunc {' '.join(map(str, args))} failed ({p.returncode}): "
                                 f"{p.stderr.decode(errors='replace')}")
        return p

    def new_id(self, prefix: str = "c") -> str:
        cid = unique(prefix)
        self.ids.append(cid)
        return cid

    def bundle(self, args: list[str], rootfs: str, mutate=None, name: str | None = None) -> str:
        path = os.path.join(self.tmp, name or unique("bundle"))
        os.makedirs(path, exist_ok=True)
        cfg = base_config(args, rootfs)
        if mutate:
            mutate(cfg)
        with open(os.path.join(path, "config.json"), "w") as f:
            json.dump(cfg, f)
        return path

    def state(self, cid: str) -> dict:
        p = self.run("state", cid, check=True)
        return json.loads(p.stdout)

    def wait_status(self, cid: str, status: str, timeout: float = 10) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            st = self.state(cid)
            if st["status"] == status or time.monotonic() > deadline:
                return st
            time.sleep(0.02)

    def cleanup(self) -> None:
        for cid in self.ids:
            subprocess.run(self.cmd("delete", "--force", cid), capture_output=True, timeout=60)
        if os.path.isdir(self.root):
            for cid in os.listdir(self.root):
                if not cid.startswith("."):
                    subprocess.run(self.cmd("delete", "--force", cid), capture_output=True, timeout=60)


def mounts_under(prefix: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(prefix)]


def cgroup_dirs(name: str, exact: bool = False) -> list[str]:
    """Every cgroup directory (any hierarchy) whose name contains (or, ``exact``, is) ``name``."""
    found = []
    for base in os.listdir("/sys/fs/cgroup"):
        top = os.path.join("/sys/fs/cgroup", base)
        if not os.path.isdir(top) or os.path.islink(top):
            continue
        for dirpath, dirnames, _ in os.walk(top):
            base = os.path.basename(dirpath)
            if base == name if exact else name in base:
                found.append(dirpath)
            if dirpath.count("/") > 7:
                dirnames[:] = []
    return found


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def rmtree(path: str) -> None:
    if mounts_under(path):
        for mp in sorted(mounts_under(path), reverse=True):
            subprocess.run(["umount", "-l", mp], capture_output=True)
    shutil.rmtree(path, ignore_errors=True)


def read_until(fd: int, marker: bytes, timeout: float = 10) -> bytes:
    """Read ``fd`` (e.g. a pty master) until ``marker`` shows up, EOF/EIO, or ``timeout``."""
    import select
    data = b""
    deadline = time.monotonic() + timeout
    while marker not in data:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the other side of the pty is gone
            break
        if not chunk:
            break
        data += chunk
    return data


def processes_mentioning(text: str) -> list[int]:
    """Pids (not ours) whose command line contains ``text``, e.g. a test's temp dir."""
    pids = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if text.encode() in f.read():
                    pids.append(int(entry))
        except OSError:
            pass
    return pids


def layer_tar_bytes(entries) -> bytes:
    """An uncompressed layer tar from (name, content) pairs or a dict; ``None`` content = a directory."""
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in (entries.items() if isinstance(entries, dict) else entries):
            info = tarfile.TarInfo(name)
            info.mtime = 1700000000
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(info)
            else:
                info.mode, info.size = 0o644, len(data)
                tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()
