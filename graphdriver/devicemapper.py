"""Emulated devicemapper graph driver: one sparse ext4 (or xfs) image per layer on loop devices.

Docker's devicemapper made every layer and container a thin snapshot of its parent block device
in a dm-thin pool.  This kernel has no device-mapper, so the "pool" is a directory of sparse
image files (:mod:`.thinpool`), a snapshot is a reflink of the parent's image (sparse copy where
the filesystem cannot reflink), and "activating" a device is binding it to a loop device
(:mod:`.loop`) and mounting it.  The observable contract follows moby's driver: a fixed base
device size (``dm.basesize``), per-device metadata, ``<home>/mnt/<id>/rootfs`` as the layer
root, naive (tree comparing) diffs, and deferred removal/deletion of busy devices.

Layout::

    <home>/metadata/deviceset-metadata    JSON: next device id, base image
    <home>/metadata/devices/<id>          JSON per device (moby's metadata/<hash>)
    <home>/metadata/deferred/<id>.<n>     devices removed while still busy
    <home>/refs/                          mount reference counts (shared by processes)
    <home>/mnt/<id>/rootfs                mounted device; get() returns this
    <home>/pool.img                       loopback XFS pool (dm.loopback_xfs=true only)
    <pool>/base/<fs>-<bytes>.img          the formatted base device
    <pool>/devices/<id>.img               one image per layer/container
    <pool>/deleted/<id>.<n>.img           images waiting for their loop device to go away
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import shlex
import tempfile
import threading
import time
from typing import Any, BinaryIO, Iterator

from . import loop, thinpool
from .driver import Change, Driver, DriverError, NotSupported, RefCounts, bool_opt, check_id, spool

OPTIONS = {
    "dm.pool_dir": "directory holding the images (default <home>/pool)",
    "dm.basesize": "size of the base device, every layer has at least this size (default 10G)",
    "dm.fs": "filesystem inside the images: ext4 (default) or xfs",
    "dm.loopback_xfs": "true: on hosts that cannot reflink, make <home>/pool.img an XFS pool",
    "dm.loopback_size": "sparse size of the loopback XFS pool (default 100G)",
    "dm.directio": "attach images with direct I/O when the pool supports it (default true)",
    "dm.mkfsarg": "extra mkfs arguments (shell words)",
    "dm.mountopt": "extra mount options for the images",
    "dm.trim_on_put": "FITRIM a device before unmounting it in put() (default true)",
}
CREATE_OPTS = ("size",)
DEFAULT_BASESIZE = "10G"
DEFAULT_LOOPBACK_SIZE = "100G"
MIN_BASESIZE = 32 << 20


def _read_json(path: str) -> dict[str, Any] | None:
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def _write_json(path: str, data: dict[str, Any]) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, sort_keys=True)
    os.replace(tmp, path)


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _discard_image(path: str) -> None:
    """Free an image's blocks now, then delete it.  A loop device that was just detached may
    still hold the file until the kernel's delayed fput runs, and unlink alone would free the
    space only then (after our pool trim)."""
    with contextlib.suppress(FileNotFoundError):
        os.truncate(path, 0)
    _unlink(path)


class DeviceMapperDriver(Driver):
    """Thin-pool graph driver emulated with sparse images, reflinks and loop devices."""

    name = "devicemapper"
    whiteout_format = "delete"

    def __init__(self, home: str, options: dict[str, str] | None = None) -> None:
        super().__init__(home, options)
        opts = self.options
        for key in opts:
            if key not in OPTIONS:
                raise DriverError(f"devicemapper: unknown option {key!r} (known: {', '.join(OPTIONS)})")
        try:
            self.base_size = thinpool.parse_size(opts.get("dm.basesize") or DEFAULT_BASESIZE)
            self.loopback_size = thinpool.parse_size(opts.get("dm.loopback_size") or DEFAULT_LOOPBACK_SIZE)
        except ValueError as e:
            raise DriverError(f"devicemapper: {e}") from None
        if self.base_size < MIN_BASESIZE:
            raise DriverError(f"devicemapper: dm.basesize {self.base_size} is below {MIN_BASESIZE} bytes")
        self.fs = opts.get("dm.fs") or "ext4"
        if self.fs not in ("ext4", "xfs"):
            raise DriverError(f"devicemapper: dm.fs {self.fs!r} unsupported (ext4 or xfs)")
        if not thinpool.tool(f"mkfs.{self.fs}"):
            raise NotSupported(f"devicemapper: mkfs.{self.fs} not found (install "
                               f"{'e2fsprogs' if self.fs == 'ext4' else 'xfsprogs'})")
        self.loopback = bool_opt(opts.get("dm.loopback_xfs"))
        self.direct_io = bool_opt(opts.get("dm.directio"), True)
        self.trim_on_put = bool_opt(opts.get("dm.trim_on_put"), True)
        self.mkfs_args = shlex.split(opts.get("dm.mkfsarg") or "")
        self.mount_data = ",".join(o for o in (
            "noinit_itable" if self.fs == "ext4" else "nouuid",   # see thinpool.mkfs
            opts.get("dm.mountopt") or "") if o)
        self.pool_dir = os.path.abspath(opts.get("dm.pool_dir") or os.path.join(self.home, "pool"))
        self.meta_dir = os.path.join(self.home, "metadata")
        self.dev_meta = os.path.join(self.meta_dir, "devices")
        self.deferred_dir = os.path.join(self.meta_dir, "deferred")
        self.mnt_dir = os.path.join(self.home, "mnt")
        for d in (self.dev_meta, self.deferred_dir, self.mnt_dir):
            os.makedirs(d, mode=0o700, exist_ok=True)
        self._refs = RefCounts(os.path.join(self.home, "refs"))
        self._lock = threading.RLock()
        self._pool: thinpool.LoopbackPool | None = None
        self._ready = False
        self.reflink = False

    # ---- host check -------------------------------------------------------------------
    @classmethod
    def probe(cls, home: str) -> str | None:
        if os.geteuid() != 0:
            return "needs root (loop devices and mounts)"
        why = loop.usable()
        if why:
            return f"no loop device can be configured: {why}"
        if not thinpool.tool("mkfs.ext4"):
            return "mkfs.ext4 not found (install e2fsprogs)"
        return None

    # ---- pool and bookkeeping ---------------------------------------------------------
    @contextlib.contextmanager
    def _op(self) -> Iterator[None]:
        """Serialise operations (threads and processes sharing home), open the pool lazily and
        finish deferred deletions whose devices have been released since the last call."""
        with self._lock, self._refs.locked():
            if not self._ready:
                self._open_pool()
            self._reap()
            yield

    def _open_pool(self) -> None:
        os.makedirs(self.pool_dir, mode=0o700, exist_ok=True)
        if self.loopback:
            lp = thinpool.LoopbackPool(os.path.join(self.home, "pool.img"), self.pool_dir,
                                       self.loopback_size)
            if lp.is_mounted() or os.path.exists(lp.image) or not thinpool.can_reflink(self.pool_dir):
                if not thinpool.tool("mkfs.xfs"):
                    raise NotSupported("devicemapper: dm.loopback_xfs needs mkfs.xfs (install xfsprogs)")
                try:
                    lp.open()
                except OSError as e:
                    raise DriverError(f"devicemapper: loopback pool {lp.image}: {e}") from None
                self._pool = lp
        for sub in ("base", "devices", "deleted"):
            os.makedirs(os.path.join(self.pool_dir, sub), mode=0o700, exist_ok=True)
            self._drop_stale_tmp(os.path.join(self.pool_dir, sub))
        self._drop_stale_tmp(self.dev_meta)
        self.reflink = thinpool.can_reflink(self.pool_dir)
        self._ready = True

    @staticmethod
    def _drop_stale_tmp(directory: str) -> None:
        """Remove ``*.<pid>.tmp`` files left by a process that died mid-create."""
        for name in os.listdir(directory):
            parts = name.rsplit(".", 2)
            if len(parts) == 3 and parts[2] == "tmp" and parts[1].isdigit():
                pid = int(parts[1])
                if pid != os.getpid() and not os.path.exists(f"/proc/{pid}"):
                    _discard_image(os.path.join(directory, name))

    def _image(self, id: str) -> str:
        return os.path.join(self.pool_dir, "devices", id + ".img")

    def _mp(self, id: str) -> str:
        return os.path.join(self.mnt_dir, id)

    def _meta(self, id: str) -> dict[str, Any] | None:
        return _read_json(os.path.join(self.dev_meta, check_id(id)))

    def _need(self, id: str) -> dict[str, Any]:
        m = self._meta(id)
        if m is None:
            raise DriverError(f"devicemapper: layer {id}: does not exist")
        return m

    def _set_meta(self, id: str, m: dict[str, Any]) -> None:
        _write_json(os.path.join(self.dev_meta, id), m)

    def _next_device_id(self) -> int:
        path = os.path.join(self.meta_dir, "deviceset-metadata")
        ds = _read_json(path) or {"next_device_id": 1}
        n = int(ds["next_device_id"])
        ds["next_device_id"] = n + 1
        _write_json(path, ds)
        return n

    def _base_image(self) -> str:
        """The formatted base device for this fs and size; made once per pool (~10-20 ms)."""
        path = os.path.join(self.pool_dir, "base", f"{self.fs}-{self.base_size}.img")
        if os.path.exists(path):
            return path
        tmp = f"{path}.{os.getpid()}.tmp"
        _unlink(tmp)
        with open(tmp, "wb") as f:
            f.truncate(self.base_size)
        mp = tempfile.mkdtemp(prefix=".base-", dir=self.mnt_dir)
        try:
            thinpool.mkfs(tmp, self.fs, self.mkfs_args)
            with self._attach(tmp, read_only=False) as dev:
                loop.mount(dev.path, mp, self.fs, 0, self.mount_data)
            try:
                os.mkdir(os.path.join(mp, "rootfs"), 0o755)
                loop.syncfs(mp)
            finally:
                loop.umount_busy_ok(mp)
            os.rename(tmp, path)
        except OSError as e:
            _unlink(tmp)
            raise DriverError(f"devicemapper: base device {path}: {e}") from None
        finally:
            os.rmdir(mp)
        ds_path = os.path.join(self.meta_dir, "deviceset-metadata")
        ds = _read_json(ds_path) or {"next_device_id": 1}
        ds.update(base_device=os.path.relpath(path, self.pool_dir), base_device_size=self.base_size,
                  base_fs=self.fs)
        _write_json(ds_path, ds)
        return path

    def _snapshot(self, src: str, dst: str) -> str:
        """Copy-on-write copy of an image: 'reflink' or 'copy' (sparse) as it was made."""
        if self.reflink:
            try:
                thinpool.clone_file(src, dst)
                return "reflink"
            except OSError as e:
                if e.errno not in (errno.EOPNOTSUPP, errno.EXDEV, errno.EINVAL, errno.ENOTTY):
                    raise
        thinpool.sparse_copy(src, dst)
        return "copy"

    def _attach(self, image: str, read_only: bool) -> loop.Loop:
        return loop.attach(image, read_only=read_only, direct_io=self.direct_io,
                           block_size=4096 if self.direct_io else 0)

    def _mount(self, id: str, mp: str, read_only: bool) -> None:
        """Attach the device and mount it at ``mp``; the loop fd is held until the mount owns
        the device, then closed so that autoclear detaches it at unmount."""
        m = self._need(id)
        image = os.path.join(self.pool_dir, m["image"])
        os.makedirs(mp, mode=0o700, exist_ok=True)
        flags = loop.MS_RDONLY if read_only else 0
        try:
            try:
                with self._attach(image, read_only) as dev:
                    loop.mount(dev.path, mp, m.get("fs", self.fs), flags, self.mount_data)
            except OSError as e:
                if not read_only or e.errno not in (errno.EROFS, errno.EINVAL):
                    raise
                # journal needs replaying (device was not cleanly unmounted): let the kernel
                # replay it on a writable device, the mount itself stays read-only
                with self._attach(image, False) as dev:
                    loop.mount(dev.path, mp, m.get("fs", self.fs), flags, self.mount_data)
            if not read_only:
                if m.get("grow"):
                    thinpool.grow_online(m.get("fs", self.fs), mp)
                    m["grow"] = False
                    self._set_meta(id, m)
                rootfs = os.path.join(mp, "rootfs")
                if not os.path.isdir(rootfs):
                    os.mkdir(rootfs, 0o755)
        except OSError as e:
            with contextlib.suppress(OSError):
                if loop.mounted_at(mp):
                    loop.umount_busy_ok(mp)
            raise DriverError(f"devicemapper: layer {id}: {e}") from None

    def _unmount(self, mp: str, trim: bool) -> bool:
        """Unmount (lazily if busy).  True if the device was released at once."""
        if loop.mounted_at(mp) is None:
            return True
        if trim:
            with contextlib.suppress(OSError):
                loop.syncfs(mp)             # ext4 frees deleted blocks only at journal commit
                thinpool.fitrim(mp)
        try:
            return loop.umount_busy_ok(mp)
        except OSError as e:
            raise DriverError(f"devicemapper: unmount {mp}: {e}") from None

    def _trim_pool(self) -> None:
        """Hand space freed inside the loopback pool back to the host."""
        if self._pool is not None and self._pool.is_mounted():
            with contextlib.suppress(OSError):
                loop.syncfs(self.pool_dir)  # XFS frees unlinked inodes in the background
                thinpool.fitrim(self.pool_dir)

    def _reap(self) -> int:
        """Delete images of removed devices whose loop device has gone; returns how many."""
        try:
            names = os.listdir(self.deferred_dir)
        except FileNotFoundError:
            return 0
        done = 0
        for name in names:
            if name.endswith(".tmp"):
                continue
            rec = _read_json(os.path.join(self.deferred_dir, name)) or {}
            image = os.path.join(self.pool_dir, rec.get("image", f"deleted/{name}.img"))
            if loop.backed_by(image):
                continue
            _discard_image(image)
            _unlink(os.path.join(self.deferred_dir, name))
            done += 1
        if done:
            self._trim_pool()
        return done

    @contextlib.contextmanager
    def _ro(self, id: str | None) -> Iterator[str | None]:
        """The rootfs of ``id`` for reading: its get() mount if mounted, else a private
        read-only mount for the duration of the block."""
        if id is None:
            yield None
            return
        self._need(id)
        mp = self._mp(id)
        if loop.mounted_at(mp) is not None:
            yield os.path.join(mp, "rootfs")
            return
        tmp = tempfile.mkdtemp(prefix=f".ro-{id}-", dir=self.mnt_dir)
        try:
            self._mount(id, tmp, read_only=True)
            try:
                yield os.path.join(tmp, "rootfs")
            finally:
                self._unmount(tmp, trim=False)
        finally:
            with contextlib.suppress(OSError):
                os.rmdir(tmp)

    # ---- proto driver -----------------------------------------------------------------
    def create(self, id: str, parent: str | None, writable: bool = False,
               opts: dict[str, str] | None = None) -> None:
        check_id(id)
        for key in opts or {}:
            if key not in CREATE_OPTS:
                raise DriverError(f"devicemapper: layer {id}: unknown create option {key!r} (known: size)")
        with self._op():
            if self._meta(id) is not None:
                raise DriverError(f"devicemapper: layer {id}: already exists")
            if parent is not None:
                pm = self._need(parent)
                src = os.path.join(self.pool_dir, pm["image"])
                src_size, fs = int(pm["size"]), pm.get("fs", self.fs)
            else:
                src, src_size, fs = self._base_image(), self.base_size, self.fs
            size = src_size
            if opts and opts.get("size"):
                try:
                    size = thinpool.parse_size(opts["size"])
                except ValueError as e:
                    raise DriverError(f"devicemapper: layer {id}: {e}") from None
                if size < src_size:
                    raise DriverError(f"devicemapper: layer {id}: size {size} is smaller than "
                                      f"its {'parent' if parent else 'base device'} ({src_size})")
            image = self._image(id)
            tmp = f"{image}.{os.getpid()}.tmp"
            _unlink(tmp)
            # a mounted parent (e.g. committing a running container) is frozen so the copy is
            # a consistent, journal-clean filesystem
            live = self._mp(parent) if parent and loop.mounted_at(self._mp(parent)) else None
            try:
                with thinpool.frozen(live):
                    how = self._snapshot(src, tmp)
                grow = size > src_size
                if grow:
                    os.truncate(tmp, size)
                    grow = not thinpool.grow_offline(fs, tmp)
                os.rename(tmp, image)
            except OSError as e:
                _unlink(tmp)
                raise DriverError(f"devicemapper: layer {id}: snapshot of {src}: {e}") from None
            self._set_meta(id, {
                "device_id": self._next_device_id(), "size": size, "parent": parent,
                "image": os.path.relpath(image, self.pool_dir), "fs": fs, "snapshot": how,
                "writable": bool(writable), "grow": grow, "initialized": True,
                "deleted": False, "created": time.time()})

    def remove(self, id: str) -> None:
        check_id(id)
        with self._op():
            m = self._meta(id)
            if m is None:
                return
            mp = self._mp(id)
            self._unmount(mp, trim=False)
            self._refs.set(id, 0)
            with contextlib.suppress(OSError):
                os.rmdir(mp)
            image = os.path.join(self.pool_dir, m["image"])
            if loop.backed_by(image):
                # still held (typically a copy of the mount in another mount namespace):
                # deferred deletion, finished by _reap() once the loop device detaches
                name = f"{id}.{m['device_id']}"
                rel = os.path.join("deleted", name + ".img")
                _write_json(os.path.join(self.deferred_dir, name), dict(m, deleted=True, image=rel))
                os.rename(image, os.path.join(self.pool_dir, rel))
                _unlink(os.path.join(self.dev_meta, id))
                return
            _discard_image(image)
            _unlink(os.path.join(self.dev_meta, id))
            self._trim_pool()

    def get(self, id: str) -> str:
        check_id(id)
        with self._op():
            self._need(id)
            mp = self._mp(id)
            n = self._refs.get(id)
            if loop.mounted_at(mp) is None:
                self._mount(id, mp, read_only=False)
                n = 0
            self._refs.set(id, n + 1)
            return os.path.join(mp, "rootfs")

    def put(self, id: str) -> None:
        check_id(id)
        with self._op():
            self._need(id)
            mp = self._mp(id)
            n = self._refs.get(id)
            if n > 1 and loop.mounted_at(mp) is not None:
                self._refs.set(id, n - 1)
                return
            self._refs.set(id, 0)
            self._unmount(mp, trim=self.trim_on_put)
            # removing the mountpoint also detaches idle copies of the mount that other mount
            # namespaces inherited, so the loop device is released now, not at their exit
            with contextlib.suppress(OSError):
                os.rmdir(mp)

    def exists(self, id: str) -> bool:
        try:
            return self._meta(id) is not None
        except DriverError:
            return False

    def parent(self, id: str) -> str | None:
        return self._need(id).get("parent")

    def layers(self) -> list[str]:
        return sorted(n for n in os.listdir(self.dev_meta) if not n.endswith(".tmp"))

    def _pool_name(self, suffix: str) -> str:
        st = os.stat(self.pool_dir)
        return f"pyrunc-{os.major(st.st_dev)}:{os.minor(st.st_dev)}-{st.st_ino}-{suffix}"

    def _usage(self) -> tuple[int, int, int]:
        """(used, total, available) bytes of the pool's data space."""
        vfs = os.statvfs(self.pool_dir)
        total, avail = vfs.f_blocks * vfs.f_frsize, vfs.f_bavail * vfs.f_frsize
        if self._pool is not None:
            return (vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize, total, avail
        used = 0    # shared host filesystem: count what the images allocate
        for sub in ("base", "devices", "deleted"):
            with os.scandir(os.path.join(self.pool_dir, sub)) as it:
                for e in it:
                    with contextlib.suppress(FileNotFoundError):
                        used += e.stat(follow_symlinks=False).st_blocks * 512
        return used, total, avail

    def status(self) -> dict[str, str]:
        with self._op():
            used, total, avail = self._usage()
            fs = thinpool.fs_of(self.pool_dir)
            out = {
                "Pool Name": self._pool_name("pool"),
                "Pool Dir": self.pool_dir,
                "Pool Blocksize": "4.096 kB",
                "Base Device Size": thinpool.human(self.base_size),
                "Base Device Filesystem": self.fs,
                "Backing Filesystem": thinpool.backing_fs_name(fs.fstype) if fs else "unknown",
                "Reflink": "true" if self.reflink else "false",
                "Snapshot Method": "reflink (FICLONE)" if self.reflink else "sparse copy",
                "Direct IO": "true" if self.direct_io else "false",
                "Data Space Used": thinpool.human(used),
                "Data Space Total": thinpool.human(total),
                "Data Space Available": thinpool.human(avail),
                "Devices": str(len(self.layers())),
                "Deferred Removal Enabled": "true",
                "Deferred Deletion Enabled": "true",
                "Deferred Deleted Device Count": str(len([n for n in os.listdir(self.deferred_dir)
                                                          if not n.endswith(".tmp")])),
            }
            if self._pool is not None:
                out["Data loop file"] = self._pool.image
            return out

    def metadata(self, id: str) -> dict[str, str]:
        with self._op():
            m = self._need(id)
            image = os.path.join(self.pool_dir, m["image"])
            out = {
                "DeviceId": str(m["device_id"]),
                "DeviceSize": str(m["size"]),
                "DeviceName": self._pool_name(id),
                "ImageFile": image,
                "Filesystem": m.get("fs", self.fs),
                "Snapshot": m.get("snapshot", ""),
                "Parent": m.get("parent") or "",
            }
            mp = self._mp(id)
            if loop.mounted_at(mp) is not None:
                out["MergedDir"] = os.path.join(mp, "rootfs")
            devs = loop.backed_by(image)
            if devs:
                out["LoopDevice"] = f"/dev/loop{devs[0]}"
            return out

    def cleanup(self) -> None:
        """Unmount every device (lazily if busy), finish what deferred deletions can finish,
        detach loop devices left on our images and unmount the loopback pool.  Idempotent."""
        with self._lock, self._refs.locked():
            prefix = os.path.realpath(self.mnt_dir) + "/"
            for m in sorted(loop.mounts(), key=lambda e: -len(e.mountpoint)):
                if m.mountpoint.startswith(prefix):
                    with contextlib.suppress(OSError):
                        loop.umount_busy_ok(m.mountpoint)
            for id in self._refs.all():
                self._refs.set(id, 0)
            with contextlib.suppress(OSError):
                for name in os.listdir(self.mnt_dir):
                    if name.startswith((".ro-", ".base-")):
                        with contextlib.suppress(OSError):
                            os.rmdir(os.path.join(self.mnt_dir, name))
            pool = os.path.realpath(self.pool_dir) + "/"
            for n, backing in loop.attached().items():
                if backing.startswith(pool):
                    loop.detach(n)          # busy ones only get autoclear, which they have
            if self._ready or self._pool is not None:
                self._reap()
            if self._pool is not None:
                self._pool.close()
                self._pool = None
            elif self.loopback:             # a pool left mounted by an earlier process
                lp = thinpool.LoopbackPool(os.path.join(self.home, "pool.img"), self.pool_dir,
                                           self.loopback_size)
                lp.close()
            self._ready = False

    # ---- diff driver (naive, like moby's devicemapper) ---------------------------------
    def apply_diff(self, id: str, parent: str | None, stream: BinaryIO) -> int:
        from . import archive

        check_id(id)
        with self._op():
            self._need(id)
            mp = self._mp(id)
            ours = loop.mounted_at(mp) is None
            if ours:
                self._mount(id, mp, read_only=False)
            try:
                root = os.path.join(mp, "rootfs")
                n = archive.apply_layer(archive.open_layer(stream), root, "delete")
                loop.syncfs(mp)
                with contextlib.suppress(OSError):
                    thinpool.fitrim(mp)     # space of whited-out parent files goes back to the pool
                return n
            finally:
                if ours:
                    self._unmount(mp, trim=False)

    def changes(self, id: str, parent: str | None) -> list[Change]:
        from . import archive

        with self._op(), self._ro(id) as root, self._ro(parent) as proot:
            return archive.compute_changes(root, proot)

    def diff(self, id: str, parent: str | None) -> BinaryIO:
        from . import archive

        def write(out: BinaryIO) -> None:
            with self._op(), self._ro(id) as root, self._ro(parent) as proot:
                archive.export_diff(root, archive.compute_changes(root, proot), out)
        return spool(write, "pyrunc-dm-diff-")

    def diff_size(self, id: str, parent: str | None) -> int:
        from . import archive

        with self._op(), self._ro(id) as root, self._ro(parent) as proot:
            return archive.changes_size(root, archive.compute_changes(root, proot))


#: short alias
DeviceMapper = DeviceMapperDriver
