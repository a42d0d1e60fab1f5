"""The ``pyctr`` command line: global flags, then one module per subcommand in ``shim/commands/``.

Each command module defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(ctx, args) -> int``.
argparse is fine here: the engine is not on the runtime's hot path.
"""
import argparse
import importlib
import sys

from .context import DEFAULT_ROOT, DEFAULT_STATE, Context
from .errors import EngineError

COMMANDS = ["pull", "images", "load", "rmi", "run", "create", "start", "stop", "kill", "ps", "attach", "exec",
            "logs", "inspect", "stats", "top", "rm", "info", "version", "pause", "unpause", "update", "wait", "cp",
            "volume"]


def _available() -> dict:
    mods = {}
    for name in COMMANDS:
        try:
            mods[name] = importlib.import_module(f"pyrunc.shim.commands.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"pyrunc.shim.commands.{name}":
                raise
    return mods


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="pyctr", description="A minimal container engine on an OCI runtime CLI")
    p.add_argument("--root", default=DEFAULT_ROOT, help=f"persistent data (default {DEFAULT_ROOT})")
    p.add_argument("--state", default=DEFAULT_STATE, help=f"runtime state (default {DEFAULT_STATE})")
    p.add_argument("--runtime", default="pyrunc", help="OCI runtime binary (pyrunc, runc, crun, or a path)")
    p.add_argument("--storage-driver", "-s", default=None, help="graph driver (default: probe)")
    p.add_argument("--storage-opt", action="append", default=[], help="driver option key=value")
    p.add_argument("--debug", action="store_true")
    sub = p.add_subparsers(dest="command", metavar="command")
    mods = _available()
    for name, mod in mods.items():
        sp = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(sp)
    args = p.parse_args(argv)
    if not args.command:
        p.print_help()
        sys.exit(1)
    opts = dict(o.split("=", 1) for o in args.storage_opt if "=" in o)
    ctx = Context(root=args.root, state=args.state, runtime=args.runtime, storage_driver=args.storage_driver,
                  storage_opts=opts, debug=args.debug)
    try:
        code = mods[args.command].run(ctx, args)
    except KeyboardInterrupt:
        code = 130
    except EngineError as e:
        print(f"Error: {e}", file=sys.stderr)
        code = getattr(e, "code", 1)
    sys.exit(code or 0)

