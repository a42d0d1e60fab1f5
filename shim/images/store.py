"""The image store: image records, name → image references, and their layers in the graph driver.

On disk, per graph driver (like docker's ``image/<driver>/``), under ``ctx.images_dir/<driver>/``:

- ``images/<id hex>.json``   one record per image (config JSON, layer ChainIDs, size, manifest digest)
- ``blobs/sha256/<hex>``     the exact config bytes (their digest is the image ID)
- ``repositories.json``      ``{"refs": {"localhost/busybox:latest": "sha256:<id>", "x@sha256:..": ...}}``
- ``layers/<chain hex>.json`` registered layers (see ``layers.py``); the layers themselves live in the driver
- ``tmp/``                   downloads in progress; ``.lock`` serialises every change (flock)

Every file is replaced atomically, so readers (``get``, ``list``) take no lock.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Callable, Iterator

from ..errors import EngineError
from ..format import flocked, write_json
from . import digest as dg
from . import reference
from .layers import LayerInfo, LayerStore

_ID_RE = re.compile(r"^(?:sha256:)?([a-f0-9]{64})$")
_PREFIX_RE = re.compile(r"^(?:sha256:)?([a-f0-9]{1,63})$")

Progress = Callable[[str], None]


@dataclass
class Image:
    """One image; see engine.md for the contract fields (id, names, config, layers, top_layer, created, size)."""

    id: str                                    # sha256:<config digest hex>
    names: list[str]                           # tags, normalized: ["docker.io/library/busybox:latest"]
    config: dict                               # the whole OCI image config document
    layers: list[str]                          # graph-driver layer ids (ChainID hex), bottom -> top
    created: str = ""
    size: int = 0
    digests: list[str] = field(default_factory=list)   # repo digests: ["docker.io/library/busybox@sha256:..."]
    diff_ids: list[str] = field(default_factory=list)
    manifest_digest: str = ""

    @property
    def top_layer(self) -> str | None:
        return self.layers[-1] if self.layers else None

    @property
    def short_id(self) -> str:
        return dg.hex_of(self.id)[:12]

    @property
    def run_config(self) -> dict:
        """``config.config`` (Env, Cmd, Entrypoint, WorkingDir, User, ...), never None."""
        return self.config.get("config") or {}

    @property
    def platform(self) -> str:
        c = self.config
        return "/".join(p for p in (c.get("os", ""), c.get("architecture", ""), c.get("variant", "")) if p)


class ImageStore:
    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self._driver = None
        self._layers: LayerStore | None = None
        self._dir: str | None = None

    # ---- paths and plumbing ------------------------------------------------------------
    @property
    def driver(self):
        if self._driver is None:
            self._driver = self.ctx.driver()
        return self._driver

    @property
    def dir(self) -> str:
        if self._dir is None:
            d = os.path.join(self.ctx.images_dir, self.driver.name)
            for sub in ("images", "blobs/sha256", "layers", "tmp"):
                os.makedirs(os.path.join(d, sub), 0o700, exist_ok=True)
            self._dir = d
        return self._dir

    @property
    def layers(self) -> LayerStore:
        if self._layers is None:
            self._layers = LayerStore(self.driver, os.path.join(self.dir, "layers"))
        return self._layers

    def lock(self):
        """Exclusive lock on the store for one change (pull, load, remove); not re-entrant across stores."""
        return flocked(self.dir)

    @contextlib.contextmanager
    def tempdir(self) -> Iterator[str]:
        """A private scratch dir on the store's filesystem, removed afterwards whatever happens.

        Call it with the lock held: any other scratch dir then belongs to a process that died, and goes."""
        base = os.path.join(self.dir, "tmp")
        for stale in os.listdir(base):
            shutil.rmtree(os.path.join(base, stale), ignore_errors=True)
        d = tempfile.mkdtemp(prefix="op-", dir=base)
        try:
            yield d
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def _refs(self) -> dict[str, str]:
        try:
            with open(os.path.join(self.dir, "repositories.json")) as f:
                return dict(json.load(f).get("refs", {}))
        except FileNotFoundError:
            return {}
        except ValueError as e:
            raise EngineError(f"image store {self.dir}: corrupt repositories.json: {e}") from None

    def _save_refs(self, refs: dict[str, str]) -> None:
        write_json(os.path.join(self.dir, "repositories.json"), {"refs": refs})

    def _record_path(self, image_id: str) -> str:
        return os.path.join(self.dir, "images", dg.hex_of(image_id) + ".json")

    def _ids(self) -> list[str]:
        return ["sha256:" + n[:-5] for n in os.listdir(os.path.join(self.dir, "images")) if n.endswith(".json")]

    def _load(self, image_id: str, refs: dict[str, str] | None = None) -> Image | None:
        try:
            with open(self._record_path(image_id)) as f:
                rec = json.load(f)
        except FileNotFoundError:
            return None
        refs = self._refs() if refs is None else refs
        mine = [r for r, i in refs.items() if i == image_id]
        return Image(id=rec["id"], names=[r for r in mine if "@" not in r], config=rec["config"],
                     layers=list(rec["layers"]), created=rec.get("created", ""), size=int(rec.get("size", 0)),
                     digests=[r for r in mine if "@" in r], diff_ids=list(rec.get("diff_ids", [])),
                     manifest_digest=rec.get("manifest_digest", ""))

    # ---- lookup --------------------------------------------------------------------------
    def list(self) -> list[Image]:
        """Every image, newest first (docker's order)."""
        refs = self._refs()
        out = [img for i in self._ids() if (img := self._load(i, refs)) is not None]
        out.sort(key=lambda im: (im.created, im.id), reverse=True)
        return out

    def resolve(self, ref_or_id: str) -> tuple[Image, str | None]:
        """(image, the normalized reference that matched, or None when matched by ID)."""
        s = ref_or_id.strip()
        refs = self._refs()
        m = _ID_RE.match(s)
        if m:
            img = self._load("sha256:" + m.group(1), refs)
            if img is not None:
                return img, None
        parse_error = None
        try:
            r = reference.parse(s)
        except reference.ReferenceError as e:
            parse_error, r = e, None
        if r is not None:
            for cand in self._candidates(s, r):
                if cand in refs:
                    img = self._load(refs[cand], refs)
                    if img is not None:
                        return img, cand
        m = _PREFIX_RE.match(s)
        if m:
            hits = [i for i in self._ids() if dg.hex_of(i).startswith(m.group(1))]
            if len(hits) > 1:
                raise EngineError(f"{s}: image ID prefix is ambiguous ({len(hits)} images)")
            if hits and (img := self._load(hits[0], refs)) is not None:
                return img, None
        if parse_error is not None and not m:
            raise EngineError(str(parse_error))
        raise EngineError(f"No such image: {ref_or_id}")

    @staticmethod
    def _candidates(raw: str, r: reference.Reference) -> list[str]:
        """``busybox`` → docker.io/library/busybox:latest, then (podman-style) localhost/busybox:latest."""
        key = r.with_digest(r.digest) if r.digest else r.tagged()
        out = [str(key)]
        if not reference.has_explicit_domain(raw) and r.domain == reference.DEFAULT_DOMAIN:
            local = reference.Reference("localhost", r.familiar_name, key.tag, key.digest)
            out.append(str(local))
        return out

    def get(self, ref_or_id: str) -> Image:
        return self.resolve(ref_or_id)[0]

    def exists(self, ref_or_id: str) -> bool:
        try:
            self.get(ref_or_id)
            return True
        except EngineError:
            return False

    # ---- adding --------------------------------------------------------------------------
    def add_layers(self, diff_ids: list[str], opener: Callable[[int], Callable], created: list[str],
                   progress: Callable[[int, str], None] | None = None) -> list[LayerInfo]:
        """Register the layer stack for ``diff_ids`` (caller holds the lock); new layer ids go to ``created``.

        ``opener(i)`` returns a zero-argument callable that opens layer i's (compressed) blob.
        """
        infos: list[LayerInfo] = []
        parent = None
        for i, chain in enumerate(dg.chain_ids(diff_ids)):
            if self.layers.has(dg.hex_of(chain)):
                info = self.layers.info(dg.hex_of(chain))
                assert info is not None
                if progress:
                    progress(i, "Already exists")
            else:
                info, made = self.layers.register(chain, parent, diff_ids[i], opener(i))
                if made:
                    created.append(info.id)
                    if progress:
                        progress(i, "Pull complete")
            infos.append(info)
            parent = info.id
        return infos

    def commit(self, config_bytes: bytes, config: dict, infos: list[LayerInfo], manifest_digest: str,
               names: list[str], digests: list[str]) -> Image:
        """Write the image record and point ``names``/``digests`` at it (caller holds the lock)."""
        image_id = dg.of_bytes(config_bytes)
        blob = os.path.join(self.dir, "blobs", "sha256", dg.hex_of(image_id))
        if not os.path.exists(blob):
            with open(blob + ".tmp", "wb") as f:
                f.write(config_bytes)
            os.replace(blob + ".tmp", blob)
        rec = {"id": image_id, "config": config, "layers": [i.id for i in infos],
               "diff_ids": [i.diff_id for i in infos], "created": config.get("created") or "",
               "size": sum(i.size for i in infos), "manifest_digest": manifest_digest}
        write_json(self._record_path(image_id), rec)
        refs = self._refs()
        for n in [*names, *digests]:
            refs[n] = image_id
        self._save_refs(refs)
        img = self._load(image_id, refs)
        assert img is not None
        return img

    def rollback(self, created: list[str]) -> None:
        """Remove layers made by a failed pull/load that no image references (caller holds the lock)."""
        with contextlib.suppress(Exception):
            self._prune(created)

    def pull(self, ref: str, platform: str | None = None, insecure: bool = False, *,
             authfile: str | None = None, progress: Progress | None = None) -> Image:
        """Pull ``ref`` from its registry (see ``puller.py``)."""
        from .puller import pull
        return pull(self, ref, platform=platform, insecure=insecure, authfile=authfile, progress=progress)

    def load(self, path: str, progress: Progress | None = None) -> list[Image]:
        """Import an oci-archive tar, a docker-archive tar (``docker save``) or an OCI layout directory."""
        from .oci import load
        return load(self, path, progress=progress)

    # ---- removing ------------------------------------------------------------------------
    def _used_layers(self) -> set[str]:
        used: set[str] = set()
        for i in self._ids():
            img = self._load(i, {})
            if img is not None:
                used.update(img.layers)
        return used

    def users(self, image: Image) -> list[str]:
        """Graph-driver layers stacked on the image's top layer that are not image layers: containers."""
        if not image.top_layer:
            return []
        registered = set(self.layers.ids())
        return sorted(c for c in self.layers.children().get(image.top_layer, []) if c not in registered)

    def remove(self, ref_or_id: str, force: bool = False) -> list[str]:
        """docker rmi: untag a name (deleting the image with its last name) or delete by ID.

        Returns docker's lines (``Untagged: busybox:latest``, ``Deleted: sha256:...``). Refuses while a
        container's layer sits on the image, unless ``force`` (the layers then stay until it is gone).
        """
        out: list[str] = []
        with self.lock():
            img, matched = self.resolve(ref_or_id)
            refs = self._refs()
            mine = [r for r, i in refs.items() if i == img.id]
            users = self.users(img)
            if matched is not None:
                gone = [matched]
                repo = reference.parse(matched).name
                rest = [r for r in mine if r != matched]
                if "@" not in matched and not any("@" not in r and reference.parse(r).name == repo for r in rest):
                    gone += [r for r in rest if reference.parse(r).name == repo]   # its digests go too (docker)
                remaining = [r for r in mine if r not in gone]
                if not remaining and users and not force:
                    raise EngineError(f'conflict: unable to remove repository reference "{ref_or_id}" '
                                      f"(must force) - container {users[0][:12]} is using its referenced image "
                                      f"{img.short_id}", 1)
                for r in gone:
                    del refs[r]
                    out.append(f"Untagged: {reference.parse(r).familiar()}")
                self._save_refs(refs)
                if remaining:
                    return out
            else:
                repos = {reference.parse(r).name for r in mine}
                if len(repos) > 1 and not force:
                    raise EngineError(f"conflict: unable to delete {img.short_id} (must be forced) - image is "
                                      "referenced in multiple repositories", 1)
                if users and not force:
                    raise EngineError(f"conflict: unable to delete {img.short_id} (must be forced) - image is "
                                      f"being used by container {users[0][:12]}", 1)
                for r in mine:
                    del refs[r]
                    out.append(f"Untagged: {reference.parse(r).familiar()}")
                self._save_refs(refs)
            os.unlink(self._record_path(img.id))
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.dir, "blobs", "sha256", dg.hex_of(img.id)))
            out.append(f"Deleted: {img.id}")
            out.extend(f"Deleted: sha256:{lid}" for lid in self._prune(img.layers))
        return out

    def _prune(self, candidates: list[str]) -> list[str]:
        """Remove, top first, those ``candidates`` no image uses and nothing is stacked on."""
        used = self._used_layers()
        kids = self.layers.children()
        removed = []
        for lid in reversed(candidates):
            if lid in used or kids.get(lid):
                continue
            if self.layers.info(lid) is None and not self.driver.exists(lid):
                continue
            self.layers.remove(lid)
            removed.append(lid)
            for plist in kids.values():
                if lid in plist:
                    plist.remove(lid)
        return removed

    def prune_layers(self) -> list[str]:
        """Garbage-collect registered layers no image uses and no layer sits on (e.g. after ``rm`` of a
        container whose image was force-removed). Returns the removed layer ids."""
        with self.lock():
            used = self._used_layers()
            removed: list[str] = []
            while True:
                kids = self.layers.children()
                batch = [lid for lid in self.layers.ids() if lid not in used and not kids.get(lid)]
                if not batch:
                    return removed
                for lid in batch:
                    self.layers.remove(lid)
                    removed.append(lid)
