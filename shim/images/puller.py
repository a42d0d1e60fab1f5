"""``pull``: reference → manifest (platform picked from an index) → config → layers → image record.

Order of trust: the manifest is checked against the digest it was asked by (and Docker-Content-Digest),
the config and every blob against their descriptors (sha256 + size, while streaming), every layer's
uncompressed tar against the config's DiffID. All blobs are downloaded and verified before the graph
driver is touched; a failure afterwards removes the layers this pull created, so nothing half-made stays.
"""
from __future__ import annotations

import os
from typing import Callable

from pyrunc.spec import image as spec

from ..errors import EngineError
from . import digest as dg
from . import platform as plat
from . import reference
from .registry import Registry

MAX_INDEX_DEPTH = 4


def _say(progress: Callable[[str], None] | None, line: str) -> None:
    if progress:
        progress(line)


def resolve_manifest(reg: Registry, repo: str, target: str, want: spec.Platform
                     ) -> tuple[spec.Manifest, str]:
    """(image manifest, digest of the top-level manifest/index the tag points at)."""
    body, ctype, top_digest = reg.get_manifest(repo, target)
    try:
        doc = spec.parse_any(body, ctype)
        depth = 0
        while isinstance(doc, spec.Index):
            depth += 1
            if depth > MAX_INDEX_DEPTH:
                raise EngineError(f"{repo}: indexes nested deeper than {MAX_INDEX_DEPTH}")
            desc = plat.select(want, doc.manifests)
            body, ctype, _ = reg.get_manifest(repo, desc.digest)
            if len(body) != desc.size:
                raise dg.DigestError(f"manifest {desc.digest}: size mismatch: got {len(body)} bytes, "
                                     f"expected {desc.size}")
            doc = spec.parse_any(body, desc.media_type if desc.media_type != "" else ctype)
    except spec.ImageSpecError as e:
        raise EngineError(f"{repo}: invalid manifest: {e}") from None
    return doc, top_digest


def check_layers(manifest: spec.Manifest, cfg: spec.ImageConfig, what: str) -> None:
    """Config and manifest must describe the same stack, of layer types we can unpack."""
    if manifest.config.media_type not in spec.CONFIG_TYPES:
        raise EngineError(f"{what}: not a container image (config media type {manifest.config.media_type})")
    for i, layer in enumerate(manifest.layers):
        if layer.media_type not in spec.LAYER_TYPES:
            raise EngineError(f"{what}: layer {i} has unsupported media type {layer.media_type}")
    if len(cfg.diff_ids) != len(manifest.layers):
        raise EngineError(f"{what}: manifest has {len(manifest.layers)} layers but the config lists "
                          f"{len(cfg.diff_ids)} diff_ids")


def pull(store, ref_str: str, platform: str | None = None, insecure: bool = False,
         authfile: str | None = None, progress: Callable[[str], None] | None = None):
    try:
        parsed = reference.parse(ref_str)
    except reference.ReferenceError as e:
        raise EngineError(str(e)) from None
    if not parsed.tag and not parsed.digest:
        _say(progress, f"Using default tag: {reference.DEFAULT_TAG}")
    ref = parsed.tagged()
    want = plat.parse(platform) if platform else plat.host()
    target = ref.digest or ref.tag
    assert target
    reg = Registry(ref.domain, insecure=insecure, authfile=authfile)
    _say(progress, f"{target}: Pulling from {ref.path}")
    manifest, top_digest = resolve_manifest(reg, ref.path, target, want)
    config_bytes = reg.get_blob_bytes(ref.path, manifest.config)
    try:
        cfg = spec.parse_config(config_bytes)
    except spec.ImageSpecError as e:
        raise EngineError(f"{ref.familiar()}: invalid image config: {e}") from None
    check_layers(manifest, cfg, ref.familiar())
    if platform and not plat.matches(want, cfg.platform):
        raise EngineError(f"image with reference {ref.familiar()} was found but does not match the specified "
                          f"platform: wanted {want}, actual: {cfg.platform}")

    names = [str(ref)] if ref.tag and not ref.digest else []
    digests = [str(ref.with_digest(top_digest))]
    image_id = dg.of_bytes(config_bytes)
    had = store.exists(image_id) and all(n in store.get(image_id).names for n in names)
    chains = dg.chain_ids(cfg.diff_ids)
    short = [dg.hex_of(layer.digest)[:12] for layer in manifest.layers]

    with store.lock(), store.tempdir() as tmp:
        created: list[str] = []
        try:
            files: dict[str, str] = {}
            for i, layer in enumerate(manifest.layers):        # download + verify everything first
                if store.layers.has(dg.hex_of(chains[i])) or layer.digest in files:
                    continue
                _say(progress, f"{short[i]}: Pulling fs layer")
                path = os.path.join(tmp, dg.hex_of(layer.digest))
                with open(path, "wb") as f:
                    reg.fetch_blob(ref.path, layer, f)
                files[layer.digest] = path
                _say(progress, f"{short[i]}: Download complete")

            def opener(i: int):
                return lambda: open(files[manifest.layers[i].digest], "rb")

            infos = store.add_layers(cfg.diff_ids, opener, created,
                                     lambda i, what: _say(progress, f"{short[i]}: {what}"))
            img = store.commit(config_bytes, cfg.raw, infos, top_digest, names, digests)
        except BaseException:
            store.rollback(created)
            raise
    _say(progress, f"Digest: {top_digest}")
    shown = ref.familiar()
    _say(progress, f"Status: Image is up to date for {shown}" if had else f"Status: Downloaded newer image for {shown}")
    _say(progress, str(ref))
    return img
