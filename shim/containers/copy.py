"""``pyctr cp``: copy files between the host and a container's filesystem (docker cp).

Every container-side path is resolved in a forked helper whose root is the container's: the mount
namespace of a running container (so its bind and tmpfs mounts are seen, as docker's cp sees them),
or the mounted writable layer of a stopped one (chroot). A symlink in the container therefore can
never lead to a host path (docker's CVE-2018-15664 and CVE-2019-14271). The data crosses as a tar
stream through a pipe, after a one-line header (kind and name of the source); each side extracts
with graphdriver's extractor, which writes nothing outside the directory it is given.

Path rules (docker's): a directory SRC is copied as DEST/basename(SRC) when DEST is an existing
directory, as DEST when DEST does not exist; ``SRC/.`` copies the contents; a file goes into an
existing directory DEST under its own name, else to the path DEST. Owners become root unless
``archive`` (-a) keeps them; ``follow`` (-L) copies what a symlink SRC points to.
"""
import contextlib
import os
import stat
import sys
import tarfile

from pyrunc.graphdriver import archive  # imported before any fork: after chroot the library is out of reach
from pyrunc.graphdriver.driver import DriverError
from pyrunc._sys import lib as _sys  # setns (Python 3.11's os lacks it)

from ..errors import EngineError


def split_arg(text: str) -> tuple[str | None, str]:
    """docker's splitCpArg: ``CONTAINER:PATH``, or a host path (absolute, starting with ".", or
    without a colon)."""
    head, sep, rest = text.partition(":")
    if text.startswith(("/", ".")) or not sep or not head:
        return None, text
    return head, rest or "/"


class _Missing(Exception):
    """The source does not exist (reported in docker's words by the caller)."""


# ---- the two directions -------------------------------------------------------------------------------------
def copy_out(root, src: str, dest: str, follow: bool, keep_owner: bool) -> None:
    """Container ``src`` -> host ``dest`` ("-": a tar stream on stdout)."""
    try:
        _copy_out(root, src, dest, follow, keep_owner)
    except (DriverError, OSError) as e:
        raise EngineError(f"copy to {dest}: {e}") from None


def _copy_out(root, src: str, dest: str, follow: bool, keep_owner: bool) -> None:
    r, w = os.pipe2(os.O_CLOEXEC)

    def child() -> None:
        try:
            _pack(src, follow, keep_owner, w, top=dest == "-")
        except _Missing:
            os.write(w, f"E Could not find the file {src} in container\n".encode())
            os._exit(1)

    pid = _fork_in(root, child, keep=w)
    os.close(w)
    with os.fdopen(r, "rb") as stream:
        try:
            kind, name = _header(stream)
            if dest == "-":
                _pump(stream, sys.stdout.buffer)
            else:
                _unpack(stream, kind, name, dest, src.endswith("/."))
        except BaseException:
            _reap(pid, raise_on_error=False)  # its failure is the one being raised
            raise
    _reap(pid)


def copy_in(root, src: str, dest: str, follow: bool, keep_owner: bool) -> None:
    """Host ``src`` ("-": a tar stream on stdin, extracted into the directory ``dest``) -> container ``dest``."""
    r, w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)

    def child() -> None:
        try:
            with os.fdopen(r, "rb") as stream:
                kind, name = _header(stream)
                _unpack(stream, kind, name, dest, src.endswith("/."))
        except (EngineError, DriverError, OSError) as e:
            os.write(err_w, str(e).encode())
            os._exit(1)

    pid = _fork_in(root, child, keep=(r, err_w))
    os.close(r)
    os.close(err_w)
    missing = False
    try:
        if src == "-":
            with os.fdopen(w, "wb") as out:
                out.write(b"d .\n")
                _pump(sys.stdin.buffer, out)
        else:
            _pack(src, follow, keep_owner, w, top=False)  # closes w, except when it raises _Missing
    except _Missing:
        missing = True
        os.close(w)  # the helper sees EOF and gives up
    except BrokenPipeError:
        pass  # the helper failed: its message follows
    with os.fdopen(err_r, "rb") as f:
        msg = f.read().decode(errors="replace")
    code = _reap(pid, raise_on_error=False)
    if missing:
        raise EngineError(f"no such file or directory: {src}")
    if code:
        raise EngineError(msg or "copy into the container failed")


# ---- helpers: both run on either side ------------------------------------------------------------------------
def _pack(src: str, follow: bool, keep_owner: bool, fd: int, top: bool) -> None:
    """Write the header and a tar of ``src`` into ``fd`` (then closed): a directory's entries relative
    to "." (the directory itself), a file under its name; with ``top`` everything under the source's
    name (what ``docker cp C:SRC -`` streams).
    Raises _Missing, with nothing written, when ``src`` does not exist."""
    contents = src.endswith("/.")
    path = (src[:-2] or "/") if contents else src
    try:
        if follow:
            path = os.path.realpath(path)
        st = os.stat(path) if follow else os.lstat(path)
    except OSError:
        raise _Missing() from None
    kind = "d" if stat.S_ISDIR(st.st_mode) else "f"
    name = os.path.basename(path.rstrip("/")) or "."
    with os.fdopen(fd, "wb") as out:
        out.write(f"{kind} {name}\n".encode())

        def owner(ti: tarfile.TarInfo) -> tarfile.TarInfo:
            if not keep_owner:
                ti.uid = ti.gid = 0
                ti.uname = ti.gname = ""
            return ti
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
            tf.add(path, arcname=name if top or kind == "f" else ".", recursive=True, filter=owner)


def _unpack(stream, kind: str, name: str, dest: str, contents: bool) -> None:
    """Extract the stream where docker's rules put it (see the module docstring)."""
    dest_is_dir = os.path.isdir(dest)
    if kind == "d":
        target = dest if contents or not dest_is_dir else os.path.join(dest, name)
        if not os.path.isdir(target):
            if not os.path.isdir(os.path.dirname(target.rstrip("/")) or "/"):
                raise EngineError(f"no such directory: {os.path.dirname(target.rstrip('/'))}")
            os.mkdir(target, 0o755)
        archive.apply_layer(stream, target, "keep")
        return
    if dest.endswith("/") and not dest_is_dir:
        raise EngineError(f"destination directory {dest} does not exist")
    # a file: extract into a private directory next to the target, then rename it into place
    target = os.path.join(dest, name) if dest_is_dir else dest
    parent = os.path.dirname(target) or "."
    if not os.path.isdir(parent):
        raise EngineError(f"no such directory: {parent}")
    tmp = os.path.join(parent, f".pyctr-cp-{os.getpid()}")
    os.mkdir(tmp, 0o700)
    try:
        archive.apply_layer(stream, tmp, "keep")
        _move_single(tmp, target)
    finally:
        with contextlib.suppress(OSError):
            for n in os.listdir(tmp):
                os.unlink(os.path.join(tmp, n))
            os.rmdir(tmp)


def _move_single(tmp: str, target: str) -> None:
    names = os.listdir(tmp)
    if len(names) != 1:
        raise EngineError("copy: expected one file in the stream")
    os.rename(os.path.join(tmp, names[0]), target)


def _header(stream) -> tuple[str, str]:
    line = stream.readline().decode(errors="replace").rstrip("\n")
    kind, _, name = line.partition(" ")
    if kind == "E":
        raise EngineError(name)
    if kind not in ("d", "f") or not name:
        raise EngineError("copy: the container side ended without data")
    return kind, name


def _pump(src, dst) -> None:
    while True:
        chunk = src.read(1 << 16)
        if not chunk:
            break
        dst.write(chunk)
    dst.flush()


# ---- entering the container's root ----------------------------------------------------------------------------
def _fork_in(root, body, keep) -> int:
    """Run ``body`` in a child whose root and cwd are the container's (``root``: ("pid", n) of a running
    container's init, or ("dir", path) of its mounted rootfs); only the fds in ``keep`` stay open."""
    keep = (keep,) if isinstance(keep, int) else tuple(keep)
    ns_fd = os.open(f"/proc/{root[1]}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC) if root[0] == "pid" else -1
    pid = os.fork()
    if pid:
        if ns_fd >= 0:
            os.close(ns_fd)
        return pid
    code = 1
    try:
        for fd in (0, 1):
            os.close(fd)  # nothing of the container side talks to our stdio
        for name in os.listdir("/proc/self/fd"):  # no host fd may follow us into the container's root
            fd = int(name)
            if fd > 2 and fd not in keep and fd != ns_fd:
                with contextlib.suppress(OSError):
                    os.close(fd)
        # nothing may be loaded from the container's files once we are in its root: no imports (its
        # /usr/lib/python3*), no NSS lookups by tarfile's uname/gname (libnss_*.so: CVE-2019-14271)
        tarfile.pwd = tarfile.grp = None
        sys.path[:] = []
        sys.path_importer_cache.clear()
        sys.meta_path[:] = [f for f in sys.meta_path if getattr(f, "__name__", "") in ("BuiltinImporter",
                                                                                      "FrozenImporter")]
        if root[0] == "pid":
            rc = _sys.pr_setns(ns_fd, 0x00020000)  # CLONE_NEWNS: root and cwd become the container's /
            if rc < 0:
                raise OSError(-rc, "setns into the container's mount namespace")
            os.close(ns_fd)
        else:
            os.chroot(root[1])
        os.chdir("/")
        body()
        code = 0
    except BaseException as e:  # noqa: BLE001 — reported through stderr, the exit code says it failed
        with contextlib.suppress(OSError):
            os.write(2, f"pyctr cp: {e}\n".encode())
    os._exit(code)


def _reap(pid: int, raise_on_error: bool = True) -> int:
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code and raise_on_error:
        raise EngineError("copy from the container failed")
    return code
