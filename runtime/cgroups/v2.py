"""cgroup v2 manager: one directory in the unified hierarchy.

Controllers are delegated top-down through cgroup.subtree_control; device access is an
eBPF program (devfilter.py + pyrunc._bpfdev); freeze is cgroup.freeze + the 'frozen' key
of cgroup.events; SIGKILL to everything is cgroup.kill.
"""
from .. import fastos as os

from . import _fs, v2map
from ._fs import CgroupError
from .manager import Manager


class V2Manager(Manager):
    __slots__ = ("dir", "mount")
    version = "v2"

    def __init__(self, path: str, container_id: str, resources: dict | None, dirpath: str, mount: str) -> None:
        super().__init__(path, container_id, resources)
        self.dir = dirpath      # the container's cgroup directory
        self.mount = mount      # the cgroup2 mount point it lives under

    # lifecycle -------------------------------------------------------------------------
    def create(self) -> None:
        made = _fs.mkdir_p(self.dir, self.mount)
        try:
            avail = set(_fs.read(self.mount, "cgroup.controllers").split())
            if self.mount == "/sys/fs/cgroup":
                want = avail  # a real v2 host: delegate everything, like runc
            else:
                want = avail & v2map.controllers_needed(self.resources)
            if want:
                _fs.enable_controllers(self.mount, self.dir, want)
            self._set_devices((self.resources or {}).get("devices"))
        except BaseException:
            for d in reversed(made):
                try:
                    os.rmdir(d)
                except OSError:
                    pass
            raise

    def apply(self, pid: int) -> None:
        _fs.join_pid(self.dir, pid)

    @property
    def birth_dir(self) -> str | None:
        return self.dir

    def sub(self, subpaths: dict[str, str]) -> "V2Manager":
        """The sub-cgroup ``exec --cgroup`` names (one path: v2 has a single hierarchy)."""
        ctls = [c for c in subpaths if c]
        if ctls:
            raise CgroupError(f"invalid --cgroup argument: controller {ctls[0]} given on cgroup v2")
        if not subpaths:
            return self
        return V2Manager(self.path, self.container_id, None, f"{self.dir}/{subpaths['']}", self.mount)

    def set_resources(self, resources: dict | None) -> None:
        res = resources or {}
        d = self.dir
        m = res.get("memory") or {}
        cur = None
        if m.get("checkBeforeUpdate") and (m.get("limit") or 0) > 0:
            try:
                cur = _fs.read_int(d, "memory.current")
            except CgroupError:
                cur = None  # best effort, like runc
        bfq = os.path.exists(d + "/io.bfq.weight")
        per_dev = bfq and _bfq_per_device(d)
        writes = v2map.plan(res, has_bfq=bfq, bfq_per_device=per_dev, memory_current=cur)
        need = v2map.controllers_needed(res)
        if need:
            avail = set(_fs.read(self.mount, "cgroup.controllers").split())
            _fs.enable_controllers(self.mount, d, need & avail)
        retry = []
        for f, v, flag in writes:
            try:
                _fs.write(d, f, v)
            except CgroupError as e:
                if e.errno == 2 and (flag == "opt" or (flag == "swap" and v in ("max", "0"))):
                    continue
                if e.errno == 22 and flag == "retry":
                    retry.append((f, v))
                    continue
                if e.errno == 2:
                    ctl = f.partition(".")[0]
                    raise CgroupError(f"{e} ({ctl} controller not available in {d})", e.errno) from None
                raise
        for f, v in retry:
            _fs.write(d, f, v)
        if "devices" in res:
            self._set_devices(res.get("devices"))
        self._set_unified(res.get("unified") or {})
        self.resources = resources

    def _set_unified(self, unified: dict) -> None:
        """Raw v2 files; runc writes multi-line values one line at a time."""
        for k, v in unified.items():
            if "/" in k:
                raise CgroupError(f'unified resource "{k}" must be a file name (no slashes)')
            s = str(v)
            for line in ([ln for ln in s.split("\n") if ln] if "\n" in s else [s]):
                try:
                    _fs.write(self.dir, k, line)
                except CgroupError as e:
                    if e.errno in (1, 2, 13):
                        ctl, dot, _ = k.partition(".")
                        if not dot:
                            raise CgroupError(f'unified resource "{k}" must be in the form '
                                              f"CONTROLLER.PARAMETER") from None
                        avail = _fs.read(self.mount, "cgroup.controllers").split()
                        if ctl not in avail and ctl != "cgroup":
                            raise CgroupError(f'unified resource "{k}" can\'t be set: controller "{ctl}" '
                                              f"not available", e.errno) from None
                    raise

    def _set_devices(self, oci_devs: list | None) -> None:
        from . import devfilter, devices
        emu = devices.build(devices.oci_rules(oci_devs))
        devfilter.attach(self.dir, emu)

    def destroy(self) -> None:
        if not _fs.rmdir_empty([self.dir]):  # the common case: gone already, or empty
            self._remove_default_parent([self.dir])
            return
        try:
            if self.pids():
                self.signal_all(9)
                self._wait_empty(2.0)
            if self.is_frozen():
                self.thaw()
        except CgroupError:
            pass
        _fs.rmdir_tree(self.dir)
        self._remove_default_parent([self.dir])

    def exists(self) -> bool:
        return os.path.isdir(self.dir)

    # freezer -----------------------------------------------------------------------------
    def freeze(self) -> None:
        self._freeze("1")

    def thaw(self) -> None:
        self._freeze("0")

    def _freeze(self, v: str) -> None:
        """Write cgroup.freeze, then wait for cgroup.events 'frozen <v>' (POLLPRI on change)."""
        import select
        import time
        try:
            _fs.write(self.dir, "cgroup.freeze", v)
        except CgroupError as e:
            if e.errno == 2:
                raise CgroupError("cgroup: freezer not supported (no cgroup.freeze in "
                                  f"{self.dir})", e.errno) from None
            raise
        want = "frozen " + v
        fd = os.open(self.dir + "/cgroup.events", os.O_RDONLY | os.O_CLOEXEC)
        try:
            p = select.poll()
            p.register(fd, select.POLLPRI | select.POLLERR)
            end = time.monotonic() + 10.0
            while True:
                os.lseek(fd, 0, os.SEEK_SET)
                if want in os.read(fd, 4096).decode().splitlines():
                    return
                if time.monotonic() > end:
                    break
                p.poll(10)
        finally:
            os.close(fd)
        if v == "1":
            try:
                _fs.write(self.dir, "cgroup.freeze", "0")
            except CgroupError:
                pass
            raise CgroupError("cgroup: timeout of 10s reached waiting for the cgroup to freeze")
        raise CgroupError("cgroup: timeout of 10s reached waiting for the cgroup to thaw")

    def is_frozen(self) -> bool:
        try:
            return _fs.read(self.dir, "cgroup.freeze").strip() == "1"
        except CgroupError:
            return False

    # processes ---------------------------------------------------------------------------
    def pids(self) -> list:
        return _fs.all_procs(self.dir)

    def signal_all(self, sig: int) -> None:
        if not self.exists():
            return
        if sig == 9:
            try:
                _fs.write(self.dir, "cgroup.kill", "1")
                return
            except CgroupError as e:
                if e.errno != 2:  # kernel < 5.14: fall back
                    raise
        self._signal_frozen(sig)

    # events ------------------------------------------------------------------------------
    def stats(self) -> dict:
        from .stats import v2_stats
        return v2_stats(self.dir)

    def oom_count(self) -> int:
        try:
            return _fs.key_value(self.dir, "memory.events").get("oom_kill", 0)
        except CgroupError:
            return 0

    def oom_eventfd(self) -> int | None:
        """memory.events opened for reading: poll it for POLLPRI, then re-read oom_kill."""
        try:
            return os.open(self.dir + "/memory.events", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None

    def events(self) -> dict:
        """cgroup.events as a dict ({'populated': 0|1, 'frozen': 0|1})."""
        return _fs.key_value(self.dir, "cgroup.events")

    def save(self) -> dict:
        return {"version": "v2", "path": self.path, "id": self.container_id, "dir": self.dir,
                "mount": self.mount}


def _bfq_per_device(d: str) -> bool:
    """io.bfq.weight reads 'default N' (+ per-device lines) on kernels >= 5.4 that accept them."""
    try:
        s = _fs.read(d, "io.bfq.weight").strip()
    except CgroupError:
        return False
    return not s.isdigit()
