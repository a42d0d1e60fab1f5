"""Where pyctr keeps things and which runtime/driver it uses: one object handed to every command."""
import os
import shutil
from dataclasses import dataclass, field

DEFAULT_ROOT = "/var/lib/pyctr"    # images, layers, container metadata and logs (persistent)
DEFAULT_STATE = "/run/pyctr"       # runtime state (--root of the OCI runtime), monitor sockets, pid files


@dataclass
class Context:
    root: str = DEFAULT_ROOT
    state: str = DEFAULT_STATE
    runtime: str = "pyrunc"            # a name on PATH or a path; called exactly like containerd calls runc
    storage_driver: str | None = None  # None: the graph-driver registry probes (overlay2, vfs, devicemapper)
    storage_opts: dict = field(default_factory=dict)
    debug: bool = False

    @property
    def runtime_path(self) -> str:
        if "/" in self.runtime:
            return os.path.abspath(self.runtime)
        found = shutil.which(self.runtime)
        if not found:
            raise SystemExit(f"pyctr: runtime {self.runtime!r} not found in $PATH")
        return found

    @property
    def runtime_root(self) -> str:
        """The OCI runtime's --root: one per runtime binary, like dockerd's runtime-runc/moby."""
        return os.path.join(self.state, "runtime", os.path.basename(self.runtime))

    @property
    def graph_home(self) -> str:
        return os.path.join(self.root, "storage")

    @property
    def images_dir(self) -> str:
        return os.path.join(self.root, "images")

    @property
    def containers_dir(self) -> str:
        return os.path.join(self.root, "containers")

    def driver(self):
        """The graph driver (opened on first use)."""
        if getattr(self, "_driver", None) is None:
            from pyrunc.graphdriver import registry
            os.makedirs(self.graph_home, 0o700, exist_ok=True)
            self._driver = registry.get_driver(self.storage_driver, os.path.join(self.graph_home),
                                               self.storage_opts or None)
        return self._driver
