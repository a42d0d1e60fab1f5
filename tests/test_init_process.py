"""Issue 3, process attributes: args through the container's PATH, env, cwd, user, umask, rlimits,
capabilities (all five sets), noNewPrivileges, oomScoreAdj, scheduler, ioPriority, personality, LSMs.
Each is read back from inside the container (/proc/self/status, /proc/self/limits, id, umask...)."""
import os

import pytest

from test_init_support import cap_mask, create_error, run_sh, status_fields


# -- args, env, cwd ---------------------------------------------------------------------------------

def test_args_resolved_through_the_containers_path(rt, rootfs_rw):
    os.makedirs(os.path.join(rootfs_rw, "opt/first"))
    os.makedirs(os.path.join(rootfs_rw, "opt/second"))
    for d, word in (("first", "one"), ("second", "two")):
        p = os.path.join(rootfs_rw, f"opt/{d}/whoami-tool")
        with open(p, "w") as f:
            f.write(f"#!/bin/sh\necho {word} \"$@\"\n")
        os.chmod(p, 0o755)

    def cfg(c):
        c["process"]["args"] = ["whoami-tool", "arg1", "two words"]
        c["process"]["env"] = ["PATH=/opt/second:/opt/first:/bin"]
    b = rt.bundle([], rootfs_rw, mutate=cfg)
    p = rt.run("run", "--bundle", b, rt.new_id())
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"two arg1 two words\n", "first match in the container's PATH wins"


def test_path_lookup_skips_non_executables_and_dirs(rt, rootfs_rw):
    os.makedirs(os.path.join(rootfs_rw, "opt/a/tool"))  # a directory named like the tool
    os.makedirs(os.path.join(rootfs_rw, "opt/b"))
    with open(os.path.join(rootfs_rw, "opt/b/tool"), "w") as f:
        f.write("#!/bin/sh\necho not-executable\n")
    os.makedirs(os.path.join(rootfs_rw, "opt/c"))
    with open(os.path.join(rootfs_rw, "opt/c/tool"), "w") as f:
        f.write("#!/bin/sh\necho picked-c\n")
    os.chmod(os.path.join(rootfs_rw, "opt/c/tool"), 0o755)

    def cfg(c):
        c["process"]["args"] = ["tool"]
        c["process"]["env"] = ["PATH=/opt/a:/opt/b:/opt/c"]
    b = rt.bundle([], rootfs_rw, mutate=cfg)
    p = rt.run("run", "--bundle", b, rt.new_id())
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"picked-c\n"


def test_executable_errors_name_the_program(rt, busybox_rootfs):
    err = create_error(rt, busybox_rootfs, args=["/no/such/prog"])
    assert "/no/such/prog" in err and "no such file or directory" in err
    err = create_error(rt, busybox_rootfs, lambda c: c["process"].__setitem__("env", ["PATH=/nowhere"]),
                       args=["sh"])
    assert "executable file not found in $PATH" in err


def test_env_is_the_configs_plus_home(rt, busybox_rootfs):
    env = ["PATH=/bin:/usr/bin", "FOO=bar baz", "EMPTY=", "WITH_EQ=a=b"]
    out = run_sh(rt, busybox_rootfs, "env | sort", lambda c: c["process"].__setitem__("env", env))
    got = [ln for ln in out.splitlines() if not ln.startswith(("PWD=", "SHLVL=", "_="))]  # set by sh
    # nothing of the runtime's environment; HOME added from the container's /etc/passwd (runc)
    assert got == sorted(env + ["HOME=/root"]), got


@pytest.mark.parametrize("uid,env_home,want", [(0, None, "/root"), (65534, None, "/nonexistent"),
                                               (4242, None, "/"), (0, "/custom", "/custom"), (0, "", "/root")])
def test_home_from_container_passwd_unless_set(rt, busybox_rootfs, uid, env_home, want):
    def cfg(c):
        c["process"]["user"] = {"uid": uid, "gid": uid}
        if env_home is not None:
            c["process"]["env"].append(f"HOME={env_home}")
    assert run_sh(rt, busybox_rootfs, "echo $HOME; env | grep -c ^HOME=", cfg).split() == [want, "1"]


@pytest.mark.parametrize("cwd,want", [("/", "/"), ("/tmp", "/tmp"), ("/new/deep/dir", "/new/deep/dir")])
def test_cwd(rt, rootfs_rw, cwd, want):
    out = run_sh(rt, rootfs_rw, "pwd; readlink /proc/self/cwd", lambda c: c["process"].__setitem__("cwd", cwd))
    assert out.split() == [want, want]


def test_cwd_symlink_resolved_inside_rootfs(rt, rootfs_rw, tmp_path):
    host = tmp_path / "host-cwd"
    host.mkdir()
    os.symlink(str(host), os.path.join(rootfs_rw, "lnk"))
    out = run_sh(rt, rootfs_rw, "pwd -P; ls -a", lambda c: c["process"].__setitem__("cwd", "/lnk/sub"))
    assert out.splitlines()[0] == f"{host}/sub", "the symlink is followed inside the container"
    assert os.listdir(host) == [], "nothing may be created in the host directory"
    assert os.path.isdir(os.path.join(rootfs_rw, str(host).lstrip("/"), "sub"))


# -- user -------------------------------------------------------------------------------------------

def test_user_uid_gid_additional_gids(rt, busybox_rootfs):
    def cfg(c):
        c["process"]["user"] = {"uid": 1234, "gid": 5678, "additionalGids": [5, 100, 5678]}
    out = run_sh(rt, busybox_rootfs, "id -u; id -g; id -G; grep -E '^(Uid|Gid|Groups)' /proc/self/status", cfg)
    lines = out.splitlines()
    assert lines[0] == "1234" and lines[1] == "5678"
    assert set(lines[2].split()) == {"5678", "5", "100"}
    st = status_fields("\n".join(lines[3:]))
    assert st["Uid"].split() == ["1234"] * 4 and st["Gid"].split() == ["5678"] * 4
    assert sorted(st["Groups"].split(), key=int) == ["5", "100", "5678"]


def test_no_additional_gids_means_no_supplementary_groups(rt, busybox_rootfs):
    out = run_sh(rt, busybox_rootfs, "grep Groups /proc/self/status",
                 lambda c: c["process"].__setitem__("user", {"uid": 1000, "gid": 1000}))
    assert status_fields(out)["Groups"] == ""


@pytest.mark.parametrize("umask,filemode", [(0o022, "644"), (0o077, "600"), (0o002, "664")])
def test_umask(rt, busybox_rootfs, umask, filemode):
    def cfg(c):
        c["process"]["user"]["umask"] = umask
    out = run_sh(rt, busybox_rootfs, "umask; touch /dev/shm/f; stat -c %a /dev/shm/f", cfg)
    assert out.split() == [f"{umask:04o}", filemode]


# -- rlimits ----------------------------------------------------------------------------------------

def _limits(out: str) -> dict:
    res = {}
    for line in out.splitlines()[1:]:
        name = line[:26].strip()
        soft, hard = line[26:].split()[:2]
        res[name] = (soft, hard)
    return res


def test_rlimits_applied(rt, busybox_rootfs):
    def cfg(c):
        c["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 321, "hard": 4321},
                                   {"type": "RLIMIT_NPROC", "soft": 1111, "hard": 2222},
                                   {"type": "RLIMIT_CORE", "soft": 0, "hard": 1048576},
                                   {"type": "RLIMIT_MSGQUEUE", "soft": 4096, "hard": 8192},
                                   {"type": "RLIMIT_STACK", "soft": 4194304, "hard": 16777216}]
    lim = _limits(run_sh(rt, busybox_rootfs, "cat /proc/self/limits", cfg))
    assert lim["Max open files"] == ("321", "4321")
    assert lim["Max processes"] == ("1111", "2222")
    assert lim["Max core file size"] == ("0", "1048576")
    assert lim["Max msgqueue size"] == ("4096", "8192")
    assert lim["Max stack size"] == ("4194304", "16777216")


def test_rlimit_above_hard_limit_is_a_clear_error(rt, busybox_rootfs):
    hard = int(open("/proc/self/limits").read().split("Max open files")[1].split()[1])
    # raising a hard limit needs CAP_SYS_RESOURCE, which this host's bounding set lacks
    want = hard * 50

    def cfg(c):
        c["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": want, "hard": want}]
    err = create_error(rt, busybox_rootfs, cfg)
    assert "RLIMIT_NOFILE" in err and str(want) in err, err
    assert "operation not permitted" in err.lower(), err


@pytest.mark.parametrize("rl,msg", [({"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}, "unknown rlimit"),
                                    ({"type": "RLIMIT_NOFILE", "soft": 10, "hard": 5}, "above hard")])
def test_rlimit_config_errors_name_the_field(rt, busybox_rootfs, rl, msg):
    err = create_error(rt, busybox_rootfs, lambda c: c["process"].__setitem__("rlimits", [rl]))
    assert "process.rlimits[0]" in err and msg in err, err


# -- capabilities, no_new_privs ---------------------------------------------------------------------

CAPS_STATUS = "grep -E '^(Cap|NoNewPrivs)' /proc/self/status"


def test_five_capability_sets_as_root(rt, busybox_rootfs):
    sets = {"bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETPCAP", "CAP_SYS_ADMIN"],
            "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "effective": ["CAP_CHOWN", "CAP_KILL"],
            "inheritable": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "ambient": ["CAP_KILL"]}
    st = status_fields(run_sh(rt, busybox_rootfs, CAPS_STATUS,
                              lambda c: c["process"].__setitem__("capabilities", sets)))
    assert int(st["CapBnd"], 16) == cap_mask(*sets["bounding"])
    assert int(st["CapInh"], 16) == cap_mask(*sets["inheritable"])
    assert int(st["CapAmb"], 16) == cap_mask(*sets["ambient"])
    # execve as root (no_new_privs): P' = (I | bounding) & P, and E' = P' (the kernel's root rule)
    assert int(st["CapPrm"], 16) == cap_mask(*sets["permitted"])
    assert int(st["CapEff"], 16) == cap_mask(*sets["permitted"])
    assert st["NoNewPrivs"] == "1"


def test_ambient_capabilities_for_a_non_root_user(rt, busybox_rootfs):
    caps = ["CAP_NET_BIND_SERVICE", "CAP_KILL"]
    sets = {k: caps for k in ("bounding", "permitted", "effective", "inheritable", "ambient")}

    def cfg(c):
        c["process"]["user"] = {"uid": 1000, "gid": 1000}
        c["process"]["capabilities"] = sets
    out = run_sh(rt, busybox_rootfs, CAPS_STATUS + "; timeout 1 nc -l -p 80 </dev/null & sleep 0.3;"
                 " cat /proc/net/tcp /proc/net/tcp6 | grep -c ':0050 0*:0000 0A'; wait", cfg)
    st = status_fields(out)
    want = cap_mask(*caps)
    for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(st[k], 16) == want, (k, st[k])
    assert out.splitlines()[-1] == "1", "uid 1000 may listen on port 80 through the ambient set"


def test_non_root_without_ambient_has_no_effective_caps(rt, busybox_rootfs):
    def cfg(c):
        c["process"]["user"] = {"uid": 1000, "gid": 1000}
    out = run_sh(rt, busybox_rootfs, CAPS_STATUS + "; timeout 1 nc -l -p 80 2>&1 </dev/null | head -1", cfg)
    st = status_fields(out)
    assert "Permission denied" in out.splitlines()[-1], out
    assert int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0 and int(st["CapAmb"], 16) == 0
    assert int(st["CapBnd"], 16) == cap_mask("CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE")


def test_default_spec_capabilities(rt, busybox_rootfs):
    st = status_fields(run_sh(rt, busybox_rootfs, CAPS_STATUS))
    want = cap_mask("CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE")
    assert int(st["CapBnd"], 16) == want and int(st["CapEff"], 16) == want and int(st["CapPrm"], 16) == want
    assert int(st["CapInh"], 16) == 0 and int(st["CapAmb"], 16) == 0


def test_unknown_capability_is_a_warning_not_an_error(rt, busybox_rootfs):
    def cfg(c):
        c["process"]["capabilities"]["bounding"].append("CAP_NOT_A_REAL_ONE")
    b = rt.bundle(["true"], busybox_rootfs, mutate=cfg)
    p = rt.run("run", "--bundle", b, rt.new_id())
    assert p.returncode == 0, p.stderr
    assert b"CAP_NOT_A_REAL_ONE" in p.stderr and b"warn" in p.stderr


@pytest.mark.parametrize("nnp", [True, False])
def test_no_new_privileges(rt, busybox_rootfs, nnp):
    st = status_fields(run_sh(rt, busybox_rootfs, CAPS_STATUS,
                              lambda c: c["process"].__setitem__("noNewPrivileges", nnp)))
    assert st["NoNewPrivs"] == ("1" if nnp else "0")


# -- oom score, scheduler, io priority, personality -------------------------------------------------

@pytest.mark.parametrize("adj", [500, 0, 1000])
def test_oom_score_adj(rt, busybox_rootfs, adj):
    out = run_sh(rt, busybox_rootfs, "cat /proc/self/oom_score_adj",
                 lambda c: c["process"].__setitem__("oomScoreAdj", adj))
    assert out.strip() == str(adj)


def test_oom_score_adj_below_current_is_a_clear_error(rt, busybox_rootfs):
    cur = int(open("/proc/self/oom_score_adj").read())
    # lowering it needs CAP_SYS_RESOURCE, absent from this host's bounding set
    err = create_error(rt, busybox_rootfs, lambda c: c["process"].__setitem__("oomScoreAdj", cur - 100))
    assert "oomScoreAdj" in err or "oom_score_adj" in err, err


def test_oom_score_adj_absent_is_inherited(rt, busybox_rootfs):
    cur = open("/proc/self/oom_score_adj").read().strip()
    assert run_sh(rt, busybox_rootfs, "cat /proc/self/oom_score_adj").strip() == cur


def _sched(out: str) -> dict:
    res = {}
    for line in out.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            res[k.strip()] = v.strip()
    return res


@pytest.mark.parametrize("policy,num,nice", [("SCHED_BATCH", 3, 7), ("SCHED_IDLE", 5, 0), ("SCHED_OTHER", 0, 4)])
def test_scheduler(rt, busybox_rootfs, policy, num, nice):
    def cfg(c):
        c["process"]["scheduler"] = {"policy": policy, "nice": nice}
    out = run_sh(rt, busybox_rootfs, "grep -E '^policy|^prio' /proc/self/sched; cut -d' ' -f19 /proc/self/stat", cfg)
    s = _sched(out)
    assert s["policy"] == str(num), out
    if policy != "SCHED_IDLE":
        assert out.splitlines()[-1] == str(nice)


def test_scheduler_refused_is_a_clear_error(rt, busybox_rootfs):
    # SCHED_DEADLINE needs runtime <= deadline <= period: the kernel refuses this one
    def cfg(c):
        c["process"]["scheduler"] = {"policy": "SCHED_DEADLINE", "runtime": 2000000, "deadline": 1000000,
                                     "period": 1000000}
    err = create_error(rt, busybox_rootfs, cfg)
    assert "process.scheduler" in err, err


@pytest.mark.parametrize("cls,prio,want", [("IOPRIO_CLASS_BE", 4, "best-effort: prio 4"),
                                           ("IOPRIO_CLASS_IDLE", 0, "idle"),
                                           ("IOPRIO_CLASS_BE", 7, "best-effort: prio 7")])
def test_io_priority(rt, busybox_rootfs, cls, prio, want):
    out = run_sh(rt, busybox_rootfs, "ionice -p $$",
                 lambda c: c["process"].__setitem__("ioPriority", {"class": cls, "priority": prio}))
    assert out.strip() == want


@pytest.mark.parametrize("domain,machine", [("LINUX32", "i686"), ("LINUX", os.uname().machine)])
def test_personality(rt, busybox_rootfs, domain, machine):
    out = run_sh(rt, busybox_rootfs, "uname -m",
                 lambda c: c["linux"].__setitem__("personality", {"domain": domain}))
    assert out.strip() == machine


@pytest.mark.parametrize("field,value", [("apparmorProfile", "docker-default"),
                                         ("selinuxLabel", "system_u:system_r:container_t:s0")])
def test_lsm_labels_rejected_without_the_lsm(rt, busybox_rootfs, field, value):
    err = create_error(rt, busybox_rootfs, lambda c: c["process"].__setitem__(field, value))
    assert f"process.{field}" in err and "not enabled" in err, err


def test_pid_1_is_the_configs_program_not_the_runtime(rt, busybox_rootfs):
    """After start, pid 1 has exec'd the config's program: no trace of the host interpreter."""
    out = run_sh(rt, busybox_rootfs,
                 "readlink /proc/self/exe; readlink /proc/1/exe; cat /proc/1/cmdline | tr '\\0' ' '")
    lines = out.splitlines()
    assert lines[0] == "/bin/busybox" and lines[1] == "/bin/busybox"
    assert lines[2].startswith("sh -c ")
