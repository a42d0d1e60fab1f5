"""The OCI runtime-spec (1.3) config.json shape as data, for validation that names the bad field.

Types: "str", "int", "uint" (>= 0), "bool", "any", "strmap" (object of strings), "obj" (any
object), a list ``[T]`` (array of T), or a dict (object with exactly these keys). Keeping the shape
as data keeps validation one small walker and costs no import time (no dataclasses/typing).
"""
U = "uint"
S = "str"
I = "int"
B = "bool"

ID_MAPPING = {"containerID": U, "hostID": U, "size": U}
HOOK = {"path": S, "args": [S], "env": [S], "timeout": I}
HOOKS = {k: [HOOK] for k in ("prestart", "createRuntime", "createContainer", "startContainer",
                             "poststart", "poststop")}
CAPS = {k: [S] for k in ("bounding", "effective", "inheritable", "permitted", "ambient")}
PROCESS = {
    "terminal": B,
    "consoleSize": {"height": U, "width": U},
    "cwd": S,
    "env": [S],
    "args": [S],
    "commandLine": S,
    "rlimits": [{"type": S, "soft": U, "hard": U}],
    "apparmorProfile": S,
    "capabilities": CAPS,
    "noNewPrivileges": B,
    "oomScoreAdj": I,
    "scheduler": {"policy": S, "nice": I, "priority": I, "flags": [S], "runtime": U,
                  "deadline": U, "period": U},
    "selinuxLabel": S,
    "ioPriority": {"class": S, "priority": I},
    "execCPUAffinity": {"initial": S, "final": S},
    "user": {"uid": U, "gid": U, "umask": U, "additionalGids": [U], "username": S},
}
DEVICE_RULE = {"allow": B, "type": S, "major": I, "minor": I, "access": S}
WEIGHT_DEVICE = {"major": I, "minor": I, "weight": U, "leafWeight": U}
THROTTLE_DEVICE = {"major": I, "minor": I, "rate": U}
RESOURCES = {
    "devices": [DEVICE_RULE],
    "memory": {"limit": I, "reservation": I, "swap": I, "kernel": I, "kernelTCP": I,
               "swappiness": U, "disableOOMKiller": B, "useHierarchy": B, "checkBeforeUpdate": B},
    "cpu": {"shares": U, "quota": I, "burst": U, "period": U, "realtimeRuntime": I,
            "realtimePeriod": U, "cpus": S, "mems": S, "idle": I},
    "pids": {"limit": I},
    "blockIO": {"weight": U, "leafWeight": U, "weightDevice": [WEIGHT_DEVICE],
                "throttleReadBpsDevice": [THROTTLE_DEVICE], "throttleWriteBpsDevice": [THROTTLE_DEVICE],
                "throttleReadIOPSDevice": [THROTTLE_DEVICE], "throttleWriteIOPSDevice": [THROTTLE_DEVICE]},
    "hugepageLimits": [{"pageSize": S, "limit": U}],
    "network": {"classID": U, "priorities": [{"name": S, "priority": U}]},
    "rdma": "obj",
    "unified": "strmap",
}
SECCOMP = {
    "defaultAction": S,
    "defaultErrnoRet": U,
    "architectures": [S],
    "flags": [S],
    "listenerPath": S,
    "listenerMetadata": S,
    "syscalls": [{"names": [S], "action": S, "errnoRet": U,
                  "args": [{"index": U, "value": U, "valueTwo": U, "op": S}]}],
}
LINUX = {
    "namespaces": [{"type": S, "path": S}],
    "uidMappings": [ID_MAPPING],
    "gidMappings": [ID_MAPPING],
    "timeOffsets": "obj",
    "devices": [{"type": S, "path": S, "major": I, "minor": I, "fileMode": U, "uid": U, "gid": U}],
    "netDevices": "obj",
    "cgroupsPath": S,
    "resources": RESOURCES,
    "intelRdt": "obj",
    "memoryPolicy": {"mode": S, "nodes": S, "flags": [S]},
    "sysctl": "strmap",
    "seccomp": SECCOMP,
    "rootfsPropagation": S,
    "maskedPaths": [S],
    "readonlyPaths": [S],
    "mountLabel": S,
    "personality": {"domain": S, "flags": [S]},
}
CONFIG = {
    "ociVersion": S,
    "process": PROCESS,
    "root": {"path": S, "readonly": B},
    "hostname": S,
    "domainname": S,
    "mounts": [{"destination": S, "source": S, "type": S, "options": [S],
                "uidMappings": [ID_MAPPING], "gidMappings": [ID_MAPPING]}],
    "hooks": HOOKS,
    "annotations": "strmap",
    "linux": LINUX,
    # other platforms: accepted, not used on Linux
    "solaris": "obj", "windows": "obj", "vm": "obj", "zos": "obj", "freebsd": "obj",
}

STATE = {"ociVersion": S, "id": S, "status": S, "pid": I, "bundle": S, "annotations": "strmap"}
