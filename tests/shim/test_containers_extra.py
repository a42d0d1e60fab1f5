"""pyctr pause/unpause, update, wait and seccomp (docker's default profile, ``--security-opt seccomp=...``).

Unit tests for the profile conversion and the update merge, then real containers with the default runtime (this
venv's pyrunc) and with ``--runtime /usr/sbin/runc``, on the ``engine``/``ctr`` fixtures of test_containers.py
(one engine root per runtime; every container is force-removed and must leave nothing behind).
"""
from __future__ import annotations

import json
import os
import time

import pytest

from pyrunc.shim.containers import lifecycle, seccomp, spec
from pyrunc.shim.errors import EngineError
from test_containers import CGROUP_ROOT, FIXTURES, _spec, _wait_for, ctr, engine  # noqa: F401 (fixtures)

DOCKER_DEFAULT_CAPS = list(spec.DEFAULT_CAPS)


def _names(prof: dict) -> set[str]:
    """Syscalls allowed without conditions on their arguments."""
    return {n for r in prof["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" and not r.get("args") for n in r["names"]}


# ====================================================================== unit: seccomp profiles
class TestSeccompProfile:
    def test_default_is_what_dockerd_generated(self):
        with open(os.path.join(FIXTURES, "docker-config-true.json")) as f:
            docker = json.load(f)["linux"]["seccomp"]
        assert seccomp.to_oci(seccomp.DEFAULT_PROFILE, DOCKER_DEFAULT_CAPS, "amd64", (5, 10)) == docker
        s = _spec(host=spec.HostInfo(arch="amd64", kernel=(6, 1)))
        assert s["linux"]["seccomp"] == docker
        assert "noNewPrivileges" not in s["process"]

    def test_capability_conditions(self):
        base = seccomp.to_oci(seccomp.DEFAULT_PROFILE, DOCKER_DEFAULT_CAPS, "amd64", (6, 1))
        assert not {"unshare", "mount", "setns", "reboot"} & _names(base)
        admin = seccomp.to_oci(seccomp.DEFAULT_PROFILE, DOCKER_DEFAULT_CAPS + ["CAP_SYS_ADMIN"], "amd64", (6, 1))
        assert {"unshare", "mount", "setns", "clone", "clone3"} <= _names(admin)
        assert not [r for r in admin["syscalls"] if r["names"] == ["clone3"] and r["action"] == "SCMP_ACT_ERRNO"]
        assert not [r for r in admin["syscalls"] if r["names"] == ["clone"] and r.get("args")]
        no_chroot = seccomp.to_oci(seccomp.DEFAULT_PROFILE, [c for c in DOCKER_DEFAULT_CAPS
                                                            if c != "CAP_SYS_CHROOT"], "amd64", (6, 1))
        assert "chroot" in _names(base) and "chroot" not in _names(no_chroot)
        s = _spec(hc={"cap_add": ["SYS_TIME"]})
        assert "clock_settime" in _names(s["linux"]["seccomp"])
        old_kernel = seccomp.to_oci(seccomp.DEFAULT_PROFILE, DOCKER_DEFAULT_CAPS, "amd64", (4, 4))
        assert "ptrace" not in _names(old_kernel)          # docker: ptrace only from kernel 4.8
        arm = seccomp.to_oci(seccomp.DEFAULT_PROFILE, DOCKER_DEFAULT_CAPS, "arm64", (6, 1))
        assert arm["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
        assert "arch_prctl" not in _names(arm) and "modify_ldt" not in _names(arm)

    def test_docker_format_conversion(self):
        prof = {"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1,
                "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
                "syscalls": [
                    {"name": "mkdir", "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "comment": "x"},
                    {"names": ["uname"], "action": "SCMP_ACT_ERRNO", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                    {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "excludes": {"arches": ["amd64"]}},
                    {"names": ["gettid"], "action": "SCMP_ACT_ERRNO", "includes": {"minKernel": "99.0"}},
                    {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                     "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]}]}
        out = seccomp.to_oci(seccomp.parse_profile(json.dumps(prof)), DOCKER_DEFAULT_CAPS, "amd64", (6, 1))
        assert out == {"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1,
                       "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
                       "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                                    {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                                     "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]}
        ready = {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
                 "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}
        assert seccomp.to_oci(ready, [], "amd64", (6, 1)) == ready    # a config-ready object passes unchanged
        assert seccomp.to_oci({}, [], "amd64", (6, 1)) is None

    @pytest.mark.parametrize("text,msg", [
        ("{not json", "Decoding seccomp profile failed"),
        ('{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "archMap": '
         '[{"architecture": "SCMP_ARCH_X86_64"}]}', "use either 'architectures' or 'archMap'"),
        ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "a", "names": ["b"], "action": "x"}]}',
         "use either 'name' or 'names'"),
        ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "x", '
         '"includes": {"privileged": true}}]}', "only arches, caps and minKernel"),
        ('{"defaultAction": "SCMP_ACT_ALLOW", "bogus": 1}', "unsupported keys"),
    ])
    def test_bad_profiles_are_refused(self, text, msg):
        with pytest.raises(EngineError, match=msg):
            seccomp.parse_profile(text)

    def test_security_opts(self, tmp_path):
        assert "seccomp" not in _spec(hc={"security_opt": ["seccomp=unconfined"]})["linux"]
        s = _spec(hc={"security_opt": ["no-new-privileges"]})
        assert s["process"]["noNewPrivileges"] is True and "seccomp" in s["linux"]
        prof = tmp_path / "p.json"
        prof.write_text('{"defaultAction": "SCMP_ACT_LOG"}')
        hc = spec.host_config(security_opt=[f"seccomp={prof}"])
        assert hc["SecurityOpt"] == ['seccomp={"defaultAction": "SCMP_ACT_LOG"}']   # the content, as docker's CLI
        prof.unlink()
        assert seccomp.for_container(hc, DOCKER_DEFAULT_CAPS) == {"defaultAction": "SCMP_ACT_LOG", "syscalls": []}
        for bad in ("seccomp=/nonexistent/p.json", "label=disable", "apparmor=docker-default", "bogus"):
            with pytest.raises(EngineError):
                spec.host_config(security_opt=[bad])


class TestUpdateMerge:
    HC = spec.host_config(memory="64m", pids_limit=50, cpus="0.5")

    def test_merge_and_resources(self):
        hc = lifecycle.updated_host_config(self.HC, memory="128m", cpus="1.5", cpu_shares=512, pids_limit=80)
        assert (hc["Memory"], hc["NanoCpus"], hc["CpuShares"], hc["PidsLimit"]) == (128 << 20, 1500000000, 512, 80)
        res = lifecycle.update_resources(hc, spec.HostInfo(memsw=True))
        assert res == {"memory": {"limit": 128 << 20, "swap": 256 << 20},
                       "cpu": {"period": 100000, "quota": 150000, "shares": 512}, "pids": {"limit": 80}}
        assert "devices" not in res
        hc = lifecycle.updated_host_config(self.HC, memory_swap="-1", pids_limit=-1)
        assert hc["MemorySwap"] == -1 and hc["Memory"] == 64 << 20
        assert lifecycle.update_resources(hc, spec.HostInfo(memsw=True)) == {
            "memory": {"limit": 64 << 20, "swap": -1}, "cpu": {"period": 100000, "quota": 50000},
            "pids": {"limit": -1}}

    def test_docker_conflicts(self):
        hc = lifecycle.updated_host_config(self.HC, memory_swap="100m")
        with pytest.raises(EngineError, match="smaller than already set memoryswap"):
            lifecycle.updated_host_config(hc, memory="200m")
        assert lifecycle.updated_host_config(hc, memory="200m", memory_swap="300m")["MemorySwap"] == 300 << 20
        with pytest.raises(EngineError, match="Minimum memoryswap"):
            lifecycle.updated_host_config(self.HC, memory_swap="32m")
        with pytest.raises(EngineError, match="Minimum memory limit"):
            lifecycle.updated_host_config(self.HC, memory="1m")


# ====================================================================== real containers
def _cg(hier: str, cid: str, name: str) -> str:
    with open(os.path.join(CGROUP_ROOT, hier, "pyctr", cid, name)) as f:
        return f.read().strip()


def _count(path) -> int:
    try:
        return int(path.read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def test_pause_stops_progress_unpause_resumes(engine, ctr, tmp_path):
    name = ctr("pause")
    counter = tmp_path / "n"
    cid = engine("run", "-d", "--name", name, "-v", f"{tmp_path}:/out", "busybox", "sh", "-c",
                 "i=0; while true; do i=$((i+1)); echo $i > /out/n.tmp; mv /out/n.tmp /out/n; sleep 0.02; done"
                 ).stdout.strip()
    _wait_for(lambda: _count(counter) > 3, what="counter running")
    assert engine("pause", name).stdout == f"{name}\n"
    assert _cg("freezer", cid, "freezer.state") == "FROZEN"
    st = engine.inspect(name)["State"]
    assert (st["Status"], st["Paused"], st["Running"]) == ("paused", True, True)
    assert "(Paused)" in engine("ps").stdout
    frozen_at = _count(counter)
    time.sleep(0.5)
    assert _count(counter) == frozen_at, "a paused container must make no progress"
    again = engine("pause", name, check=False)
    assert again.returncode == 1 and f"Container {cid} is already paused" in again.stderr

    assert engine("unpause", name).stdout == f"{name}\n"
    assert _cg("freezer", cid, "freezer.state") == "THAWED"
    _wait_for(lambda: _count(counter) > frozen_at + 3, what="progress after unpause")
    st = engine.inspect(name)["State"]
    assert (st["Status"], st["Paused"]) == ("running", False) and "(Paused)" not in engine("ps").stdout
    again = engine("unpause", name, check=False)
    assert again.returncode == 1 and f"Container {cid} is not paused" in again.stderr

    engine("pause", name)       # stop thaws a paused container after the signal, so it can die
    engine("stop", "-t", "1", name)
    st = engine.inspect(name)["State"]
    assert (st["Status"], st["Paused"], st["ExitCode"]) == ("exited", False, 137)
    p = engine("pause", name, check=False)
    assert p.returncode == 1 and f"Container {cid} is not running" in p.stderr
    engine("start", name)
    assert engine.inspect(name)["State"]["Status"] == "running"
    engine("pause", name)       # rm -f of a paused container (the ctr fixture checks nothing is left)


def test_update_changes_live_cgroup_and_inspect(engine, ctr):
    name = ctr("upd")
    cid = engine("run", "-d", "--name", name, "-m", "64m", "--pids-limit", "50", "--cpus", "0.5",
                 "busybox", "sleep", "1000").stdout.strip()
    assert _cg("memory", cid, "memory.limit_in_bytes") == str(64 << 20)
    p = engine("update", "--memory", "128m", "--pids-limit", "80", "--cpus", "1.5", "--cpu-shares", "512", name)
    assert p.stdout == f"{name}\n"
    assert _cg("memory", cid, "memory.limit_in_bytes") == str(128 << 20)
    assert _cg("pids", cid, "pids.max") == "80"
    assert _cg("cpu", cid, "cpu.cfs_quota_us") == "150000" and _cg("cpu", cid, "cpu.shares") == "512"
    hc = engine.inspect(name)["HostConfig"]
    assert (hc["Memory"], hc["PidsLimit"], hc["NanoCpus"], hc["CpuShares"]) == (128 << 20, 80, 1500000000, 512)
    if os.path.exists(os.path.join(CGROUP_ROOT, "memory", "pyctr", cid, "memory.memsw.limit_in_bytes")):
        assert _cg("memory", cid, "memory.memsw.limit_in_bytes") == str(256 << 20)   # 2 x memory, as at create
        engine("update", "--memory-swap", "-1", "--pids-limit", "-1", name)
        assert int(_cg("memory", cid, "memory.memsw.limit_in_bytes")) > 1 << 60        # unlimited
        assert _cg("pids", cid, "pids.max") == "max"
        assert engine.inspect(name)["HostConfig"]["MemorySwap"] == -1

    engine("pause", name)       # a paused container is updated too
    engine("update", "--pids-limit", "60", name)
    assert _cg("pids", cid, "pids.max") == "60"
    engine("unpause", name)
    bad = engine("update", "--memory", "1m", name, check=False)
    assert bad.returncode == 1 and "Minimum memory limit" in bad.stderr
    assert _cg("memory", cid, "memory.limit_in_bytes") == str(128 << 20)
    assert engine("update", name, check=False).returncode != 0        # no flags


def test_update_created_container_applies_at_start(engine, ctr):
    name = ctr("updc")
    engine("create", "--name", name, "-m", "64m", "busybox", "sleep", "1000")
    engine("update", "--memory", "96m", "--pids-limit", "33", name)
    engine("start", name)
    cid = engine.inspect(name)["Id"]
    assert _cg("memory", cid, "memory.limit_in_bytes") == str(96 << 20)
    assert _cg("pids", cid, "pids.max") == "33"


def test_wait_returns_exit_codes(engine, ctr):
    a, b, gone = ctr("wa"), ctr("wb"), ctr("wrm")
    engine("run", "-d", "--name", a, "busybox", "sh", "-c", "sleep 0.5; exit 7")
    engine("run", "-d", "--name", b, "busybox", "sh", "-c", "exit 3")
    p = engine("wait", a, b)
    assert p.stdout == "7\n3\n"
    assert engine.inspect(a)["State"]["Status"] == "exited"      # wait returned once it had stopped
    assert engine("wait", a).stdout == "7\n"                      # not running: answers with the last code
    engine("run", "-d", "--rm", "--name", gone, "busybox", "sh", "-c", "sleep 0.5; exit 9")
    p = engine("wait", gone, "nosuch-" + gone, check=False)
    assert p.stdout == "9\n" and p.returncode == 1 and "No such container" in p.stderr
    created = ctr("wc")
    engine("create", "--name", created, "busybox", "true")
    assert engine("wait", created).stdout == "0\n"


UNSHARE_USERNS = "unshare -U true && echo unshare-ok || echo unshare-denied"


def test_default_seccomp_profile(engine, ctr):
    """unshare(CLONE_NEWUSER) needs no capability, so only the profile can deny it (EPERM, docker's default)."""
    p = engine("run", "--rm", "busybox", "sh", "-c",
               f"{UNSHARE_USERNS}; mkdir /made && echo mkdir-ok; grep '^Seccomp:' /proc/self/status")
    assert p.stdout.split("\n")[:3] == ["unshare-denied", "mkdir-ok", "Seccomp:\t2"], p.stderr
    assert "Operation not permitted" in p.stderr
    p = engine("run", "--rm", "--security-opt", "seccomp=unconfined", "busybox", "sh", "-c",
               f"{UNSHARE_USERNS}; grep '^Seccomp:' /proc/self/status")
    assert p.stdout.split("\n")[:2] == ["unshare-ok", "Seccomp:\t0"], p.stderr
    p = engine("run", "--rm", "--cap-add", "SYS_ADMIN", "busybox", "sh", "-c", UNSHARE_USERNS)
    assert p.stdout == "unshare-ok\n", p.stderr          # docker's profile allows unshare with CAP_SYS_ADMIN
    name = ctr("sc")
    engine("run", "-d", "--name", name, "busybox", "sleep", "1000")
    assert engine("exec", name, "sh", "-c", UNSHARE_USERNS).stdout == "unshare-denied\n"
    assert engine.inspect(name)["HostConfig"]["SecurityOpt"] is None


def test_custom_seccomp_profile_in_docker_format(engine, ctr, tmp_path):
    prof = tmp_path / "profile.json"
    prof.write_text(json.dumps({
        "defaultAction": "SCMP_ACT_ALLOW",
        "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                    {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                     {"names": ["uname"], "action": "SCMP_ACT_ERRNO", "includes": {"caps": ["CAP_SYS_ADMIN"]}}]}))
    name = ctr("prof")
    engine("create", "--name", name, "--security-opt", f"seccomp={prof}", "busybox", "sh", "-c",
           f"{UNSHARE_USERNS}; mkdir /d 2>&1 || echo mkdir-denied; uname -s")
    prof.unlink()               # the profile was read at create, like the docker CLI does
    p = engine("start", "-a", name)
    assert p.stdout.split("\n")[:4] == ["unshare-ok", "mkdir: can't create directory '/d': Permission denied",
                                        "mkdir-denied", "Linux"], p.stderr
    bad = engine("run", "--rm", "--security-opt", f"seccomp={tmp_path}/missing.json", "busybox", "true", check=False)
    assert bad.returncode == 125 and "opening seccomp profile" in bad.stderr


def test_privileged_container(engine):
    """docker --privileged: all capabilities (add/drop ignored), no seccomp, every host device, no masked
    or read-only paths, /sys writable; an unprivileged container has none of that."""
    script = ("grep -E '^(CapEff|Seccomp):' /proc/self/status; "
              "test -c /dev/kmsg && echo kmsg; test -e /dev/loop-control && echo loop-control; "
              "grep ' /sys sysfs ' /proc/mounts | cut -d' ' -f4 | cut -d, -f1; "
              "grep -q ' /proc/keys ' /proc/self/mountinfo && echo keys-masked || echo keys-visible")
    p = engine("run", "--rm", "--privileged", "--cap-drop", "ALL", "busybox", "sh", "-c", script)
    lines = p.stdout.split("\n")
    bounding = next(ln.split()[1] for ln in open("/proc/self/status") if ln.startswith("CapBnd:"))
    assert int(lines[0].split()[1], 16) == int(bounding, 16), p.stdout  # every cap the runtime can grant
    assert lines[1:] == ["Seccomp:\t0", "kmsg", "loop-control", "rw", "keys-visible", ""], p.stdout
    p = engine("run", "--rm", "busybox", "sh", "-c", script)
    assert p.stdout.split("\n")[1:] == ["Seccomp:\t2", "ro", "keys-masked", ""], p.stdout
