"""Container cgroups for pyrunc: create/join/limit/freeze/kill/stats on cgroup v1, hybrid and v2.

Hot path: this package imports only ``fastos`` and its own small modules at import time;
stats, eBPF and poll helpers are imported inside the functions that need them.

Typical create path::

    m = new_manager(cgroups_path, cid, resources)
    m.create()                 # mkdirs + device rules
    m.set_resources(resources) # limits
    fds = m.open_join_fds()    # the child writes "0" into each v1 tasks fd (born in m.birth_dir by clone3)
    state["cgroup"] = m.save()
"""
from .. import fastos as os

from ._fs import CgroupError
from .manager import Manager

__all__ = ["CgroupError", "Manager", "host_mode", "new_manager", "load_manager"]


def host_mode() -> str:
    """'v2' (cgroup2 at /sys/fs/cgroup), 'hybrid' (v1 + a cgroup2 mount) or 'v1'."""
    from ._fs import mounts
    v1, v2, top = mounts()
    if top == "cgroup2" or (v2 is not None and not v1):
        return "v2"
    if v2 is not None:
        return "hybrid"
    return "v1"


def _systemd_running() -> bool:
    return os.path.isdir("/run/systemd/system")


def new_manager(cgroups_path: str | None, container_id: str, resources: dict | None,
                systemd: bool = False, mode: str | None = None) -> Manager:
    """A manager for the container's cgroup (nothing is created until ``create()``).

    ``mode`` forces 'v1' or 'v2' (default: the host's; hybrid hosts use v1 and also join
    the cgroup2 hierarchy, like runc). ``systemd=True`` or a ``slice:prefix:name`` path need
    a running systemd; the cgroup is then placed where systemd would put that scope (no
    D-Bus: written directly through cgroupfs).
    """
    from . import _fs, paths
    if systemd or paths.is_systemd_form(cgroups_path):
        if not _systemd_running():
            raise CgroupError("systemd cgroup driver requested but systemd is not running")
        inner = paths.systemd_inner_path(cgroups_path, container_id)
    else:
        inner = paths.inner_path(cgroups_path, container_id)
    v1m, v2m, _top = _fs.mounts()
    hm = host_mode()
    want = mode or ("v2" if hm == "v2" else "v1")
    own = {} if inner.startswith("/") else _fs.own_cgroups()
    if want == "v2":
        if v2m is None:
            raise CgroupError("cgroup: no cgroup2 hierarchy is mounted")
        from .v2 import V2Manager
        return V2Manager(inner, container_id, resources, paths.v2_dir(inner, v2m, own, True), v2m[0])
    if not v1m:
        raise CgroupError("cgroup: no cgroup v1 hierarchy is mounted")
    from .v1 import V1Manager
    unified = paths.v2_dir(inner, v2m, own, False) if v2m is not None else None
    return V1Manager(inner, container_id, resources, paths.v1_dirs(inner, v1m, own), unified)


def load_manager(saved: dict) -> Manager:
    """Rebuild a manager from ``Manager.save()`` (state.json); no filesystem access."""
    v = saved.get("version")
    if v == "v1":
        from .v1 import V1Manager
        return V1Manager(saved.get("path", ""), saved.get("id", ""), None, dict(saved["paths"]),
                         saved.get("unified"))
    if v == "v2":
        from .v2 import V2Manager
        return V2Manager(saved.get("path", ""), saved.get("id", ""), None, saved["dir"], saved["mount"])
    raise CgroupError(f"cgroup: unknown saved cgroup manager version {v!r}")
