#!/usr/bin/env python3
"""Make an OCI bundle from the host's busybox-static: DIR/rootfs + DIR/config.json.

usage: make_bundle.py DIR [--pyrunc PATH] [-- ARGS...]   (default ARGS: echo hello from pyrunc)
Used by the README example and by the tests (tests/support.py imports make_rootfs).
"""
import json
import os
import shutil
import subprocess
import sys

BUSYBOX = "/bin/busybox"


def make_rootfs(rootfs: str) -> None:
    """A complete busybox rootfs: the static binary, every applet linked, passwd/group."""
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp", "root", "var", "run"):
        os.makedirs(os.path.join(rootfs, d), exist_ok=True)
    os.chmod(os.path.join(rootfs, "tmp"), 0o1777)
    shutil.copy2(BUSYBOX, os.path.join(rootfs, "bin/busybox"))
    applets = subprocess.run([BUSYBOX, "--list-full"], capture_output=True, text=True, check=True).stdout.split()
    for full in applets:
        link = os.path.join(rootfs, full.lstrip("/"))
        os.makedirs(os.path.dirname(link), exist_ok=True)
        if not os.path.lexists(link) and full != "bin/busybox":
            os.symlink("/bin/busybox", link)
    with open(os.path.join(rootfs, "etc/passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    with open(os.path.join(rootfs, "etc/group"), "w") as f:
        f.write("root:x:0:\ntty:x:5:\nnogroup:x:65534:\n")


def make_bundle(bundle: str, args: list[str], pyrunc: str = "pyrunc") -> str:
    os.makedirs(bundle, exist_ok=True)
    rootfs = os.path.join(bundle, "rootfs")
    if not os.path.exists(os.path.join(rootfs, "bin/busybox")):
        make_rootfs(rootfs)
    cfg_path = os.path.join(bundle, "config.json")
    if os.path.exists(cfg_path):
        os.unlink(cfg_path)
    subprocess.run([pyrunc, "spec", "--bundle", bundle], check=True)
    with open(cfg_path) as f:
        cfg = json.load(f)
    cfg["process"]["args"] = args
    cfg["process"]["terminal"] = False
    with open(cfg_path, "w") as f:
        json.dump(cfg, f, indent=2)
    return bundle


def main(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    bundle, rest = argv[0], argv[1:]
    pyrunc = "pyrunc"
    if rest[:1] == ["--pyrunc"]:
        pyrunc, rest = rest[1], rest[2:]
    if rest[:1] == ["--"]:
        rest = rest[1:]
    make_bundle(bundle, rest or ["echo", "hello from pyrunc"], pyrunc)
    print(bundle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
