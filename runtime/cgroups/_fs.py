"""Small cgroupfs helpers shared by the v1 and v2 managers (os + builtins only: hot path).

Every failure becomes a ``CgroupError`` whose one-line message names the file and the
value, so the runtime can print it unchanged.
"""
from .. import fastos as os

_MOUNTS = None  # cached parse of /proc/self/mountinfo (one read per process)


class CgroupError(Exception):
    """A cgroup operation failed; ``errno`` is the kernel's error when there is one."""

    def __init__(self, msg: str, errno: int | None = None) -> None:
        super().__init__(msg)
        self.errno = errno


def strerror(e: OSError) -> str:
    """Go-style lower-case errno text ('device or resource busy')."""
    s = e.strerror or os.strerror(e.errno or 0)
    return s[:1].lower() + s[1:]


def open_for_join(dirpath: str, name: str) -> int:
    """An O_WRONLY fd of a cgroup's tasks/cgroup.procs file, for a process to join through."""
    try:
        return os.open(dirpath + "/" + name, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as e:
        raise CgroupError(f"cgroup: cannot join {dirpath}: {strerror(e)}", e.errno) from None


def write(dirpath: str, name: str, value: str) -> None:
    """Write one value to one cgroup file (a single write(2), as the kernel expects)."""
    try:
        fd = os.open(dirpath + "/" + name, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as e:
        raise CgroupError(f'cgroup: cannot set {name} to "{value}": {strerror(e)}', e.errno) from None
    try:
        os.write(fd, value.encode())
    except OSError as e:
        raise CgroupError(f'cgroup: cannot set {name} to "{value}": {strerror(e)}', e.errno) from None
    finally:
        os.close(fd)


def read(dirpath: str, name: str) -> str:
    try:
        fd = os.open(dirpath + "/" + name, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise CgroupError(f"cgroup: cannot read {dirpath}/{name}: {strerror(e)}", e.errno) from None
    try:
        chunks = []
        while True:
            b = os.read(fd, 65536)
            if not b:
                break
            chunks.append(b)
        return b"".join(chunks).decode()
    except OSError as e:
        raise CgroupError(f"cgroup: cannot read {dirpath}/{name}: {strerror(e)}", e.errno) from None
    finally:
        os.close(fd)


def read_int(dirpath: str, name: str) -> int:
    """Read a single-number file; 'max' reads as -1."""
    s = read(dirpath, name).strip()
    if s == "max":
        return -1
    return int(s)


def key_value(dirpath: str, name: str) -> dict:
    """Parse a flat 'key value' file (memory.stat, cpu.stat, memory.events, oom_control)."""
    out = {}
    for line in read(dirpath, name).splitlines():
        k, _, v = line.partition(" ")
        if v:
            try:
                out[k] = int(v)
            except ValueError:
                pass
    return out


def clean_path(p: str) -> str:
    """runc's utils.CleanPath: lexical clean that keeps relative paths relative and never escapes."""
    if not p:
        return ""
    parts = []
    for c in p.split("/"):
        if c in ("", "."):
            continue
        if c == "..":
            if parts:
                parts.pop()
            continue
        parts.append(c)
    joined = "/".join(parts)
    return "/" + joined if p.startswith("/") else joined


def join(*parts: str) -> str:
    """Join path pieces that are already clean ('' pieces are skipped)."""
    out = ""
    for p in parts:
        if not p or p == "/":
            if not out:
                out = p
            continue
        out = out.rstrip("/") + "/" + p.strip("/") if out else p
    return out or "/"


def _unescape(s: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as \\ooo octal."""
    if "\\" not in s:
        return s
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 3 < len(s) and s[i + 1:i + 4].isdigit():
            out.append(chr(int(s[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> tuple[dict, tuple | None, str | None]:
    """-> ({controller: (mountpoint, root)}, (v2 mountpoint, root) or None, fstype of /sys/fs/cgroup).

    v1 controller keys are kernel names ('memory', 'cpu', ...) and 'name=systemd' style
    named hierarchies; the first mount of a hierarchy wins.
    """
    v1: dict = {}
    v2 = None
    top = None
    for line in text.splitlines():
        pre, sep, post = line.partition(" - ")
        if not sep:
            continue
        f = pre.split(" ")
        if len(f) < 5:
            continue
        root, mnt = _unescape(f[3]), _unescape(f[4])
        g = post.split(" ")
        fstype = g[0]
        if mnt == "/sys/fs/cgroup":
            top = fstype
        if fstype == "cgroup2":
            if v2 is None or mnt == "/sys/fs/cgroup":
                v2 = (mnt, root)
        elif fstype == "cgroup" and len(g) >= 3:
            for opt in g[2].split(","):
                if opt in _V1_CONTROLLERS or opt.startswith("name="):
                    if opt not in v1:
                        v1[opt] = (mnt, root)
    return v1, v2, top


_V1_CONTROLLERS = frozenset(("cpuset", "cpu", "cpuacct", "blkio", "memory", "devices", "freezer",
                             "net_cls", "perf_event", "net_prio", "hugetlb", "pids", "rdma", "misc"))


def mounts() -> tuple[dict, tuple | None, str | None]:
    global _MOUNTS
    if _MOUNTS is None:
        with open("/proc/self/mountinfo") as f:
            _MOUNTS = parse_mountinfo(f.read())
    return _MOUNTS


def parse_proc_cgroup(text: str) -> dict:
    """/proc/<pid>/cgroup -> {controller: path}; the v2 entry ('0::/x') is under key ''."""
    out = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for c in parts[1].split(","):
            out[c] = parts[2]
    return out


def own_cgroups() -> dict:
    with open("/proc/self/cgroup") as f:
        return parse_proc_cgroup(f.read())


def mkdir_p(path: str, stop: str) -> list:
    """mkdir every missing level of ``path`` below the existing ``stop``; returns the new dirs."""
    made = []
    rel = path[len(stop):].strip("/")
    parts = rel.split("/") if rel else []
    i, cur, retries = 0, stop, 0
    while i < len(parts):
        cur = cur + "/" + parts[i]
        try:
            os.mkdir(cur, 0o755)
            made.append(cur)
        except FileExistsError:
            pass
        except FileNotFoundError as e:
            # a concurrent delete removed an empty shared parent (e.g. /pyrunc): start over
            retries += 1
            if retries > 5:
                raise CgroupError(f"cgroup: cannot create {cur}: {strerror(e)}", e.errno) from None
            i, cur = 0, stop
            continue
        except OSError as e:
            raise CgroupError(f"cgroup: cannot create {cur}: {strerror(e)}", e.errno) from None
        i += 1
    return made


def procs(dirpath: str) -> list:
    """Pids in one cgroup (not recursive); [] when the cgroup is gone."""
    try:
        txt = read(dirpath, "cgroup.procs")
    except CgroupError:
        return []
    return [int(x) for x in txt.split()]


def all_procs(dirpath: str) -> list:
    """Pids in a cgroup and all its descendants (runc GetAllPids)."""
    out = procs(dirpath)
    try:
        with os.scandir(dirpath) as it:
            subs = [e.path for e in it if e.is_dir(follow_symlinks=False)]
    except OSError:
        return out
    for s in subs:
        out.extend(all_procs(s))
    return out


def join_pid(dirpath: str, pid: int) -> None:
    """Write a pid to cgroup.procs; EINVAL (task still TASK_NEW) is retried like runc."""
    import time
    for i in range(5):
        try:
            write(dirpath, "cgroup.procs", str(pid))
            return
        except CgroupError as e:
            if e.errno != 22 or i == 4:  # EINVAL
                raise CgroupError(f"cgroup: cannot join {dirpath} with pid {pid}: "
                                  f"{str(e).rpartition(': ')[2]}", e.errno) from None
            time.sleep(0.03)


def rmdir_empty(dirs: list) -> list:
    """One rmdir of each directory; return those still there (busy: tasks or sub-cgroups left)."""
    left = []
    for d in dirs:
        try:
            os.rmdir(d)
        except FileNotFoundError:
            pass
        except OSError:
            left.append(d)
    return left


def rmdir_tree(path: str) -> None:
    """Remove a cgroup and its sub-cgroups, retrying EBUSY (dying tasks) with backoff; absent is fine."""
    import time
    try:
        os.rmdir(path)
        return
    except FileNotFoundError:
        return
    except OSError:
        pass
    try:
        with os.scandir(path) as it:
            subs = [e.path for e in it if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return
    except OSError as e:
        raise CgroupError(f"cgroup: cannot remove {path}: {strerror(e)}", e.errno) from None
    for s in subs:
        rmdir_tree(s)
    delay = 0.001
    for i in range(11):
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno != 16 or i == 10:  # EBUSY
                raise CgroupError(f"cgroup: cannot remove {path}: {strerror(e)}", e.errno) from None
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


def enable_controllers(mnt: str, d: str, ctls) -> None:
    """Enable controllers in cgroup.subtree_control of every level from the v2 mount root down
    to d's parent (a controller is only usable in d when its parent delegates it)."""
    levels, cur = [mnt], mnt
    for c in d[len(mnt):].strip("/").split("/")[:-1]:
        cur = cur + "/" + c
        levels.append(cur)
    for lvl in levels:
        have = read(lvl, "cgroup.subtree_control").split()
        missing = [c for c in ctls if c not in have]
        if not missing:
            continue
        try:
            write(lvl, "cgroup.subtree_control", " ".join("+" + c for c in missing))
        except CgroupError:
            for c in missing:  # one by one, so one refused controller does not block the others
                write(lvl, "cgroup.subtree_control", "+" + c)
