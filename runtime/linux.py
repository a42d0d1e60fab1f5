"""The one thin layer over Linux syscalls that Python's os module lacks (C in csrc/sys.c).

Every wrapper raises OSError with the errno and a short name of what failed, so the logic above
can report one clear line. Constants live here too, so nothing else hard-codes kernel numbers.
"""
from . import fastos as os

from pyrunc._sys import ffi as _ffi, lib as _lib

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080

NS_FLAGS = {"mount": CLONE_NEWNS, "cgroup": CLONE_NEWCGROUP, "uts": CLONE_NEWUTS, "ipc": CLONE_NEWIPC,
            "user": CLONE_NEWUSER, "pid": CLONE_NEWPID, "network": CLONE_NEWNET, "time": CLONE_NEWTIME}
NS_PROC = {"mount": "mnt", "cgroup": "cgroup", "uts": "uts", "ipc": "ipc", "user": "user",
           "pid": "pid", "network": "net", "time": "time"}

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MNT_DETACH = 2

AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
OPEN_TREE_CLONE = 1
MOVE_MOUNT_F_EMPTY_PATH = 4
MOVE_MOUNT_T_EMPTY_PATH = 0x40

RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_IN_ROOT = 0x10

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

CLOSE_RANGE_CLOEXEC = 4


def _check(ret: int, what: str, path: str | None = None) -> int:
    if ret < 0:
        raise OSError(-ret, f"{what}: {os.strerror(-ret)}", path)
    return ret


def _b(s: str | None):
    return _ffi.NULL if s is None else s.encode()


def unshare(flags: int) -> None:
    _check(_lib.pr_unshare(flags), "unshare")


def setns(fd: int, nstype: int = 0) -> None:
    _check(_lib.pr_setns(fd, nstype), "setns")


def mount(src: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    _check(_lib.pr_mount(_b(src), target.encode(), _b(fstype), flags, _b(data)), "mount", target)


def umount2(target: str, flags: int = 0) -> None:
    _check(_lib.pr_umount2(target.encode(), flags), "umount", target)


def pivot_root(new_root: str, put_old: str) -> None:
    _check(_lib.pr_pivot_root(new_root.encode(), put_old.encode()), "pivot_root", new_root)


def mount_setattr(fd: int, attr_set: int, attr_clr: int, recursive: bool = True, propagation: int = 0) -> None:
    flags = AT_EMPTY_PATH | (AT_RECURSIVE if recursive else 0)
    _check(_lib.pr_mount_setattr(fd, b"", flags, attr_set, attr_clr, propagation, 0), "mount_setattr")


MOUNT_ATTR_IDMAP = 0x00100000
AT_FDCWD = -100


def mount_setattr_idmap(fd: int, userns_fd: int, recursive: bool) -> None:
    """Give the detached mount ``fd`` the id mapping of the user namespace ``userns_fd``."""
    flags = AT_EMPTY_PATH | (AT_RECURSIVE if recursive else 0)
    _check(_lib.pr_mount_setattr(fd, b"", flags, MOUNT_ATTR_IDMAP, 0, 0, userns_fd), "mount_setattr(idmap)")


def open_tree(dfd: int, path: str, flags: int) -> int:
    return _check(_lib.pr_open_tree(dfd, path.encode(), flags), "open_tree", path)


def move_mount(from_fd: int, to_fd: int) -> None:
    _check(_lib.pr_move_mount(from_fd, b"", to_fd, b"", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH),
           "move_mount")


def openat2(dfd: int, path: str, flags: int, resolve: int, mode: int = 0) -> int:
    return _check(_lib.pr_openat2(dfd, path.encode(), flags | os.O_CLOEXEC, mode, resolve), "openat2", path)


def close_range(first: int, last: int = 0xFFFFFFFF, flags: int = 0) -> None:
    _check(_lib.pr_close_range(first, last, flags), "close_range")


def prctl(option: int, a2: int = 0, a3: int = 0, a4: int = 0, a5: int = 0) -> int:
    return _check(_lib.pr_prctl(option, a2, a3, a4, a5), "prctl")


def capset(effective: int, permitted: int, inheritable: int) -> None:
    _check(_lib.pr_capset(effective, permitted, inheritable), "capset")


def sethostname(name: str) -> None:
    b = name.encode()
    _check(_lib.pr_sethostname(b, len(b)), "sethostname")


def setdomainname(name: str) -> None:
    b = name.encode()
    _check(_lib.pr_setdomainname(b, len(b)), "setdomainname")


def personality(persona: int) -> None:
    _check(_lib.pr_personality(persona), "personality")


def ioprio_set(ioprio: int) -> None:
    _check(_lib.pr_ioprio_set(1, 0, ioprio), "ioprio_set")  # IOPRIO_WHO_PROCESS, self


def sched_setattr(policy: int, flags: int, nice: int, prio: int, runtime: int, deadline: int, period: int) -> None:
    _check(_lib.pr_sched_setattr(0, policy, flags, nice, prio, runtime, deadline, period), "sched_setattr")


def pty_unlock(master_fd: int) -> int:
    """Unlock a ptmx master and return its pts number."""
    return _check(_lib.pr_ptsname(master_fd), "ptsname")


def set_ctty(fd: int) -> None:
    _check(_lib.pr_set_ctty(fd), "TIOCSCTTY")


def set_winsize(fd: int, rows: int, cols: int) -> None:
    _check(_lib.pr_set_winsize(fd, rows, cols), "TIOCSWINSZ")


def link_up(name: str = "lo") -> None:
    _check(_lib.pr_link_up(name.encode()), f"bring up {name}")


def setrlimit(resource: int, soft: int, hard: int) -> None:
    _check(_lib.pr_setrlimit(resource, soft, hard), "setrlimit")


def join_session_keyring(name: str) -> None:
    _check(_lib.pr_join_session_keyring(name.encode()), "join session keyring")


def fork_into_cgroup(cgroup_fd: int) -> int:
    """os.fork(), with the child born inside the cgroup2 directory ``cgroup_fd`` (clone3)."""
    return _check(_lib.pr_fork_into_cgroup(cgroup_fd), "clone3(CLONE_INTO_CGROUP)")


def seccomp_set_filter(flags: int, bpf: bytes) -> int:
    """Install a compiled cBPF program (seccomp(2)); the listener fd with NEW_LISTENER, else 0."""
    rc = _lib.pr_seccomp_set_filter(flags, bpf, len(bpf))
    if rc < 0:
        raise OSError(-rc, f"seccomp(SECCOMP_SET_MODE_FILTER, {flags:#x}): {os.strerror(-rc)}")
    return rc


def seccomp_flags_supported(flags: int) -> bool:
    return bool(_lib.pr_seccomp_flags_supported(flags))


def set_mempolicy(mode: int, nodemask: bytes) -> None:
    _check(_lib.pr_set_mempolicy(mode, nodemask, len(nodemask)), "set_mempolicy")
