"""Images: reference rules, platform choice, spec validation, and pull/load/images/rmi end to end.

Pulls go to a real ``docker-registry`` on 127.0.0.1 (plain and behind token auth); layers land in a
real graph driver and are checked by mounting a fresh writable layer on the image, as a container would.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import uuid

import pytest

from shim_support import Layout, free_port, platform_name, tar_bytes

from pyrunc.shim.errors import EngineError
from pyrunc.shim.images import digest as dg
from pyrunc.shim.images import platform as plat
from pyrunc.shim.images import reference
from pyrunc.spec import image as spec


# ================================================================== references (docker's normalize.go cases)
@pytest.mark.parametrize("raw,full,familiar", [
    ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
    ("library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("index.docker.io/library/busybox:x", "docker.io/library/busybox:x", "busybox:x"),
    ("user/app", "docker.io/user/app:latest", "user/app:latest"),
    ("localhost/busybox", "localhost/busybox:latest", "localhost/busybox:latest"),
    ("localhost:5000/a/b:v1", "localhost:5000/a/b:v1", "localhost:5000/a/b:v1"),
    ("127.0.0.1:5000/busybox", "127.0.0.1:5000/busybox:latest", "127.0.0.1:5000/busybox:latest"),
    ("quay.io/org/img:tag", "quay.io/org/img:tag", "quay.io/org/img:tag"),
    ("Registry.Example/x", "Registry.Example/x:latest", "Registry.Example/x:latest"),
    ("busybox@sha256:" + "a" * 64, "docker.io/library/busybox@sha256:" + "a" * 64, "busybox@sha256:" + "a" * 64),
    ("b:t@sha256:" + "b" * 64, "docker.io/library/b:t@sha256:" + "b" * 64, "b:t@sha256:" + "b" * 64),
])
def test_reference_normalization(raw, full, familiar):
    r = reference.parse(raw).tagged()
    assert str(r) == full
    assert r.familiar() == familiar


@pytest.mark.parametrize("raw,msg", [
    ("", "invalid reference format"),
    ("Busybox", "must be lowercase"),
    ("busybox:", "invalid reference format"),
    ("a" * 64, "cannot specify 64-byte hexadecimal strings"),
    ("busybox@sha256:abc", "invalid reference format"),
    ("busybox@sha256:" + "a" * 63 + "aa", "invalid checksum digest length"),
    ("bad//path", "invalid reference format"),
    ("x:" + "t" * 129, "invalid reference format"),
])
def test_reference_rejects(raw, msg):
    with pytest.raises(reference.ReferenceError, match=re.escape(msg)):
        reference.parse(raw)


# ================================================================== platform selection
def _entry(arch, os_="linux", variant="", ann=None):
    p = spec.Platform(arch, os_, variant)
    return spec.Descriptor(spec.OCI_MANIFEST, "sha256:" + hashlib.sha256(str(p).encode()).hexdigest(), 10,
                           platform=p, annotations=ann or {})


def test_platform_normalize():
    assert str(plat.normalize("Linux", "x86_64")) == "linux/amd64"
    assert str(plat.normalize("linux", "aarch64")) == "linux/arm64/v8"
    assert str(plat.normalize("linux", "armhf")) == "linux/arm/v7"
    assert str(plat.parse("linux/arm")) == "linux/arm/v7"
    assert str(plat.parse("arm64")) == "linux/arm64/v8"
    with pytest.raises(EngineError, match="os/arch"):
        plat.parse("linux//x")


def test_platform_select_prefers_exact_then_compatible_and_skips_attestations():
    att = _entry("unknown", "unknown", ann={"vnd.docker.reference.type": "attestation-manifest"})
    amd, arm64, v6, v7 = _entry("amd64"), _entry("arm64", variant="v8"), _entry("arm", variant="v6"), \
        _entry("arm", variant="v7")
    ms = [att, v6, amd, arm64, v7]
    assert plat.select(plat.parse("linux/amd64"), ms) is amd
    assert plat.select(plat.parse("linux/arm64"), ms) is arm64
    assert plat.select(plat.parse("linux/arm/v7"), ms) is v7          # exact beats compatible v6
    assert plat.select(plat.parse("linux/arm/v7"), [att, v6]) is v6     # v7 hosts run v6 images
    with pytest.raises(EngineError, match="no matching manifest for linux/arm/v6"):
        plat.select(plat.parse("linux/arm/v6"), [v7, amd])              # but not the other way round
    with pytest.raises(EngineError, match="no matching manifest for linux/s390x"):
        plat.select(plat.parse("linux/s390x"), ms)
    assert plat.select(plat.parse("linux/arm64"), [_entry("arm64")]).platform.architecture == "arm64"


# ================================================================== spec/image.py validation
def test_image_spec_errors_name_the_field():
    good = {"mediaType": spec.OCI_LAYER_GZIP, "digest": "sha256:" + "0" * 64, "size": 1}
    m = spec.parse_manifest(json.dumps({"schemaVersion": 2, "config": {**good, "mediaType": spec.OCI_CONFIG},
                                        "layers": [good], "extra": "ignored"}).encode())
    assert m.layers[0].size == 1 and m.media_type == spec.OCI_MANIFEST
    cases = [
        ({"schemaVersion": 2, "config": good, "layers": [good, {**good, "size": "1"}]},
         r"^manifest\.layers\[1\]\.size: expected an integer"),
        ({"schemaVersion": 2, "config": {**good, "digest": "sha256:xyz"}, "layers": []},
         r"^manifest\.config\.digest: invalid sha256 digest"),
        ({"schemaVersion": 1, "config": good, "layers": []}, r"^manifest\.schemaVersion: unsupported"),
        ({"schemaVersion": 2, "layers": []}, r"^manifest\.config: required field is missing"),
        ({"schemaVersion": 2, "config": {**good, "size": -1}, "layers": []}, r"^manifest\.config\.size: must not"),
    ]
    for doc, pat in cases:
        with pytest.raises(spec.ImageSpecError, match=pat):
            spec.parse_manifest(json.dumps(doc).encode())
    with pytest.raises(spec.ImageSpecError, match=r"^index\.manifests\[0\]\.platform\.architecture: required"):
        spec.parse_index(json.dumps({"schemaVersion": 2, "manifests": [{**good, "platform": {"os": "linux"}}]}))
    cfg = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "1" * 64]},
           "config": {"Env": ["A=1"], "Cmd": None}}
    assert spec.parse_config(json.dumps(cfg).encode()).diff_ids == ["sha256:" + "1" * 64]
    for patch, pat in [({"rootfs": {"type": "x", "diff_ids": []}}, r"^config\.rootfs\.type: must be"),
                       ({"config": {"Env": "A=1"}}, r"^config\.config\.Env: expected an array"),
                       ({"config": {"Labels": {"a": 1}}}, r"^config\.config\.Labels\.a: expected a string"),
                       ({"os": None}, r"^config\.os: required"),
                       ({"rootfs": {"type": "layers", "diff_ids": ["sha256:zz"]}},
                        r"^config\.rootfs\.diff_ids\[0\]: invalid")]:
        with pytest.raises(spec.ImageSpecError, match=pat):
            spec.parse_config(json.dumps({**cfg, **patch}).encode())
    with pytest.raises(spec.ImageSpecError, match="schema 1"):
        spec.parse_any(json.dumps({"schemaVersion": 1, "fsLayers": []}).encode())
    with pytest.raises(spec.ImageSpecError, match="invalid JSON"):
        spec.parse_any(b"{")


def test_chain_ids_follow_image_spec():
    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    assert dg.chain_ids([a, b]) == [a, "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()]


# ================================================================== helpers
def lines(out: str) -> list[str]:
    return [ln for ln in out.splitlines() if ln.strip()]


def image_rows(pyctr) -> list[list[str]]:
    """`pyctr images` rows split on runs of 2+ spaces (columns are padded with at least 3)."""
    out = lines(pyctr.run("images").stdout)
    assert re.match(r"^REPOSITORY\s{3,}TAG\s{3,}IMAGE ID\s{3,}CREATED\s{3,}SIZE$", out[0]), out[0]
    return [re.split(r"\s{2,}", ln) for ln in out[1:]]


class Mounted:
    """A writable layer on an image's top layer, mounted with driver.get() (what a container gets)."""

    def __init__(self, pyctr, ref: str) -> None:
        self.store = pyctr.store()
        self.image = self.store.get(ref)
        self.driver = self.store.driver
        self.id = "ctr-" + uuid.uuid4().hex[:12]

    def __enter__(self) -> str:
        self.driver.create(self.id, self.image.top_layer, writable=True)
        try:
            return self.driver.get(self.id)
        except BaseException:
            self.driver.remove(self.id)
            raise

    def __exit__(self, *exc) -> None:
        try:
            self.driver.put(self.id)
        finally:
            self.driver.remove(self.id)


def read_in(pyctr, ref: str, path: str) -> str:
    with Mounted(pyctr, ref) as root:
        with open(os.path.join(root, path.lstrip("/"))) as f:
            return f.read()


def store_state(pyctr) -> dict:
    """What the store holds: driver layers, registered layers, images, scratch files."""
    st = pyctr.store()
    return {"driver": sorted(st.driver.layers()), "layers": sorted(st.layers.ids()),
            "images": sorted(i.id for i in st.list()), "tmp": os.listdir(os.path.join(st.dir, "tmp"))}


def registry_manifest(addr: str, name: str, ref: str, accept: str = spec.OCI_MANIFEST) -> tuple[bytes, str]:
    import urllib.request
    req = urllib.request.Request(f"http://{addr}/v2/{name}/manifests/{ref}", headers={"Accept": accept})
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(req, timeout=10) as r:
        return r.read(), r.headers["Docker-Content-Digest"]


def private_layout(image_files, tmp_path) -> Layout:
    """A copy of the test layout we may add unique images to."""
    dst = os.path.join(str(tmp_path), "layout")
    shutil.copytree(image_files.oci_layout, dst)
    return Layout(dst)


def unique_layer(tag: str) -> bytes:
    return tar_bytes({f"u-{tag}": (uuid.uuid4().hex * 64).encode()})


# ================================================================== load
@pytest.mark.parametrize("form", ["oci_archive", "docker_archive"])
def test_load_archive(pyctr, image_files, form):
    out = pyctr.run("load", "-i", getattr(image_files, form)).stdout
    assert "Loaded image: localhost/busybox:latest" in out
    img = pyctr.store().get("localhost/busybox")
    assert img.names == ["localhost/busybox:latest"]
    assert img.config["config"]["Cmd"] == ["/bin/sh"]
    assert len(img.layers) == 1 and img.top_layer == img.layers[0]
    assert img.layers[0] == dg.hex_of(img.diff_ids[0])           # ChainID of a base layer is its DiffID
    assert os.access(os.path.join(pyctr.store().driver.get(img.top_layer), "bin", "busybox"), os.X_OK)
    pyctr.store().driver.put(img.top_layer)
    rows = image_rows(pyctr)
    assert rows[0][:3] == ["localhost/busybox", "latest", img.short_id]
    assert re.match(r"^\d+(\.\d+)?MB$", rows[0][4])


def test_load_forms_agree_and_layout_loads_every_tag(pyctr, image_files):
    pyctr.run("load", "-i", image_files.docker_archive)
    first = pyctr.store().get("localhost/busybox").id
    out = pyctr.run("load", "-i", image_files.oci_layout).stdout
    assert "Loaded image: localhost/whiteout:latest" in out and "Already exists" in out
    st = pyctr.store()
    assert st.get("localhost/busybox").id == first                  # same config bytes in every form
    # bare ref names of the layout become localhost/<name>:latest; the index picked this host's platform
    assert st.get("localhost/multi").id == st.get("localhost/plat-amd64").id
    assert read_in(pyctr, "localhost/multi", "/platform") == "linux/amd64\n"
    wh = st.get("localhost/whiteout")
    assert wh.layers[0] == st.get("busybox").layers[0]              # short name found via localhost/ too


def test_load_compressed_from_stdin(pyctr, image_files, tmp_path):
    with open(image_files.whiteout_docker_archive, "rb") as f:
        data = gzip.compress(f.read(), compresslevel=1)
    out = pyctr.run("load", input=data).stdout
    assert "Loaded image: localhost/whiteout:latest" in out
    assert len(pyctr.store().get("localhost/whiteout").layers) == 3


def test_load_rejects_corrupt_blob_and_leaves_nothing(pyctr, image_files, tmp_path):
    lay = private_layout(image_files, tmp_path)
    desc = lay.derive("busybox", "bad", [unique_layer("a"), unique_layer("b")])
    manifest = json.loads(lay.blob(desc["digest"]))
    top = manifest["layers"][-1]["digest"]
    path = os.path.join(lay.path, "blobs", "sha256", top.split(":")[1])
    with open(path, "r+b") as f:
        f.seek(100)
        b = f.read(1)
        f.seek(100)
        f.write(bytes([b[0] ^ 0xFF]))
    idx = lay.index()
    idx["manifests"] = [m for m in idx["manifests"] if m["digest"] == desc["digest"]]
    with open(os.path.join(lay.path, "index.json"), "w") as f:
        json.dump(idx, f)
    p = pyctr.run("load", "-i", lay.path, check=False)
    assert p.returncode == 1
    assert "digest mismatch" in p.stderr and top in p.stderr
    state = store_state(pyctr)
    assert state == {"driver": [], "layers": [], "images": [], "tmp": []}, state


def test_load_missing_and_garbage(pyctr, tmp_path):
    p = pyctr.run("load", "-i", str(tmp_path / "nope.tar"), check=False)
    assert p.returncode == 1 and "no such file" in p.stderr
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"x" * 2048)
    p = pyctr.run("load", "-i", str(junk), check=False)
    assert p.returncode == 1 and p.stderr.startswith("Error: ")


# ================================================================== whiteouts
@pytest.mark.parametrize("driver", ["overlay2", "vfs"])
def test_whiteouts_in_mounted_top_layer(pyctr, image_files, driver):
    pyctr.storage_driver = driver
    pyctr.run("load", "-i", image_files.whiteout_oci_archive)
    with Mounted(pyctr, "localhost/whiteout") as root:
        assert sorted(os.listdir(os.path.join(root, "wh"))) == ["keep"]
        assert sorted(os.listdir(os.path.join(root, "opq"))) == ["new"]
        with open(os.path.join(root, "opq", "new")) as f:
            assert f.read() == "new\n"
        assert not any(n.startswith(".wh.") for _, ds, fs in os.walk(root) for n in ds + fs)
        assert os.path.exists(os.path.join(root, "bin", "busybox"))


# ================================================================== pull
def test_pull_by_tag(pyctr, registry):
    ref = f"{registry.addr}/busybox"
    body, digest = registry_manifest(registry.addr, "busybox", "latest")
    out = lines(pyctr.run("pull", ref).stdout)
    layer = json.loads(body)["layers"][0]["digest"].split(":")[1][:12]
    assert out[0] == "Using default tag: latest"
    assert out[1] == "latest: Pulling from busybox"
    assert f"{layer}: Pull complete" in out
    assert out[-3:] == [f"Digest: {digest}", f"Status: Downloaded newer image for {ref}:latest", f"{ref}:latest"]
    img = pyctr.store().get(ref)
    assert img.names == [f"{ref}:latest"] and img.digests == [f"{ref}@{digest}"]
    assert img.id == json.loads(body)["config"]["digest"]
    assert read_in(pyctr, ref, "/etc/passwd").startswith("root:")
    again = lines(pyctr.run("pull", ref + ":latest").stdout)
    assert f"{layer}: Already exists" in again and f"Status: Image is up to date for {ref}:latest" in again
    by_name = f"localhost:{registry.port}/busybox"                 # loopback by name: plain http as well
    assert lines(pyctr.run("pull", by_name).stdout)[-1] == f"{by_name}:latest"
    assert pyctr.store().get(by_name).id == img.id


def test_pull_by_digest(pyctr, registry):
    _, digest = registry_manifest(registry.addr, "whiteout", "latest")
    ref = f"{registry.addr}/whiteout@{digest}"
    out = lines(pyctr.run("pull", ref).stdout)
    assert out[0] == f"{digest}: Pulling from whiteout" and out[-1] == ref
    img = pyctr.store().get(ref)
    assert img.names == [] and img.digests == [ref]
    rows = image_rows(pyctr)
    assert rows == [[f"{registry.addr}/whiteout", "<none>", img.short_id, rows[0][3], rows[0][4]]]
    assert pyctr.run("pull", "-q", ref).stdout == ref + "\n"
    p = pyctr.run("pull", f"{registry.addr}/whiteout@sha256:" + "0" * 64, check=False)
    assert p.returncode == 1 and "not found" in p.stderr


def test_pull_shared_layer_stored_once(pyctr, registry):
    pyctr.run("pull", f"{registry.addr}/busybox")
    out = pyctr.run("pull", f"{registry.addr}/whiteout").stdout
    assert "Already exists" in out
    st = pyctr.store()
    bb, wh = st.get(f"{registry.addr}/busybox"), st.get(f"{registry.addr}/whiteout")
    assert wh.layers[0] == bb.layers[0]
    assert sorted(st.driver.layers()) == sorted(set(bb.layers + wh.layers)) and len(st.driver.layers()) == 3
    assert st.driver.parent(wh.layers[1]) == wh.layers[0]
    # layer ids are ChainIDs
    assert ["sha256:" + x for x in wh.layers] == dg.chain_ids(wh.diff_ids)


@pytest.mark.parametrize("name", ["multi", "multi-v2s2"])
def test_pull_platform_from_index(pyctr, registry, name):
    ref = f"{registry.addr}/{name}"
    body, _ = registry_manifest(registry.addr, name, "latest",
                                spec.OCI_INDEX if name == "multi" else spec.DOCKER_LIST)
    assert json.loads(body)["mediaType"] == (spec.OCI_INDEX if name == "multi" else spec.DOCKER_LIST)
    pyctr.run("pull", ref)
    assert read_in(pyctr, ref, "/platform") == f"{platform_name(*plat_host())}\n"
    for want, got in [("linux/arm64", "linux/arm64/v8"), ("linux/arm/v7", "linux/arm/v7"),
                      ("linux/arm/v6", "linux/arm/v6")]:
        pyctr.run("pull", "--platform", want, ref)
        assert read_in(pyctr, ref, "/platform") == got + "\n", want
        assert pyctr.store().get(ref).platform == got
    p = pyctr.run("pull", "--platform", "linux/s390x", ref, check=False)
    assert p.returncode == 1 and "no matching manifest for linux/s390x" in p.stderr
    p = pyctr.run("pull", "--platform", "linux/arm64", f"{registry.addr}/busybox", check=False)
    assert p.returncode == 1 and "does not match the specified platform" in p.stderr


def plat_host():
    h = plat.host()
    return h.architecture, "" if h.architecture == "amd64" else h.variant


def _push_unique(registry, image_files, tmp_path, layers, **kw) -> tuple[str, dict, Layout]:
    lay = private_layout(image_files, tmp_path)
    tag = "u" + uuid.uuid4().hex[:10]
    desc = lay.derive("busybox", tag, layers, **kw)
    registry.push(lay.path, tag, f"{tag}:latest")
    return f"{registry.addr}/{tag}", json.loads(lay.blob(desc["digest"])), lay


def flip_byte(path: str, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x01]))


def test_corrupted_blob_rejected_nothing_left(pyctr, registry, image_files, tmp_path):
    pyctr.run("pull", f"{registry.addr}/busybox")
    before = store_state(pyctr)
    ref, manifest, _ = _push_unique(registry, image_files, tmp_path, [unique_layer("a"), unique_layer("b")])
    top = manifest["layers"][-1]["digest"]
    flip_byte(registry.blob_file(top), 50)
    p = pyctr.run("pull", ref, check=False)
    assert p.returncode == 1
    assert re.search(rf"blob {top}: digest mismatch: got sha256:[0-9a-f]{{64}}, expected {top}", p.stderr), p.stderr
    assert store_state(pyctr) == before
    assert pyctr.run("images", "-q").stdout.split() == [pyctr.store().get(f"{registry.addr}/busybox").short_id]


def test_wrong_diffid_rolls_back_applied_layers(pyctr, registry, image_files, tmp_path):
    pyctr.run("pull", f"{registry.addr}/busybox")
    before = store_state(pyctr)
    good, bad = unique_layer("good"), unique_layer("bad")
    lie = "sha256:" + hashlib.sha256(b"not this layer").hexdigest()
    ref, _, _ = _push_unique(registry, image_files, tmp_path, [good, bad],
                             diff_ids=["sha256:" + hashlib.sha256(good).hexdigest(), lie])
    p = pyctr.run("pull", ref, check=False)
    assert p.returncode == 1
    assert f"DiffID mismatch: got sha256:{hashlib.sha256(bad).hexdigest()}, expected {lie}" in p.stderr
    assert store_state(pyctr) == before          # the good layer applied on the way was removed again


def test_manifest_not_matching_its_digest_is_rejected(pyctr, registry, image_files, tmp_path):
    ref, manifest, lay = _push_unique(registry, image_files, tmp_path, [unique_layer("m")])
    _, digest = registry_manifest(registry.addr, ref.split("/", 1)[1], "latest")
    path = registry.blob_file(digest)
    with open(path, "rb") as f:
        body = f.read()
    size = manifest["config"]["size"]
    tampered = re.sub(rb'("size":\s*)' + str(size).encode(), lambda m: m.group(1) + str(size + 1).encode(), body,
                      count=1)
    assert tampered != body and json.loads(tampered)["config"]["size"] == size + 1
    with open(path, "wb") as f:
        f.write(tampered)
    for target in (ref, f"{ref}@{digest}"):
        p = pyctr.run("pull", target, check=False)
        assert p.returncode == 1 and "digest mismatch" in p.stderr, p.stderr
    assert store_state(pyctr)["images"] == []


def test_pull_errors(pyctr, registry):
    p = pyctr.run("pull", f"{registry.addr}/busybox:nope", check=False)
    assert p.returncode == 1
    assert p.stderr.strip().startswith(f"Error: manifest for {registry.addr}/busybox:nope not found")
    p = pyctr.run("pull", f"127.0.0.1:{free_port()}/busybox", check=False)
    assert p.returncode == 1 and "Connection refused" in p.stderr
    p = pyctr.run("pull", "Bad/Name", check=False)
    assert p.returncode == 1 and "must be lowercase" in p.stderr


# ================================================================== token auth
def test_pull_with_token_auth(pyctr, token_registry, tmp_path):
    reg, ts = token_registry, token_registry.tokens
    ts.requests.clear()
    pyctr.run("pull", f"{reg.addr}/public/busybox")                 # anonymous token for a public repo
    anon = [r for r in ts.requests if r["path"] == "/token"]
    assert anon and anon[0]["authorization"] == ""
    assert anon[0]["query"]["scope"] == ["repository:public/busybox:pull"]
    assert anon[0]["query"]["service"] == [ts.SERVICE]
    assert len(anon) == 1                                          # the token is reused for every blob

    p = pyctr.run("pull", f"{reg.addr}/private/busybox", check=False)
    assert p.returncode == 1 and "pull access denied for" in p.stderr

    authfile = tmp_path / "auth.json"
    authfile.write_text(json.dumps({"auths": {reg.addr: {"auth": "cmVhZGVyOnJlYWRwdw=="}}}))  # reader:readpw
    ts.requests.clear()
    out = pyctr.run("pull", f"{reg.addr}/private/busybox", env={"REGISTRY_AUTH_FILE": str(authfile)}).stdout
    assert "Status: Downloaded newer image" in out or "Status: Image is up to date" in out
    assert all(r["authorization"] == "Basic cmVhZGVyOnJlYWRwdw==" for r in ts.requests)
    assert pyctr.store().get(f"{reg.addr}/private/busybox").id == pyctr.store().get(f"{reg.addr}/public/busybox").id

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"auths": {reg.addr: {"username": "reader", "password": "wrong"}}}))
    p = pyctr.run("pull", "--authfile", str(bad), f"{reg.addr}/private/busybox", check=False)
    assert p.returncode == 1 and "token request refused (401)" in p.stderr


# ================================================================== rmi and images
def test_rmi_untags_then_deletes(pyctr, registry, image_files):
    pyctr.run("load", "-i", image_files.oci_archive)
    pyctr.run("pull", f"{registry.addr}/busybox")                  # same config: one image, two names
    pyctr.run("load", "-i", image_files.whiteout_docker_archive)
    st = pyctr.store()
    img = st.get("localhost/busybox")
    assert sorted(img.names) == sorted(["localhost/busybox:latest", f"{registry.addr}/busybox:latest"])
    assert len(image_rows(pyctr)) == 3

    p = pyctr.run("rmi", img.short_id, check=False)                # by ID while named in two repositories
    assert p.returncode == 1 and "referenced in multiple repositories" in p.stderr

    out = lines(pyctr.run("rmi", "localhost/busybox").stdout)
    assert out == ["Untagged: localhost/busybox:latest"]
    assert pyctr.store().get(img.id).names == [f"{registry.addr}/busybox:latest"]

    _, digest = registry_manifest(registry.addr, "busybox", "latest")
    out = lines(pyctr.run("rmi", f"{registry.addr}/busybox:latest").stdout)
    assert out[:2] == [f"Untagged: {registry.addr}/busybox:latest", f"Untagged: {registry.addr}/busybox@{digest}"]
    assert out[2] == f"Deleted: {img.id}"
    assert len(out) == 3                                          # the base layer is shared with whiteout: kept
    assert store_state(pyctr)["driver"] == sorted(pyctr.store().get("localhost/whiteout").layers)

    wh = pyctr.store().get("localhost/whiteout")
    out = lines(pyctr.run("rmi", wh.id).stdout)
    assert out == ["Untagged: localhost/whiteout:latest", f"Deleted: {wh.id}"] + \
        [f"Deleted: sha256:{lid}" for lid in reversed(wh.layers)]
    assert store_state(pyctr) == {"driver": [], "layers": [], "images": [], "tmp": []}

    p = pyctr.run("rmi", "busybox", "localhost/nothing", check=False)
    assert p.returncode == 1 and p.stderr.count("No such image") == 2


@pytest.mark.parametrize("source", ["load", "pull"])
def test_rmi_refuses_image_with_container_layer_unless_forced(pyctr, image_files, request, source):
    if source == "load":
        pyctr.run("load", "-i", image_files.oci_archive)
        name = "localhost/busybox"
    else:                                                          # a tag plus its repo digest
        name = f"{request.getfixturevalue('registry').addr}/busybox"
        pyctr.run("pull", name)
    st = pyctr.store()
    img = st.get(name)
    cid = "c" + uuid.uuid4().hex[:15]
    st.driver.create(cid, img.top_layer, writable=True)            # what the containers side does
    try:
        p = pyctr.run("rmi", name, check=False)
        assert p.returncode == 1 and f"container {cid[:12]} is using its referenced image" in p.stderr
        p = pyctr.run("rmi", img.id, check=False)
        assert p.returncode == 1 and f"being used by container {cid[:12]}" in p.stderr
        assert pyctr.store().get(name).id == img.id
        out = lines(pyctr.run("rmi", "-f", name).stdout)
        assert out[0] == f"Untagged: {name}:latest" and out[-1] == f"Deleted: {img.id}"
        assert pyctr.store().list() == []
        assert img.top_layer in pyctr.store().driver.layers()         # still under the container
    finally:
        pyctr.store().driver.remove(cid)
    assert pyctr.store().prune_layers() == [img.top_layer]
    assert store_state(pyctr)["driver"] == []


def test_images_table_and_quiet(pyctr, image_files):
    assert lines(pyctr.run("images").stdout) == ["REPOSITORY   TAG       IMAGE ID   CREATED   SIZE"]
    pyctr.run("load", "-i", image_files.oci_archive)
    pyctr.run("load", "-i", image_files.whiteout_oci_archive)
    st = pyctr.store()
    ids = {st.get("localhost/busybox").short_id, st.get("localhost/whiteout").short_id}
    assert set(pyctr.run("images", "-q").stdout.split()) == ids
    out = lines(pyctr.run("images").stdout)
    col = out[0].index("TAG")
    assert col == len("localhost/whiteout") + 3                    # docker's tabwriter: widest cell + 3
    assert all(ln[col:].startswith("latest") for ln in out[1:])
    assert all(re.search(r"(ago|N/A)\s{3,}\d", ln) for ln in out[1:])
    assert lines(pyctr.run("images", "localhost/whiteout").stdout)[1].startswith("localhost/whiteout ")
    full = pyctr.run("images", "--no-trunc", "-q").stdout.split()
    assert all(re.match(r"^sha256:[0-9a-f]{64}$", x) for x in full)


# ================================================================== registry client details
def test_endpoint_schemes_and_docker_hub_host():
    from pyrunc.shim.images.registry import Registry, is_loopback
    assert Registry("docker.io").host == "registry-1.docker.io"
    assert Registry("quay.io").schemes == ["https"]
    assert Registry("quay.io", insecure=True).schemes == ["https", "http"]
    assert Registry("127.0.0.1:5000").schemes[0] == "http" and Registry("localhost:5000").schemes[0] == "http"
    assert all(is_loopback(h) for h in ("localhost", "127.0.0.2:80", "[::1]:5000", "::1"))
    assert not any(is_loopback(h) for h in ("10.0.0.1", "example.com:5000", "localhost.example.com"))


def test_www_authenticate_and_auth_file(tmp_path, monkeypatch):
    from pyrunc.shim.images import auth
    chs = auth.parse_challenges('Bearer realm="https://a/token",service="reg \\"x\\"",scope="repository:a/b:pull", '
                                'Basic realm="r"')
    assert [c.scheme for c in chs] == ["bearer", "basic"]
    assert chs[0].params == {"realm": "https://a/token", "service": 'reg "x"', "scope": "repository:a/b:pull"}
    assert auth.token_url(chs[0], "ignored") == \
        "https://a/token?service=reg+%22x%22&scope=repository%3Aa%2Fb%3Apull"
    f = tmp_path / "config.json"
    f.write_text(json.dumps({"auths": {"https://index.docker.io/v1/": {"auth": "dTpw"},
                                       "reg.example:5000": {"username": "n", "password": "s"}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    assert auth.credentials_for("docker.io") == auth.Credentials("u", "p")
    assert auth.credentials_for("reg.example:5000") == auth.Credentials("n", "s")
    assert auth.credentials_for("other.example") is None


def test_blob_redirect_to_another_host_drops_authorization(tmp_path):
    """Basic auth to the registry, 307 to a second loopback "storage" host that must not see it."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from pyrunc.shim.images.registry import Registry
    blob = b"layer bytes" * 100
    desc = spec.Descriptor(spec.OCI_LAYER, "sha256:" + hashlib.sha256(blob).hexdigest(), len(blob))
    seen: dict[str, list] = {"registry": [], "storage": []}
    servers = []

    def handler(role):
        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                seen[role].append(self.headers.get("Authorization"))
                if role == "storage":
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(blob)))
                    self.end_headers()
                    self.wfile.write(blob)
                elif not self.headers.get("Authorization"):
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="test"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    self.send_response(307)
                    self.send_header("Location", f"http://127.0.0.1:{servers[1].server_address[1]}/data")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
        return H
    for role in ("registry", "storage"):
        servers.append(ThreadingHTTPServer(("127.0.0.1", 0), handler(role)))
        threading.Thread(target=servers[-1].serve_forever, daemon=True).start()
    try:
        authfile = tmp_path / "auth.json"
        addr = f"127.0.0.1:{servers[0].server_address[1]}"
        authfile.write_text(json.dumps({"auths": {addr: {"username": "u", "password": "p"}}}))
        out = tmp_path / "blob"
        with open(out, "wb") as f:
            assert Registry(addr, authfile=str(authfile)).fetch_blob("x", desc, f) == len(blob)
        assert out.read_bytes() == blob
        assert seen["registry"] == [None, "Basic dTpw"] and seen["storage"] == [None]
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()


def test_debris_of_an_interrupted_apply_is_never_served(pyctr, image_files):
    """A driver layer without its registration (crash mid-apply) and a dead scratch dir get replaced."""
    pyctr.run("load", "-i", image_files.oci_archive)
    st = pyctr.store()
    lid = st.get("localhost/busybox").top_layer
    pyctr.run("rmi", "localhost/busybox")
    st.driver.create(lid, None)                      # what a crash between create and registration leaves
    try:
        with open(os.path.join(st.driver.get(lid), "half-written"), "w") as f:
            f.write("x")
    finally:
        st.driver.put(lid)
    os.makedirs(os.path.join(st.dir, "tmp", "op-dead", "x"))
    pyctr.run("load", "-i", image_files.oci_archive)
    with Mounted(pyctr, "localhost/busybox") as root:
        assert not os.path.exists(os.path.join(root, "half-written"))
        assert os.path.exists(os.path.join(root, "bin", "busybox"))
    assert os.listdir(os.path.join(st.dir, "tmp")) == []
