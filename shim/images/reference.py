"""Image references the docker way: ``busybox`` = ``docker.io/library/busybox:latest``.

Grammar and normalization follow distribution's ``reference`` package (regexp.go, normalize.go):
``[domain[:port]/]path[:tag][@digest]``; the first component is a domain only if it holds a ``.`` or
``:`` or is ``localhost`` (or has capitals); ``index.docker.io`` is ``docker.io``; one-component
Docker Hub names get ``library/``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_MAX = 255

_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(rf"^((?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)(?::({_TAG}))?(?:@({_DIGEST}))?$")
_TAG_RE = re.compile(rf"^{_TAG}$")
_ID_RE = re.compile(r"^[a-f0-9]{64}$")


class ReferenceError(ValueError):
    """Not a valid image reference; the message is docker's ("invalid reference format...")."""


@dataclass(frozen=True)
class Reference:
    """A normalized reference: ``domain/path`` plus an optional tag and/or digest."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """``docker.io/library/busybox``: the repository, fully qualified."""
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        s = self.name
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s

    @property
    def familiar_name(self) -> str:
        """``busybox`` for ``docker.io/library/busybox``; other registries stay qualified."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        path = self.path
        if path.startswith(OFFICIAL_PREFIX) and "/" not in path[len(OFFICIAL_PREFIX):]:
            path = path[len(OFFICIAL_PREFIX):]
        return path

    def familiar(self) -> str:
        s = self.familiar_name
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s

    def tagged(self) -> "Reference":
        """This reference with the default tag when it has neither tag nor digest (docker TagNameOnly)."""
        if self.tag or self.digest:
            return self
        return Reference(self.domain, self.path, DEFAULT_TAG, None)

    def with_tag(self, tag: str | None) -> "Reference":
        return Reference(self.domain, self.path, tag, None)

    def with_digest(self, digest: str) -> "Reference":
        return Reference(self.domain, self.path, None, digest)


def split_domain(name: str) -> tuple[str, str]:
    """docker's splitDockerDomain on a name without tag/digest handling."""
    i = name.find("/")
    first = name[:i] if i >= 0 else ""
    if i == -1 or (not any(c in first for c in ".:") and first != "localhost" and first.lower() == first):
        domain, rest = DEFAULT_DOMAIN, name
    else:
        domain, rest = first, name[i + 1:]
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in rest:
        rest = OFFICIAL_PREFIX + rest
    return domain, rest


def parse(ref: str) -> Reference:
    """Parse and normalize like ``docker pull REF`` (no default tag added: see ``Reference.tagged``)."""
    if not isinstance(ref, str) or not ref:
        raise ReferenceError("invalid reference format")
    if _ID_RE.match(ref):
        raise ReferenceError(f"invalid repository name ({ref}), cannot specify 64-byte hexadecimal strings")
    domain, rest = split_domain(ref)
    remote = re.split(r"[:@]", rest, maxsplit=1)[0]
    if remote.lower() != remote:
        raise ReferenceError(f"invalid reference format: repository name ({remote}) must be lowercase")
    m = _REFERENCE.match(f"{domain}/{rest}")
    if not m:
        raise ReferenceError("invalid reference format")
    name, tag, digest = m.group(1), m.group(2), m.group(3)
    if len(name) > NAME_MAX:
        raise ReferenceError(f"repository name must not be more than {NAME_MAX} characters")
    if digest:
        algo, enc = digest.split(":", 1)
        if algo == "sha256" and len(enc) != 64:
            raise ReferenceError(f"invalid reference format: invalid checksum digest length ({digest})")
        digest = f"{algo}:{enc.lower()}" if algo == "sha256" else digest
    return Reference(domain, name[len(domain) + 1:], tag, digest)


def has_explicit_domain(ref: str) -> bool:
    """Whether ``ref`` names its registry (``localhost/x``, ``quay.io/x``) rather than defaulting to Docker Hub."""
    i = ref.find("/")
    if i < 0:
        return False
    first = ref[:i]
    return any(c in first for c in ".:") or first == "localhost" or first.lower() != first


def valid_tag(tag: str) -> bool:
    return bool(_TAG_RE.match(tag))
