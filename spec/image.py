"""Typed models of the OCI image spec (descriptor, manifest, index, image config) with validation.

Every ``parse_*``/``from_dict`` raises :class:`ImageSpecError` whose message starts with the path of
the first bad field (``manifest.layers[1].digest: ...``), like ``spec.validate`` does for config.json.
Unknown fields are kept and ignored, as image-spec requires of consumers. Docker's schema-2 manifests
and manifest lists have the same shape and are accepted with their own media types.
Imports nothing of pyrunc's own.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

# ---- media types (image-spec media-types.md; Docker's equivalents)
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = OCI_LAYER + "+gzip"
OCI_LAYER_ZSTD = OCI_LAYER + "+zstd"
OCI_LAYER_ND = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_V1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_MANIFEST_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = DOCKER_LAYER + ".gzip"
DOCKER_LAYER_ZSTD = DOCKER_LAYER + ".zstd"
DOCKER_FOREIGN_GZIP = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
CONFIG_TYPES = (OCI_CONFIG, DOCKER_CONFIG)
LAYER_TYPES = (OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD, OCI_LAYER_ND, OCI_LAYER_ND + "+gzip",
               OCI_LAYER_ND + "+zstd", DOCKER_LAYER, DOCKER_LAYER_GZIP, DOCKER_LAYER_ZSTD, DOCKER_FOREIGN_GZIP)

# annotations
REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_IMAGE_NAME = "io.containerd.image.name"

# descriptor.md: algorithm ":" encoded; registered algorithms have fixed encodings
_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
_ENCODED = {"sha256": re.compile(r"^[a-f0-9]{64}$"), "sha512": re.compile(r"^[a-f0-9]{128}$")}


class ImageSpecError(ValueError):
    """An image document is malformed; the message starts with the bad field's path."""


def _fail(path: str, want: str, got) -> None:
    raise ImageSpecError(f"{path}: expected {want}, got {type(got).__name__ if got is not None else 'null'}")


def _obj(d, path: str) -> dict:
    if not isinstance(d, dict):
        _fail(path, "an object", d)
    return d


def _str(d: dict, key: str, path: str, required: bool = False, default: str = "") -> str:
    v = d.get(key)
    if v is None:
        if required:
            raise ImageSpecError(f"{path}.{key}: required field is missing")
        return default
    if not isinstance(v, str):
        _fail(f"{path}.{key}", "a string", v)
    return v


def _strlist(d: dict, key: str, path: str) -> list[str]:
    v = d.get(key)
    if v is None:
        return []
    if not isinstance(v, list):
        _fail(f"{path}.{key}", "an array", v)
    for i, s in enumerate(v):
        if not isinstance(s, str):
            _fail(f"{path}.{key}[{i}]", "a string", s)
    return list(v)


def _strmap(d: dict, key: str, path: str) -> dict[str, str]:
    v = d.get(key)
    if v is None:
        return {}
    if not isinstance(v, dict):
        _fail(f"{path}.{key}", "an object", v)
    for k, s in v.items():
        if not isinstance(s, str):
            _fail(f"{path}.{key}.{k}", "a string", s)
    return dict(v)


def check_digest(value, path: str) -> str:
    """A digest string ``algorithm:encoded``; sha256/sha512 must have their exact hex length."""
    if not isinstance(value, str):
        _fail(path, "a digest string", value)
    if not _DIGEST_RE.match(value):
        raise ImageSpecError(f"{path}: invalid digest {value!r}")
    algo, enc = value.split(":", 1)
    pat = _ENCODED.get(algo)
    if pat is not None and not pat.match(enc):
        raise ImageSpecError(f"{path}: invalid {algo} digest {value!r}")
    return value


def _schema_version(d: dict, path: str) -> int:
    v = d.get("schemaVersion")
    if v is None:
        raise ImageSpecError(f"{path}.schemaVersion: required field is missing")
    if not isinstance(v, int) or isinstance(v, bool):
        _fail(f"{path}.schemaVersion", "an integer", v)
    if v != 2:
        raise ImageSpecError(f"{path}.schemaVersion: unsupported schema version {v} (want 2)")
    return v


def _load_json(data: bytes | str, what: str):
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise ImageSpecError(f"{what}: invalid JSON: {e}") from None


@dataclass(frozen=True)
class Platform:
    """image-index.md ``platform``: where an image can run."""

    architecture: str
    os: str
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = ()
    features: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, d, path: str = "platform") -> "Platform":
        d = _obj(d, path)
        return cls(architecture=_str(d, "architecture", path, required=True), os=_str(d, "os", path, required=True),
                   variant=_str(d, "variant", path), os_version=_str(d, "os.version", path),
                   os_features=tuple(_strlist(d, "os.features", path)), features=tuple(_strlist(d, "features", path)))

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


@dataclass
class Descriptor:
    """descriptor.md: what a blob is, where it is (digest) and how big (size)."""

    media_type: str
    digest: str
    size: int
    urls: list[str] = field(default_factory=list)
    annotations: dict[str, str] = field(default_factory=dict)
    platform: Platform | None = None
    artifact_type: str = ""

    @classmethod
    def from_dict(cls, d, path: str = "descriptor") -> "Descriptor":
        d = _obj(d, path)
        size = d.get("size")
        if size is None:
            raise ImageSpecError(f"{path}.size: required field is missing")
        if not isinstance(size, int) or isinstance(size, bool):
            _fail(f"{path}.size", "an integer", size)
        if size < 0:
            raise ImageSpecError(f"{path}.size: must not be negative, got {size}")
        if "digest" not in d:
            raise ImageSpecError(f"{path}.digest: required field is missing")
        plat = d.get("platform")
        return cls(media_type=_str(d, "mediaType", path, required=True),
                   digest=check_digest(d["digest"], f"{path}.digest"), size=size,
                   urls=_strlist(d, "urls", path), annotations=_strmap(d, "annotations", path),
                   platform=Platform.from_dict(plat, f"{path}.platform") if plat is not None else None,
                   artifact_type=_str(d, "artifactType", path))


@dataclass
class Manifest:
    """image-manifest.md (and Docker schema 2): one image = config + ordered layers."""

    config: Descriptor
    layers: list[Descriptor]
    media_type: str = OCI_MANIFEST
    annotations: dict[str, str] = field(default_factory=dict)
    artifact_type: str = ""
    subject: Descriptor | None = None

    @classmethod
    def from_dict(cls, d, path: str = "manifest", media_type: str = "") -> "Manifest":
        d = _obj(d, path)
        _schema_version(d, path)
        mt = _str(d, "mediaType", path) or media_type or OCI_MANIFEST
        if mt not in MANIFEST_TYPES:
            raise ImageSpecError(f"{path}.mediaType: {mt!r} is not an image manifest")
        if "config" not in d:
            raise ImageSpecError(f"{path}.config: required field is missing")
        layers = d.get("layers")
        if layers is None:
            raise ImageSpecError(f"{path}.layers: required field is missing")
        if not isinstance(layers, list):
            _fail(f"{path}.layers", "an array", layers)
        subj = d.get("subject")
        return cls(config=Descriptor.from_dict(d["config"], f"{path}.config"),
                   layers=[Descriptor.from_dict(x, f"{path}.layers[{i}]") for i, x in enumerate(layers)],
                   media_type=mt, annotations=_strmap(d, "annotations", path),
                   artifact_type=_str(d, "artifactType", path),
                   subject=Descriptor.from_dict(subj, f"{path}.subject") if subj is not None else None)


@dataclass
class Index:
    """image-index.md (and Docker manifest lists): manifests for several platforms."""

    manifests: list[Descriptor]
    media_type: str = OCI_INDEX
    annotations: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d, path: str = "index", media_type: str = "") -> "Index":
        d = _obj(d, path)
        _schema_version(d, path)
        mt = _str(d, "mediaType", path) or media_type or OCI_INDEX
        if mt not in INDEX_TYPES:
            raise ImageSpecError(f"{path}.mediaType: {mt!r} is not an image index")
        ms = d.get("manifests")
        if ms is None:
            raise ImageSpecError(f"{path}.manifests: required field is missing")
        if not isinstance(ms, list):
            _fail(f"{path}.manifests", "an array", ms)
        return cls(manifests=[Descriptor.from_dict(x, f"{path}.manifests[{i}]") for i, x in enumerate(ms)],
                   media_type=mt, annotations=_strmap(d, "annotations", path))


# config.md "config" object: field -> checker kind; null is allowed everywhere (Docker writes it)
_RUN_FIELDS = {"User": "str", "ExposedPorts": "obj", "Env": "strs", "Entrypoint": "strs", "Cmd": "strs",
               "Volumes": "obj", "WorkingDir": "str", "Labels": "strmap", "StopSignal": "str",
               "ArgsEscaped": "bool", "Healthcheck": "obj", "Shell": "strs", "OnBuild": "strs"}


def _check_run_config(c: dict, path: str) -> None:
    for key, kind in _RUN_FIELDS.items():
        v = c.get(key)
        if v is None:
            continue
        if kind == "str" and not isinstance(v, str):
            _fail(f"{path}.{key}", "a string", v)
        elif kind == "bool" and not isinstance(v, bool):
            _fail(f"{path}.{key}", "a boolean", v)
        elif kind == "obj" and not isinstance(v, dict):
            _fail(f"{path}.{key}", "an object", v)
        elif kind == "strs":
            _strlist(c, key, path)
        elif kind == "strmap":
            _strmap(c, key, path)


@dataclass
class ImageConfig:
    """config.md: the image's platform, run defaults and layer DiffIDs. ``raw`` is the whole document."""

    architecture: str
    os: str
    diff_ids: list[str]
    config: dict
    created: str = ""
    author: str = ""
    variant: str = ""
    history: list[dict] = field(default_factory=list)
    raw: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d, path: str = "config") -> "ImageConfig":
        d = _obj(d, path)
        rootfs = d.get("rootfs")
        if rootfs is None:
            raise ImageSpecError(f"{path}.rootfs: required field is missing")
        rootfs = _obj(rootfs, f"{path}.rootfs")
        if _str(rootfs, "type", f"{path}.rootfs", required=True) != "layers":
            raise ImageSpecError(f"{path}.rootfs.type: must be \"layers\", got {rootfs['type']!r}")
        ids = rootfs.get("diff_ids")
        if ids is None:
            raise ImageSpecError(f"{path}.rootfs.diff_ids: required field is missing")
        if not isinstance(ids, list):
            _fail(f"{path}.rootfs.diff_ids", "an array", ids)
        diff_ids = [check_digest(x, f"{path}.rootfs.diff_ids[{i}]") for i, x in enumerate(ids)]
        run = d.get("config")
        if run is None:
            run = {}
        _check_run_config(_obj(run, f"{path}.config"), f"{path}.config")
        hist = d.get("history")
        if hist is None:
            hist = []
        if not isinstance(hist, list):
            _fail(f"{path}.history", "an array", hist)
        for i, h in enumerate(hist):
            _obj(h, f"{path}.history[{i}]")
            if "empty_layer" in h and not isinstance(h["empty_layer"], bool):
                _fail(f"{path}.history[{i}].empty_layer", "a boolean", h["empty_layer"])
        return cls(architecture=_str(d, "architecture", path, required=True), os=_str(d, "os", path, required=True),
                   diff_ids=diff_ids, config=run, created=_str(d, "created", path), author=_str(d, "author", path),
                   variant=_str(d, "variant", path), history=hist, raw=d)

    @property
    def platform(self) -> Platform:
        return Platform(self.architecture, self.os, self.variant)


def media_type_of(doc: dict, header: str = "") -> str:
    """The media type of a manifest-ish document: its own field, else the HTTP Content-Type, else by shape."""
    mt = doc.get("mediaType") if isinstance(doc, dict) else None
    if isinstance(mt, str) and mt:
        return mt
    header = header.split(";", 1)[0].strip()
    if header and header not in ("application/json", "application/octet-stream", "text/plain"):
        return header
    if isinstance(doc, dict):
        if doc.get("schemaVersion") == 1:
            return DOCKER_MANIFEST_V1
        if "manifests" in doc:
            return OCI_INDEX
        if "config" in doc and "layers" in doc:
            return OCI_MANIFEST
    return ""


def parse_manifest(data: bytes, media_type: str = "", what: str = "manifest") -> Manifest:
    return Manifest.from_dict(_load_json(data, what), what, media_type)


def parse_index(data: bytes, media_type: str = "", what: str = "index") -> Index:
    return Index.from_dict(_load_json(data, what), what, media_type)


def parse_config(data: bytes, what: str = "config") -> ImageConfig:
    return ImageConfig.from_dict(_load_json(data, what), what)


def parse_any(data: bytes, header: str = "", what: str = "manifest") -> Manifest | Index:
    """A manifest or an index, told apart by media type (field, header, then shape)."""
    doc = _load_json(data, what)
    mt = media_type_of(doc, header)
    if mt in INDEX_TYPES:
        return Index.from_dict(doc, what, mt)
    if mt in MANIFEST_TYPES:
        return Manifest.from_dict(doc, what, mt)
    if mt in (DOCKER_MANIFEST_V1, DOCKER_MANIFEST_V1_SIGNED):
        raise ImageSpecError(f"{what}.mediaType: Docker schema 1 manifests are not supported")
    raise ImageSpecError(f"{what}.mediaType: unsupported manifest media type {mt!r}")
