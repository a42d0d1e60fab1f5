"""The graph-driver contract (modelled on moby's ``graphdriver.Driver``) and shared helpers.

A driver stores layers under ``home`` (the driver's own directory, like docker's
``<data-root>/<driver>``).  Every layer has a string id; image layers are read-only once
a child exists, container layers are created with ``writable=True``.

The diff half of the interface (``apply_diff``/``diff``/``changes``/``diff_size``) has a
"naive" default here that works for any driver able to ``get`` a layer as a directory:
it mounts the layer (and its parent), compares trees and exports/applies OCI tars with
:mod:`pyrunc.graphdriver.archive`.  Drivers with a cheaper native way override them.
"""
from __future__ import annotations

import abc
import contextlib
import fcntl
import os
import re
import tempfile
from dataclasses import dataclass
from typing import BinaryIO, Iterator


class DriverError(Exception):
    """A graph-driver operation failed; the one-line message names the layer or option."""


class NotSupported(DriverError):
    """The driver cannot run on this host; the message says why."""


@dataclass
class Change:
    """One changed path between a layer and its parent (like docker's ``archive.Change``)."""

    path: str  # absolute inside the layer, e.g. "/etc/passwd"
    kind: str  # "A" added, "C" changed, "D" deleted

    def __str__(self) -> str:
        return f"{self.kind} {self.path}"


_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def check_id(id: str) -> str:
    """Reject ids that could escape ``home`` or collide with the driver's own files."""
    if not isinstance(id, str) or not _ID_RE.match(id) or id in (".", ".."):
        raise DriverError(f"invalid layer id {id!r}: use 1-128 of [A-Za-z0-9_.-], not starting with . - _")
    return id


def bool_opt(value: str | None, default: bool = False) -> bool:
    """Parse a storage option flag ("true"/"1"/"yes"/"on")."""
    if value is None or value == "":
        return default
    v = value.strip().lower()
    if v in ("1", "true", "yes", "on", "y"):
        return True
    if v in ("0", "false", "no", "off", "n"):
        return False
    raise DriverError(f"invalid boolean option value {value!r}")


class RefCounts:
    """Mount reference counts kept on disk so they survive across processes (e.g. CLI calls).

    ``with refs.locked(): n = refs.get(id); refs.set(id, n + 1)`` — the flock serialises
    get/put of concurrent processes on the same ``home``.
    """

    def __init__(self, dir: str) -> None:
        self.dir = dir
        os.makedirs(dir, mode=0o700, exist_ok=True)
        self._depth = 0
        self._fd = -1

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        if self._depth == 0:
            self._fd = os.open(os.path.join(self.dir, ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                os.close(self._fd)  # closing releases the flock
                self._fd = -1

    def get(self, id: str) -> int:
        try:
            with open(os.path.join(self.dir, id)) as f:
                return int(f.read().strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def set(self, id: str, n: int) -> None:
        path = os.path.join(self.dir, id)
        if n <= 0:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            return
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            f.write(str(n))
        os.replace(tmp, path)

    def all(self) -> dict[str, int]:
        out = {}
        for name in os.listdir(self.dir):
            if not name.startswith(".") and not name.endswith(".tmp"):
                out[name] = self.get(name)
        return out


def spool(write, prefix: str = "pyrunc-diff-") -> BinaryIO:
    """Run ``write(file)`` into an anonymous temp file and return it rewound (closed on failure)."""
    out = tempfile.TemporaryFile(prefix=prefix)
    try:
        write(out)
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out


class Driver(abc.ABC):
    """Base class of every graph driver (see module docstring)."""

    name: str = ""
    #: how this driver stores deletions when a layer tar is applied: "overlay" or "delete"
    whiteout_format: str = "delete"

    def __init__(self, home: str, options: dict[str, str] | None = None) -> None:
        self.home = os.path.abspath(home)
        self.options = dict(options or {})
        os.makedirs(self.home, mode=0o710, exist_ok=True)

    # ---- host check -------------------------------------------------------------------
    @classmethod
    def probe(cls, home: str) -> str | None:
        """None if the driver can run here with ``home``, else a one-line reason."""
        return None

    # ---- proto driver -----------------------------------------------------------------
    @abc.abstractmethod
    def create(self, id: str, parent: str | None, writable: bool = False,
               opts: dict[str, str] | None = None) -> None: ...

    @abc.abstractmethod
    def remove(self, id: str) -> None:
        """Delete the layer (unmounting it first); a missing layer is not an error (like docker)."""

    @abc.abstractmethod
    def get(self, id: str) -> str:
        """Mount if needed and return the layer's rootfs path; reference counted."""

    @abc.abstractmethod
    def put(self, id: str) -> None:
        """Drop one reference; unmount when it reaches zero."""

    @abc.abstractmethod
    def exists(self, id: str) -> bool: ...

    @abc.abstractmethod
    def status(self) -> dict[str, str]: ...

    @abc.abstractmethod
    def metadata(self, id: str) -> dict[str, str]: ...

    @abc.abstractmethod
    def cleanup(self) -> None:
        """Unmount everything, detach loop devices; idempotent."""

    def parent(self, id: str) -> str | None:
        """The id this layer was created on (None for a base layer); drivers override."""
        return None

    def layers(self) -> list[str]:
        """Ids of all layers in ``home``; drivers override."""
        return []

    # ---- naive diff driver (moby's NaiveDiffDriver) -----------------------------------
    def _require(self, id: str) -> None:
        if not self.exists(id):
            raise DriverError(f"layer {id}: does not exist")

    @contextlib.contextmanager
    def _mounted(self, id: str | None) -> Iterator[str | None]:
        if id is None:
            yield None
            return
        path = self.get(id)
        try:
            yield path
        finally:
            self.put(id)

    def apply_diff(self, id: str, parent: str | None, stream: BinaryIO) -> int:
        """Untar a (plain/gzip/zstd) layer into ``id``; returns the bytes applied."""
        from . import archive

        self._require(id)
        with self._mounted(id) as root:
            return archive.apply_layer(archive.open_layer(stream), root, self.whiteout_format)

    def changes(self, id: str, parent: str | None) -> list[Change]:
        from . import archive

        self._require(id)
        with self._mounted(id) as root, self._mounted(parent) as proot:
            return archive.compute_changes(root, proot)

    def diff(self, id: str, parent: str | None) -> BinaryIO:
        """An uncompressed OCI layer tar of ``id`` relative to ``parent``, positioned at 0."""
        from . import archive

        self._require(id)

        def write(out: BinaryIO) -> None:
            with self._mounted(id) as root, self._mounted(parent) as proot:
                archive.export_diff(root, archive.compute_changes(root, proot), out)
        return spool(write)

    def diff_size(self, id: str, parent: str | None) -> int:
        """Bytes of regular-file content added or changed in ``id`` relative to ``parent``."""
        from . import archive

        self._require(id)
        with self._mounted(id) as root, self._mounted(parent) as proot:
            return archive.changes_size(root, archive.compute_changes(root, proot))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} home={self.home}>"
