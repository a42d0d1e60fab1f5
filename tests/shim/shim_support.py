"""Helpers of the engine (``pyctr``) tests: the Pyctr runner, OCI layout building, a loopback
docker-registry and a token server. conftest.py wraps them in fixtures; test modules import from
here, never from conftest (every test folder has a module named conftest)."""
from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from support import layer_tar_bytes
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "e2e"))
from images import build_images  # noqa: E402,F401  (re-exported to conftest)

PYCTR = os.path.join(sys.prefix, "bin", "pyctr")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
PLATFORMS = (("amd64", ""), ("arm64", "v8"), ("arm", "v7"), ("arm", "v6"))


# ------------------------------------------------------------------ leak checks
def mounts_under(prefix: str) -> list[str]:
    prefix = os.path.realpath(prefix).rstrip("/")
    with open("/proc/self/mountinfo") as f:
        mps = [line.split()[4].replace("\\040", " ") for line in f]
    return [m for m in mps if m == prefix or m.startswith(prefix + "/")]


def loops_under(prefix: str) -> list[str]:
    prefix = os.path.realpath(prefix).rstrip("/")
    res = subprocess.run(["losetup", "-l", "-J"], capture_output=True, text=True)
    if res.returncode != 0 or not res.stdout.strip():
        return []
    return [d["name"] for d in json.loads(res.stdout).get("loopdevices", [])
            if (d.get("back-file") or "").removesuffix(" (deleted)").startswith(prefix + "/")]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ pyctr
class Pyctr:
    """The installed pyctr on a private root/state; ``run`` returns the CompletedProcess."""

    def __init__(self, base: str, storage_driver: str | None = None) -> None:
        self.base = base
        self.root = os.path.join(base, "root")
        self.state = os.path.join(base, "state")
        self.storage_driver = storage_driver
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "DOCKER_CONFIG")}
        self.env["DOCKER_CONFIG"] = os.path.join(base, "docker-config")   # no host credentials leak in
        self._cleanups: list = []

    def argv(self, *args: str) -> list[str]:
        g = ["--root", self.root, "--state", self.state]
        if self.storage_driver:
            g += ["--storage-driver", self.storage_driver]
        return [PYCTR, *g, *args]

    def run(self, *args: str, check: bool = True, input: bytes | str | None = None, timeout: float = 120,
            env: dict | None = None) -> subprocess.CompletedProcess:
        p = subprocess.run(self.argv(*args), capture_output=True, text=not isinstance(input, bytes), input=input,
                           timeout=timeout, env={**self.env, **(env or {})})
        if isinstance(p.stdout, bytes):
            p.stdout, p.stderr = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
        if check and p.returncode != 0:
            raise AssertionError(f"pyctr {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
        return p

    def context(self):
        from pyrunc.shim.context import Context
        return Context(root=self.root, state=self.state, storage_driver=self.storage_driver)

    def store(self):
        """An in-process ImageStore on the same root (to inspect what the CLI did)."""
        from pyrunc.shim.images.store import ImageStore
        return ImageStore(self.context())

    def on_cleanup(self, fn) -> None:
        """Run ``fn()`` at teardown before the graph driver is cleaned up (e.g. remove containers)."""
        self._cleanups.append(fn)

    def teardown(self) -> list[str]:
        errors = []
        for fn in reversed(self._cleanups):
            try:
                fn()
            except Exception as e:  # keep tearing down
                errors.append(f"cleanup {fn}: {e}")
        if os.path.isdir(os.path.join(self.root, "storage")):
            try:
                self.context().driver().cleanup()
            except Exception as e:
                errors.append(f"driver cleanup: {e}")
        left = mounts_under(self.base)
        for mp in sorted(left, key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], capture_output=True)
        loops = loops_under(self.base)
        for dev in loops:
            subprocess.run(["losetup", "-d", dev], capture_output=True)
        if left:
            errors.append(f"mounts left behind: {left}")
        if loops:
            errors.append(f"loop devices left behind: {loops}")
        return errors


# ------------------------------------------------------------------ OCI layout building
def tar_bytes(files: dict[str, bytes | None]) -> bytes:
    """An uncompressed layer tar; None content = directory."""
    return layer_tar_bytes(files)


class Layout:
    """Write blobs/manifests/indexes into an OCI layout by hand (what umoci cannot: variants, indexes)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def put(self, data: bytes) -> dict:
        d = hashlib.sha256(data).hexdigest()
        p = os.path.join(self.path, "blobs", "sha256", d)
        if not os.path.exists(p):
            with open(p, "wb") as f:
                f.write(data)
        return {"digest": f"sha256:{d}", "size": len(data)}

    def blob(self, digest: str) -> bytes:
        with open(os.path.join(self.path, "blobs", "sha256", digest.split(":", 1)[1]), "rb") as f:
            return f.read()

    def index(self) -> dict:
        with open(os.path.join(self.path, "index.json")) as f:
            return json.load(f)

    def manifest_desc(self, tag: str) -> dict:
        for m in self.index()["manifests"]:
            if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
                return m
        raise KeyError(tag)

    def tag(self, tag: str, desc: dict) -> None:
        idx = self.index()
        idx["manifests"] = [m for m in idx["manifests"]
                            if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != tag]
        idx["manifests"].append({**desc, "annotations": {"org.opencontainers.image.ref.name": tag}})
        with open(os.path.join(self.path, "index.json"), "w") as f:
            json.dump(idx, f)

    def derive(self, base_tag: str, tag: str, layers: list[bytes], arch: str | None = None,
               variant: str | None = None, diff_ids: list[str] | None = None, compress: bool = True) -> dict:
        """A new image = ``base_tag`` + ``layers`` (uncompressed tars), optionally another platform.

        ``diff_ids`` overrides the DiffIDs written for the new layers (to make a lying config).
        Returns the manifest descriptor (also tagged ``tag`` in index.json)."""
        base = json.loads(self.blob(self.manifest_desc(base_tag)["digest"]))
        cfg = json.loads(self.blob(base["config"]["digest"]))
        for i, raw in enumerate(layers):
            blob = gzip.compress(raw, mtime=0) if compress else raw
            mt = "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if compress else "")
            base["layers"].append({"mediaType": mt, **self.put(blob)})
            cfg["rootfs"]["diff_ids"].append(diff_ids[i] if diff_ids else "sha256:" + hashlib.sha256(raw).hexdigest())
            cfg.setdefault("history", []).append({"created": "2024-01-01T00:00:00Z", "created_by": f"test {tag}"})
        if arch:
            cfg["architecture"] = arch
        if variant is not None:
            if variant:
                cfg["variant"] = variant
            else:
                cfg.pop("variant", None)
        base["config"] = {"mediaType": "application/vnd.oci.image.config.v1+json",
                          **self.put(json.dumps(cfg).encode())}
        desc = {"mediaType": OCI_MANIFEST, **self.put(json.dumps(base).encode())}
        self.tag(tag, desc)
        return desc

    def make_index(self, tag: str, entries: list[tuple[dict, dict | None, dict | None]]) -> dict:
        """An OCI index over (manifest descriptor, platform, annotations) entries, tagged ``tag``."""
        ms = []
        for desc, plat, ann in entries:
            e = {"mediaType": desc["mediaType"], "digest": desc["digest"], "size": desc["size"]}
            if plat:
                e["platform"] = plat
            if ann:
                e["annotations"] = ann
            ms.append(e)
        desc = {"mediaType": OCI_INDEX, **self.put(json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                                                "manifests": ms}).encode())}
        self.tag(tag, desc)
        return desc


def platform_name(arch: str, variant: str) -> str:
    return f"linux/{arch}" + (f"/{variant}" if variant else "")


# ------------------------------------------------------------------ registry
def _wait_http(url: str, proc: subprocess.Popen, log: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"docker-registry exited ({proc.returncode}): {open(log).read()[-2000:]}")
        try:
            opener.open(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return           # 401 from an auth registry: it is up
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"docker-registry did not answer on {url}")


class LocalRegistry:
    """``docker-registry serve`` on loopback; ``push`` copies from the test layout with skopeo."""

    def __init__(self, base: str, auth: dict | None = None) -> None:
        if not shutil.which("docker-registry"):
            pytest.skip("docker-registry is not installed (apt package docker-registry)")
        self.base = base
        self.storage = os.path.join(base, "data")
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        cfg = {"version": 0.1, "log": {"level": "warn", "accesslog": {"disabled": True}},
               "storage": {"filesystem": {"rootdirectory": self.storage}, "delete": {"enabled": True}},
               "http": {"addr": self.addr}}
        if auth:
            cfg["auth"] = auth
        conf = os.path.join(base, "config.yml")
        with open(conf, "w") as f:
            json.dump(cfg, f)          # YAML is a superset of JSON
        self.log = os.path.join(base, "registry.log")
        with open(self.log, "wb") as logf:
            self.proc = subprocess.Popen(["docker-registry", "serve", conf], stdout=logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            _wait_http(f"http://{self.addr}/v2/", self.proc, self.log)
        except BaseException:
            self.stop()
            raise

    def push(self, layout: str, tag: str, name: str, all: bool = False, fmt: str | None = None,
             creds: str | None = None) -> None:
        argv = ["skopeo", "--insecure-policy", "copy", "-q", "--dest-tls-verify=false"]
        if all:
            argv.append("--all")
        if fmt:
            argv += ["--format", fmt]
        if creds:
            argv += ["--dest-creds", creds]
        argv += [f"oci:{layout}:{tag}", f"docker://{self.addr}/{name}"]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                           env={k: v for k, v in os.environ.items() if "proxy" not in k.lower()})
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)}: {p.stderr.strip()}")

    def blob_file(self, digest: str) -> str:
        """The file in the registry's storage holding a blob (to corrupt it)."""
        h = digest.split(":", 1)[1]
        return os.path.join(self.storage, "docker", "registry", "v2", "blobs", "sha256", h[:2], h, "data")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _push_standard(reg: LocalRegistry, files) -> None:
    layout = files.oci_layout
    reg.push(layout, "busybox", "busybox:latest")
    reg.push(layout, "whiteout", "whiteout:latest")
    reg.push(layout, "multi", "multi:latest", all=True)
    reg.push(layout, "multi", "multi-v2s2:latest", all=True, fmt="v2s2")


# ------------------------------------------------------------------ token auth
def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def libtrust_key_id(der_spki: bytes) -> str:
    """docker/libtrust KeyID: base32 of the first 240 bits of sha256(SPKI DER), in 4-char groups."""
    s = base64.b32encode(hashlib.sha256(der_spki).digest()[:30]).decode().rstrip("=")
    return ":".join(s[i:i + 4] for i in range(0, len(s), 4))


class TokenServer:
    """A minimal distribution token server: Basic-authenticated users, RS256 JWTs, a request log."""

    SERVICE = "pyctr-test-registry"
    ISSUER = "pyctr-test-issuer"

    def __init__(self, base: str, users: dict[str, tuple[str, set[str]]], public_prefix: str = "public/") -> None:
        try:
            from cryptography import x509
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import padding, rsa
            from cryptography.x509.oid import NameOID
        except ImportError:
            pytest.skip("the cryptography package is needed for the token-auth registry")
        import datetime
        self._padding, self._hashes = padding, hashes
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pyctr test token issuer")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(self.key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=2))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(self.key, hashes.SHA256()))
        self.cert_file = os.path.join(base, "token-root.pem")
        with open(self.cert_file, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        self.kid = libtrust_key_id(self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))
        self.users = users
        self.public_prefix = public_prefix
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                outer._handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.realm = f"http://127.0.0.1:{self.port}/token"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def auth_config(self) -> dict:
        return {"token": {"realm": self.realm, "service": self.SERVICE, "issuer": self.ISSUER,
                          "rootcertbundle": self.cert_file}}

    def _sign(self, claims: dict) -> str:
        header = {"typ": "JWT", "alg": "RS256", "kid": self.kid}
        signing = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        sig = self.key.sign(signing.encode(), self._padding.PKCS1v15(), self._hashes.SHA256())
        return f"{signing}.{_b64url(sig)}"

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        url = urllib.parse.urlsplit(h.path)
        q = urllib.parse.parse_qs(url.query)
        user = None
        authz = h.headers.get("Authorization", "")
        self.requests.append({"path": url.path, "query": q, "authorization": authz})
        if authz.startswith("Basic "):
            u, _, pw = base64.b64decode(authz[6:]).decode().partition(":")
            if u not in self.users or self.users[u][0] != pw:
                h.send_response(401)
                h.send_header("Content-Type", "application/json")
                h.end_headers()
                h.wfile.write(b'{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}')
                return
            user = u
        access = []
        for scope in q.get("scope", []):
            typ, _, rest = scope.partition(":")
            repo, _, actions = rest.rpartition(":")
            if typ != "repository":
                continue
            allowed = self.users[user][1] if user else ({"pull"} if repo.startswith(self.public_prefix) else set())
            granted = [a for a in actions.split(",") if a in allowed]
            access.append({"type": "repository", "name": repo, "actions": granted})
        now = int(time.time())
        token = self._sign({"iss": self.ISSUER, "sub": user or "", "aud": q.get("service", [""])[0],
                            "exp": now + 300, "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex,
                            "access": access})
        body = json.dumps({"token": token, "access_token": token, "expires_in": 300}).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
