"""``pyrunc run``: create + start, then (unless -d) forward signals, wait, delete, exit with the status."""
from .. import fastos as os

from .. import log
from ..create import create, load_config
from ..errors import Error
from ..foreground import Forwarder, wait_forwarding
from .start import start_container


def _bundle_and_id(opts, args) -> tuple[str, str]:
    """``pyrunc run bundle/``: a directory holding config.json is a bundle, never an ID."""
    if not args:
        raise Error('"run" requires a minimum of 1 argument\nusage: pyrunc run <container-id>')
    arg = args[0]
    # a path wins over --bundle; a bare name is a bundle only when no --bundle was given
    if arg not in (".", "..") and ("/" in arg or not opts.bundle) \
            and os.path.isfile(os.path.join(arg, "config.json")):
        bundle = os.path.abspath(arg)
        base = os.path.basename(bundle.rstrip("/")) or "container"
        return bundle, "".join(ch if ch.isalnum() or ch in "_+-." else "-" for ch in base)
    return opts.bundle or ".", arg


def run(gopts, opts, args) -> int:
    bundle, cid = _bundle_and_id(opts, args)
    bundle = os.path.abspath(bundle)
    loaded = load_config(bundle)  # read once, here and for create
    tty_pair = None
    if not opts.detach and not opts.console_socket and loaded[1]["process"].get("terminal"):
        tty_pair = _console_pair(opts)
    # installed before create (the forked init restores the defaults): no signal is lost or kills us
    fwd = None if opts.detach else Forwarder()
    created = create(gopts, cid, bundle, opts, for_run=True, loaded=loaded)
    c = created.container
    master = None
    try:
        if tty_pair is not None:
            master = _receive_master(tty_pair)
        start_container(c)
    except BaseException:
        from .delete import delete
        try:
            delete(gopts.root, cid, True)
        except Error:
            pass
        raise
    log.debug("started")
    if opts.detach:
        return 0
    status = wait_forwarding(fwd, created.pid, master)
    log.debug(f"container exited with {status}")
    if not opts.keep:
        from .delete import delete
        delete(gopts.root, cid, True)
    return status


def _console_pair(opts):
    """A foreground run with process.terminal: pyrunc itself receives the pty master."""
    import _socket
    a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    opts["console_conn"] = b
    return a


def _receive_master(sock) -> int:
    from .. import sync
    _tag, _payload, fds = sync.recv(sock)
    sock.close()
    if not fds:
        raise Error("console: no pty master received from the container")
    return fds[0]


