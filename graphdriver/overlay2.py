"""overlay2: layers as overlayfs upper dirs, stacked by the kernel at mount time.

On-disk layout (same as moby's overlay2, see runtime-contract.md §3.2)::

    <home>/l/<26-char id> -> ../<id>/diff     short names (classic mount(2) option budget)
    <home>/<id>/diff/                           the layer's own files (overlay upperdir)
    <home>/<id>/link                            its short id
    <home>/<id>/lower                           "l/A:l/B:..." parents, top -> bottom
    <home>/<id>/work/                           overlay workdir (layers with a parent)
    <home>/<id>/merged/                         mountpoint while mounted
    <home>/<id>/committed                       a child exists: mount read-only
    <home>/<id>/options                         JSON of per-layer options (volatile, metacopy)
    <home>/.refs/<id>                           mount reference count

Mounting uses the new mount API: ``fsopen("overlay")`` and one ``fsconfig(FSCONFIG_SET_FD,
"lowerdir+")`` per layer, so no option string limits the depth and images up to the
kernel's 500 lower layers mount.  Kernels without it get classic ``mount(2)`` with
absolute paths, or ``l/`` relative paths from a forked child that chdir()s to ``home``
(as docker does); options that still exceed one page are an error, never truncated.
"""
from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import stat
from typing import BinaryIO

from . import archive, syscalls
from .driver import Change, Driver, DriverError, RefCounts, bool_opt, check_id, spool
from .registry import register

MAX_LOWERS = 500  # kernel limit (OVL_MAX_STACK)
LINK_LEN = 26
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_LINK_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_RESERVED = {"l"}
_DRIVER_OPTS = {"overlay2.mount_api", "overlay2.volatile", "overlay2.metacopy", "overlay2.index"}
_LAYER_OPTS = {"volatile", "metacopy"}


def _overlay_in_kernel() -> bool:
    if os.path.isdir("/sys/module/overlay"):
        return True
    try:
        with open("/proc/filesystems") as f:
            return any(line.split()[-1] == "overlay" for line in f if line.strip())
    except OSError:
        return False


def _existing_ancestor(path: str) -> str:
    path = os.path.abspath(path)
    while not os.path.isdir(path):
        path = os.path.dirname(path)
    return path


def _mountpoints_under(prefix: str) -> list[str]:
    """Mount points at or below ``prefix`` from /proc/self/mountinfo, deepest first."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
            if mp == prefix or mp.startswith(prefix.rstrip("/") + "/"):
                out.append(mp)
    return sorted(set(out), key=len, reverse=True)


@register
class Overlay2Driver(Driver):
    name = "overlay2"
    whiteout_format = "overlay"

    def __init__(self, home: str, options: dict[str, str] | None = None) -> None:
        super().__init__(home, options)
        for key in self.options:
            if key not in _DRIVER_OPTS:
                raise DriverError(f"overlay2: unknown option {key!r} (known: {', '.join(sorted(_DRIVER_OPTS))})")
        self.mount_api = self.options.get("overlay2.mount_api", "auto")
        if self.mount_api not in ("auto", "new", "classic"):
            raise DriverError(f"overlay2: overlay2.mount_api must be auto, new or classic, not {self.mount_api!r}")
        self.default_volatile = bool_opt(self.options.get("overlay2.volatile"))
        self.default_metacopy = bool_opt(self.options.get("overlay2.metacopy"))
        # index=off like docker (when the kernel knows the option): the inode index would
        # tie upper dirs to one lower stack and break re-mounting layers on new parents
        self.index_off = os.path.exists("/sys/module/overlay/parameters/index") and \
            not bool_opt(self.options.get("overlay2.index"), False)
        os.makedirs(os.path.join(self.home, "l"), mode=0o700, exist_ok=True)
        self.refs = RefCounts(os.path.join(self.home, ".refs"))
        self._new_api_ok: bool | None = None if self.mount_api == "auto" else self.mount_api == "new"

    # ---- host check ----------------------------------------------------------------------
    @classmethod
    def probe(cls, home: str) -> str | None:
        if os.geteuid() != 0:
            return "mounting overlayfs needs root (CAP_SYS_ADMIN)"
        if not _overlay_in_kernel():
            return "the kernel has no overlay filesystem (modprobe overlay)"
        if not syscalls.available():
            return "the pyrunc._graph C module is not built"
        where = _existing_ancestor(home)
        fs = syscalls.fs_name(where)
        if fs == "overlayfs":
            return f"{where} is itself on overlayfs, which cannot be an overlay upper layer"
        probe_dir = os.path.join(where, f".pyrunc-dtype-{os.getpid()}-{secrets.token_hex(4)}")
        try:
            os.mkdir(probe_dir, 0o700)
            open(os.path.join(probe_dir, "f"), "w").close()
            if not syscalls.dtype_ok(probe_dir):
                return f"backing filesystem {fs} of {where} does not support d_type (xfs needs ftype=1)"
        except OSError as e:
            return f"cannot check d_type support in {where}: {e.strerror}"
        finally:
            shutil.rmtree(probe_dir, ignore_errors=True)
        return None

    # ---- paths & on-disk state ---------------------------------------------------------
    def _dir(self, id: str) -> str:
        check_id(id)
        if id in _RESERVED:
            raise DriverError(f"overlay2: layer id {id!r} is reserved")
        return os.path.join(self.home, id)

    def _read(self, id: str, name: str) -> str | None:
        try:
            with open(os.path.join(self._dir(id), name)) as f:
                return f.read().strip()
        except FileNotFoundError:
            return None

    def _lowers(self, id: str) -> list[str]:
        """Short-link entries ("l/XXX") of the parents, top -> bottom."""
        raw = self._read(id, "lower")
        return raw.split(":") if raw else []

    def _layer_opts(self, id: str) -> dict:
        raw = self._read(id, "options")
        return json.loads(raw) if raw else {}

    def _link_target_id(self, link: str) -> str:
        """Layer id behind a "l/XXX" entry."""
        target = os.readlink(os.path.join(self.home, link))  # ../<id>/diff
        return target.split("/")[-2]

    def _lower_dirs(self, id: str) -> list[str]:
        return [os.path.join(self.home, self._link_target_id(link), "diff") for link in self._lowers(id)]

    def _new_link(self, id: str) -> str:
        for _ in range(16):
            lid = "".join(secrets.choice(_LINK_CHARS) for _ in range(LINK_LEN))
            try:
                os.symlink(f"../{id}/diff", os.path.join(self.home, "l", lid))
                return lid
            except FileExistsError:
                continue
        raise DriverError(f"overlay2: layer {id}: cannot allocate a short link name")

    # ---- proto driver ------------------------------------------------------------------
    def create(self, id: str, parent: str | None, writable: bool = False,
               opts: dict[str, str] | None = None) -> None:
        dir = self._dir(id)
        if os.path.lexists(dir):
            raise DriverError(f"overlay2: layer {id} already exists")
        opts = dict(opts or {})
        for key in opts:
            if key == "size":
                raise DriverError(f"overlay2: layer {id}: storage option 'size' needs xfs project quota (not supported)")
            if key not in _LAYER_OPTS:
                raise DriverError(f"overlay2: layer {id}: unknown storage option {key!r} (known: volatile, metacopy)")
        layer_opts = {
            "writable": bool(writable),
            "volatile": bool_opt(opts.get("volatile"), self.default_volatile and writable),
            "metacopy": bool_opt(opts.get("metacopy"), self.default_metacopy and writable),
        }
        lower = ""
        if parent is not None:
            if not self.exists(parent):
                raise DriverError(f"overlay2: layer {id}: parent {parent} does not exist")
            popts = self._layer_opts(parent)
            if popts.get("metacopy"):
                raise DriverError(f"overlay2: layer {id}: parent {parent} uses metacopy; "
                                  "commit it with diff() into a new layer instead of stacking on it")
            plowers = self._lowers(parent)
            if len(plowers) + 1 > MAX_LOWERS:
                raise DriverError(f"overlay2: layer {id}: max depth exceeded ({len(plowers) + 1} parents, "
                                  f"the kernel stacks at most {MAX_LOWERS})")
            plink = self._read(parent, "link")
            lower = ":".join([f"l/{plink}"] + plowers)
        os.mkdir(dir, 0o710)
        try:
            os.mkdir(os.path.join(dir, "diff"), 0o755)
            lid = self._new_link(id)
            self._write(id, "link", lid)
            if parent is not None:
                os.mkdir(os.path.join(dir, "work"), 0o700)
                self._write(id, "lower", lower)
                open(os.path.join(self._dir(parent), "committed"), "a").close()
            if any(layer_opts.values()):
                self._write(id, "options", json.dumps(layer_opts))
        except BaseException:
            link = self._read(id, "link")
            if link:
                try:
                    os.unlink(os.path.join(self.home, "l", link))
                except FileNotFoundError:
                    pass
            shutil.rmtree(dir, ignore_errors=True)
            raise

    def _write(self, id: str, name: str, text: str) -> None:
        path = os.path.join(self._dir(id), name)
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.replace(path + ".tmp", path)

    def remove(self, id: str) -> None:
        dir = self._dir(id)
        if not os.path.isdir(dir):
            return  # like docker: removing a missing layer is not an error
        with self.refs.locked():
            merged = os.path.join(dir, "merged")
            for mp in _mountpoints_under(merged):
                syscalls.umount(mp, syscalls.MNT_DETACH)
            self.refs.set(id, 0)
            link = self._read(id, "link")
            if link:
                try:
                    os.unlink(os.path.join(self.home, "l", link))
                except FileNotFoundError:
                    pass
            trash = os.path.join(self.home, f".rm-{id}-{secrets.token_hex(4)}")
            os.rename(dir, trash)
        shutil.rmtree(trash)

    def exists(self, id: str) -> bool:
        try:
            return os.path.isfile(os.path.join(self._dir(id), "link"))
        except DriverError:
            return False

    def parent(self, id: str) -> str | None:
        lowers = self._lowers(id)
        return self._link_target_id(lowers[0]) if lowers else None

    def layers(self) -> list[str]:
        return sorted(n for n in os.listdir(self.home)
                      if n not in _RESERVED and not n.startswith(".") and os.path.isfile(os.path.join(self.home, n, "link")))

    # ---- get / put ---------------------------------------------------------------------
    def get(self, id: str) -> str:
        dir = self._dir(id)
        if not self.exists(id):
            raise DriverError(f"overlay2: layer {id}: does not exist")
        diff = os.path.join(dir, "diff")
        lowers = self._lowers(id)
        merged = os.path.join(dir, "merged")
        with self.refs.locked():
            n = self.refs.get(id)
            if not lowers:  # a base layer is its own diff dir: nothing to mount
                self.refs.set(id, n + 1)
                return diff
            if n > 0 and os.path.ismount(merged):
                self.refs.set(id, n + 1)
                return merged
            os.makedirs(merged, mode=0o700, exist_ok=True)
            if os.path.ismount(merged):  # mounted by a process that lost its count
                self.refs.set(id, 1)
                return merged
            self._mount(id, dir, lowers, merged)
            self.refs.set(id, 1)
            return merged

    def put(self, id: str) -> None:
        dir = self._dir(id)
        if not os.path.isdir(dir):
            raise DriverError(f"overlay2: layer {id}: does not exist")
        merged = os.path.join(dir, "merged")
        with self.refs.locked():
            n = self.refs.get(id) - 1
            self.refs.set(id, n)
            if n > 0:
                return
            if os.path.ismount(merged):
                try:
                    syscalls.umount(merged, syscalls.MNT_DETACH)
                except OSError as e:
                    raise DriverError(f"overlay2: layer {id}: unmount {merged}: {e.strerror}") from e
            try:
                os.rmdir(merged)
            except (FileNotFoundError, OSError):
                pass

    def _mount(self, id: str, dir: str, lowers: list[str], merged: str) -> None:
        opts = self._layer_opts(id)
        readonly = os.path.exists(os.path.join(dir, "committed"))
        stack = ([f"{id}/diff"] if readonly else []) + lowers  # relative to home
        if len(stack) > MAX_LOWERS:
            raise DriverError(f"overlay2: layer {id}: {len(stack)} lower layers exceed the kernel's {MAX_LOWERS}")
        upper = None if readonly else os.path.join(dir, "diff")
        work = None if readonly else os.path.join(dir, "work")
        flags: list[str] = []
        strings: list[tuple[str, str]] = []
        if self.index_off:
            strings.append(("index", "off"))
        if opts.get("metacopy") and not readonly:
            strings.append(("metacopy", "on"))
        if opts.get("volatile") and not readonly:
            flags.append("volatile")
        if work is not None:
            # a volatile mount leaves work/work/incompat/volatile; the kernel refuses the
            # next mount until it is gone (the upper may be inconsistent after a crash,
            # which is acceptable only for throwaway layers)
            incompat = os.path.join(work, "work", "incompat")
            if os.path.isdir(incompat):
                shutil.rmtree(incompat)
        if self._new_api_ok is not False:
            try:
                self._mount_new(id, stack, upper, work, strings, flags, merged)
                self._new_api_ok = True
                return
            except _NewApiMissing as e:
                if self.mount_api == "new":
                    raise DriverError(f"overlay2: layer {id}: new mount API unavailable: {e}") from None
                self._new_api_ok = False
        self._mount_classic(id, stack, upper, work, strings, flags, merged)

    def _mount_new(self, id: str, stack: list[str], upper: str | None, work: str | None,
                   strings: list[tuple[str, str]], flags: list[str], merged: str) -> None:
        try:
            fs = syscalls.fsopen("overlay")
        except OSError as e:
            raise _NewApiMissing(e.strerror) from None
        fds: list[int] = []
        step = "lowerdir+"
        try:
            syscalls.fsconfig_string(fs, "source", "overlay")
            for key, value in strings:
                step = f"{key}={value}"
                syscalls.fsconfig_string(fs, key, value)
            for key in flags:
                step = key
                syscalls.fsconfig_flag(fs, key)
            for i, rel in enumerate(stack):
                fd = os.open(os.path.join(self.home, rel), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
                fds.append(fd)
                step = f"lowerdir+ #{i} ({rel})"
                try:
                    syscalls.fsconfig_fd(fs, "lowerdir+", fd)
                except OSError as e:
                    if i == 0 and e.errno == errno.EINVAL:  # kernel < 6.8: no lowerdir+
                        raise _NewApiMissing("lowerdir+ is not supported (kernel < 6.8)") from None
                    raise
            for key, path in (("upperdir", upper), ("workdir", work)):
                if path is not None:
                    fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
                    fds.append(fd)
                    step = key
                    syscalls.fsconfig_fd(fs, key, fd)
            step = "create"
            syscalls.fsconfig_create(fs)
            step = "fsmount"
            mfd = syscalls.fsmount(fs)
            try:
                step = "move_mount"
                syscalls.move_mount_to(mfd, merged)
            finally:
                os.close(mfd)
        except OSError as e:
            why = syscalls.fs_messages(fs)
            raise DriverError(f"overlay2: layer {id}: mount failed at {step}: {e.strerror}"
                              + (f" ({why})" if why else "")) from None
        finally:
            for fd in fds:
                os.close(fd)
            os.close(fs)

    def _mount_classic(self, id: str, stack: list[str], upper: str | None, work: str | None,
                       strings: list[tuple[str, str]], flags: list[str], merged: str) -> None:
        extra = [f"{k}={v}" for k, v in strings] + flags
        limit = PAGE - 1  # the kernel copies one page including the NUL
        # 1) absolute paths; 2) short links relative to home from a chdir'ed child
        absolute = ",".join(extra + ["lowerdir=" + ":".join(os.path.join(self.home, p) for p in stack)]
                            + ([f"upperdir={upper}", f"workdir={work}"] if upper else []))
        if len(absolute) <= limit:
            self._classic(id, absolute, merged, None)
            return
        short = [self._short(p) for p in stack]
        rel_up = [f"upperdir={os.path.relpath(upper, self.home)}", f"workdir={os.path.relpath(work, self.home)}"] \
            if upper and work else []
        relative = ",".join(extra + ["lowerdir=" + ":".join(short)] + rel_up)
        if len(relative) > limit:
            raise DriverError(f"overlay2: layer {id}: cannot mount {len(stack)} lower layers with mount(2): "
                              f"options need {len(relative)} bytes even with short l/ links, over the one-page "
                              f"limit of {limit}; this kernel lacks fsopen/lowerdir+ (Linux >= 6.8)")
        self._classic(id, relative, merged, self.home)

    def _short(self, rel: str) -> str:
        """"l/XXX" stays; "<id>/diff" becomes its short link."""
        if rel.startswith("l/"):
            return rel
        return "l/" + (self._read(rel.split("/")[0], "link") or "")

    def _classic(self, id: str, data: str, merged: str, chdir: str | None) -> None:
        if chdir is None:
            try:
                syscalls.mount("overlay", merged, "overlay", 0, data)
            except OSError as e:
                raise DriverError(f"overlay2: layer {id}: mount(2) failed: {e.strerror}") from None
            return
        # relative paths need a cwd; change it only in a short-lived child (like moby's mountFrom)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            code = 0
            try:
                os.chdir(chdir)
                syscalls.mount("overlay", merged, "overlay", 0, data)
            except OSError as e:
                code = e.errno or 1
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            raise DriverError(f"overlay2: layer {id}: mount(2) with relative l/ paths failed: "
                              f"{os.strerror(code) if code > 0 else f'signal {-code}'}")

    def _detect_new_api(self) -> bool:
        """fsopen("overlay") + an FSCONFIG_SET_FD "lowerdir+" (parsed at fsconfig time, kernel >= 6.8)."""
        try:
            fs = syscalls.fsopen("overlay")
        except OSError:
            return False
        try:
            fd = os.open(os.path.join(self.home, "l"), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                syscalls.fsconfig_fd(fs, "lowerdir+", fd)
                return True
            except OSError:
                return False
            finally:
                os.close(fd)
        finally:
            os.close(fs)

    # ---- info ----------------------------------------------------------------------------
    def status(self) -> dict[str, str]:
        fs = syscalls.fs_name(self.home)
        if self._new_api_ok is None:
            self._new_api_ok = self._detect_new_api()
        api = "fsopen + lowerdir+ fds" if self._new_api_ok else "mount(2)"
        return {
            "Backing Filesystem": fs,
            "Supports d_type": str(syscalls.dtype_ok(self.home)).lower(),
            "Native Overlay Diff": "true",
            "userxattr": "false",
            "Mount API": api,
            "Max Lower Layers": str(MAX_LOWERS),
            "Index": "off" if self.index_off else "on",
            "Layers": str(len(self.layers())),
        }

    def metadata(self, id: str) -> dict[str, str]:
        dir = self._dir(id)
        if not self.exists(id):
            raise DriverError(f"overlay2: layer {id}: does not exist")
        out: dict[str, str] = {}
        lowers = self._lower_dirs(id)
        if lowers:
            out["LowerDir"] = ":".join(lowers)
            out["MergedDir"] = os.path.join(dir, "merged")
            out["WorkDir"] = os.path.join(dir, "work")
        out["UpperDir"] = os.path.join(dir, "diff")
        opts = self._layer_opts(id)
        for key in ("volatile", "metacopy"):
            if opts.get(key):
                out[key.capitalize()] = "true"
        return out

    def cleanup(self) -> None:
        with self.refs.locked():
            for mp in _mountpoints_under(self.home):
                try:
                    syscalls.umount(mp, syscalls.MNT_DETACH)
                except OSError as e:
                    if e.errno not in (errno.EINVAL, errno.ENOENT):
                        raise DriverError(f"overlay2: cleanup: unmount {mp}: {e.strerror}") from None
                if os.path.basename(mp) == "merged":
                    try:
                        os.rmdir(mp)
                    except OSError:
                        pass
            for id in self.refs.all():
                self.refs.set(id, 0)
        for name in os.listdir(self.home):
            if name.startswith(".rm-"):
                shutil.rmtree(os.path.join(self.home, name), ignore_errors=True)

    # ---- native diff ---------------------------------------------------------------------
    def _native(self, id: str, parent: str | None) -> bool:
        """The diff dir alone is the diff when ``parent`` is the real parent and no metacopy stubs."""
        return self.parent(id) == parent and not self._layer_opts(id).get("metacopy")

    def apply_diff(self, id: str, parent: str | None, stream: BinaryIO) -> int:
        if not self.exists(id):
            raise DriverError(f"overlay2: layer {id}: does not exist")
        diff = os.path.join(self._dir(id), "diff")
        return archive.apply_layer(archive.open_layer(stream), diff, "overlay")

    def changes(self, id: str, parent: str | None) -> list[Change]:
        if not self.exists(id):
            raise DriverError(f"overlay2: layer {id}: does not exist")
        if not self._native(id, parent):
            return super().changes(id, parent)
        return self._native_changes(id, hidden_children=True)

    def diff(self, id: str, parent: str | None) -> BinaryIO:
        if not self.exists(id):
            raise DriverError(f"overlay2: layer {id}: does not exist")
        if not self._native(id, parent):
            return super().diff(id, parent)
        return spool(lambda out: archive.export_diff(os.path.join(self._dir(id), "diff"),
                                                     self._native_changes(id, hidden_children=False), out,
                                                     whiteouts="overlay"))

    def diff_size(self, id: str, parent: str | None) -> int:
        if not self.exists(id):
            raise DriverError(f"overlay2: layer {id}: does not exist")
        if not self._native(id, parent):
            return super().diff_size(id, parent)
        diff = os.path.join(self._dir(id), "diff")
        return archive.changes_size(diff, self._native_changes(id, hidden_children=False))

    def _native_changes(self, id: str, hidden_children: bool) -> list[Change]:
        """Walk diff/: char 0/0 -> "D", present below -> "C", else "A" (overlay semantics)."""
        diff = os.path.join(self._dir(id), "diff")
        view = _LowerView(self._lower_dirs(id))
        out: list[Change] = []

        def walk(path: str, rel: str, below: bool) -> None:
            with os.scandir(path) as it:
                entries = sorted(it, key=lambda e: e.name)
            for e in entries:
                crel = f"{rel}/{e.name}"
                st = e.stat(follow_symlinks=False)
                if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                    if below and view.exists(crel):
                        out.append(Change(crel, "D"))
                    continue
                exists = below and view.exists(crel)
                out.append(Change(crel, "C" if exists else "A"))
                if stat.S_ISDIR(st.st_mode):
                    opaque = archive._opaque(e.path)
                    if opaque and exists and hidden_children:
                        mine = set(os.listdir(e.path))
                        for name in sorted(view.listdir(crel) - mine):
                            out.append(Change(f"{crel}/{name}", "D"))
                    walk(e.path, crel, exists)  # below an opaque dir: re-created paths are "C"

        walk(diff, "", True)
        return out


class _NewApiMissing(Exception):
    pass


class _LowerView:
    """Lookups in the union of lower diff dirs (top -> bottom) with overlay's rules."""

    def __init__(self, layers: list[str]) -> None:
        self.layers = layers

    def _stack(self, rel: str) -> tuple[bool, list[str]]:
        """(exists, layers where ``rel`` is a contributing directory)."""
        active = self.layers
        parts = rel.strip("/").split("/")
        found = False
        for i, _ in enumerate(parts):
            sub = "/".join(parts[: i + 1])
            nxt: list[str] = []
            found = False
            for layer in active:
                p = os.path.join(layer, sub)
                try:
                    st = os.lstat(p)
                except (FileNotFoundError, NotADirectoryError):
                    continue
                if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                    break  # whiteout hides this name in all lower layers
                found = True
                if not stat.S_ISDIR(st.st_mode):
                    break  # a non-directory hides everything below it
                nxt.append(layer)
                if archive._opaque(p):
                    break
            if not found:
                return False, []
            active = nxt
            if i < len(parts) - 1 and not active:
                return False, []
        return found, active

    def exists(self, rel: str) -> bool:
        return self._stack(rel)[0]

    def listdir(self, rel: str) -> set[str]:
        _, stack = self._stack(rel)
        seen: set[str] = set()
        hidden: set[str] = set()
        for layer in stack:
            for e in os.scandir(os.path.join(layer, rel.strip("/"))):
                if e.name in seen:
                    continue
                seen.add(e.name)
                st = e.stat(follow_symlinks=False)
                if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                    hidden.add(e.name)
        return seen - hidden

