"""Image layers in the graph driver, keyed by ChainID (docker's layerdb, reduced to what pull/load need).

A layer is "registered" only once its tar was applied and its DiffID verified: the metadata file
``<meta>/<chain hex>.json`` is written last (atomically). A driver layer without it is debris from
a crash or a failed pull and is removed before reuse, so no half-applied layer is ever served.
"""
from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from typing import BinaryIO, Callable

from ..errors import EngineError
from . import digest as dg


@dataclass
class LayerInfo:
    chain_id: str          # sha256:...
    diff_id: str
    parent: str | None     # parent's chain hex (graph-driver id)
    size: int              # bytes of file data (what docker's SIZE adds up)

    @property
    def id(self) -> str:
        return dg.hex_of(self.chain_id)


class LayerStore:
    def __init__(self, driver, meta_dir: str) -> None:
        self.driver = driver
        self.meta_dir = meta_dir
        os.makedirs(meta_dir, 0o700, exist_ok=True)

    def _meta(self, layer_id: str) -> str:
        return os.path.join(self.meta_dir, layer_id + ".json")

    def info(self, layer_id: str) -> LayerInfo | None:
        try:
            with open(self._meta(layer_id)) as f:
                d = json.load(f)
        except (FileNotFoundError, ValueError):
            return None
        return LayerInfo(d["chain_id"], d["diff_id"], d.get("parent"), int(d.get("size", 0)))

    def has(self, layer_id: str) -> bool:
        return self.info(layer_id) is not None and self.driver.exists(layer_id)

    def ids(self) -> list[str]:
        return [n[:-5] for n in os.listdir(self.meta_dir) if n.endswith(".json")]

    def register(self, chain_id: str, parent: str | None, diff_id: str,
                 open_blob: Callable[[], BinaryIO]) -> tuple[LayerInfo, bool]:
        """Create + apply the layer unless present; returns (info, created). Verifies the DiffID."""
        layer_id = dg.hex_of(chain_id)
        have = self.info(layer_id)
        if have is not None and self.driver.exists(layer_id):
            return have, False
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._meta(layer_id))
        if self.driver.exists(layer_id):          # debris of an interrupted apply
            self.driver.remove(layer_id)
        self.driver.create(layer_id, parent)
        try:
            with open_blob() as blob:
                size = self._apply(layer_id, parent, blob, diff_id)
            info = LayerInfo(chain_id, diff_id, parent, size)
            tmp = self._meta(layer_id) + ".tmp"
            with open(tmp, "w") as f:
                json.dump(vars(info), f)
            os.replace(tmp, self._meta(layer_id))
        except BaseException:
            with contextlib.suppress(Exception):
                self.driver.remove(layer_id)
            raise
        return info, True

    def _apply(self, layer_id: str, parent: str | None, blob: BinaryIO, diff_id: str) -> int:
        from pyrunc.graphdriver import archive
        from pyrunc.graphdriver.driver import DriverError

        try:
            plain = archive.open_layer(blob)
        except (OSError, EOFError, DriverError) as e:
            raise EngineError(f"layer {diff_id}: cannot decompress: {e}") from None
        reader = dg.HashingReader(plain)
        try:
            size = self.driver.apply_diff(layer_id, parent, reader)
            reader.drain()
        except EngineError:
            raise
        except Exception as e:  # DriverError, OSError, zlib.error, zstd errors: a bad layer, not a crash
            raise EngineError(f"layer {diff_id}: apply failed: {e}") from None
        if reader.digest != diff_id:
            raise dg.DigestError(f"layer verification failed: DiffID mismatch: got {reader.digest}, "
                                 f"expected {diff_id}")
        return size

    def remove(self, layer_id: str) -> None:
        """Unregister, then delete from the driver (the metadata goes first: no half state is served)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._meta(layer_id))
        self.driver.remove(layer_id)

    def children(self) -> dict[str, list[str]]:
        """parent id -> child ids over every layer the driver holds (image and container layers)."""
        out: dict[str, list[str]] = {}
        for lid in self.driver.layers():
            p = self.driver.parent(lid)
            if p:
                out.setdefault(p, []).append(lid)
        return out
