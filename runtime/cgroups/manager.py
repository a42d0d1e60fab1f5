"""The Manager interface shared by the v1 (per-controller directories) and v2 (one directory) managers."""
from .. import fastos as os

DEFAULT_PARENT = "/pyrunc"  # the parent of containers without a cgroupsPath (paths.inner_path)


class Manager:
    """One container's cgroup(s). ``path`` is the cgroupsPath as resolved (inner path)."""

    __slots__ = ("path", "container_id", "resources")
    version = ""

    def __init__(self, path: str, container_id: str, resources: dict | None) -> None:
        self.path = path
        self.container_id = container_id
        self.resources = resources

    # lifecycle -------------------------------------------------------------------------
    def create(self) -> None:
        """Make the cgroup directories and apply the device rules (the security baseline)."""
        raise NotImplementedError

    def apply(self, pid: int) -> None:
        """Move ``pid`` into the cgroup(s)."""
        raise NotImplementedError

    @property
    def birth_dir(self) -> str | None:
        """The cgroup2 directory a new process can be born in with clone3(CLONE_INTO_CGROUP)."""
        return None

    def join_birth_dir(self, pid: int) -> None:
        """Move ``pid`` into ``birth_dir``: the fallback when clone3 could not place it there."""
        if self.birth_dir:
            from ._fs import join_pid
            join_pid(self.birth_dir, pid)

    def sub(self, subpaths: dict[str, str]) -> "Manager":
        """A view of sub-cgroups for ``exec --cgroup`` (see paths.sub_cgroup_paths)."""
        raise NotImplementedError

    def open_join_fds(self) -> list:
        """Open files a single-threaded child writes "0" into to join the rest of the cgroup itself.

        On v1 these are the ``tasks`` files: moving the writing thread alone skips the global
        threadgroup rwsem, so no RCU grace period (~7-16 ms) is paid, unlike a cgroup.procs
        write of another pid. The fds carry the opener's credentials, so the write still works
        from inside the container's user namespace.
        """
        return []

    def set_resources(self, resources: dict | None) -> None:
        """Write every limit of an OCI ``linux.resources`` dict (also used by ``update``)."""
        raise NotImplementedError

    def destroy(self) -> None:
        """Thaw, kill what is left, remove the directories; idempotent."""
        raise NotImplementedError

    def exists(self) -> bool:
        raise NotImplementedError

    def _remove_default_parent(self, dirs: list) -> None:
        """pyrunc's default parent (/pyrunc) goes when its last container goes (EBUSY: others live)."""
        if not self.path.startswith(DEFAULT_PARENT + "/"):
            return
        for d in dirs:
            parent = d.rsplit("/", 1)[0]
            if parent.endswith(DEFAULT_PARENT):
                try:
                    os.rmdir(parent)
                except OSError:
                    pass

    # freezer -----------------------------------------------------------------------------
    def freeze(self) -> None:
        raise NotImplementedError

    def thaw(self) -> None:
        raise NotImplementedError

    def is_frozen(self) -> bool:
        raise NotImplementedError

    # processes ---------------------------------------------------------------------------
    def pids(self) -> list:
        raise NotImplementedError

    def signal_all(self, sig: int) -> None:
        """Signal every process: freeze, kill each pid (ESRCH ignored), thaw; cgroup.kill for SIGKILL."""
        raise NotImplementedError

    def _signal_frozen(self, sig: int) -> None:
        """runc signalAllProcesses without cgroup.kill: freeze so nothing forks away, signal, thaw.

        A cgroup that was already paused stays paused (its signals are delivered on resume),
        except for SIGKILL, whose targets can only die once thawed.
        """
        was_frozen = self.is_frozen()
        try:
            self.freeze()
        except Exception:
            pass  # runc only warns: still signal what it can see
        try:
            for pid in self.pids():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        finally:
            if not was_frozen or sig == 9:
                self.thaw()

    def _wait_empty(self, timeout: float) -> None:
        import time
        end = time.monotonic() + timeout
        while self.pids() and time.monotonic() < end:
            time.sleep(0.005)

    # events ------------------------------------------------------------------------------
    def stats(self) -> dict:
        raise NotImplementedError

    def oom_count(self) -> int:
        raise NotImplementedError

    def oom_eventfd(self) -> int | None:
        raise NotImplementedError

    def save(self) -> dict:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.version} {self.path}>"
