"""``load``: import an OCI image layout (directory or oci-archive tar) or a docker-archive (``docker save``).

Kinds are told apart by content: ``manifest.json`` → docker-archive (also what docker 25+ writes next to
its OCI index: its RepoTags are the names); ``oci-layout`` + ``index.json`` → OCI layout. A compressed
archive (``docker save | gzip``) is decompressed to a scratch file first so members can be read at random.

Names: docker-archive ``RepoTags``; OCI ``io.containerd.image.name`` or ``org.opencontainers.image.ref.name``
when it is a full reference. A bare ref name (``busybox``, what ``umoci``/``skopeo oci:DIR:busybox`` write)
becomes ``localhost/busybox:latest``, podman's namespace for local images.
Every OCI blob is checked against its descriptor, every layer against its DiffID.
"""
from __future__ import annotations

import io
import json
import os
import posixpath
import shutil
import tarfile
from typing import BinaryIO, Callable

from pyrunc.spec import image as spec

from ..errors import EngineError
from . import digest as dg
from . import platform as plat
from . import reference
from .puller import check_layers

_MAGIC = {b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "zstd", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz"}


class Source:
    """Files of a layout/archive by relative path: a directory or an (uncompressed) tar."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.tar: tarfile.TarFile | None = None
        self.members: dict[str, tarfile.TarInfo] = {}
        if not os.path.isdir(path):
            try:
                self.tar = tarfile.open(path, "r:")
            except (tarfile.TarError, OSError) as e:
                raise EngineError(f"{path}: not a tar archive or image layout: {e}") from None
            for m in self.tar.getmembers():
                self.members[posixpath.normpath(m.name.lstrip("/")) if m.name.strip("/.") else "."] = m

    def close(self) -> None:
        if self.tar is not None:
            self.tar.close()

    def _member(self, name: str, depth: int = 0) -> tarfile.TarInfo:
        m = self.members.get(posixpath.normpath(name))
        if m is None:
            raise FileNotFoundError(name)
        if m.issym() and depth < 16:
            target = posixpath.normpath(posixpath.join(posixpath.dirname(m.name), m.linkname).lstrip("/"))
            return self._member(target, depth + 1)
        if m.islnk() and depth < 16:
            return self._member(m.linkname, depth + 1)
        if not m.isfile():
            raise FileNotFoundError(name)
        return m

    def exists(self, name: str) -> bool:
        if self.tar is None:
            return os.path.isfile(self._fs(name))
        try:
            self._member(name)
            return True
        except FileNotFoundError:
            return False

    def _fs(self, name: str) -> str:
        rel = posixpath.normpath(name)
        if rel.startswith("../") or rel == ".." or rel.startswith("/"):
            raise EngineError(f"{self.path}: path {name!r} leaves the image layout")
        return os.path.join(self.path, rel)

    def open(self, name: str) -> BinaryIO:
        try:
            if self.tar is None:
                return open(self._fs(name), "rb")
            f = self.tar.extractfile(self._member(name))
            assert f is not None
            return f  # type: ignore[return-value]
        except FileNotFoundError:
            raise EngineError(f"{self.path}: {name} is missing") from None

    def read(self, name: str, limit: int = 8 << 20) -> bytes:
        with self.open(name) as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise EngineError(f"{self.path}: {name} is larger than {limit} bytes")
        return data


def _blob_path(desc: spec.Descriptor) -> str:
    algo, enc = desc.digest.split(":", 1)
    return f"blobs/{algo}/{enc}"


def _verify_file(src: Source, name: str, digest: str, size: int | None, what: str) -> None:
    with src.open(name) as f:
        dg.copy_verified(f, _Null(), digest, size, what)


class _Null(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # type: ignore[override]
        return len(b)


def _decompressed(path: str, scratch: str) -> str:
    """``path`` itself, or a decompressed copy of it in ``scratch`` when it is gzip/zstd/bzip2/xz."""
    if os.path.isdir(path):
        return path
    with open(path, "rb") as f:
        head = f.read(6)
    if not any(head.startswith(m) for m in _MAGIC):
        return path
    from pyrunc.graphdriver import archive
    out = os.path.join(scratch, "archive.tar")
    with open(path, "rb") as f, open(out, "wb") as o:
        try:
            shutil.copyfileobj(archive.open_layer(f), o, 1 << 20)
        except Exception as e:
            raise EngineError(f"{path}: cannot decompress: {e}") from None
    return out


def _name_from_annotations(ann: dict[str, str]) -> str | None:
    """Full normalized ``name:tag`` from OCI index annotations, or None (see module docstring)."""
    for key in (spec.CONTAINERD_IMAGE_NAME, spec.REF_NAME):
        value = ann.get(key)
        if not value:
            continue
        try:
            if any(c in value for c in "/:@"):
                r = reference.parse(value)
                return str(r.tagged()) if not r.digest else None
            r = reference.parse(f"localhost/{value}")
            return str(r.tagged())
        except reference.ReferenceError:
            continue
    return None


def _oci_images(src: Source, want: spec.Platform) -> list[tuple[spec.Manifest, str, list[str]]]:
    """(manifest, manifest digest, names) for every image of an OCI layout's index.json."""
    try:
        layout = json.loads(src.read("oci-layout"))
        if not isinstance(layout, dict) or not isinstance(layout.get("imageLayoutVersion"), str):
            raise EngineError(f"{src.path}: oci-layout: imageLayoutVersion: required field is missing")
        index = spec.parse_index(src.read("index.json"), what="index.json")
    except ValueError as e:
        raise EngineError(f"{src.path}: {e}") from None
    out: dict[str, tuple[spec.Manifest, str, list[str]]] = {}
    for i, desc in enumerate(index.manifests):
        name = _name_from_annotations(desc.annotations)
        d = desc
        try:
            for _ in range(4):
                body = src.read(_blob_path(d))
                dg.verify_bytes(body, d.digest, d.size, f"{src.path}: {_blob_path(d)}")
                doc = spec.parse_any(body, d.media_type, what=f"index.json manifests[{i}]")
                if isinstance(doc, spec.Manifest):
                    break
                d = plat.select(want, doc.manifests)
            else:
                raise EngineError(f"{src.path}: indexes nested too deep")
        except spec.ImageSpecError as e:
            raise EngineError(f"{src.path}: {e}") from None
        entry = out.setdefault(d.digest, (doc, d.digest, []))
        if name and name not in entry[2]:
            entry[2].append(name)
    return list(out.values())


def _load_oci(store, src: Source, progress) -> list:
    images = []
    for manifest, mdigest, names in _oci_images(src, plat.host()):
        cfg_name = _blob_path(manifest.config)
        config_bytes = dg.verify_bytes(src.read(cfg_name), manifest.config.digest, manifest.config.size,
                                       f"{src.path}: {cfg_name}")
        cfg = _config(config_bytes, f"{src.path}: {cfg_name}")
        check_layers(manifest, cfg, f"{src.path}: manifest {mdigest}")
        paths = [_blob_path(layer) for layer in manifest.layers]
        for i, chain in enumerate(dg.chain_ids(cfg.diff_ids)):      # verify before touching the driver
            if not store.layers.has(dg.hex_of(chain)):
                layer = manifest.layers[i]
                _verify_file(src, paths[i], layer.digest, layer.size, f"{src.path}: {paths[i]}")

        def opener(i: int, paths=paths):
            return lambda: src.open(paths[i])
        images.append(_add(store, config_bytes, cfg, opener, mdigest, names, progress))
    return images


def _config(data: bytes, what: str) -> spec.ImageConfig:
    try:
        return spec.parse_config(data, what=what)
    except spec.ImageSpecError as e:
        raise EngineError(str(e)) from None


def _load_docker(store, src: Source, progress) -> list:
    try:
        entries = json.loads(src.read("manifest.json"))
    except ValueError as e:
        raise EngineError(f"{src.path}: manifest.json: invalid JSON: {e}") from None
    if not isinstance(entries, list):
        raise EngineError(f"{src.path}: manifest.json: expected an array")
    images = []
    for n, e in enumerate(entries):
        what = f"{src.path}: manifest.json[{n}]"
        if not isinstance(e, dict) or not isinstance(e.get("Config"), str) or not isinstance(e.get("Layers"), list):
            raise EngineError(f"{what}: expected an object with Config and Layers")
        config_bytes = src.read(e["Config"])
        cfg = _config(config_bytes, f"{what}.Config")
        layers = e["Layers"]
        if len(layers) != len(cfg.diff_ids):
            raise EngineError(f"{what}: {len(layers)} layers but the config lists {len(cfg.diff_ids)} diff_ids")
        names = []
        for tag in e.get("RepoTags") or []:
            try:
                names.append(str(reference.parse(tag).tagged()))
            except reference.ReferenceError as err:
                raise EngineError(f"{what}.RepoTags: {tag!r}: {err}") from None

        def opener(i: int, layers=layers):
            return lambda: src.open(layers[i])
        images.append(_add(store, config_bytes, cfg, opener, "", names, progress))
    return images


def _add(store, config_bytes: bytes, cfg: spec.ImageConfig, opener, manifest_digest: str, names: list[str],
         progress: Callable[[str], None] | None):
    created: list[str] = []

    def layer_progress(i: int, what: str) -> None:
        if progress:
            progress(f"{dg.hex_of(cfg.diff_ids[i])[:12]}: {'Loading layer' if what == 'Pull complete' else what}")
    try:
        infos = store.add_layers(cfg.diff_ids, opener, created, layer_progress)
        img = store.commit(config_bytes, cfg.raw, infos, manifest_digest, names, [])
    except BaseException:
        store.rollback(created)
        raise
    if progress:
        for n in names:
            progress(f"Loaded image: {reference.parse(n).familiar()}")
        if not names:
            progress(f"Loaded image ID: {img.id}")
    return img


def load(store, path: str, progress: Callable[[str], None] | None = None) -> list:
    if not os.path.exists(path):
        raise EngineError(f"open {path}: no such file or directory")
    with store.lock(), store.tempdir() as scratch:
        src = Source(_decompressed(path, scratch))
        try:
            if src.exists("manifest.json"):
                return _load_docker(store, src, progress)
            if src.exists("index.json") and src.exists("oci-layout"):
                return _load_oci(store, src, progress)
            raise EngineError(f"{path}: neither a docker-archive (manifest.json) nor an OCI layout "
                              "(oci-layout + index.json)")
        finally:
            src.close()
