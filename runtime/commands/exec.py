"""``pyrunc exec [flags] ID [CMD ARGS...]``: run one more process in a container."""
from .. import state
from ..create import container_config
from ..exec import exec_process, load_process
from ..foreground import Forwarder, wait_forwarding
from . import need_id


def run(gopts, opts, args) -> int:
    cid = need_id(args, "exec", "<container-id> <command> [command options]")
    c = state.load(gopts.root, cid)
    cfg = container_config(c)
    proc = load_process(opts, args[1:], cfg["process"])
    detach = bool(opts.detach)
    # installed before the fork so that no signal is lost; the forked process restores the defaults
    fwd = None if detach else Forwarder()
    pid, master = exec_process(c, proc, opts, detach, cfg.get("linux", {}).get("seccomp"))
    if opts.pid_file:
        state.write_pid_file(opts.pid_file, pid)
    if detach:
        return 0
    return wait_forwarding(fwd, pid, master)
