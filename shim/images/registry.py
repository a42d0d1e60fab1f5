"""A distribution-spec v2 client for pulling: manifests, blobs, token auth. urllib only.

Endpoints: ``GET /v2/<name>/manifests/<tag|digest>`` with the Accept list containerd sends,
``GET /v2/<name>/blobs/<digest>`` (redirects followed, ``Authorization`` never forwarded to another host).
Scheme: plain http for loopback registries; ``insecure`` tries https without verification then http;
otherwise https. Docker Hub (``docker.io``) is served by ``registry-1.docker.io``.
Every manifest is checked against ``Docker-Content-Digest`` and against the digest it was asked by.
"""
from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from typing import BinaryIO, Callable

from pyrunc import __version__
from pyrunc.spec.image import Descriptor, DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST

from ..errors import EngineError
from . import auth, digest as dg
from .reference import Reference

ACCEPT = ", ".join([DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX, "*/*"])
MANIFEST_LIMIT = 4 << 20      # containerd's limit for manifests and indexes
CONFIG_LIMIT = 8 << 20
TIMEOUT = 60
DOCKER_HUB = "registry-1.docker.io"


class RegistryError(EngineError):
    """The registry refused or failed a request; the message says what and why."""


def is_loopback(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 or ::1 (with or without a port)."""
    h = host
    if h.startswith("["):
        h = h[1:h.index("]")] if "]" in h else h
    elif h.count(":") == 1:
        h = h.split(":", 1)[0]
    if h == "localhost" or h.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


class _NoCrossHostAuth(urllib.request.HTTPRedirectHandler):
    """Follow redirects (blob storage) but drop ``Authorization`` when the host changes."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and urllib.parse.urlsplit(newurl).netloc != urllib.parse.urlsplit(req.full_url).netloc:
            new.remove_header("Authorization")
        return new


def _error_detail(body: bytes) -> str:
    """``code: message`` of a distribution error body, or the body's first line."""
    try:
        errs = json.loads(body).get("errors") or []
        return "; ".join(f"{e.get('code', '').lower().replace('_', ' ')}: {e.get('message', '')}".strip(": ")
                         for e in errs)
    except (ValueError, AttributeError):
        return body.decode(errors="replace").strip().splitlines()[0][:200] if body.strip() else ""


def _error_codes(body: bytes) -> set[str]:
    try:
        return {e.get("code", "") for e in json.loads(body).get("errors") or []}
    except (ValueError, AttributeError):
        return set()


class Registry:
    """One registry host; keeps the working scheme and the tokens per scope for the pull's duration."""

    def __init__(self, domain: str, insecure: bool = False, authfile: str | None = None) -> None:
        self.domain = domain
        self.host = DOCKER_HUB if domain == "docker.io" else domain
        loop = is_loopback(self.host)
        self.schemes = ["http", "https"] if loop else (["https", "http"] if insecure else ["https"])
        self._verify_tls = not (loop or insecure)
        self.creds = auth.credentials_for(domain, authfile)
        self._tokens: dict[tuple[str, str, str], auth.Token] = {}
        self._auth: dict[str, str] = {}          # scope -> Authorization header value
        handlers: list = [_NoCrossHostAuth()]
        ctx = ssl.create_default_context()
        if not self._verify_tls:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        handlers.append(urllib.request.HTTPSHandler(context=ctx))
        if loop:
            handlers.append(urllib.request.ProxyHandler({}))
        self._opener = urllib.request.build_opener(*handlers)
        self._scheme: str | None = None

    # ---- transport --------------------------------------------------------------------
    def _send(self, url: str, method: str, headers: dict[str, str]):
        req = urllib.request.Request(url, method=method, headers={"User-Agent": f"pyctr/{__version__}", **headers})
        return self._opener.open(req, timeout=TIMEOUT)

    def _open(self, method: str, path: str, headers: dict[str, str]):
        """Send to the pinned scheme, or find one that answers (https → http when insecure)."""
        schemes = [self._scheme] if self._scheme else self.schemes
        last: Exception | None = None
        for scheme in schemes:
            url = f"{scheme}://{self.host}{path}"
            try:
                resp = self._send(url, method, headers)
                self._scheme = scheme
                return resp
            except urllib.error.HTTPError:
                self._scheme = scheme
                raise
            except (urllib.error.URLError, ssl.SSLError, ConnectionError, socket.timeout, OSError) as e:
                reason = getattr(e, "reason", e)
                last = RegistryError(f"{method} {url}: {reason}")
        assert last is not None
        raise last

    def _authorize(self, challenges: list[auth.Challenge], scope: str) -> str | None:
        """The Authorization header answering a 401 (token fetched for Bearer), None if impossible."""
        for ch in challenges:
            if ch.scheme == "bearer":
                key = (ch.params.get("realm", ""), ch.params.get("service", ""), ch.params.get("scope") or scope)
                tok = self._tokens.get(key)
                if tok is None or not tok.valid():
                    tok = self._fetch_token(ch, scope)
                    self._tokens[key] = tok
                return f"Bearer {tok.value}"
        for ch in challenges:
            if ch.scheme == "basic" and self.creds:
                return self.creds.basic_header()
        return None

    def _fetch_token(self, ch: auth.Challenge, scope: str) -> auth.Token:
        url = auth.token_url(ch, scope)
        headers = {"Authorization": self.creds.basic_header()} if self.creds else {}
        try:
            with self._send(url, "GET", headers) as resp:
                return auth.Token.from_response(resp.read(1 << 20))
        except urllib.error.HTTPError as e:
            detail = _error_detail(e.read(1 << 16))
            if e.code in (401, 403):
                raise RegistryError(f"{self.domain}: token request refused ({e.code}): "
                                    f"{detail or 'unauthorized: incorrect username or password'}") from None
            raise RegistryError(f"GET {url}: {e.code} {e.reason}" + (f": {detail}" if detail else "")) from None
        except (urllib.error.URLError, OSError) as e:
            raise RegistryError(f"GET {url}: {getattr(e, 'reason', e)}") from None

    def request(self, method: str, path: str, repo: str, headers: dict[str, str] | None = None):
        """An open response for ``path``; a 401 is answered once with a token or credentials."""
        scope = f"repository:{repo}:pull"
        hdrs = dict(headers or {})
        for attempt in range(2):
            if scope in self._auth:
                hdrs["Authorization"] = self._auth[scope]
            try:
                return self._open(method, path, hdrs)
            except urllib.error.HTTPError as e:
                if e.code == 401 and attempt == 0:
                    challenges = auth.parse_challenges(", ".join(e.headers.get_all("WWW-Authenticate") or []))
                    e.read()
                    if "Authorization" in hdrs:          # what we sent is stale (expired token): start over
                        self._tokens.clear()
                    value = self._authorize(challenges, scope)
                    if value is not None:
                        self._auth[scope] = value
                        continue
                raise self._http_error(e, repo) from None
        raise AssertionError("unreachable")

    def _http_error(self, e: urllib.error.HTTPError, repo: str) -> RegistryError:
        body = e.read(1 << 16) if e.fp else b""
        detail = _error_detail(body)
        codes = _error_codes(body)
        if e.code in (401, 403) or "DENIED" in codes or "UNAUTHORIZED" in codes:
            name = Reference(self.domain, repo).familiar_name
            err = RegistryError(f"pull access denied for {name}, repository does not exist or may require "
                                f"authentication: {detail or f'{e.code} {e.reason}'}")
        else:
            err = RegistryError(detail or f"{e.code} {e.reason}")
        err.status = e.code            # type: ignore[attr-defined]
        err.codes = codes              # type: ignore[attr-defined]
        return err

    # ---- API ---------------------------------------------------------------------------
    def get_manifest(self, repo: str, ref: str) -> tuple[bytes, str, str]:
        """(body, Content-Type, digest) of a manifest or index by tag or digest, digest-checked."""
        try:
            resp = self.request("GET", f"/v2/{repo}/manifests/{ref}", repo, {"Accept": ACCEPT})
        except RegistryError as e:
            if getattr(e, "status", 0) == 404:
                what = f"{Reference(self.domain, repo).familiar_name}{'@' if ':' in ref else ':'}{ref}"
                raise RegistryError(f"manifest for {what} not found: {e}") from None
            raise
        with resp:
            length = resp.headers.get("Content-Length")
            if length and int(length) > MANIFEST_LIMIT:
                raise RegistryError(f"manifest {ref}: {length} bytes is over the {MANIFEST_LIMIT} byte limit")
            body = resp.read(MANIFEST_LIMIT + 1)
            if len(body) > MANIFEST_LIMIT:
                raise RegistryError(f"manifest {ref}: over the {MANIFEST_LIMIT} byte limit")
            ctype = resp.headers.get("Content-Type", "")
            header_digest = resp.headers.get("Docker-Content-Digest", "")
        if ":" in ref:                                   # asked by digest: the body must have it
            dg.verify_bytes(body, ref, None, f"manifest {ref}")
            got = ref
        else:
            got = dg.of_bytes(body)
        if header_digest and header_digest.split(":", 1)[0] in ("sha256", "sha512"):
            dg.verify_bytes(body, header_digest, None, f"manifest {repo}:{ref} (Docker-Content-Digest)")
        return body, ctype, got

    def get_blob_bytes(self, repo: str, desc: Descriptor, limit: int = CONFIG_LIMIT) -> bytes:
        """A small blob (config, nested manifest) verified against ``desc``."""
        if desc.size > limit:
            raise RegistryError(f"blob {desc.digest}: {desc.size} bytes is over the {limit} byte limit")
        try:
            with self.request("GET", f"/v2/{repo}/blobs/{desc.digest}", repo) as resp:
                body = resp.read(desc.size + 1)
        except (http.client.HTTPException, OSError) as e:
            raise RegistryError(f"blob {desc.digest}: download failed: {e or type(e).__name__}") from None
        return dg.verify_bytes(body, desc.digest, desc.size, f"blob {desc.digest}")

    def fetch_blob(self, repo: str, desc: Descriptor, dst: BinaryIO,
                   progress: Callable[[int], None] | None = None) -> int:
        """Stream a blob into ``dst``, verifying digest and size; returns its size."""
        try:
            with self.request("GET", f"/v2/{repo}/blobs/{desc.digest}", repo) as resp:
                return dg.copy_verified(resp, dst, desc.digest, desc.size, f"blob {desc.digest}", progress)
        except (http.client.HTTPException, OSError) as e:     # connection lost mid-body
            raise RegistryError(f"blob {desc.digest}: download failed: {e or type(e).__name__}") from None
