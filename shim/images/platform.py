"""Platform strings (``linux/arm64/v8``) and picking one manifest out of an index like containerd.

Host normalization and variant compatibility follow ``containerd/platforms`` (database.go, compare.go):
``x86_64``→amd64, ``aarch64``→arm64 (variant v8 is the default and may be omitted), ``armhf``→arm/v7,
arm v7 also runs v6 and v5 images. BuildKit attestation manifests (``unknown/unknown``) are skipped.
"""
from __future__ import annotations

import os

from pyrunc.spec.image import Descriptor, Platform

from ..errors import EngineError

_ARCH = {"x86_64": "amd64", "x86-64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
         "armhf": "arm", "armel": "arm", "arm": "arm", "i386": "386", "i486": "386", "i586": "386", "i686": "386",
         "386": "386", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64", "mips64le": "mips64le"}
_DEFAULT_VARIANT = {"armhf": "v7", "armel": "v6", "aarch64": "v8", "arm64": "v8"}
# variants an architecture's variant can also run, best first
_ARM_ORDER = ["v8", "v7", "v6", "v5"]
_AMD64_ORDER = ["v4", "v3", "v2", "v1"]


def normalize(os_name: str, arch: str, variant: str = "") -> Platform:
    """Canonical os/arch/variant (``linux/aarch64`` → linux/arm64/v8, ``arm`` → arm/v7)."""
    a = arch.lower()
    canon = _ARCH.get(a, a)
    v = variant.lower() or _DEFAULT_VARIANT.get(a, "")
    if canon == "arm" and not v:
        v = "v7"
    if canon == "arm64" and v == "8":
        v = "v8"
    if canon == "arm" and v in ("5", "6", "7", "8"):
        v = "v" + v
    return Platform(architecture=canon, os=os_name.lower(), variant=v)


def parse(spec: str) -> Platform:
    """``os[/arch[/variant]]`` or ``arch`` alone (docker's --platform)."""
    parts = [p for p in spec.strip().split("/")]
    if not spec.strip() or len(parts) > 3 or any(not p for p in parts):
        raise EngineError(f"invalid platform {spec!r}: want os/arch[/variant]")
    if len(parts) == 1:
        if parts[0].lower() in _ARCH:
            return normalize("linux", parts[0])
        return normalize(parts[0], host().architecture)
    return normalize(parts[0], parts[1], parts[2] if len(parts) == 3 else "")


def host() -> Platform:
    """The platform of this machine (``linux/amd64`` here)."""
    u = os.uname()
    return normalize(u.sysname, u.machine)


_BASE_VARIANT = {"amd64": "v1", "arm64": "v8", "arm": "v7"}


def _variant(p: Platform) -> str:
    return p.variant or _BASE_VARIANT.get(p.architecture, "")


def _runnable_variants(p: Platform) -> list[str]:
    """Image variants a host of platform ``p`` can run, best first."""
    v = _variant(p)
    for order in (_ARM_ORDER if p.architecture == "arm" else None,
                  _AMD64_ORDER if p.architecture == "amd64" else None):
        if order and v in order:
            return order[order.index(v):]
    if p.architecture == "arm64" and v != "v8":
        return [v, "v8"]
    return [v]


def entry_platform(d: Descriptor) -> Platform | None:
    return normalize(d.platform.os, d.platform.architecture, d.platform.variant) if d.platform else None


def is_attestation(d: Descriptor) -> bool:
    return (d.annotations.get("vnd.docker.reference.type") == "attestation-manifest"
            or (d.platform is not None and d.platform.os == "unknown" and d.platform.architecture == "unknown"))


def rank(want: Platform, d: Descriptor) -> int | None:
    """Lower is better; None when the manifest ``d`` cannot run on ``want``."""
    if is_attestation(d) or d.platform is None:
        return None
    got = entry_platform(d)
    if got.os != want.os or got.architecture != want.architecture:
        return None
    order = _runnable_variants(want)
    gv = _variant(got)
    return order.index(gv) if gv in order else None


def select(want: Platform, manifests: list[Descriptor]) -> Descriptor:
    """The best manifest of an index for ``want`` (first one wins a tie, as in containerd)."""
    best: tuple[int, int] | None = None
    for i, d in enumerate(manifests):
        r = rank(want, d)
        if r is not None and (best is None or r < best[0]):
            best = (r, i)
    if best is None:
        have = ", ".join(sorted({str(entry_platform(d)) for d in manifests if d.platform and not is_attestation(d)}))
        raise EngineError(f"no matching manifest for {want} in the manifest list entries"
                          + (f" (available: {have})" if have else ""))
    return manifests[best[1]]


def matches(want: Platform, got: Platform) -> bool:
    """Whether an image whose config says ``got`` runs on ``want`` (for single-manifest pulls)."""
    g = normalize(got.os or "linux", got.architecture, got.variant)
    return rank(want, Descriptor("x", "sha256:" + "0" * 64, 0, platform=Platform(g.architecture, g.os, g.variant))) \
        is not None
