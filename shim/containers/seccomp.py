"""Seccomp for containers: docker's default profile, ``--security-opt seccomp=unconfined|PROFILE.json``.

Profiles are in docker's format (moby ``profiles/seccomp``): ``architectures`` or ``archMap``, and syscall rules
that may carry ``includes``/``excludes`` conditions on the architecture, the container's capabilities and the
kernel version. ``to_oci`` resolves them for one container, as dockerd's ``setupSeccomp`` does, into the runtime
config's ``linux.seccomp``. A profile that is already a config-ready ``linux.seccomp`` object passes unchanged.
"""
from __future__ import annotations

import copy
import json
import os
import platform
import re

from ..errors import EngineError
from .seccomp_default import PROFILE as DEFAULT_PROFILE

# uname machine -> docker's "native" arch name (the names used in includes/excludes.arches)
_NATIVE = {"x86_64": "amd64", "amd64": "amd64", "i386": "x86", "i686": "x86", "aarch64": "arm64", "arm64": "arm64",
           "armv7l": "arm", "armv6l": "arm", "ppc64le": "ppc64le", "ppc64": "ppc64", "s390x": "s390x",
           "riscv64": "riscv64", "mips64": "mips64"}
# docker's native arch -> the libseccomp arch that selects its archMap entry
_SECCOMP_ARCH = {"amd64": "SCMP_ARCH_X86_64", "x86": "SCMP_ARCH_X86", "arm64": "SCMP_ARCH_AARCH64",
                 "arm": "SCMP_ARCH_ARM", "ppc64le": "SCMP_ARCH_PPC64LE", "ppc64": "SCMP_ARCH_PPC64",
                 "s390x": "SCMP_ARCH_S390X", "riscv64": "SCMP_ARCH_RISCV64", "mips64": "SCMP_ARCH_MIPS64"}
_KNOWN_KEYS = {"defaultAction", "defaultErrnoRet", "architectures", "archMap", "syscalls", "flags", "listenerPath",
               "listenerMetadata"}
_RULE_KEYS = {"name", "names", "action", "errnoRet", "args", "comment", "includes", "excludes"}
_COND_KEYS = {"arches", "caps", "minKernel"}


def native_arch() -> str:
    return _NATIVE.get(platform.machine(), platform.machine())


def kernel_version(release: str | None = None) -> tuple[int, int]:
    m = re.match(r"(\d+)\.(\d+)", release or os.uname().release)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def _kernel_ge(want: str, have: tuple[int, int]) -> bool:
    m = re.fullmatch(r"\s*(\d+)\.(\d+)(?:\.\d+)?\S*\s*", str(want))
    if not m:
        raise EngineError(f"seccomp profile: invalid minKernel {want!r}", 125)
    return have >= (int(m.group(1)), int(m.group(2)))


def parse_profile(text: str, origin: str = "profile") -> dict:
    """Decode and check a profile; errors name what is wrong instead of failing at the runtime."""
    try:
        prof = json.loads(text)
    except ValueError as e:
        raise EngineError(f"Decoding seccomp profile failed: {e}", 125) from None
    if not isinstance(prof, dict):
        raise EngineError(f"seccomp {origin}: a JSON object is expected", 125)
    unknown = set(prof) - _KNOWN_KEYS
    if unknown:
        raise EngineError(f"seccomp {origin}: unsupported keys {sorted(unknown)}", 125)
    if prof.get("architectures") and prof.get("archMap"):
        raise EngineError("'architectures' and 'archMap' were specified in the seccomp profile, use either "
                          "'architectures' or 'archMap'", 125)
    for i, rule in enumerate(prof.get("syscalls") or []):
        if not isinstance(rule, dict) or set(rule) - _RULE_KEYS:
            raise EngineError(f"seccomp {origin}: syscalls[{i}]: unsupported rule {rule!r}", 125)
        if rule.get("name") and rule.get("names"):
            raise EngineError("'name' and 'names' were specified in the seccomp profile, use either 'name' or "
                              "'names'", 125)
        for key in ("includes", "excludes"):
            cond = rule.get(key) or {}
            if not isinstance(cond, dict) or set(cond) - _COND_KEYS:
                raise EngineError(f"seccomp {origin}: syscalls[{i}].{key}: only arches, caps and minKernel are "
                                  "supported", 125)
    return prof


def to_oci(profile: dict, caps: list[str], arch: str | None = None,
           kernel: tuple[int, int] | None = None) -> dict | None:
    """docker's setupSeccomp: the rules whose conditions hold for this arch, capability set and kernel.

    ``caps`` is the container's bounding set. None when the profile has neither a default action nor rules.
    """
    if not profile.get("defaultAction") and not profile.get("syscalls"):
        return None
    arch = arch or native_arch()
    kernel = kernel or kernel_version()
    out: dict = {"defaultAction": profile["defaultAction"]}
    if profile.get("defaultErrnoRet") is not None:
        out["defaultErrnoRet"] = profile["defaultErrnoRet"]
    arches = list(profile.get("architectures") or [])
    for entry in profile.get("archMap") or []:
        if entry.get("architecture") == _SECCOMP_ARCH.get(arch):
            arches = [entry["architecture"], *(entry.get("subArchitectures") or [])]
            break
    if arches:
        out["architectures"] = arches
    for key in ("flags", "listenerPath", "listenerMetadata"):
        if profile.get(key):
            out[key] = copy.deepcopy(profile[key])
    have = set(caps)
    rules = []
    for rule in profile.get("syscalls") or []:
        exc, inc = rule.get("excludes") or {}, rule.get("includes") or {}
        if arch in (exc.get("arches") or []) or have & set(exc.get("caps") or []):
            continue
        if exc.get("minKernel") and _kernel_ge(exc["minKernel"], kernel):
            continue
        if inc.get("arches") and arch not in inc["arches"]:
            continue
        if not set(inc.get("caps") or []) <= have:
            continue
        if inc.get("minKernel") and not _kernel_ge(inc["minKernel"], kernel):
            continue
        new = {"names": [rule["name"]] if rule.get("name") else list(rule.get("names") or []),
               "action": rule["action"]}
        if rule.get("errnoRet") is not None:
            new["errnoRet"] = rule["errnoRet"]
        if rule.get("args"):
            new["args"] = [{"index": a.get("index", 0), "value": a.get("value", 0),
                            **({"valueTwo": a["valueTwo"]} if a.get("valueTwo") else {}), "op": a["op"]}
                           for a in rule["args"]]
        rules.append(new)
    out["syscalls"] = rules
    return out


# ---- --security-opt ----------------------------------------------------------------------------------------------
def security_opts(opts: list[str]) -> list[str]:
    """Validate ``--security-opt`` values for HostConfig.SecurityOpt. As the docker CLI does, a profile path is
    replaced by the profile's content (``seccomp=<json>``), so the container keeps working if the file goes."""
    out = []
    for opt in opts or []:
        key, sep, value = opt.partition("=")
        if not sep:
            key, sep, value = opt.partition(":")   # docker's old "no-new-privileges:true" spelling
        if key == "seccomp" and value:
            if value != "unconfined":
                try:
                    with open(value) as f:
                        text = f.read()
                except OSError as e:
                    raise EngineError(f"opening seccomp profile ({value}) failed: {e.strerror}", 125) from None
                parse_profile(text, value)
                value = text
            out.append(f"seccomp={value}")
        elif key == "no-new-privileges" and value in ("", "true", "false"):
            out.append(f"no-new-privileges={value or 'true'}")
        elif key == "apparmor" and value == "unconfined":
            out.append(opt)       # there is no AppArmor profile to lift
        else:
            raise EngineError(f"Invalid --security-opt: {opt!r} (supported: seccomp=unconfined|PROFILE.json, "
                              "no-new-privileges[=true|false], apparmor=unconfined)", 125)
    return out


def _opt(hc: dict, name: str) -> str | None:
    value = None
    for opt in hc.get("SecurityOpt") or []:
        key, _, v = opt.partition("=")
        if key == name:
            value = v
    return value


def for_container(hc: dict, caps: list[str], arch: str | None = None,
                  kernel: tuple[int, int] | None = None) -> dict | None:
    """The container's ``linux.seccomp``: docker's default profile, the ``seccomp=`` one, or None (unconfined)."""
    value = _opt(hc, "seccomp")
    if value == "unconfined":
        return None
    profile = DEFAULT_PROFILE if value is None else parse_profile(value)
    return to_oci(profile, caps, arch, kernel)


def no_new_privileges(hc: dict) -> bool:
    return _opt(hc, "no-new-privileges") == "true"
