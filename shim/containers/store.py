"""Container metadata: ``ctx.containers_dir/<id>/`` holds config.json (docker-like Config/HostConfig, image, name,
runtime), state.json (created/running/exited, pids, exit code, times), ctr.log (json-file log) and the runtime's
log.json; ``ctx.state/containers/<id>/`` holds what dies with a reboot (attach socket, pid files).

Files are replaced atomically (write + rename); a per-container flock serialises state updates between the CLI
and the container's monitor process.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import secrets
import shutil
import time
from datetime import datetime, timezone

from ..errors import EngineError
from ..format import flocked, write_json

CREATED, RUNNING, EXITED = "created", "running", "exited"

_ADJ = ["admiring", "brave", "clever", "dazzling", "eager", "festive", "gallant", "happy", "jolly", "keen",
        "lucid", "modest", "nifty", "optimistic", "peaceful", "quirky", "relaxed", "serene", "tender", "upbeat",
        "vibrant", "wizardly", "youthful", "zealous"]
_NOUN = ["archimedes", "babbage", "curie", "darwin", "euler", "fermat", "galileo", "hopper", "hypatia", "kepler",
         "lovelace", "meitner", "newton", "noether", "pascal", "ritchie", "shannon", "tesla", "thompson", "torvalds",
         "turing", "wozniak", "yalow", "zuse"]


def now() -> str:
    """RFC 3339 with nanoseconds, UTC (docker's timestamps)."""
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9:09d}Z"


def parse_time(text: str | None) -> float | None:
    """Seconds since the epoch of one of our timestamps (None for empty / docker's zero time)."""
    if not text or text.startswith("0001-"):
        return None
    base, _, frac = text.rstrip("Z").partition(".")
    t = datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
    return t + (float("0." + frac) if frac else 0.0)


def _proc_start(pid: int) -> str | None:
    """Start time of ``pid`` (field 22 of /proc/PID/stat), to tell a live process from a recycled pid."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return None
    return fields[19]


class Container:
    """One container's metadata; ``state`` is re-read by ``reload()`` and written by ``save_state()``."""

    def __init__(self, store: "ContainerStore", cid: str, config: dict, state: dict) -> None:
        self.store = store
        self.id = cid
        self.config = config
        self.state = state

    # ---- paths --------------------------------------------------------------------------------------------
    @property
    def dir(self) -> str:
        return os.path.join(self.store.dir, self.id)

    @property
    def state_dir(self) -> str:
        return os.path.join(self.store.state_dir, self.id)

    @property
    def bundle(self) -> str:
        return os.path.join(self.dir, "bundle")

    @property
    def log_path(self) -> str:
        return os.path.join(self.dir, "ctr.log")

    @property
    def runtime_log(self) -> str:
        return os.path.join(self.dir, "log.json")

    @property
    def attach_socket(self) -> str:
        return os.path.join(self.state_dir, "attach.sock")

    # ---- docker-ish accessors ----------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.config["Name"]

    @property
    def status(self) -> str:
        return self.state.get("Status", CREATED)

    @property
    def runtime_path(self) -> str:
        return self.config["Runtime"]["Path"]

    @property
    def runtime_root(self) -> str:
        return self.config["Runtime"]["Root"]

    def monitor_alive(self) -> bool:
        pid = self.state.get("MonitorPid")
        return bool(pid) and _proc_start(pid) == self.state.get("MonitorStart")

    def running(self) -> bool:
        return self.status == RUNNING and self.monitor_alive()

    # ---- state ----------------------------------------------------------------------------------------------
    def locked(self):
        return flocked(self.dir)

    def reload(self) -> "Container":
        try:
            with open(os.path.join(self.dir, "state.json")) as f:
                self.state = json.load(f)
        except FileNotFoundError:
            raise EngineError(f"No such container: {self.id}") from None
        return self

    def save_state(self) -> None:
        write_json(os.path.join(self.dir, "state.json"), self.state)

    def update(self, **fields) -> None:
        """Merge ``fields`` into state.json under the container's lock."""
        with self.locked():
            self.reload()
            self.state.update(fields)
            self.save_state()

    def save_config(self) -> None:
        write_json(os.path.join(self.dir, "config.json"), self.config)

    def refresh(self) -> "Container":
        """Re-read the state; a 'running' container whose monitor is gone (crash, reboot) becomes exited."""
        self.reload()
        if self.status == RUNNING and not self.monitor_alive():
            with self.locked():
                self.reload()
                if self.status == RUNNING and not self.monitor_alive():
                    self.state.update(Status=EXITED, Pid=0, ExitCode=self.state.get("ExitCode") or 255,
                                      FinishedAt=self.state.get("FinishedAt") or now(),
                                      Error="the container's monitor process is gone")
                    self.save_state()
        return self


class ContainerStore:
    """All containers under ``ctx.containers_dir``."""

    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self.dir = ctx.containers_dir
        self.state_dir = os.path.join(ctx.state, "containers")

    def _ids(self) -> list[str]:
        try:
            return sorted(n for n in os.listdir(self.dir) if len(n) == 64 and
                          os.path.isfile(os.path.join(self.dir, n, "config.json")))
        except FileNotFoundError:
            return []

    def load(self, cid: str) -> Container:
        d = os.path.join(self.dir, cid)
        try:
            with open(os.path.join(d, "config.json")) as f:
                config = json.load(f)
            with open(os.path.join(d, "state.json")) as f:
                state = json.load(f)
        except (FileNotFoundError, json.JSONDecodeError):
            raise EngineError(f"No such container: {cid}") from None
        return Container(self, cid, config, state)

    def list(self) -> list[Container]:
        out = []
        for cid in self._ids():
            try:
                out.append(self.load(cid).refresh())
            except EngineError:
                continue  # removed meanwhile
        return out

    def get(self, ref: str) -> Container:
        """By full id, by name (with or without docker's leading "/"), or by a unique id prefix."""
        ids = self._ids()
        if ref in ids:
            return self.load(ref).refresh()
        name = ref.lstrip("/")
        for cid in ids:
            try:
                c = self.load(cid)
            except EngineError:
                continue
            if c.name == name:
                return c.refresh()
        matches = [cid for cid in ids if ref and cid.startswith(ref)]
        if len(matches) == 1:
            return self.load(matches[0]).refresh()
        if len(matches) > 1:
            raise EngineError(f"multiple IDs found with provided prefix: {ref}")
        raise EngineError(f"No such container: {ref}")

    def names(self) -> set[str]:
        out = set()
        for cid in self._ids():
            with contextlib.suppress(EngineError):
                out.add(self.load(cid).name)
        return out

    def new_name(self) -> str:
        taken = self.names()
        while True:
            name = f"{random.choice(_ADJ)}_{random.choice(_NOUN)}"
            if name in taken:
                name += str(random.randint(1, 99))
            if name not in taken:
                return name

    def create(self, config: dict) -> Container:
        """Write a new container's directory; ``config`` gets its Id (and Name if unset)."""
        os.makedirs(self.dir, 0o700, exist_ok=True)
        name = config.get("Name") or self.new_name()
        if not _valid_name(name):
            raise EngineError(f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", 125)
        lock = os.open(os.path.join(self.dir, ".names.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            for cid in self._ids():
                try:
                    other = self.load(cid)
                except EngineError:
                    continue
                if other.name == name:
                    raise EngineError(f'Conflict. The container name "/{name}" is already in use by container '
                                      f'"{cid}". You have to remove (or rename) that container to be able to '
                                      "reuse that name.", 125)
            cid = secrets.token_hex(32)
            d = os.path.join(self.dir, cid)
            os.makedirs(os.path.join(d, "bundle"), 0o700)
            config = {**config, "Id": cid, "Name": name}
            c = Container(self, cid, config, {"Status": CREATED, "Pid": 0, "ExitCode": 0, "Error": "",
                                               "StartedAt": "0001-01-01T00:00:00Z",
                                               "FinishedAt": "0001-01-01T00:00:00Z"})
            c.save_state()
            c.save_config()  # config.json last: _ids() only lists complete containers
        finally:
            os.close(lock)
        return c

    def delete(self, c: Container) -> None:
        """Remove the container's metadata and state directories (layer and runtime state are the caller's)."""
        shutil.rmtree(c.state_dir, ignore_errors=True)
        d = c.dir
        if os.path.isdir(d):
            trash = os.path.join(self.dir, f".rm-{c.id}-{secrets.token_hex(4)}")
            try:
                os.rename(d, trash)
            except FileNotFoundError:
                return
            shutil.rmtree(trash, ignore_errors=True)


def _valid_name(name: str) -> bool:
    import re
    return bool(re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", name))
