"""``pyctr run [OPTIONS] IMAGE [COMMAND] [ARG...]``: create + start, attached unless ``-d``.

Exits with the container's status; 125 when the engine fails, 126/127 when the command cannot be run
(docker's codes).
"""
from ..containers import lifecycle
from ..errors import EngineError
from .create import add_create_arguments, create_from_args

HELP = "Create and run a new container"


def add_arguments(p) -> None:
    p.add_argument("-d", "--detach", action="store_true", help="run in the background and print the ID")
    p.add_argument("--sig-proxy", default="true", choices=["true", "false"],
                   help="forward received signals to the container (not with -t)")
    add_create_arguments(p)


def run(ctx, args) -> int:
    c = create_from_args(ctx, args)
    try:
        if args.detach:
            lifecycle.start(ctx, c)
            print(c.id)
            return 0
        sock = lifecycle.start(ctx, c, {"stdin": args.interactive, "stdout": True, "stderr": True})
    except EngineError as e:
        if e.code == 1:
            e.code = 125
        raise
    return lifecycle.attach_session(c, sock, stdin=args.interactive, sig_proxy=args.sig_proxy == "true")
