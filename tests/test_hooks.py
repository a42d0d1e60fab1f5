"""Issue 5: OCI hooks — order, namespaces, stdin state, timeout, failure cleanup."""
import json
import os
import stat
import time

from support import cgroup_dirs

HOST_HOOK = """#!/bin/sh
state=$(cat)
echo "$1|$state|$(readlink /proc/self/ns/mnt)" >> {log}
"""


def _script(path: str, body: str) -> str:
    with open(path, "w") as f:
        f.write(body)
    os.chmod(path, 0o755 | stat.S_IXUSR)
    return path


def test_hook_order_state_and_namespaces(rt, rootfs_rw):
    log = os.path.join(rt.tmp, "hooks.log")
    host = _script(os.path.join(rt.tmp, "hook.sh"), HOST_HOOK.format(log=log))
    # startContainer runs inside the container after pivot_root: its path is in the rootfs, and
    # it reports through a bind mount of the test dir
    _script(os.path.join(rootfs_rw, "hook-in.sh"),
            '#!/bin/sh\nstate=$(cat)\necho "$1|$state|$(readlink /proc/self/ns/mnt)" >> /out/hooks.log\n')

    def hooks(cfg):
        cfg["root"]["readonly"] = False
        cfg["mounts"].append({"destination": "/out", "type": "bind", "source": rt.tmp, "options": ["rbind"]})
        cfg["hooks"] = {
            "prestart": [{"path": host, "args": ["hook.sh", "prestart"]}],
            "createRuntime": [{"path": host, "args": ["hook.sh", "createRuntime"]}],
            "createContainer": [{"path": host, "args": ["hook.sh", "createContainer"]}],
            "startContainer": [{"path": "/hook-in.sh", "args": ["hook-in.sh", "startContainer"]}],
            "poststart": [{"path": host, "args": ["hook.sh", "poststart"]}],
            "poststop": [{"path": host, "args": ["hook.sh", "poststop"]}],
        }
    bundle = rt.bundle(["sleep", "30"], rootfs_rw, mutate=hooks)
    cid = rt.new_id()
    rt.run("create", "--bundle", bundle, cid, check=True)
    init = rt.state(cid)["pid"]
    rt.run("start", cid, check=True)
    rt.run("kill", cid, "KILL", check=True)
    rt.wait_status(cid, "stopped")
    rt.run("delete", cid, check=True)
    entries = [line.split("|") for line in open(log).read().splitlines()]
    names = [e[0] for e in entries]
    assert names == ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]
    states = {e[0]: json.loads(e[1]) for e in entries}
    assert [states[n]["status"] for n in names] == ["creating", "creating", "creating", "created", "running",
                                                     "stopped"]
    assert all(states[n]["id"] == cid and states[n]["bundle"] == bundle for n in names)
    assert states["prestart"]["pid"] == init
    host_mnt = os.readlink("/proc/self/ns/mnt")
    ns = {e[0]: e[2] for e in entries}
    assert ns["prestart"] == ns["createRuntime"] == ns["poststart"] == ns["poststop"] == host_mnt
    assert ns["createContainer"] != host_mnt and ns["startContainer"] == ns["createContainer"], \
        "createContainer and startContainer run in the container's mount namespace"


def test_create_container_hook_sees_container_mounts(rt, busybox_rootfs):
    out = os.path.join(rt.tmp, "mounts")
    hook = _script(os.path.join(rt.tmp, "m.sh"), f"#!/bin/sh\ncat /proc/self/mountinfo > {out}\n")
    bundle = rt.bundle(["true"], busybox_rootfs,
                       mutate=lambda c: c.update(hooks={"createContainer": [{"path": hook}]}))
    rt.run("run", "--bundle", bundle, rt.new_id(), check=True)
    mounts = open(out).read()
    assert f"{busybox_rootfs}/dev/shm" in mounts and f"{busybox_rootfs}/proc" in mounts


def test_hook_env_and_args(rt, busybox_rootfs):
    out = os.path.join(rt.tmp, "env")
    hook = _script(os.path.join(rt.tmp, "e.sh"), f'#!/bin/sh\necho "$# $1 $HOOKVAR" > {out}\n')
    bundle = rt.bundle(["true"], busybox_rootfs, mutate=lambda c: c.update(
        hooks={"poststart": [{"path": hook, "args": ["custom0", "arg1"], "env": ["HOOKVAR=v1"]}]}))
    rt.run("run", "--bundle", bundle, rt.new_id(), check=True)
    assert open(out).read() == "1 arg1 v1\n", "args[0] is argv[0], the rest are the arguments"


def test_failing_hook_fails_create_and_leaves_nothing(rt, busybox_rootfs):
    hook = _script(os.path.join(rt.tmp, "fail.sh"), "#!/bin/sh\necho boom\nexit 3\n")
    bundle = rt.bundle(["sleep", "30"], busybox_rootfs,
                       mutate=lambda c: c.update(hooks={"createRuntime": [{"path": hook}]}))
    cid = rt.new_id()
    p = rt.run("create", "--bundle", bundle, cid)
    assert p.returncode == 1 and b"createRuntime" in p.stderr and b"exit status 3" in p.stderr
    assert not os.path.exists(os.path.join(rt.root, cid))
    assert not cgroup_dirs(cid)


def test_hook_timeout_is_enforced(rt, busybox_rootfs):
    hook = _script(os.path.join(rt.tmp, "slow.sh"), "#!/bin/sh\nexec sleep 20\n")
    bundle = rt.bundle(["true"], busybox_rootfs,
                       mutate=lambda c: c.update(hooks={"prestart": [{"path": hook, "timeout": 1}]}))
    cid = rt.new_id()
    t0 = time.monotonic()
    p = rt.run("create", "--bundle", bundle, cid)
    assert time.monotonic() - t0 < 10
    assert p.returncode == 1 and b"hook ran past specified timeout of 1.0s" in p.stderr
    assert not os.path.exists(os.path.join(rt.root, cid))


def test_poststop_failure_only_warns(rt, busybox_rootfs):
    hook = _script(os.path.join(rt.tmp, "ps.sh"), "#!/bin/sh\nexit 1\n")
    bundle = rt.bundle(["true"], busybox_rootfs, mutate=lambda c: c.update(hooks={"poststop": [{"path": hook}]}))
    cid = rt.new_id()
    rt.run("run", "--bundle", bundle, cid, check=True)
    assert not os.path.exists(os.path.join(rt.root, cid))
