"""vfs: every layer is a plain directory holding a full copy of its parent.

No mounts, works on any filesystem; the cost is paid at ``create`` (a whole-tree copy),
made cheap by reflinks where the host supports them (see :mod:`treecopy`).  Layout,
like moby's vfs driver::

    <home>/dir/<id>/      the layer's rootfs
    <home>/meta/<id>      JSON: parent, writable, create options

``get``/``put`` only count references in memory (nothing is mounted, as in docker's vfs).
"""
from __future__ import annotations

import json
import os
import shutil
import time
import uuid

from . import syscalls, treecopy
from .driver import Driver, DriverError, check_id
from .registry import register


@register
class VfsDriver(Driver):
    name = "vfs"
    whiteout_format = "delete"

    def __init__(self, home: str, options: dict[str, str] | None = None) -> None:
        super().__init__(home, options)
        for key in self.options:
            raise DriverError(f"vfs: unknown option {key!r}")
        os.makedirs(self._dir(), mode=0o700, exist_ok=True)
        os.makedirs(os.path.join(self.home, "meta"), mode=0o700, exist_ok=True)
        self.refs: dict[str, int] = {}
        self._reflink: bool | None = None

    @classmethod
    def probe(cls, home: str) -> str | None:
        if os.path.exists(home) and not os.path.isdir(home):
            return f"home {home} is not a directory"
        return None

    # ---- paths -------------------------------------------------------------------------
    def _dir(self, id: str | None = None) -> str:
        base = os.path.join(self.home, "dir")
        return base if id is None else os.path.join(base, check_id(id))

    def _meta_path(self, id: str) -> str:
        return os.path.join(self.home, "meta", check_id(id))

    def _read_meta(self, id: str) -> dict:
        try:
            with open(self._meta_path(id)) as f:
                return json.load(f)
        except FileNotFoundError:
            return {}

    # ---- proto driver ------------------------------------------------------------------
    def create(self, id: str, parent: str | None, writable: bool = False,
               opts: dict[str, str] | None = None) -> None:
        dst = self._dir(id)
        if os.path.lexists(dst):
            raise DriverError(f"vfs: layer {id} already exists")
        for key in opts or {}:
            if key == "size":
                raise DriverError(f"vfs: layer {id}: storage option 'size' needs xfs project quota (not supported)")
            raise DriverError(f"vfs: layer {id}: unknown storage option {key!r}")
        tmp = os.path.join(self._dir(), f".tmp-{id}-{uuid.uuid4().hex[:8]}")
        try:
            if parent is None:
                os.mkdir(tmp, 0o755)
            else:
                if not self.exists(parent):
                    raise DriverError(f"vfs: layer {id}: parent {parent} does not exist")
                stats = treecopy.copy_tree(self._dir(parent), tmp)
                if stats.reflink is not None:
                    self._reflink = stats.reflink
            meta = {"parent": parent, "writable": bool(writable)}
            with open(self._meta_path(id) + ".tmp", "w") as f:
                json.dump(meta, f)
            os.replace(self._meta_path(id) + ".tmp", self._meta_path(id))
            os.rename(tmp, dst)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def remove(self, id: str) -> None:
        path = self._dir(id)
        if not os.path.lexists(path):
            return  # like docker: removing a missing layer is not an error
        # rename first so a half-removed layer never looks like a layer
        trash = os.path.join(self._dir(), f".rm-{id}-{uuid.uuid4().hex[:8]}")
        os.rename(path, trash)
        shutil.rmtree(trash)
        for p in (self._meta_path(id),):
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
        self.refs.pop(id, None)

    def get(self, id: str) -> str:
        path = self._dir(id)
        if not os.path.isdir(path):
            raise DriverError(f"vfs: layer {id}: does not exist")
        self.refs[id] = self.refs.get(id, 0) + 1
        return path

    def put(self, id: str) -> None:
        check_id(id)
        n = self.refs.get(id, 0) - 1
        if n > 0:
            self.refs[id] = n
        else:
            self.refs.pop(id, None)

    def exists(self, id: str) -> bool:
        try:
            return os.path.isdir(self._dir(id))
        except DriverError:
            return False

    def parent(self, id: str) -> str | None:
        return self._read_meta(id).get("parent")

    def layers(self) -> list[str]:
        return sorted(n for n in os.listdir(self._dir()) if not n.startswith("."))

    def status(self) -> dict[str, str]:
        if self._reflink is None:
            self._reflink = treecopy.reflink_supported(self._dir())
        return {
            "Backing Filesystem": syscalls.fs_name(self.home) if syscalls.available() else "unknown",
            "Reflink Copies": str(self._reflink).lower(),
            "Extended file attributes": "best-effort",
            "Layers": str(len(self.layers())),
        }

    def metadata(self, id: str) -> dict[str, str]:
        if not self.exists(id):
            raise DriverError(f"vfs: layer {id}: does not exist")
        meta = self._read_meta(id)
        out = {"SourceDir": self._dir(id)}
        if meta.get("parent"):
            out["Parent"] = meta["parent"]
        return out

    def cleanup(self) -> None:
        """Nothing is mounted; drop reference counts and half-done copies."""
        self.refs.clear()
        for name in os.listdir(self._dir()):
            path = os.path.join(self._dir(), name)
            # .rm- trees were already renamed away; a .tmp- copy may belong to a create()
            # running in another process, so only stale ones (an hour old) are dropped
            stale = name.startswith(".tmp-") and time.time() - os.lstat(path).st_mtime > 3600
            if name.startswith(".rm-") or stale:
                shutil.rmtree(path, ignore_errors=True)
