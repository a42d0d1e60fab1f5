"""``pyrunc resume ID``: thaw a paused container."""
from .. import state
from ..errors import NOT_PAUSED, Error
from . import need_id


def run(gopts, opts, args) -> int:
    c = state.load(gopts.root, need_id(args, "resume"))
    if c.status() != "paused":
        raise Error(NOT_PAUSED)
    c.cgroup_manager().thaw()
    return 0
