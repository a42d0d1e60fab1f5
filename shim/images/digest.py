"""Content addressing: verify blobs against their descriptor (digest + size), DiffIDs, ChainIDs.

image-spec descriptor.md: content MUST match its digest and size; config.md: DiffID = digest of the
uncompressed layer tar, ChainID(L0) = DiffID(L0), ChainID(L0..n) = sha256(ChainID(L0..n-1) + " " + DiffID(n)).
"""
from __future__ import annotations

import hashlib
import io
from typing import BinaryIO, Callable

from ..errors import EngineError

_ALGOS = {"sha256": hashlib.sha256, "sha512": hashlib.sha512}
CHUNK = 1 << 20


class DigestError(EngineError):
    """Content does not match the digest or size it was announced with."""


def new_hash(digest: str):
    algo = digest.split(":", 1)[0]
    try:
        return _ALGOS[algo]()
    except KeyError:
        raise DigestError(f"unsupported digest algorithm {algo!r} in {digest}") from None


def of_bytes(data: bytes, algo: str = "sha256") -> str:
    return f"{algo}:{_ALGOS[algo](data).hexdigest()}"


def verify_bytes(data: bytes, digest: str, size: int | None, what: str) -> bytes:
    """``data`` unchanged if it has ``digest`` (and ``size``), else DigestError naming ``what``."""
    if size is not None and len(data) != size:
        raise DigestError(f"{what}: size mismatch for {digest}: got {len(data)} bytes, expected {size}")
    algo = digest.split(":", 1)[0]
    new_hash(digest)
    got = of_bytes(data, algo)
    if got != digest:
        raise DigestError(f"{what}: digest mismatch: got {got}, expected {digest}")
    return data


def copy_verified(src: BinaryIO, dst: BinaryIO, digest: str, size: int | None, what: str,
                  progress: Callable[[int], None] | None = None) -> int:
    """Stream ``src`` into ``dst`` while hashing; refuse as soon as more than ``size`` bytes arrive."""
    h = new_hash(digest)
    n = 0
    while True:
        chunk = src.read(CHUNK)
        if not chunk:
            break
        n += len(chunk)
        if size is not None and n > size:
            raise DigestError(f"{what}: {digest}: more data than the {size} bytes announced")
        h.update(chunk)
        dst.write(chunk)
        if progress:
            progress(n)
    if size is not None and n != size:
        raise DigestError(f"{what}: {digest}: short content: got {n} bytes, expected {size}")
    got = f"{digest.split(':', 1)[0]}:{h.hexdigest()}"
    if got != digest:
        raise DigestError(f"{what}: digest mismatch: got {got}, expected {digest}")
    return n


class HashingReader(io.RawIOBase):
    """Pass-through reader that hashes (sha256) and counts what flows through it."""

    def __init__(self, inner: BinaryIO) -> None:
        self._inner = inner
        self._h = hashlib.sha256()
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        data = self._inner.read(len(b))
        n = len(data)
        b[:n] = data
        self._h.update(data)
        self.count += n
        return n

    def drain(self) -> None:
        """Read to the end (tar readers stop at the end-of-archive marker; padding still counts)."""
        while self._inner is not None:
            data = self._inner.read(CHUNK)
            if not data:
                break
            self._h.update(data)
            self.count += len(data)

    @property
    def digest(self) -> str:
        return f"sha256:{self._h.hexdigest()}"


def chain_ids(diff_ids: list[str]) -> list[str]:
    """ChainIDs (``sha256:...``) of a layer stack, bottom to top."""
    out: list[str] = []
    for d in diff_ids:
        out.append(d if not out else "sha256:" + hashlib.sha256(f"{out[-1]} {d}".encode()).hexdigest())
    return out


def hex_of(digest: str) -> str:
    return digest.split(":", 1)[1]
