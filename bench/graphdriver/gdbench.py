"""Shared helpers and fixtures of the graph-driver benchmarks (see docs/graphdriver.md for the command).

Hosts: "ext4" is a temp dir on the root filesystem, "xfs" a sparse XFS (reflink=1) image
on a loop device made for the session and always torn down.  Sizes and sets are configurable
with environment variables so the default run stays around ten minutes:

  GD_BENCH_DRIVERS      drivers to run            (default: every registered driver)
  GD_BENCH_HOSTS        backing filesystems       (default: ext4,xfs)
  GD_BENCH_DEPTHS       image depths for mounts   (default: 1,10,50,128,200,500)
  GD_BENCH_WRITE_SIZES  lower file sizes          (default: 4K,1M,64M,1G)
  GD_BENCH_IMAGE_SIZES  image sizes for create    (default: 20M,200M,1G)
  GD_BENCH_APPLY        apply tar "SIZE:FILES"    (default: 100M:5000)

Each test appends its numbers to RESULTS; at session end they are written to
bench/results/graphdriver/results.json and rendered by report.py into report.md + PNGs.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from pyrunc.graphdriver import registry

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "results", "graphdriver")
RESULTS: list[dict] = []


def parse_size(text: str) -> int:
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
    return int(float(text.rstrip("KMG")) * mult)


def human(n: int) -> str:
    for unit, div in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= div and n % div == 0:
            return f"{n // div}{unit}"
    return str(n)


def env_list(name: str, default: str) -> list[str]:
    return [x.strip() for x in os.environ.get(name, default).split(",") if x.strip()]


DRIVERS = [d for d in env_list("GD_BENCH_DRIVERS", ",".join(registry.DRIVERS))]
HOSTS = env_list("GD_BENCH_HOSTS", "ext4,xfs")
DEPTHS = [int(x) for x in env_list("GD_BENCH_DEPTHS", "1,10,50,128,200,500")]
WRITE_SIZES = [parse_size(x) for x in env_list("GD_BENCH_WRITE_SIZES", "4K,1M,64M,1G")]
IMAGE_SIZES = [parse_size(x) for x in env_list("GD_BENCH_IMAGE_SIZES", "20M,200M,1G")]
_apply = os.environ.get("GD_BENCH_APPLY", "100M:5000").split(":")
APPLY_BYTES, APPLY_FILES = parse_size(_apply[0]), int(_apply[1])

# driver "variants": a registered driver plus the options that make the variant
VARIANTS = {
    "overlay2": ("overlay2", {}),
    "overlay2-classic": ("overlay2", {"overlay2.mount_api": "classic"}),
    "overlay2-volatile": ("overlay2", {"overlay2.volatile": "true"}),
    "vfs": ("vfs", {}),
    "devicemapper": ("devicemapper", {}),
}


def variants(*names: str) -> list[str]:
    """The variants among ``names`` whose driver is selected and registered."""
    return [v for v in names if VARIANTS[v][0] in DRIVERS]


def record(bench: str, **fields) -> None:
    RESULTS.append({"bench": bench, **fields})


def median_s(benchmark) -> float | None:
    """Median seconds of the benchmark just run (None when benchmarking is disabled)."""
    stats = getattr(getattr(benchmark, "stats", None), "stats", None)
    return getattr(stats, "median", None)


def open_variant(variant: str, home: str):
    """A driver instance for ``variant`` in ``home``, or pytest.skip with the probe's reason."""
    name, opts = VARIANTS[variant]
    cls = registry.DRIVERS.get(name)
    if cls is None:
        pytest.skip(f"driver {name} is not registered")
    why = cls.probe(home)
    if why is not None:
        pytest.skip(f"{name} cannot run here: {why}")
    return registry.get_driver(name, home, dict(opts))


def syncfs(path: str) -> None:
    """Flush the filesystem holding ``path`` (apply/create costs include writeback)."""
    from pyrunc.graphdriver import syscalls

    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        syscalls.syncfs(fd)
    finally:
        os.close(fd)


def fs_used(path: str) -> int:
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def _mounts_under(prefix: str) -> list[str]:
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4]
            if mp == prefix or mp.startswith(prefix.rstrip("/") + "/"):
                out.append(mp)
    return sorted(out, key=len, reverse=True)


def force_teardown(root: str) -> None:
    """Last-resort unmount + loop detach below ``root`` (drivers' cleanup ran first)."""
    for mp in _mounts_under(root):
        subprocess.run(["umount", "-l", mp], capture_output=True)
    res = subprocess.run(["losetup", "-l", "-J"], capture_output=True, text=True)
    if res.stdout.strip():
        for dev in json.loads(res.stdout).get("loopdevices", []):
            if (dev.get("back-file") or "").startswith(root.rstrip("/") + "/"):
                subprocess.run(["losetup", "-d", dev["name"]], capture_output=True)


@pytest.fixture(scope="session")
def hosts():
    """{"ext4": dir, "xfs": dir} for the selected hosts."""
    base = tempfile.mkdtemp(prefix="pyrunc-gd-bench-")
    out: dict[str, str] = {}
    loop = None
    try:
        if "ext4" in HOSTS:
            out["ext4"] = os.path.join(base, "ext4")
            os.mkdir(out["ext4"])
        if "xfs" in HOSTS:
            img = os.path.join(base, "xfs.img")
            mnt = os.path.join(base, "xfs")
            os.mkdir(mnt)
            with open(img, "wb") as f:
                f.truncate(24 << 30)
            subprocess.run(["mkfs.xfs", "-q", "-m", "reflink=1", img], check=True, capture_output=True)
            loop = subprocess.run(["losetup", "-f", "--show", img], check=True, capture_output=True,
                                  text=True).stdout.strip()
            subprocess.run(["mount", loop, mnt], check=True, capture_output=True)
            out["xfs"] = mnt
        yield out
    finally:
        force_teardown(base)
        if loop:
            subprocess.run(["losetup", "-d", loop], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


class Workspace:
    """Unique dirs on a host and drivers opened in them; everything is torn down at the end."""

    def __init__(self, hosts: dict[str, str]) -> None:
        self.hosts = hosts
        self.dirs: list[str] = []
        self.drivers: list = []

    def dir(self, host: str) -> str:
        if host not in self.hosts:
            pytest.skip(f"host {host} not selected (GD_BENCH_HOSTS)")
        d = tempfile.mkdtemp(prefix="w-", dir=self.hosts[host])
        self.dirs.append(d)
        return d

    def driver(self, host: str, variant: str):
        d = open_variant(variant, os.path.join(self.dir(host), variant))
        self.drivers.append(d)
        return d

    def close(self) -> None:
        for d in self.drivers:
            try:
                d.cleanup()
            except Exception:
                pass
        for d in self.dirs:
            force_teardown(d)
            shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def ws(hosts):
    w = Workspace(hosts)
    try:
        yield w
    finally:
        w.close()


@pytest.fixture(scope="module")
def module_ws(hosts):
    w = Workspace(hosts)
    try:
        yield w
    finally:
        w.close()


def write_results() -> None:
    """Dump RESULTS and render the report (called at session end by conftest.py)."""
    if not RESULTS:
        return
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "results.json")
    meta = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "kernel": os.uname().release,
            "cpus": os.cpu_count(), "drivers": DRIVERS, "hosts": HOSTS}
    with open(path, "w") as f:
        json.dump({"meta": meta, "results": RESULTS}, f, indent=1)
    import importlib.util
    spec = importlib.util.spec_from_file_location("gd_bench_report", os.path.join(HERE, "report.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    mod.write_report(path, OUT)
