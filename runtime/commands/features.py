"""``pyrunc features``: what this runtime supports, in the runtime-spec features.md shape."""
from pyrunc import __version__

from .. import caps, log, mountopts, plan
from ..jsonlite import dumps
from ..version import SPEC_VERSION, _commit


def features() -> dict:
    from .. import cgroups
    mode = cgroups.host_mode()
    linux = {
        "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
        "capabilities": caps.NAMES[: caps.last_cap() + 1],
        "cgroup": {"v1": mode in ("v1", "hybrid"), "v2": mode in ("v2", "hybrid"), "systemd": False,
                   "systemdUser": False, "rdma": False},
        "apparmor": {"enabled": False},
        "selinux": {"enabled": False},
        "intelRdt": {"enabled": False},
        "mountExtensions": {"idmap": {"enabled": True}},
        "memoryPolicy": {"modes": list(plan.MPOL_MODES), "flags": list(plan.MPOL_FLAGS)},
        "netDevices": {"enabled": True},
    }
    annotations = {"org.opencontainers.runc.version": __version__, "org.opencontainers.runc.commit": _commit(),
                   "org.opencontainers.runc.checkpoint.enabled": "false"}
    try:
        from .. import seccomp
        linux["seccomp"] = seccomp.features()
        annotations["io.github.seccomp.libseccomp.version"] = seccomp.libseccomp_version()
    except ImportError:
        linux["seccomp"] = {"enabled": False}
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": SPEC_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": mountopts.supported(),
        "linux": linux,
        "annotations": annotations,
        "potentiallyUnsafeConfigAnnotations": ["bundle"],
    }


def run(gopts, opts, args) -> int:
    log.out(dumps(features(), indent=4) + "\n")
    return 0
