"""``os`` for the runtime's hot path, without importing ``os``.

Under ``python3 -I -S`` the interpreter starts without ``os``; importing it costs ~1.2 ms here
(it builds ``_collections_abc``'s ABCs and a decoded ``environ``), paid by every ``pyrunc``
invocation. The runtime's modules import this instead, as ``from . import fastos as os``: the
functions and constants are the ``posix`` ones that ``os`` re-exports (the same objects), plus the
few helpers below, with the same semantics for the ways the runtime calls them. Nothing here
imports ``os``; code that needs more (``subprocess``, the engine) imports the real one.
"""
from posix import *  # noqa: F401,F403  (open, read, write, stat, fork, O_*, W*, ...)
from posix import _exit, environ as _environb  # noqa: F401  (not exported by the star)

del environ  # noqa: F821  posix's is bytes -> bytes; getenv() below decodes like os.environ
from posix import lstat as _lstat
from posix import stat as _stat_fn
from _stat import S_ISDIR as _S_ISDIR
from _stat import S_ISREG as _S_ISREG

SEEK_SET, SEEK_CUR, SEEK_END = 0, 1, 2


def getenv(name: str, default: str | None = None) -> str | None:
    v = _environb.get(name.encode())
    return default if v is None else v.decode(errors="surrogateescape")


def makedirs(name: str, mode: int = 0o777, exist_ok: bool = False) -> None:
    """os.makedirs: create missing parents (with ``mode``), then ``name``."""
    head = name.rstrip("/").rpartition("/")[0]
    if head and not path.exists(head):
        makedirs(head, mode, exist_ok=True)
    try:
        mkdir(name, mode)  # noqa: F405
    except FileExistsError:
        if not (exist_ok and path.isdir(name)):
            raise


class path:
    """The os.path functions the runtime uses (POSIX only)."""

    @staticmethod
    def exists(p) -> bool:
        try:
            _stat_fn(p)
        except (OSError, ValueError):
            return False
        return True

    @staticmethod
    def isdir(p) -> bool:
        try:
            return _S_ISDIR(_stat_fn(p).st_mode)
        except (OSError, ValueError):
            return False

    @staticmethod
    def isfile(p) -> bool:
        try:
            return _S_ISREG(_stat_fn(p).st_mode)
        except (OSError, ValueError):
            return False

    @staticmethod
    def islink(p) -> bool:
        try:
            return (_lstat(p).st_mode & 0o170000) == 0o120000
        except (OSError, ValueError):
            return False

    @staticmethod
    def join(a: str, *parts: str) -> str:
        out = a
        for b in parts:
            if b.startswith("/"):
                out = b
            elif not out or out.endswith("/"):
                out += b
            else:
                out += "/" + b
        return out

    @staticmethod
    def basename(p: str) -> str:
        return p.rpartition("/")[2]

    @staticmethod
    def dirname(p: str) -> str:
        head = p.rpartition("/")[0] + ("/" if "/" in p else "")
        if head and head != "/" * len(head):
            head = head.rstrip("/")
        return head

    @staticmethod
    def normpath(p: str) -> str:
        if not p:
            return "."
        initial = 2 if p.startswith("//") and not p.startswith("///") else 1 if p.startswith("/") else 0
        comps: list[str] = []
        for c in p.split("/"):
            if c in ("", "."):
                continue
            if c != ".." or (not initial and not comps) or (comps and comps[-1] == ".."):
                comps.append(c)
            elif comps:
                comps.pop()
        out = "/".join(comps)
        return ("/" * initial + out) or "."

    @staticmethod
    def abspath(p: str) -> str:
        if not p.startswith("/"):
            p = path.join(getcwd(), p)  # noqa: F405
        return path.normpath(p)

    @staticmethod
    def realpath(p: str) -> str:
        """Every symlink resolved by the kernel (the path must exist, as the runtime's do)."""
        fd = open(p, O_PATH | O_CLOEXEC)  # noqa: F405
        try:
            return readlink(f"/proc/self/fd/{fd}")  # noqa: F405
        finally:
            close(fd)  # noqa: F405
