"""``pyrunc-graph``: drive a graph driver by hand (list drivers, create/mount/apply/diff layers).

Examples::

    pyrunc-graph drivers
    pyrunc-graph --driver overlay2 --home /tmp/g status
    pyrunc-graph --driver overlay2 --home /tmp/g create base
    pyrunc-graph --driver overlay2 --home /tmp/g apply base layer.tar.gz
    pyrunc-graph --driver overlay2 --home /tmp/g create ctr --parent base --writable
    pyrunc-graph --driver overlay2 --home /tmp/g get ctr      # prints the mounted rootfs
    pyrunc-graph --driver overlay2 --home /tmp/g diff ctr > ctr.tar

Deliberately independent of ``pyrunc.runtime`` so it starts fast and stays usable alone.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

from .driver import Driver, DriverError
from . import registry

DEFAULT_ROOT = "/var/lib/pyrunc/graph"


def _kv(items: list[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise DriverError(f"option {item!r} is not KEY=VALUE")
        out[key] = value
    return out


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pyrunc-graph", description="Inspect and drive pyrunc graph drivers.")
    p.add_argument("--driver", "-s", help="driver name (default: prior state in --root, else first usable)")
    p.add_argument("--home", help=f"driver directory (default: {DEFAULT_ROOT}/<driver>)")
    p.add_argument("--root", default=DEFAULT_ROOT, help="parent of the per-driver homes")
    p.add_argument("--opt", "-o", action="append", metavar="KEY=VALUE", help="driver option, e.g. overlay2.volatile=true")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("drivers", help="list drivers and whether they can run here")
    sub.add_parser("status", help="driver status (like docker info)")
    sub.add_parser("ls", help="list layers")
    c = sub.add_parser("create", help="create a layer")
    c.add_argument("id")
    c.add_argument("--parent")
    c.add_argument("--writable", action="store_true")
    c.add_argument("--storage-opt", action="append", metavar="KEY=VALUE", help="per-layer option (volatile, metacopy)")
    for name, help in (("get", "mount a layer and print its path"), ("put", "release one mount reference"),
                       ("rm", "remove a layer"), ("metadata", "layer metadata"), ("exists", "exit 0 if the layer exists")):
        sp = sub.add_parser(name, help=help)
        sp.add_argument("id")
    a = sub.add_parser("apply", help="apply a layer tar (plain/gzip/zstd; '-' = stdin)")
    a.add_argument("id")
    a.add_argument("file")
    a.add_argument("--parent")
    for name, help in (("diff", "write the layer's OCI diff tar"), ("changes", "list changed paths"),
                       ("diff-size", "bytes of changed files")):
        sp = sub.add_parser(name, help=help)
        sp.add_argument("id")
        sp.add_argument("--parent", help="compare against this layer (default: the layer's parent)")
        if name == "diff":
            sp.add_argument("--output", "-O", help="file to write (default stdout)")
    sub.add_parser("cleanup", help="unmount everything the driver mounted")
    return p


def _open(args) -> Driver:
    opts = _kv(args.opt)
    if args.driver:
        home = args.home or os.path.join(args.root, args.driver)
        return registry.get_driver(args.driver, home, opts)
    if args.home:
        return registry.get_driver(None, args.home, opts)
    prior = [n for n in registry.DRIVERS if os.path.isdir(os.path.join(args.root, n))]
    if len(prior) > 1:
        raise DriverError(f"{args.root} holds state of several drivers ({', '.join(prior)}); pick one with --driver")
    if prior:
        return registry.get_driver(prior[0], os.path.join(args.root, prior[0]), opts)
    for name, cls in registry.DRIVERS.items():
        if cls.probe(os.path.join(args.root, name)) is None:
            return cls(os.path.join(args.root, name), opts)
    raise DriverError("no graph driver can run on this host (see `pyrunc-graph drivers`)")


def _print_map(data: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        for key, value in data.items():
            print(f"{key}: {value}")


def _parent(d: Driver, args) -> str | None:
    return args.parent if args.parent is not None else d.parent(args.id)


def run(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.cmd == "drivers":
        rows = {}
        for name, cls in registry.DRIVERS.items():
            why = cls.probe(args.home or os.path.join(args.root, name))
            rows[name] = "usable" if why is None else f"unusable: {why}"
        _print_map(rows, args.json)
        return 0
    d = _open(args)
    cmd = args.cmd
    if cmd == "status":
        _print_map({"Storage Driver": d.name, "Home": d.home, **d.status()}, args.json)
    elif cmd == "ls":
        rows = [{"id": i, "parent": d.parent(i)} for i in d.layers()]
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            for r in rows:
                print(f"{r['id']}\t{r['parent'] or '-'}")
    elif cmd == "create":
        d.create(args.id, args.parent, args.writable, _kv(args.storage_opt))
    elif cmd == "get":
        print(d.get(args.id))
    elif cmd == "put":
        d.put(args.id)
    elif cmd == "rm":
        d.remove(args.id)
    elif cmd == "exists":
        return 0 if d.exists(args.id) else 1
    elif cmd == "metadata":
        _print_map(d.metadata(args.id), args.json)
    elif cmd == "apply":
        parent = _parent(d, args)
        if args.file == "-":
            n = d.apply_diff(args.id, parent, sys.stdin.buffer)
        else:
            with open(args.file, "rb") as f:
                n = d.apply_diff(args.id, parent, f)
        print(n)
    elif cmd == "diff":
        with d.diff(args.id, _parent(d, args)) as src:
            if args.output:
                with open(args.output, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
            else:
                shutil.copyfileobj(src, sys.stdout.buffer, 1 << 20)
                sys.stdout.buffer.flush()
    elif cmd == "changes":
        changes = d.changes(args.id, _parent(d, args))
        if args.json:
            print(json.dumps([{"path": c.path, "kind": c.kind} for c in changes], indent=2))
        else:
            for c in changes:
                print(f"{c.kind} {c.path}")
    elif cmd == "diff-size":
        print(d.diff_size(args.id, _parent(d, args)))
    elif cmd == "cleanup":
        d.cleanup()
    return 0


def main(argv: list[str] | None = None) -> None:
    try:
        code = run(argv)
    except DriverError as e:
        print(f"pyrunc-graph: {e}", file=sys.stderr)
        code = 1
    except BrokenPipeError:
        code = 1
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)
