"""Registry credentials and the token handshake (distribution docs/spec/auth/token.md).

A registry answers 401 with ``WWW-Authenticate: Bearer realm=...,service=...,scope=...``; the client
GETs ``realm?service=&scope=`` (HTTP Basic with the user's credentials, anonymous otherwise) and retries
with ``Authorization: Bearer <token>``. ``Basic realm=...`` means: send the credentials directly.
Credentials come from a docker/podman auth file (``auths.<registry>.auth`` = base64 ``user:password``).
"""
from __future__ import annotations

import base64
import json
import os
import re
import time
import urllib.parse
from dataclasses import dataclass

from ..errors import EngineError

# RFC 7235 challenge: scheme followed by comma-separated key=value / key="quoted" params
_PARAM = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*(?:,|$)')


@dataclass
class Challenge:
    scheme: str            # "bearer" or "basic" (lowercase)
    params: dict[str, str]


def parse_challenges(header: str) -> list[Challenge]:
    """Parse a ``WWW-Authenticate`` value (possibly several challenges) into scheme + params."""
    out: list[Challenge] = []
    s = header.strip()
    while s:
        m = re.match(r"([A-Za-z][A-Za-z0-9_-]*)\s*", s)
        if not m:
            break
        scheme, s = m.group(1).lower(), s[m.end():]
        params: dict[str, str] = {}
        while s:
            pm = _PARAM.match(s)
            if not pm:
                break
            # a new challenge starts with "Scheme key=" : stop if the key is preceded by a bare word
            params[pm.group(1).lower()] = re.sub(r"\\(.)", r"\1", pm.group(2)) if pm.group(2) is not None \
                else pm.group(3)
            s = s[pm.end():].lstrip()
            if re.match(r"[A-Za-z][A-Za-z0-9_-]*\s+[A-Za-z0-9_.-]+\s*=", s):
                break
        out.append(Challenge(scheme, params))
    return out


@dataclass
class Credentials:
    username: str
    password: str

    def basic_header(self) -> str:
        return "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()


def auth_files() -> list[str]:
    """Where docker and podman keep registry credentials, in lookup order."""
    files = []
    if os.environ.get("REGISTRY_AUTH_FILE"):
        files.append(os.environ["REGISTRY_AUTH_FILE"])
    if os.environ.get("XDG_RUNTIME_DIR"):
        files.append(os.path.join(os.environ["XDG_RUNTIME_DIR"], "containers", "auth.json"))
    files.append(os.path.join(os.environ.get("DOCKER_CONFIG") or os.path.expanduser("~/.docker"), "config.json"))
    return files


def _keys_for(domain: str) -> list[str]:
    if domain in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        return ["https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io"]
    return [domain, f"https://{domain}", f"http://{domain}", f"https://{domain}/v1/", f"https://{domain}/v2/"]


def credentials_for(domain: str, authfile: str | None = None) -> Credentials | None:
    """Credentials for ``domain`` from ``authfile`` (or the usual auth files); None for anonymous."""
    for path in ([authfile] if authfile else auth_files()):
        try:
            with open(path) as f:
                doc = json.load(f)
        except FileNotFoundError:
            if authfile:
                raise EngineError(f"auth file {authfile}: does not exist") from None
            continue
        except (OSError, ValueError) as e:
            raise EngineError(f"auth file {path}: {e}") from None
        auths = doc.get("auths") or {}
        for key in _keys_for(domain):
            entry = auths.get(key)
            if not isinstance(entry, dict):
                continue
            if entry.get("username") is not None:
                return Credentials(entry["username"], entry.get("password") or "")
            if entry.get("auth"):
                try:
                    user, _, pw = base64.b64decode(entry["auth"]).decode().partition(":")
                except (ValueError, UnicodeDecodeError):
                    raise EngineError(f"auth file {path}: invalid auth entry for {key}") from None
                return Credentials(user, pw)
    return None


def token_url(ch: Challenge, scope: str) -> str:
    """``realm?service=...&scope=...`` (one ``scope=`` per space-separated scope)."""
    realm = ch.params.get("realm")
    if not realm:
        raise EngineError("registry asked for a bearer token without a realm")
    q = []
    if ch.params.get("service"):
        q.append(("service", ch.params["service"]))
    for s in (ch.params.get("scope") or scope).split():
        q.append(("scope", s))
    sep = "&" if "?" in realm else "?"
    return realm + (sep + urllib.parse.urlencode(q) if q else "")


@dataclass
class Token:
    value: str
    expires: float     # monotonic time

    @classmethod
    def from_response(cls, body: bytes) -> "Token":
        try:
            doc = json.loads(body)
        except ValueError:
            raise EngineError("token server returned invalid JSON") from None
        tok = doc.get("token") or doc.get("access_token")
        if not isinstance(tok, str) or not tok:
            raise EngineError("token server response has no token")
        ttl = doc.get("expires_in")
        ttl = ttl if isinstance(ttl, (int, float)) and ttl > 0 else 60
        return cls(tok, time.monotonic() + ttl - 5)

    def valid(self) -> bool:
        return time.monotonic() < self.expires
