"""``pyrunc spec [--bundle DIR] [--rootless]``: write a default config.json."""
from .. import fastos as os

from pyrunc.spec.defaults import default_config, to_rootless

from ..errors import Error
from ..jsonlite import dumps


def run(gopts, opts, args) -> int:
    bundle = opts.bundle or "."
    if not os.path.isdir(bundle):
        raise Error(f"bundle directory {bundle!r} does not exist")
    path = os.path.join(bundle, "config.json")
    if os.path.exists(path):
        raise Error("File config.json exists. Remove it first.")
    cfg = default_config()
    if opts.rootless:
        cfg = to_rootless(cfg, os.geteuid(), os.getegid())
    with open(path, "w") as f:
        f.write(dumps(cfg, indent=2) + "\n")
    return 0
