"""``pyrunc state``: runc's state JSON (2-space indent, no trailing newline)."""
from .. import log, state
from ..jsonlite import dumps
from . import need_id


def run(gopts, opts, args) -> int:
    c = state.load(gopts.root, need_id(args, "state"))
    log.out(dumps(c.oci_state(), indent=2))
    return 0
