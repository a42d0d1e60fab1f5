"""cgroup v1 manager: one directory per mounted hierarchy (+ the unified one on hybrid hosts).

Like runc's fs manager it creates and joins every mounted hierarchy, which keeps stats/pause/
kill/OOM working. The runtime's own children join through ``open_join_fds`` (v1 ``tasks``
files they write "0" into) and ``birth_dir`` (clone3), never paying the RCU grace period of a
``cgroup.procs`` write (see docs/cgroups.md, "Joining without an RCU grace period").
"""
from .. import fastos as os

from . import _fs
from ._fs import CgroupError
from .manager import Manager

# Join order: runc's subsystem order (fs.go), then named hierarchies; the unified dir last.
# (devices and v1plan are imported where limits are written: delete/state/kill never need them)
_JOIN_ORDER = ("cpuset", "devices", "memory", "cpu", "cpuacct", "pids", "blkio", "hugetlb", "net_cls",
               "net_prio", "perf_event", "freezer", "rdma", "name=systemd", "misc")


class V1Manager(Manager):
    __slots__ = ("paths", "unified", "_devices_set")
    version = "v1"

    def __init__(self, path: str, container_id: str, resources: dict | None, paths: dict,
                 unified: str | None) -> None:
        super().__init__(path, container_id, resources)
        self.paths = paths          # {controller: directory}; comounted controllers share one
        self.unified = unified      # hybrid hosts: the container's dir in the cgroup2 mount
        self._devices_set = None    # the device rules create() wrote (set_resources skips the same)

    def _dirs(self) -> list:
        """Unique directories in join order."""
        seen, out = set(), []
        keys = [k for k in _JOIN_ORDER if k in self.paths] + sorted(k for k in self.paths if k not in _JOIN_ORDER)
        for k in keys:
            d = self.paths[k]
            if d not in seen:
                seen.add(d)
                out.append(d)
        if self.unified and self.unified not in seen:
            out.append(self.unified)
        return out

    # lifecycle -------------------------------------------------------------------------
    def create(self) -> None:
        v1m, v2m, _top = _fs.mounts()
        for ctl, d in self.paths.items():
            mnt = v1m[ctl][0] if ctl in v1m else os.path.dirname(d)
            if not os.path.isdir(d):
                _fs.mkdir_p(d, mnt)
            if ctl == "cpuset":
                _cpuset_fill(d, mnt)
        if self.unified:
            _fs.mkdir_p(self.unified, v2m[0] if v2m else os.path.dirname(self.unified))
        if "devices" in self.paths:
            self._devices_set = (self.resources or {}).get("devices")
            self._set_devices(self._devices_set)

    def apply(self, pid: int) -> None:
        self._prepare_join()
        for d in self._dirs():
            _fs.join_pid(d, pid)

    def _prepare_join(self) -> None:
        c = (self.resources or {}).get("cpu")
        if c and (c.get("realtimePeriod") or c.get("realtimeRuntime")) and "cpu" in self.paths:
            from . import v1plan
            # runc sets RT bandwidth before joining: a SCHED_RR task cannot join a cgroup without it.
            for _ctl, f, v, _flag in v1plan.rt_plan(c):
                _fs.write(self.paths["cpu"], f, v)

    @property
    def birth_dir(self) -> str | None:
        return self.unified

    def sub(self, subpaths: dict[str, str]) -> "V1Manager":
        """The sub-cgroups ``exec --cgroup`` names ({controller or "" for all: relative path}); a
        controller comounted with others moves them along (they share one directory)."""
        paths = dict(self.paths)
        for ctl, rel in subpaths.items():
            if ctl == "":
                paths = {k: f"{d}/{rel}" for k, d in self.paths.items()}
                continue
            if ctl not in self.paths:
                raise CgroupError(f"unknown controller {ctl} in SubCgroupPaths")
            for k, d in self.paths.items():
                if d == self.paths[ctl]:
                    paths[k] = f"{d}/{rel}"
        unified = f"{self.unified}/{subpaths['']}" if self.unified and "" in subpaths else self.unified
        return V1Manager(self.path, self.container_id, None, paths, unified)

    def make_birth_dir(self) -> None:
        """Only the unified directory (hybrid hosts), for a clone3 before the rest exists."""
        if self.unified:
            v2m = _fs.mounts()[1]
            _fs.mkdir_p(self.unified, v2m[0] if v2m else os.path.dirname(self.unified))

    def open_join_fds(self) -> list:
        self._prepare_join()
        fds: list = []
        try:
            for d in self._dirs():
                if d != self.unified:
                    fds.append(_fs.open_for_join(d, "tasks"))
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        return fds

    def set_resources(self, resources: dict | None) -> None:
        from . import v1plan
        res = resources or {}
        blkio = self.paths.get("blkio")
        bfq = bool(blkio) and not os.path.exists(blkio + "/blkio.weight") \
            and os.path.exists(blkio + "/blkio.bfq.weight")
        rest = v1plan.plan(res, bfq=bfq)  # raises first on 'unified' (runc ErrV1NoUnified)
        cpuset = [w for w in rest if w[0] == "cpuset"]
        others = [w for w in rest if w[0] != "cpuset"]
        self._run(cpuset)
        if "devices" in self.paths:
            if res.get("devices") is not self._devices_set or self._devices_set is None:
                self._set_devices(res.get("devices"))
        elif res.get("devices"):
            raise CgroupError("cgroup: cannot set devices limit: container could not join or create cgroup")
        m = res.get("memory")
        if m:
            md = self.paths.get("memory")
            cur = None
            if md and (m.get("limit") or 0) and (m.get("swap") or 0):
                cur = _fs.read_int(md, "memory.limit_in_bytes")
            has_memsw = bool(md) and os.path.exists(md + "/memory.memsw.limit_in_bytes")
            self._run(v1plan.memory_plan(m, cur, has_memsw))
        self._run(others)
        self.resources = resources

    def _dir_for(self, ctl: str) -> str:
        d = self.paths.get(ctl)
        if d:
            return d
        raise CgroupError(f"cgroup: cannot set {ctl} limit: container could not join or create cgroup "
                          f"({ctl} controller is not mounted)")

    def _run(self, writes: list) -> None:
        retry = []
        for ctl, f, v, flag in writes:
            if ctl == "hugetlb" and "hugetlb" not in self.paths and self.unified:
                self._hugetlb_unified(f, v, flag)
                continue
            d = self._dir_for(ctl)
            try:
                _fs.write(d, f, v)
            except CgroupError as e:
                if e.errno == 2 and "noent" in flag:
                    continue
                if e.errno == 22 and flag.startswith("retry"):
                    retry.append((d, f, v))
                    continue
                if flag == "mem" and e.errno == 16:
                    raise CgroupError(f"{e} (current usage: {_fs.read(d, 'memory.usage_in_bytes').strip()}, "
                                      f"peak usage: {_fs.read(d, 'memory.max_usage_in_bytes').strip()})",
                                      e.errno) from None
                raise
            if flag == "shares":
                got = _fs.read_int(d, f)
                if int(v) > got:
                    raise CgroupError(f"the maximum allowed cpu-shares is {got}")
                if int(v) < got:
                    raise CgroupError(f"the minimum allowed cpu-shares is {got}")
        for d, f, v in retry:
            _fs.write(d, f, v)

    def _hugetlb_unified(self, f: str, v: str, flag: str) -> None:
        """Hybrid host whose hugetlb controller sits on the cgroup2 mount: use it there."""
        v2m = _fs.mounts()[1]
        if not v2m or "hugetlb" not in _fs.read(v2m[0], "cgroup.controllers").split():
            raise CgroupError("cgroup: cannot set hugetlb limit: container could not join or create "
                              "cgroup (hugetlb controller is not available)")
        _fs.enable_controllers(v2m[0], self.unified, {"hugetlb"})
        size = f.split(".")[1]
        name = f"hugetlb.{size}.rsvd.max" if ".rsvd." in f else f"hugetlb.{size}.max"
        try:
            _fs.write(self.unified, name, v)
        except CgroupError as e:
            if not (e.errno == 2 and "noent" in flag):
                raise

    def _set_devices(self, oci_devs: list | None) -> None:
        from . import devices
        d = self.paths["devices"]
        target = devices.build(devices.oci_rules(oci_devs))
        current = devices.from_list(_fs.read(d, "devices.list"))
        for rule in current.transition(target):
            _fs.write(d, "devices.allow" if rule[0] else "devices.deny", devices.rule_string(rule))
        after = devices.from_list(_fs.read(d, "devices.list"))
        if target.is_blacklist() != after.is_blacklist() or (not target.is_blacklist() and after != target):
            raise CgroupError(f"cgroup: resulting devices cgroup {d} doesn't match the requested rules")

    def destroy(self) -> None:
        all_dirs = self._dirs()
        dirs = _fs.rmdir_empty(all_dirs)  # the common case: the container is gone, the dirs are empty
        if not dirs:
            self._remove_default_parent(all_dirs)
            return
        try:
            if self.pids():
                self.signal_all(9)
                self._wait_empty(2.0)
            elif self.is_frozen():
                self.thaw()
        except CgroupError:
            pass
        err = None
        for d in dirs:
            try:
                _fs.rmdir_tree(d)
            except CgroupError as e:
                err = err or e
        if err:
            raise err
        self._remove_default_parent(all_dirs)

    def exists(self) -> bool:
        d = self.paths.get("devices") or self.paths.get("freezer") or next(iter(self.paths.values()), None)
        return bool(d) and os.path.isdir(d)

    # freezer -----------------------------------------------------------------------------
    def _freezer(self) -> str:
        d = self.paths.get("freezer")
        if not d:
            raise CgroupError("cannot toggle freezer: cgroups not configured for container")
        return d

    def freeze(self) -> None:
        """runc's v1 loop: FREEZING can stick while tasks fork, so re-write, with an occasional thaw."""
        import time
        d = self._freezer()
        for i in range(1000):
            if i % 50 == 49:
                _fs.write(d, "freezer.state", "THAWED")
                time.sleep(0.01)
            _fs.write(d, "freezer.state", "FROZEN")
            if i % 25 == 24:
                time.sleep(0.00001)
            st = _fs.read(d, "freezer.state").strip()
            if st == "FROZEN":
                return
            if st != "FREEZING":
                raise CgroupError(f"cgroup: unexpected freezer state {st} after writing FROZEN")
        raise CgroupError("cgroup: unable to freeze")

    def thaw(self) -> None:
        import time
        d = self._freezer()
        for _ in range(1000):
            _fs.write(d, "freezer.state", "THAWED")
            if _fs.read(d, "freezer.state").strip() == "THAWED":
                return
            time.sleep(0.001)
        raise CgroupError("cgroup: unable to thaw")

    def is_frozen(self) -> bool:
        import time
        d = self.paths.get("freezer")
        if not d:
            return False
        for _ in range(2000):
            try:
                st = _fs.read(d, "freezer.state").strip()
            except CgroupError:
                return False
            if st == "THAWED":
                return False
            if st == "FROZEN":
                try:  # frozen by itself, or only because an ancestor is?
                    return _fs.read(d, "freezer.self_freezing").strip() == "1"
                except CgroupError:
                    return True
            time.sleep(0.001)  # FREEZING: wait for a stable state
        return True  # stuck in FREEZING (tasks keep forking): partly frozen counts as paused

    # processes ---------------------------------------------------------------------------
    def _procs_dir(self) -> str | None:
        return self.paths.get("devices") or self.paths.get("freezer") or next(iter(self.paths.values()), None)

    def pids(self) -> list:
        d = self._procs_dir()
        return _fs.all_procs(d) if d else []

    def signal_all(self, sig: int) -> None:
        if not self.exists():
            return
        if sig == 9 and self.unified and os.path.isdir(self.unified):
            try:
                _fs.write(self.unified, "cgroup.kill", "1")
                if self.is_frozen():
                    self.thaw()  # SIGKILLed tasks of a v1-frozen cgroup only die once thawed
                return
            except CgroupError as e:
                if e.errno != 2:
                    raise
        if "freezer" in self.paths:
            self._signal_frozen(sig)
        else:
            for pid in self.pids():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass

    # events ------------------------------------------------------------------------------
    def stats(self) -> dict:
        from .stats import v1_stats
        return v1_stats(self.paths)

    def oom_count(self) -> int:
        d = self.paths.get("memory")
        if not d:
            return 0
        try:
            return _fs.key_value(d, "memory.oom_control").get("oom_kill", 0)
        except CgroupError:
            return 0

    def oom_eventfd(self) -> int | None:
        """An eventfd that becomes readable on every OOM in the cgroup (and when it is removed)."""
        d = self.paths.get("memory")
        if not d or not os.path.isdir(d):
            return None
        efd = os.eventfd(0, os.EFD_CLOEXEC)
        try:
            cfd = os.open(d + "/memory.oom_control", os.O_RDONLY | os.O_CLOEXEC)
            try:
                _fs.write(d, "cgroup.event_control", f"{efd} {cfd}")
            finally:
                os.close(cfd)
        except (OSError, CgroupError):
            os.close(efd)
            raise
        return efd

    def save(self) -> dict:
        return {"version": "v1", "path": self.path, "id": self.container_id, "paths": dict(self.paths),
                "unified": self.unified}


def _cpuset_fill(d: str, mnt: str) -> None:
    """A v1 cpuset with empty cpus/mems refuses tasks: copy them down from the parents (runc ensureParent)."""
    rel = d[len(mnt):].strip("/")
    cur = mnt
    for c in rel.split("/") if rel else ():
        parent, cur = cur, cur + "/" + c
        for f in ("cpuset.cpus", "cpuset.mems"):
            if not _fs.read(cur, f).strip():
                _fs.write(cur, f, _fs.read(parent, f).strip())

