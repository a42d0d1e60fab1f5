"""Named and anonymous volumes (docker's ``local`` driver): ``<root>/volumes/<name>/_data`` plus ``meta.json``.

An image's ``VOLUME`` paths that no ``-v``/``--tmpfs`` covers get an anonymous volume each (a random
64-hex name), filled from the image; ``rm -v`` and ``run --rm`` remove them, like docker.

``-v NAME:/path`` creates the volume when it does not exist yet and, while it is still empty, fills
it with what the image has at ``/path`` (docker's copy-up; ``nocopy`` skips it). The copy goes
through ``pyctr cp``'s helper chrooted into the container's layer, so an image's symlinks cannot
make it read host files.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import time

from ..errors import EngineError

NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")


def mountpoint_in(volumes_dir: str, name: str) -> str:
    return os.path.join(volumes_dir, name, "_data")


def check_name(name: str, prefix: str = "") -> None:
    if not NAME.fullmatch(name):
        raise EngineError(f'{prefix}"{name}" includes invalid characters for a local volume name, only '
                          '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, '
                          "use absolute path", 125)


def is_named(source: str) -> bool:
    """``-v`` sources that are not host paths name a volume (docker)."""
    return not source.startswith(("/", "."))


class VolumeStore:
    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self.dir = os.path.join(ctx.root, "volumes")

    def _path(self, name: str) -> str:
        check_name(name, prefix=f"create {name}: ")
        return os.path.join(self.dir, name)

    def mountpoint(self, name: str) -> str:
        self._path(name)  # validates the name
        return mountpoint_in(self.dir, name)

    def exists(self, name: str) -> bool:
        return os.path.isfile(os.path.join(self._path(name), "meta.json"))

    def create(self, name: str, labels: dict | None = None) -> tuple[dict, bool]:
        """The volume's record, and whether it was made now (an existing one is returned as it is)."""
        path = self._path(name)
        if self.exists(name):
            return self.inspect(name), False
        os.makedirs(os.path.join(path, "_data"), 0o755, exist_ok=True)
        meta = {"CreatedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "Driver": "local",
                "Labels": labels or {}, "Mountpoint": self.mountpoint(name), "Name": name, "Options": {},
                "Scope": "local"}
        tmp = os.path.join(path, "meta.json.tmp")
        with open(tmp, "w") as f:
            json.dump(meta, f)
        os.replace(tmp, os.path.join(path, "meta.json"))
        return meta, True

    def inspect(self, name: str) -> dict:
        try:
            with open(os.path.join(self._path(name), "meta.json")) as f:
                return json.load(f)
        except FileNotFoundError:
            raise EngineError(f"get {name}: no such volume") from None

    def names(self) -> list[str]:
        try:
            return sorted(n for n in os.listdir(self.dir) if self.exists(n))
        except FileNotFoundError:
            return []

    def users(self, name: str) -> list[str]:
        """IDs of the containers whose ``-v`` names this volume."""
        from .store import ContainerStore
        out = []
        for c in ContainerStore(self.ctx).list():
            names = [b.split(":", 1)[0] for b in c.config.get("HostConfig", {}).get("Binds") or []]
            if name in names or name in (c.config.get("AnonymousVolumes") or {}).values():
                out.append(c.id)
        return out

    def remove(self, name: str, force: bool = False) -> None:
        self.inspect(name)
        used = self.users(name)
        if used:
            raise EngineError(f"remove {name}: volume is in use - [{', '.join(used)}]")
        shutil.rmtree(self._path(name))


def anonymous_for(ctx, image_volumes: dict | None, taken: set[str], copy_up) -> dict[str, str]:
    """docker: every image ``VOLUME`` not covered by a user mount gets a new anonymous volume (64 hex
    characters), filled from the image; returns {destination: volume name}."""
    import uuid
    store = VolumeStore(ctx)
    out = {}
    for dest in sorted(image_volumes or {}):
        dest = os.path.normpath(dest)
        if dest in taken:
            continue
        name = uuid.uuid4().hex + uuid.uuid4().hex
        store.create(name, {"com.docker.volume.anonymous": ""})
        out[dest] = name
        copy_up(dest, store.mountpoint(name))
    return out


def prepare_binds(ctx, binds: list[str], copy_up) -> None:
    """Create the named volumes ``binds`` refer to; fill new empty ones from the image (``copy_up(path,
    mountpoint)`` copies the image's ``path`` into it)."""
    store = VolumeStore(ctx)
    for b in binds:
        parts = b.split(":")
        if not is_named(parts[0]):
            continue
        _meta, new = store.create(parts[0])
        opts = parts[2].split(",") if len(parts) > 2 else []
        if new and "nocopy" not in opts and not os.listdir(store.mountpoint(parts[0])):
            copy_up(parts[1], store.mountpoint(parts[0]))
