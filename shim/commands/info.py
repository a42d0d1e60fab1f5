"""``pyctr info``: containers and images counts, storage driver status, runtime, cgroups, host (docker info's
shape)."""
import os
import platform
import subprocess

from pyrunc import __version__

from ..containers.cgstats import mem_total
from ..format import bytes_size
from ..containers.store import CREATED, EXITED, ContainerStore

HELP = "Display system-wide information"


def add_arguments(p) -> None:
    p.add_argument("--format", help="'{{json .}}' for JSON")


def _runtime_version(path: str) -> tuple[str, str]:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=20).stdout
    except OSError:
        return "unknown", "unknown"
    version = commit = "unknown"
    for line in out.splitlines():
        if " version " in line and version == "unknown":
            version = line.split(" version ", 1)[1].strip()
        elif line.startswith("commit:"):
            commit = line.split(":", 1)[1].strip()
    return version, commit


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "unknown"


def gather(ctx) -> dict:
    containers = ContainerStore(ctx).list()
    running = sum(1 for c in containers if c.running())
    try:
        from ..images.store import ImageStore
        images = len(ImageStore(ctx).list())
    except Exception:  # noqa: BLE001 - info must work even if the image store is unusable
        images = 0
    driver = ctx.driver()
    runtime_path = ctx.runtime_path
    version, commit = _runtime_version(runtime_path)
    v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
    return {
        "Containers": len(containers), "ContainersRunning": running, "ContainersPaused": 0,
        "ContainersStopped": sum(1 for c in containers if c.status in (EXITED, CREATED) and not c.running()),
        "Images": images, "ServerVersion": __version__, "Driver": driver.name,
        "DriverStatus": [[k, str(v)] for k, v in driver.status().items()],
        "LoggingDriver": "json-file", "CgroupDriver": "cgroupfs", "CgroupVersion": "2" if v2 else "1",
        "NetworkModes": ["none", "host"], "DefaultRuntime": ctx.runtime,
        "Runtime": {"Path": runtime_path, "Version": version, "Commit": commit, "Root": ctx.runtime_root},
        "KernelVersion": platform.release(), "OperatingSystem": _os_name(), "Architecture": platform.machine(),
        "NCPU": os.cpu_count(), "MemTotal": mem_total(), "RootDir": ctx.root, "StateDir": ctx.state,
    }


def run(ctx, args) -> int:
    info = gather(ctx)
    if args.format:
        import json
        print(json.dumps(info))
        return 0
    rt = info["Runtime"]
    lines = [
        f"Containers: {info['Containers']}",
        f" Running: {info['ContainersRunning']}",
        f" Paused: {info['ContainersPaused']}",
        f" Stopped: {info['ContainersStopped']}",
        f"Images: {info['Images']}",
        f"Server Version: {info['ServerVersion']}",
        f"Storage Driver: {info['Driver']}",
        *[f" {k}: {v}" for k, v in info["DriverStatus"]],
        f"Logging Driver: {info['LoggingDriver']}",
        f"Cgroup Driver: {info['CgroupDriver']}",
        f"Cgroup Version: {info['CgroupVersion']}",
        "Network: none host",
        f"Default Runtime: {info['DefaultRuntime']}",
        f" Runtime Path: {rt['Path']}",
        f" Runtime Version: {rt['Version']}",
        f" Runtime Commit: {rt['Commit']}",
        f" Runtime Root: {rt['Root']}",
        f"Kernel Version: {info['KernelVersion']}",
        f"Operating System: {info['OperatingSystem']}",
        f"Architecture: {info['Architecture']}",
        f"CPUs: {info['NCPU']}",
        f"Total Memory: {bytes_size(info['MemTotal'])}",
        f"Pyctr Root Dir: {info['RootDir']}",
        f"Pyctr State Dir: {info['StateDir']}",
    ]
    print("\n".join(lines))
    return 0
