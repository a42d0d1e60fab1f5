"""Offline test images for the end-to-end client tests, built from the host's busybox-static.

Two images, each as an OCI layout tag and as oci-archive / docker-archive tarballs:

- ``localhost/busybox:latest``: one layer, a complete busybox rootfs (layout tag ``busybox``).
- ``localhost/whiteout:latest`` (layout tag ``whiteout``): busybox + a layer that creates
  ``/wh/{keep,gone,gonedir/f}`` and ``/opq/{old,sub/old2}`` + a top layer that deletes ``/wh/gone`` and
  ``/wh/gonedir`` (``.wh.<name>``) and makes ``/opq`` opaque (``.wh..wh..opq``) while adding ``/opq/new``.
  A correct unpack shows ``/wh`` = {keep}, ``/opq`` = {new} (see ``WHITEOUT_EXPECT``).

umoci builds the layout (no daemon, no network), skopeo converts it: docker 20.10 loads only
docker-archive tars; podman and ctr load both.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "scripts"))
from make_bundle import make_rootfs  # noqa: E402
from support import layer_tar_bytes  # noqa: E402

BUSYBOX_REF = "localhost/busybox:latest"
WHITEOUT_REF = "localhost/whiteout:latest"
WITHVOL_REF = "localhost/withvol:latest"   # busybox + /data/seed, with VOLUME /data in its config
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# shell command run in the whiteout image, and what it must print
WHITEOUT_CHECK = "ls -A /wh | tr '\\n' ' '; echo '|'; ls -A /opq | tr '\\n' ' '; echo"
WHITEOUT_EXPECT = "keep |\nnew"


def _run(*argv: str) -> None:
    p = subprocess.run(list(argv), capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({p.returncode}): {p.stderr.strip()}")


def _tar(path: str, entries: list[tuple[str, bytes | None]]) -> str:
    """An uncompressed layer tar file; ``None`` content means a directory."""
    with open(path, "wb") as f:
        f.write(layer_tar_bytes(entries))
    return path


def _whiteout_layers(workdir: str) -> tuple[str, str]:
    lower = _tar(os.path.join(workdir, "whiteout-lower.tar"), [
        ("wh", None), ("wh/keep", b"keep\n"), ("wh/gone", b"gone\n"),
        ("wh/gonedir", None), ("wh/gonedir/f", b"f\n"),
        ("opq", None), ("opq/old", b"old\n"), ("opq/sub", None), ("opq/sub/old2", b"old2\n"),
    ])
    upper = _tar(os.path.join(workdir, "whiteout-upper.tar"), [
        ("wh", None), ("wh/.wh.gone", b""), ("wh/.wh.gonedir", b""),
        ("opq", None), ("opq/.wh..wh..opq", b""), ("opq/new", b"new\n"),
    ])
    return lower, upper


def _busybox_layout(workdir: str) -> str:
    layout = os.path.join(workdir, "oci-layout")
    bundle = os.path.join(workdir, "unpacked")
    _run("umoci", "init", "--layout", layout)
    _run("umoci", "new", "--image", f"{layout}:busybox")
    _run("umoci", "unpack", "--image", f"{layout}:busybox", bundle)
    make_rootfs(os.path.join(bundle, "rootfs"))
    _run("umoci", "repack", "--image", f"{layout}:busybox", bundle)
    _run("umoci", "config", "--image", f"{layout}:busybox", "--config.cmd", "/bin/sh",
         "--config.env", PATH_ENV, "--config.workingdir", "/")
    return layout


def build_images(workdir: str) -> dict:
    """Build both images under ``workdir`` (created if needed); returns the paths of every form.

    Keys: oci_layout (tags ``busybox``, ``whiteout``, ``withvol``), oci_archive, docker_archive (busybox),
    whiteout_oci_archive, whiteout_docker_archive, withvol_oci_archive, withvol_docker_archive; plus the image
    names busybox_ref, whiteout_ref, withvol_ref.
    """
    os.makedirs(workdir, exist_ok=True)
    layout = _busybox_layout(workdir)
    lower, upper = _whiteout_layers(workdir)
    _run("umoci", "raw", "add-layer", "--image", f"{layout}:busybox", "--tag", "whiteout", lower)
    _run("umoci", "raw", "add-layer", "--image", f"{layout}:whiteout", upper)
    seed = _tar(os.path.join(workdir, "withvol-seed.tar"), [("data", None), ("data/seed", b"from the image\n")])
    _run("umoci", "raw", "add-layer", "--image", f"{layout}:busybox", "--tag", "withvol", seed)
    _run("umoci", "config", "--image", f"{layout}:withvol", "--config.volume", "/data")
    out = {"oci_layout": layout, "busybox_ref": BUSYBOX_REF, "whiteout_ref": WHITEOUT_REF, "withvol_ref": WITHVOL_REF}
    for key, tag, ref in (("", "busybox", BUSYBOX_REF), ("whiteout_", "whiteout", WHITEOUT_REF),
                          ("withvol_", "withvol", WITHVOL_REF)):
        for kind in ("oci", "docker"):
            path = os.path.join(workdir, f"{tag}-{kind}.tar")
            _run("skopeo", "--insecure-policy", "copy", "-q", f"oci:{layout}:{tag}", f"{kind}-archive:{path}:{ref}")
            out[f"{key}{kind}_archive"] = path
    return out


if __name__ == "__main__":
    print(build_images(sys.argv[1] if len(sys.argv) > 1 else "/tmp/pyrunc-e2e-images"))
