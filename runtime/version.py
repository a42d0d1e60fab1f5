"""``pyrunc --version`` in runc's shape (dockerd and go-runc parse these lines)."""
from . import fastos as os

from . import log

SPEC_VERSION = "1.3.0"


def _commit() -> str:
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        with open(os.path.join(here, "COMMIT")) as f:
            return f.read().strip()
    except OSError:
        return "unknown"


def print_version() -> None:
    from pyrunc import __version__
    try:
        from .seccomp import libseccomp_version
        seccomp = libseccomp_version()
    except Exception:  # seccomp support not built
        seccomp = "unavailable"
    log.out(f"pyrunc version {__version__}\ncommit: {_commit()}\nspec: {SPEC_VERSION}\nlibseccomp: {seccomp}\n")
