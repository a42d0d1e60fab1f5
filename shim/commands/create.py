"""``pyctr create [OPTIONS] IMAGE [COMMAND] [ARG...]``: make a container (metadata + writable layer) without
starting it; prints its ID. The options are shared with ``run``."""
import argparse
import os

from ..containers import lifecycle
from ..errors import EngineError

HELP = "Create a new container"


def add_create_arguments(p) -> None:
    a = p.add_argument
    a("--name", help="assign a name to the container")
    a("-e", "--env", action="append", default=[], help="set an environment variable (KEY=VALUE, or KEY to copy ours)")
    a("-w", "--workdir", help="working directory inside the container")
    a("-u", "--user", help="user[:group] or uid[:gid]")
    a("-t", "--tty", action="store_true", help="allocate a pseudo-TTY")
    a("-i", "--interactive", action="store_true", help="keep STDIN open")
    a("--rm", action="store_true", help="remove the container when it exits")
    a("--read-only", action="store_true", help="mount the container's root filesystem read-only")
    a("--cap-add", action="append", default=[], help="add a Linux capability")
    a("--cap-drop", action="append", default=[], help="drop a Linux capability")
    a("-m", "--memory", help="memory limit (e.g. 64m)")
    a("--memory-swap", help="memory + swap limit (-1: unlimited; default twice --memory where swap is accounted)")
    a("--cpus", help="number of CPUs (CFS quota)")
    a("-c", "--cpu-shares", type=int, help="CPU shares (relative weight)")
    a("--pids-limit", type=int, help="maximum number of processes")
    a("-v", "--volume", action="append", default=[], help="bind mount /host/path:/container/path[:ro]")
    a("--tmpfs", action="append", default=[], help="mount a tmpfs: /path[:options]")
    a("-p", "--publish", action="append", default=[],
      help="publish a container's TCP port on the bridge network: [HOST_IP:]HOST_PORT:CONTAINER_PORT")
    a("--network", "--net", default="none", help="none (default: only loopback), bridge (eth0 on pyctr0) or host")
    a("--hostname", help="container host name (default: the short ID)")
    a("--entrypoint", help="overwrite the image's ENTRYPOINT")
    a("--ulimit", action="append", default=[], help="ulimit, e.g. nofile=1024:2048")
    a("-l", "--label", action="append", default=[], help="set a label KEY=VALUE")
    a("--cidfile", help="write the container ID to this file")
    a("--privileged", action="store_true",
      help="every capability, every host device, no seccomp, no masked or read-only paths, /sys writable")
    a("--security-opt", action="append", default=[],
      help="seccomp=unconfined|PROFILE.json, no-new-privileges (docker's default seccomp profile otherwise)")
    a("--pull", default="missing", choices=["missing", "never", "always"], help="pull the image before creating")
    a("image", help="image reference or ID")
    a("cmd", metavar="COMMAND", nargs=argparse.REMAINDER, help="command and arguments")


def add_arguments(p) -> None:
    add_create_arguments(p)


def create_from_args(ctx, args):
    labels = dict(kv.split("=", 1) if "=" in kv else (kv, "") for kv in args.label)
    if args.cidfile and os.path.exists(args.cidfile):
        raise EngineError(f"Container ID file found, make sure the other container isn't running or delete "
                          f"{args.cidfile}", 125)
    try:
        c = lifecycle.create(
            ctx, args.image, name=args.name, cmd=args.cmd, entrypoint=args.entrypoint, env=args.env,
            workdir=args.workdir, user=args.user, tty=args.tty, interactive=args.interactive,
            hostname=args.hostname, labels=labels, binds=args.volume, tmpfs=args.tmpfs, read_only=args.read_only,
            cap_add=args.cap_add, cap_drop=args.cap_drop, memory=args.memory, memory_swap=args.memory_swap,
            cpus=args.cpus, cpu_shares=args.cpu_shares, pids_limit=args.pids_limit, network=args.network,
            auto_remove=args.rm, ulimits=args.ulimit, pull=args.pull, security_opt=args.security_opt,
            privileged=args.privileged, publish=args.publish)
    except EngineError as e:
        if e.code == 1:
            e.code = 125  # docker: errors before the container runs exit 125
        raise
    if args.cidfile:
        with open(args.cidfile, "w") as f:
            f.write(c.id)
    return c


def run(ctx, args) -> int:
    c = create_from_args(ctx, args)
    print(c.id)
    return 0
