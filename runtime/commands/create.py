"""``pyrunc create``: set the container up and leave its init blocked on the start handshake."""
from ..create import create
from . import need_id


def run(gopts, opts, args) -> int:
    cid = need_id(args, "create")
    create(gopts, cid, opts.bundle or ".", opts)
    return 0
