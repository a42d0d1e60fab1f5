"""``pyctr ps [-a] [-q] [--no-trunc]``: running containers (all with -a), newest first, docker's columns."""
import time

from ..format import human_duration, table
from ..containers.lifecycle import status_text
from ..containers.store import ContainerStore, parse_time

HELP = "List containers"


def add_arguments(p) -> None:
    p.add_argument("-a", "--all", action="store_true", help="show all containers (default: running ones)")
    p.add_argument("-q", "--quiet", action="store_true", help="only IDs")
    p.add_argument("--no-trunc", action="store_true", help="do not truncate IDs and commands")


def _command(c, trunc: bool) -> str:
    cmd = " ".join([c.config.get("Path", "")] + list(c.config.get("Args") or []))
    if trunc and len(cmd) > 20:
        cmd = cmd[:19] + "…"
    return f'"{cmd}"'


def _ports(c) -> str:
    """docker's PORTS column: ``0.0.0.0:8080->80/tcp, ...``."""
    bindings = c.config.get("HostConfig", {}).get("PortBindings") or {}
    return ", ".join(f"{b['HostIp'] or '0.0.0.0'}:{b['HostPort']}->{port}" for port, bs in sorted(bindings.items())
                     for b in bs)


def run(ctx, args) -> int:
    containers = ContainerStore(ctx).list()
    if not args.all:
        containers = [c for c in containers if c.running()]
    containers.sort(key=lambda c: c.config.get("Created", ""), reverse=True)
    if args.quiet:
        for c in containers:
            print(c.id if args.no_trunc else c.id[:12])
        return 0
    clock = time.time()
    rows = []
    for c in containers:
        created = parse_time(c.config.get("Created")) or clock
        rows.append([c.id if args.no_trunc else c.id[:12], c.config.get("ImageRef", ""),
                     _command(c, not args.no_trunc), f"{human_duration(clock - created)} ago",
                     status_text(c, clock), _ports(c) if c.running() else "", c.name])
    print(table(["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"], rows))
    return 0
