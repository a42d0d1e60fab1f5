"""``pyrunc pause ID``: freeze every process of the container (cgroup freezer)."""
from .. import state
from ..errors import NOT_RUNNING, Error
from . import need_id


def run(gopts, opts, args) -> int:
    c = state.load(gopts.root, need_id(args, "pause"))
    st = c.status()
    if st not in ("running", "created"):
        raise Error(NOT_RUNNING if st != "paused" else "container already paused")
    mgr = c.cgroup_manager()
    if mgr is None:
        raise Error("cgroup not exist")
    mgr.freeze()
    return 0
