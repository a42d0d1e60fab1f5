"""``pyctr volume create|ls|inspect|rm``: named volumes of the ``local`` driver (see containers/volumes.py)."""
import json
import sys
import uuid

from ..containers.volumes import VolumeStore
from ..errors import EngineError
from ..format import table

HELP = "Manage volumes"


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="action", metavar="action")
    c = sub.add_parser("create", help="create a volume")
    c.add_argument("name", nargs="?", default=None, metavar="VOLUME")
    c.add_argument("--label", action="append", default=[], help="set metadata KEY=VALUE")
    ls = sub.add_parser("ls", help="list volumes")
    ls.add_argument("-q", "--quiet", action="store_true", help="only volume names")
    i = sub.add_parser("inspect", help="display detailed information on volumes")
    i.add_argument("names", nargs="+", metavar="VOLUME")
    r = sub.add_parser("rm", help="remove volumes (not while a container uses them)")
    r.add_argument("-f", "--force", action="store_true", help="no error for a missing volume")
    r.add_argument("names", nargs="+", metavar="VOLUME")


def run(ctx, args) -> int:
    store = VolumeStore(ctx)
    if args.action == "create":
        name = args.name or uuid.uuid4().hex + uuid.uuid4().hex  # docker: 64 hex characters
        labels = dict(kv.split("=", 1) if "=" in kv else (kv, "") for kv in args.label)
        store.create(name, labels)
        print(name)
        return 0
    if args.action == "ls":
        names = store.names()
        if args.quiet:
            for n in names:
                print(n)
        else:
            print(table(["DRIVER", "VOLUME NAME"], [["local", n] for n in names]))
        return 0
    if args.action == "inspect":
        out, code = [], 0
        for n in args.names:
            try:
                out.append(store.inspect(n))
            except EngineError as e:
                print(f"Error: {e}", file=sys.stderr)
                code = 1
        print(json.dumps(out, indent=4))
        return code
    if args.action == "rm":
        code = 0
        for n in args.names:
            try:
                store.remove(n)
                print(n)
            except EngineError as e:
                if args.force and "no such volume" in str(e):
                    continue
                print(f"Error: {e}", file=sys.stderr)
                code = 1
        return code
    raise EngineError("usage: pyctr volume create|ls|inspect|rm")
