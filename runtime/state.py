"""The container state store: ``<root>/<id>/state.json`` plus ``exec.fifo``, with a per-container lock.

Status is derived the way runc does: init gone (or its pid recycled: start time differs) ->
stopped; cgroup frozen -> paused; exec.fifo present -> created; else running.
"""
from . import fastos as os
import time

from . import jsonlite
from .errors import BAD_ID, NOT_EXIST, Error

STATE_FILE = "state.json"
FIFO = "exec.fifo"
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")


def validate_id(cid: str) -> None:
    if not cid or cid in (".", "..") or not _ID_CHARS.issuperset(cid):
        raise Error(BAD_ID)


def state_dir(root: str, cid: str) -> str:
    return root + "/" + cid


def lock(path: str) -> int:
    """Exclusive flock on the state dir; released when the fd is closed (or the process exits)."""
    import fcntl
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def proc_start_time(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat (None if gone or a zombie)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rfind(b")") + 2:].split()
    if rest[0] in (b"Z", b"X"):
        return None
    return int(rest[19])


def rfc3339_nano(ns: int) -> str:
    """Go's RFC3339Nano (trailing zeros of the fraction trimmed)."""
    secs, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    if frac:
        base += "." + f"{frac:09d}".rstrip("0")
    return base + "Z"


class Container:
    """A loaded state.json with status detection."""
    __slots__ = ("root", "id", "dir", "data", "_status")

    def __init__(self, root: str, cid: str, data: dict) -> None:
        self.root, self.id, self.dir, self.data = root, cid, state_dir(root, cid), data
        self._status: str | None = None

    @property
    def pid(self) -> int:
        return self.data.get("pid", 0)

    @property
    def bundle(self) -> str:
        return self.data.get("bundle", "")

    def init_alive(self) -> bool:
        pid = self.pid
        return bool(pid) and proc_start_time(pid) == self.data.get("pid_start")

    def status(self) -> str:
        if self._status is None:
            self._status = self._detect()
        return self._status

    def _detect(self) -> str:
        if not self.init_alive():
            return "stopped"
        if self.cgroup_frozen():
            return "paused"
        if os.path.exists(self.dir + "/" + FIFO):
            return "created"
        return "running"

    def cgroup_frozen(self) -> bool:
        """Read the freezer file named in the saved cgroup state (no cgroups import on the hot path)."""
        cg = self.data.get("cgroup")
        if not cg:
            return False
        if cg.get("version") == "v1":
            path, frozen = (cg.get("paths") or {}).get("freezer", "") + "/freezer.state", b"FROZEN"
        else:
            path, frozen = cg.get("dir", "") + "/cgroup.freeze", b"1"
        try:
            with open(path, "rb") as f:
                return f.read().strip() == frozen
        except OSError:
            return False

    def cgroup_manager(self):
        from .cgroups import load_manager
        return load_manager(self.data["cgroup"]) if self.data.get("cgroup") else None

    def oci_state(self) -> dict:
        """runc's `state` JSON object (key order matters to byte-comparing callers)."""
        st = self.status()
        out = {"ociVersion": self.data.get("ociVersion", "1.3.0"), "id": self.id,
               "pid": 0 if st == "stopped" else self.pid, "status": st, "bundle": self.bundle,
               "rootfs": self.data.get("rootfs", ""), "created": self.data.get("created", "")}
        if self.data.get("annotations"):
            out["annotations"] = self.data["annotations"]
        out["owner"] = ""
        return out

    def save(self) -> None:
        write_atomic(self.dir + "/" + STATE_FILE, jsonlite.dumps(self.data).encode())


def load(root: str, cid: str) -> Container:
    validate_id(cid)
    try:
        with open(state_dir(root, cid) + "/" + STATE_FILE, "rb") as f:
            data = jsonlite.loads(f.read())
    except FileNotFoundError:
        raise Error(NOT_EXIST) from None
    except jsonlite.JSONError:
        raise Error(f"{cid}: state file is corrupted") from None
    return Container(root, cid, data)


def write_atomic(path: str, data: bytes, mode: int = 0o600) -> None:
    """Write a sibling temp file and rename it over ``path`` (readers never see a partial file)."""
    d, _, base = path.rpartition("/")
    tmp = f"{d or '.'}/.{base}.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def write_pid_file(path: str, pid: int) -> None:
    """runc's pid file: decimal, no newline, written to a temp file and renamed (atomic)."""
    write_atomic(os.path.abspath(path), str(pid).encode(), 0o644)


def remove_dir(path: str) -> None:
    """Remove a state dir (flat: state.json, exec.fifo, temp files)."""
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        return
    for n in names:
        try:
            os.unlink(path + "/" + n)
        except FileNotFoundError:
            pass
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass
