"""OCI layer tars: decompress, apply safely (with whiteout conversion), diff trees, export.

Safety model (``apply_layer``): every path is resolved from an fd on ``dest`` with
``openat2(RESOLVE_IN_ROOT)``, so ``..``, absolute names and symlinks (in parents, in hard
link targets) are all interpreted inside the layer, as docker's chrooted unpacker does.
Entry names that climb above the root (``../x``) are rejected outright.  Files are created
with ``O_EXCL|O_NOFOLLOW`` after removing whatever was there, so no write ever follows a
symlink.  Without openat2 (kernel < 5.6) symlinked parents are refused instead.

Whiteouts (OCI image-spec ``layer.md``): ``.wh.NAME`` deletes NAME from lower layers and
``DIR/.wh..wh..opq`` hides every lower child of DIR.  ``whiteouts="overlay"`` stores them the
way overlayfs reads them (char device 0/0, ``trusted.overlay.opaque=y``); ``"delete"``
performs the deletion in a full copy of the tree (vfs, devicemapper).
"""
from __future__ import annotations

import errno
import io
import os
import posixpath
import shutil
import stat
import subprocess
import tarfile
import threading
from typing import BinaryIO, Iterable

from . import syscalls
from .driver import Change, DriverError

WH_PREFIX = ".wh."
WH_META_PREFIX = ".wh..wh."
WH_OPAQUE = ".wh..wh..opq"
OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque"
# overlayfs bookkeeping that must never be copied from or into a layer tar
_SKIP_XATTR_PREFIXES = ("trusted.overlay.", "user.overlay.")
_XATTR_PAX = "SCHILY.xattr."
_CHUNK = 128 * 1024
_ZERO = bytes(_CHUNK)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


# --------------------------------------------------------------------------- decompress
class _Prefixed(io.RawIOBase):
    """A read-only stream that yields ``head`` and then the rest of ``inner``."""

    def __init__(self, head: bytes, inner: BinaryIO) -> None:
        self._head = head
        self._inner = inner

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._inner.read(len(b))
        n = len(data)
        b[:n] = data
        return n


class _ZstdCli(io.RawIOBase):
    """Decompress zstd through the ``zstd`` CLI when the ``zstandard`` module is missing."""

    def __init__(self, src: BinaryIO) -> None:
        self._proc = subprocess.Popen(["zstd", "-dcq"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._pump = threading.Thread(target=self._feed, args=(src,), daemon=True)
        self._pump.start()

    def _feed(self, src: BinaryIO) -> None:
        assert self._proc.stdin is not None
        try:
            while chunk := src.read(1 << 20):
                self._proc.stdin.write(chunk)
        except BrokenPipeError:
            pass
        finally:
            self._proc.stdin.close()

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        assert self._proc.stdout is not None
        n = self._proc.stdout.readinto(b)
        if n == 0 and self._proc.wait() != 0:
            raise DriverError(f"zstd -d failed with exit status {self._proc.returncode}")
        return n

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        super().close()


def open_layer(stream: BinaryIO) -> BinaryIO:
    """Sniff plain/gzip/zstd (also bzip2/xz) and return a decompressed stream."""
    if getattr(stream, "seekable", lambda: False)():
        pos = stream.tell()
        head = stream.read(6)
        stream.seek(pos)
        body: BinaryIO = stream
    else:
        head = b""
        while len(head) < 6:
            more = stream.read(6 - len(head))
            if not more:
                break
            head += more
        body = io.BufferedReader(_Prefixed(head, stream), buffer_size=1 << 20)  # type: ignore[arg-type]
    if head.startswith(b"\x1f\x8b"):
        import gzip

        return gzip.GzipFile(fileobj=body, mode="rb")  # type: ignore[return-value]
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        try:
            import zstandard
        except ImportError:
            return io.BufferedReader(_ZstdCli(body), buffer_size=1 << 20)  # type: ignore[return-value]
        return zstandard.ZstdDecompressor().stream_reader(body, read_across_frames=True)  # type: ignore[return-value]
    if head.startswith(b"BZh"):
        import bz2

        return bz2.BZ2File(body)  # type: ignore[return-value]
    if head.startswith(b"\xfd7zXZ\x00"):
        import lzma

        return lzma.LZMAFile(body)  # type: ignore[return-value]
    return body


# --------------------------------------------------------------------------- apply
def _clean(name: str) -> str:
    """Tar entry name -> path relative to the layer root ("." for the root itself)."""
    rel = posixpath.normpath(name.lstrip("/")) if name.lstrip("/") else "."
    if rel == ".." or rel.startswith("../"):
        raise DriverError(f"tar entry {name!r}: path escapes the layer root")
    return rel


def _mtime_ns(m: tarfile.TarInfo, key: str = "mtime") -> int:
    """Exact nanoseconds from the PAX record when present (tarfile rounds through float)."""
    raw = m.pax_headers.get(key)
    if raw:
        sec, _, frac = raw.partition(".")
        try:
            neg = sec.startswith("-")
            ns = abs(int(sec)) * 1_000_000_000 + int((frac + "000000000")[:9] or 0)
            return -ns if neg else ns
        except ValueError:
            pass
    value = m.mtime if key == "mtime" else m.mtime
    return int(round(float(value) * 1_000_000_000))


def _xattrs(m: tarfile.TarInfo) -> list[tuple[str, bytes]]:
    out = []
    for key, value in m.pax_headers.items():
        if key.startswith(_XATTR_PAX):
            name = key[len(_XATTR_PAX):]
            if name.startswith(_SKIP_XATTR_PREFIXES):
                continue
            out.append((name, value.encode("utf-8", "surrogateescape")))
    return out


class _Extractor:
    """Applies one layer's entries below ``dest`` (see module docstring for the rules)."""

    def __init__(self, dest: str, whiteouts: str) -> None:
        if whiteouts not in ("overlay", "delete", "keep"):
            raise ValueError(f"whiteouts must be 'overlay', 'delete' or 'keep', not {whiteouts!r}")
        self.dest = dest
        self.overlay = whiteouts == "overlay"
        self.keep_whiteouts = whiteouts == "keep"  # plain files (a copy, not a layer: pyctr cp)
        self.root = os.open(dest, _DIR_FLAGS | os.O_NOFOLLOW)
        self.in_root = syscalls.available() and _openat2_works(self.root)
        self.cache: dict[str, int] = {}
        self.unpacked: set[str] = set()
        self.dirs: list[tuple[str, int, int]] = []
        self.size = 0

    def close(self) -> None:
        self._drop_cache()
        os.close(self.root)

    # -- path resolution -------------------------------------------------------------
    def _drop_cache(self) -> None:
        for fd in self.cache.values():
            os.close(fd)
        self.cache.clear()

    def _open_dir(self, rel: str) -> int:
        """fd of directory ``rel`` resolved inside the root; raises OSError."""
        if self.in_root:
            return syscalls.openat2(self.root, rel, _DIR_FLAGS, syscalls.RESOLVE_IN_ROOT | syscalls.RESOLVE_NO_MAGICLINKS)
        fd = os.dup(self.root)
        try:
            for comp in rel.split("/"):
                nfd = os.open(comp, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
                os.close(fd)
                fd = nfd
        except OSError as e:
            os.close(fd)
            if e.errno == errno.ELOOP:
                raise DriverError(f"{rel}: symlinked parent directory (needs openat2 to resolve safely)") from e
            raise
        return fd

    def parent_fd(self, rel: str, create: bool = True) -> int | None:
        """fd of the directory ``rel`` (cached); missing directories are made 0755 if ``create``."""
        if rel in ("", "."):
            return self.root
        fd = self.cache.get(rel)
        if fd is not None:
            return fd
        try:
            fd = self._open_dir(rel)
        except FileNotFoundError:
            if not create:
                return None
            up, base = posixpath.split(rel)
            pfd = self.parent_fd(up, create)
            assert pfd is not None
            try:
                os.mkdir(base, 0o755, dir_fd=pfd)
            except FileExistsError:
                pass  # a dangling symlink; _open_dir below reports it
            try:
                fd = self._open_dir(rel)
            except OSError as e:
                raise DriverError(f"{rel}: cannot create parent directory: {e.strerror}") from e
        except NotADirectoryError as e:
            raise DriverError(f"{rel}: parent is not a directory") from e
        if len(self.cache) >= 512:
            self._drop_cache()
        self.cache[rel] = fd
        return fd

    def _remove(self, pfd: int, name: str, st: os.stat_result) -> None:
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(name, dir_fd=pfd)
        else:
            os.unlink(name, dir_fd=pfd)
        self._drop_cache()  # cached fds may point into what was removed

    # -- entries -----------------------------------------------------------------------
    def entry(self, m: tarfile.TarInfo, tf: tarfile.TarFile) -> None:
        rel = _clean(m.name)
        if rel == ".":
            if m.isdir():
                self._dir_meta(self.root, m)
                self.dirs.append((".", _mtime_ns(m, "atime") if "atime" in m.pax_headers else _mtime_ns(m), _mtime_ns(m)))
            return
        parent, base = posixpath.split(rel)
        if base.startswith(WH_PREFIX) and not self.keep_whiteouts:
            self._whiteout(parent, base, m)
            return
        pfd = self.parent_fd(parent)
        assert pfd is not None
        try:
            st = os.lstat(base, dir_fd=pfd)
        except FileNotFoundError:
            st = None
        if st is not None and not (m.isdir() and stat.S_ISDIR(st.st_mode)):
            if m.islnk() and _clean(m.linkname) == rel:
                return  # a hard link to itself: nothing to do
            self._remove(pfd, base, st)
            pfd = self.parent_fd(parent)
            assert pfd is not None
        if m.isreg():
            self._file(pfd, base, m, tf)
            self.size += m.size
        elif m.isdir():
            if st is None or not stat.S_ISDIR(st.st_mode):
                os.mkdir(base, 0o700, dir_fd=pfd)
            dfd = os.open(base, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=pfd)
            try:
                self._dir_meta(dfd, m)
            finally:
                os.close(dfd)
            atime = _mtime_ns(m, "atime") if "atime" in m.pax_headers else _mtime_ns(m)
            self.dirs.append((rel, atime, _mtime_ns(m)))
        elif m.issym():
            os.symlink(m.linkname, base, dir_fd=pfd)
            self._path_meta(pfd, base, m, chmod=False)
        elif m.islnk():
            self._hardlink(pfd, base, rel, m)
        elif m.ischr() or m.isblk() or m.isfifo():
            kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK if m.isblk() else stat.S_IFIFO
            dev = os.makedev(m.devmajor, m.devminor) if kind != stat.S_IFIFO else 0
            os.mknod(base, kind | 0o600, dev, dir_fd=pfd)
            self._path_meta(pfd, base, m, chmod=True)
        else:
            return  # unknown entry types are skipped like docker does
        self.unpacked.add(rel)

    def _file(self, pfd: int, base: str, m: tarfile.TarInfo, tf: tarfile.TarFile) -> None:
        fd = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=pfd)
        try:
            if m.size:
                src = tf.extractfile(m)
                assert src is not None
                _copy_sparse(src, fd, m.size, m.name)
            os.fchown(fd, m.uid, m.gid)
            os.fchmod(fd, m.mode & 0o7777)
            for name, value in _xattrs(m):
                _set_xattr(lambda: os.setxattr(fd, name, value), name, m.name)
            atime = _mtime_ns(m, "atime") if "atime" in m.pax_headers else _mtime_ns(m)
            os.utime(fd, ns=(atime, _mtime_ns(m)))
        finally:
            os.close(fd)

    def _dir_meta(self, dfd: int, m: tarfile.TarInfo) -> None:
        os.fchown(dfd, m.uid, m.gid)
        os.fchmod(dfd, m.mode & 0o7777)
        for name, value in _xattrs(m):
            _set_xattr(lambda: os.setxattr(dfd, name, value), name, m.name)

    def _path_meta(self, pfd: int, base: str, m: tarfile.TarInfo, chmod: bool) -> None:
        """Metadata of a symlink or device node we just created (no fd can be opened on it)."""
        os.chown(base, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)
        if chmod:
            os.chmod(base, m.mode & 0o7777, dir_fd=pfd)
        proc = f"/proc/self/fd/{pfd}/{base}"
        for name, value in _xattrs(m):
            _set_xattr(lambda: os.setxattr(proc, name, value, follow_symlinks=False), name, m.name)
        atime = _mtime_ns(m, "atime") if "atime" in m.pax_headers else _mtime_ns(m)
        os.utime(base, ns=(atime, _mtime_ns(m)), dir_fd=pfd, follow_symlinks=False)

    def _hardlink(self, pfd: int, base: str, rel: str, m: tarfile.TarInfo) -> None:
        target = _clean(m.linkname)
        if target == ".":
            raise DriverError(f"tar entry {m.name!r}: hard link to the layer root")
        tparent, tbase = posixpath.split(target)
        tpfd = self.parent_fd(tparent, create=False)
        if tpfd is None:
            raise DriverError(f"tar entry {m.name!r}: hard link target {m.linkname!r} does not exist in the layer")
        try:
            os.link(tbase, base, src_dir_fd=tpfd, dst_dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError as e:
            raise DriverError(f"tar entry {m.name!r}: hard link target {m.linkname!r} does not exist in the layer") from e
        except PermissionError as e:
            raise DriverError(f"tar entry {m.name!r}: cannot hard link to {m.linkname!r}: {e.strerror}") from e

    def _whiteout(self, parent: str, base: str, m: tarfile.TarInfo) -> None:
        if base == WH_OPAQUE:
            pfd = self.parent_fd(parent, create=True)
            assert pfd is not None
            if self.overlay:
                os.setxattr(pfd, OVERLAY_OPAQUE_XATTR, b"y")
                return
            for child in os.listdir(pfd):
                crel = posixpath.join(parent, child) if parent else child
                if crel not in self.unpacked:
                    self._remove(pfd, child, os.lstat(child, dir_fd=pfd))
                    pfd = self.parent_fd(parent, create=True)
                    assert pfd is not None
            return
        if base.startswith(WH_META_PREFIX):
            return  # aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs): ignored like docker
        name = base[len(WH_PREFIX):]
        if name in ("", ".", ".."):
            raise DriverError(f"tar entry {m.name!r}: invalid whiteout name")
        rel = posixpath.join(parent, name) if parent else name
        if rel in self.unpacked:
            return  # whiteouts only hide lower layers, never this layer's own entries
        pfd = self.parent_fd(parent, create=self.overlay)
        if pfd is None:
            return
        try:
            st = os.lstat(name, dir_fd=pfd)
        except FileNotFoundError:
            st = None
        if st is not None:
            self._remove(pfd, name, st)
            pfd = self.parent_fd(parent, create=self.overlay)
            assert pfd is not None
        if self.overlay:
            os.mknod(name, stat.S_IFCHR, 0, dir_fd=pfd)
            if m.uid or m.gid:
                os.chown(name, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)

    def finish(self) -> None:
        """Directory times last: creating children changed them."""
        for rel, atime, mtime in reversed(self.dirs):
            try:
                if rel == ".":
                    os.utime(self.root, ns=(atime, mtime))
                    continue
                fd = self._open_dir(rel) if self.in_root else None
                if fd is None:
                    parent, base = posixpath.split(rel)
                    pfd = self.parent_fd(parent, create=False)
                    if pfd is None:
                        continue
                    fd = os.open(base, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=pfd)
                try:
                    os.utime(fd, ns=(atime, mtime))
                finally:
                    os.close(fd)
            except (OSError, DriverError):
                continue  # removed or replaced by a later entry


def _openat2_works(fd: int) -> bool:
    try:
        os.close(syscalls.openat2(fd, ".", _DIR_FLAGS, syscalls.RESOLVE_IN_ROOT))
        return True
    except OSError:
        return False


def _set_xattr(call, name: str, entry: str) -> None:
    try:
        call()
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return  # best effort, like docker's BestEffortXattrs
        raise DriverError(f"tar entry {entry!r}: setxattr {name}: {e.strerror}") from e


def _copy_sparse(src: BinaryIO, fd: int, size: int, what: str) -> None:
    """Copy ``size`` bytes, seeking over all-zero chunks so holes stay holes."""
    remaining = size
    hole = False
    while remaining:
        n = min(_CHUNK, remaining)
        buf = src.read(n)
        if not buf:
            raise DriverError(f"tar entry {what!r}: truncated data")
        if buf == (_ZERO if len(buf) == _CHUNK else bytes(len(buf))):
            os.lseek(fd, len(buf), os.SEEK_CUR)
            hole = True
        else:
            view = memoryview(buf)
            while view:
                view = view[os.write(fd, view):]
            hole = False
        remaining -= len(buf)
    if hole:
        os.ftruncate(fd, size)


class _ForwardReader(io.RawIOBase):
    """Makes a forward-only stream (pipe, decompressor) look seekable to tarfile's "r:" mode.

    tarfile's streaming mode ("r|") re-slices its whole buffer on every 512-byte header read;
    random-access mode is several times faster and only ever seeks forward while iterating.
    """

    def __init__(self, inner: BinaryIO) -> None:
        self._inner = inner
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def read(self, n: int = -1) -> bytes:  # type: ignore[override]
        data = self._inner.read(n) if n is not None and n >= 0 else self._inner.read()
        self._pos += len(data)
        return data

    def readinto(self, b) -> int:  # type: ignore[override]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_CUR:
            offset += self._pos
        elif whence != os.SEEK_SET:
            raise io.UnsupportedOperation("seek from end on a stream")
        if offset < self._pos:
            raise io.UnsupportedOperation(f"backward seek to {offset} on a stream at {self._pos}")
        while self._pos < offset:
            chunk = self._inner.read(min(offset - self._pos, 1 << 20))
            if not chunk:
                break
            self._pos += len(chunk)
        return self._pos


def _seekable_file(stream: BinaryIO) -> bool:
    """A real (random-access) file or in-memory buffer, positioned where the tar starts."""
    if isinstance(stream, io.BytesIO):
        return True
    try:
        return stream.seekable() and stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (AttributeError, OSError, ValueError):
        return False


def apply_layer(stream: BinaryIO, dest: str, whiteouts: str) -> int:
    """Untar an (uncompressed) layer stream into ``dest``; returns the bytes of file data.

    whiteouts="overlay": ``.wh.X`` -> char dev 0/0, ``.wh..wh..opq`` -> trusted.overlay.opaque=y
    whiteouts="delete": ``.wh.X`` deletes ``dest/X``, ``.wh..wh..opq`` empties the directory first
    whiteouts="keep": no whiteouts, ``.wh.X`` is an ordinary name (a plain copy, e.g. ``pyctr cp``)
    Nothing is ever written outside ``dest``; a hostile entry raises DriverError.
    """
    ex = _Extractor(dest, whiteouts)
    try:
        try:
            src = stream if _seekable_file(stream) else _ForwardReader(stream)
            tf = tarfile.open(fileobj=src, mode="r:", encoding="utf-8", errors="surrogateescape")
        except tarfile.ReadError as e:
            raise DriverError(f"not a tar stream: {e}") from e
        try:
            for m in tf:
                try:
                    ex.entry(m, tf)
                except DriverError:
                    raise
                except OSError as e:
                    raise DriverError(f"tar entry {m.name!r}: {e.strerror or e}") from e
        except (tarfile.TarError, EOFError, io.UnsupportedOperation) as e:
            raise DriverError(f"corrupt tar stream: {e}") from e
        ex.finish()
    finally:
        ex.close()
    return ex.size


# --------------------------------------------------------------------------- changes
def _xattr_map(path: str) -> dict[str, bytes]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    out = {}
    for name in names:
        if name.startswith(_SKIP_XATTR_PREFIXES):
            continue
        try:
            out[name] = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            pass
    return out


def _differs(lpath: str, lst: os.stat_result, ppath: str, pst: os.stat_result) -> bool:
    if (lst.st_mode != pst.st_mode or lst.st_uid != pst.st_uid or lst.st_gid != pst.st_gid
            or lst.st_rdev != pst.st_rdev):
        return True
    if not stat.S_ISDIR(lst.st_mode):  # like docker: a dir's size/mtime is no measure of change
        if lst.st_size != pst.st_size or lst.st_mtime_ns != pst.st_mtime_ns:
            return True
        if stat.S_ISLNK(lst.st_mode) and os.readlink(lpath) != os.readlink(ppath):
            return True
    return _xattr_map(lpath) != _xattr_map(ppath)


def _scan(path: str) -> dict[str, os.DirEntry]:
    with os.scandir(path) as it:
        return {e.name: e for e in it}


def _added_tree(path: str, rel: str, out: list[Change]) -> None:
    for name, e in sorted(_scan(path).items()):
        crel = f"{rel}/{name}"
        out.append(Change(crel, "A"))
        if e.is_dir(follow_symlinks=False):
            _added_tree(e.path, crel, out)


def _compare(lpath: str, ppath: str, rel: str, out: list[Change]) -> None:
    lent = _scan(lpath)
    pent = _scan(ppath)
    for name in sorted(set(lent) | set(pent)):
        crel = f"{rel}/{name}"
        le, pe = lent.get(name), pent.get(name)
        if le is None:
            out.append(Change(crel, "D"))
            continue
        lst = le.stat(follow_symlinks=False)
        if pe is None:
            out.append(Change(crel, "A"))
            if stat.S_ISDIR(lst.st_mode):
                _added_tree(le.path, crel, out)
            continue
        pst = pe.stat(follow_symlinks=False)
        changed = _differs(le.path, lst, pe.path, pst)
        if stat.S_ISDIR(lst.st_mode):
            sub: list[Change] = []
            if stat.S_ISDIR(pst.st_mode):
                _compare(le.path, pe.path, crel, sub)
            else:
                _added_tree(le.path, crel, sub)
            if changed or sub:  # parents of changes are listed so their metadata is exported
                out.append(Change(crel, "C"))
                out.extend(sub)
        elif changed:
            out.append(Change(crel, "C"))


def compute_changes(layer_root: str, parent_root: str | None) -> list[Change]:
    """Changes of ``layer_root`` against ``parent_root`` by comparing both trees (moby ChangesDirs)."""
    out: list[Change] = []
    if parent_root is None:
        _added_tree(layer_root, "", out)
    else:
        _compare(layer_root, parent_root, "", out)
    return out


def changes_size(root: str, changes: Iterable[Change]) -> int:
    """Bytes of regular files added or changed (hard links counted once), like DiffSize."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for ch in changes:
        if ch.kind == "D":
            continue
        try:
            st = os.lstat(root + ch.path)
        except FileNotFoundError:
            continue
        if stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    return total


# --------------------------------------------------------------------------- export
def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _ns_str(ns: int) -> str:
    sec, frac = divmod(ns, 1_000_000_000)
    return f"{sec}.{frac:09d}"


def _tarinfo(name: str, st: os.stat_result) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.mode = stat.S_IMODE(st.st_mode)
    ti.uid, ti.gid = st.st_uid, st.st_gid
    ti.uname = ti.gname = ""
    ti.mtime = st.st_mtime_ns // 1_000_000_000
    if st.st_mtime_ns % 1_000_000_000:
        ti.pax_headers["mtime"] = _ns_str(st.st_mtime_ns)
    return ti


def _whiteout_entry(name: str, like: os.stat_result | None) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = tarfile.REGTYPE
    ti.mode = 0o600
    ti.size = 0
    if like is not None:
        ti.uid, ti.gid = like.st_uid, like.st_gid
        ti.mtime = like.st_mtime_ns // 1_000_000_000
    ti.uname = ti.gname = ""
    return ti


def export_diff(root: str, changes: list[Change], out: BinaryIO, whiteouts: str = "delete") -> None:
    """Write an uncompressed OCI layer tar of ``changes`` (read from ``root``) to ``out``.

    "D" changes become empty ``.wh.NAME`` files.  With ``whiteouts="overlay"`` the tree is an
    overlay upper dir: char devices 0/0 are exported as ``.wh.NAME`` and a directory with
    ``trusted.overlay.opaque=y`` gets a ``.wh..wh..opq`` entry (the xattr itself is dropped).
    """
    overlay = whiteouts == "overlay"
    seen: dict[tuple[int, int], str] = {}
    ordered = sorted(changes, key=lambda c: c.path.split("/"))
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, encoding="utf-8",
                      errors="surrogateescape", bufsize=1 << 20, copybufsize=1 << 20) as tf:
        for ch in ordered:
            rel = ch.path.lstrip("/")
            if not rel:
                continue
            path = os.path.join(root, rel)
            parent, base = posixpath.split(rel)
            if ch.kind == "D":
                try:
                    pst = os.lstat(os.path.join(root, parent)) if parent else os.lstat(root)
                except FileNotFoundError:
                    pst = None
                tf.addfile(_whiteout_entry(posixpath.join(parent, WH_PREFIX + base), pst))
                continue
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            if overlay and _is_whiteout(st):
                tf.addfile(_whiteout_entry(posixpath.join(parent, WH_PREFIX + base), st))
                continue
            ti = _tarinfo(rel, st)
            for name, value in _xattr_map(path).items():
                ti.pax_headers[_XATTR_PAX + name] = value.decode("utf-8", "surrogateescape")
            mode = st.st_mode
            if stat.S_ISREG(mode):
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and key in seen:
                    ti.type = tarfile.LNKTYPE
                    ti.linkname = seen[key]
                    tf.addfile(ti)
                    continue
                if st.st_nlink > 1:
                    seen[key] = rel
                ti.type = tarfile.REGTYPE
                ti.size = st.st_size
                with open(path, "rb") as f:
                    tf.addfile(ti, f)
            elif stat.S_ISDIR(mode):
                ti.type = tarfile.DIRTYPE
                tf.addfile(ti)
                if overlay and _opaque(path):
                    op = _whiteout_entry(posixpath.join(rel, WH_OPAQUE), st)
                    op.mode = stat.S_IMODE(st.st_mode)
                    tf.addfile(op)
            elif stat.S_ISLNK(mode):
                ti.type = tarfile.SYMTYPE
                ti.linkname = os.readlink(path)
                tf.addfile(ti)
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                ti.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
                ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
                tf.addfile(ti)
            elif stat.S_ISFIFO(mode):
                ti.type = tarfile.FIFOTYPE
                tf.addfile(ti)
            # sockets are skipped, as docker does


def _opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OVERLAY_OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False
