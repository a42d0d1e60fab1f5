"""``pyctr version``: the engine's and the runtime's versions."""
import subprocess

from pyrunc import __version__

HELP = "Show the pyctr version and the runtime's"


def add_arguments(p) -> None:
    pass


def run(ctx, args) -> int:
    print(f"pyctr version {__version__}")
    out = subprocess.run([ctx.runtime_path, "--version"], capture_output=True, text=True)
    print(f"runtime: {ctx.runtime_path}")
    for line in out.stdout.splitlines():
        print(f"  {line}")
    return 0
