"""The OCI runtime, driven only through its command line, with the global flags containerd's shim passes:
``<runtime> --root R --log <dir>/log.json --log-format json <command> ...``.

Errors are read back from the json log (the last ``error`` entry written by this call), as the shim does.
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile

from ..errors import EngineError
from .spec import CGROUP_PARENT


class RuntimeFailure(EngineError):
    """A runtime command failed; ``code`` follows the docker CLI (127 not found, 126 not executable, else 125)."""


def exit_code_for(msg: str) -> int:
    """docker's mapping of a start error to the CLI's exit code (cli/command/container/run.go)."""
    low = msg.lower()
    if "executable file not found" in low or "no such file or directory" in low or "system error: exec" in low:
        return 127
    if "permission denied" in low or "is a directory" in low:
        return 126
    return 125


def container_exit_code_for(msg: str) -> int:
    """dockerd's setExitCodeFromError: what ``inspect`` records as the exit code of a container that failed to start."""
    code = exit_code_for(msg)
    return 128 if code == 125 else code


class OCIRuntime:
    def __init__(self, path: str, root: str, log: str | None = None) -> None:
        self.path = path
        self.root = root
        self.log = log

    def argv(self, *args: str) -> list[str]:
        out = [self.path, "--root", self.root]
        if self.log:
            out += ["--log", self.log, "--log-format", "json"]
        return out + [str(a) for a in args]

    # ---- error reporting ------------------------------------------------------------------------------------
    def _log_size(self) -> int:
        try:
            return os.path.getsize(self.log) if self.log else 0
        except OSError:
            return 0

    def _log_error(self, since: int) -> str:
        """The last error message logged after offset ``since``."""
        if not self.log:
            return ""
        try:
            with open(self.log, "rb") as f:
                f.seek(since)
                data = f.read().decode(errors="replace")
        except OSError:
            return ""
        msg = ""
        for line in data.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("level") in ("error", "fatal") and entry.get("msg"):
                msg = entry["msg"]
        return msg

    def fail(self, what: str, since: int, stderr: bytes | str = b"", rc: int | None = None) -> RuntimeFailure:
        msg = self._log_error(since)
        if not msg:
            text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr
            msg = text.strip().splitlines()[-1] if text.strip() else f"exit status {rc}"
        full = f"OCI runtime {what} failed: {msg}"
        return RuntimeFailure(full, exit_code_for(msg))

    def call(self, *args: str, stdin=subprocess.DEVNULL, input: bytes | None = None, timeout: float = 120,
             check: bool = True) -> subprocess.CompletedProcess:
        """Run a short command; output captured through files (a container may inherit pipes and keep them)."""
        since = self._log_size()
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            kw = {"input": input} if input is not None else {"stdin": stdin}
            p = subprocess.run(self.argv(*args), stdout=out, stderr=err, timeout=timeout, **kw)
            out.seek(0)
            err.seek(0)
            p.stdout, p.stderr = out.read(), err.read()
        if check and p.returncode != 0:
            raise self.fail(args[0], since, p.stderr, p.returncode)
        return p

    # ---- commands -------------------------------------------------------------------------------------------
    def create(self, cid: str, bundle: str, pid_file: str, console_socket: str | None,
               stdin: int, stdout: int, stderr: int) -> None:
        """``create``: the container's init inherits ``stdin``/``stdout``/``stderr`` (unless it has a terminal)."""
        args = ["create", "--bundle", bundle, "--pid-file", pid_file]
        if console_socket:
            args += ["--console-socket", console_socket]
        since = self._log_size()
        p = subprocess.run(self.argv(*args, cid), stdin=stdin, stdout=stdout, stderr=stderr)
        if p.returncode != 0:
            raise self.fail("create", since, rc=p.returncode)

    def start(self, cid: str) -> None:
        self.call("start", cid)

    def kill(self, cid: str, signal: int, all: bool = False, check: bool = True) -> subprocess.CompletedProcess:
        return self.call("kill", *(["--all"] if all else []), cid, str(int(signal)), check=check)

    def delete(self, cid: str, force: bool = False, check: bool = False) -> subprocess.CompletedProcess:
        p = self.call("delete", *(["--force"] if force else []), cid, check=check)
        remove_empty_cgroup_parent()
        return p

    def state(self, cid: str) -> dict | None:
        p = self.call("state", cid, check=False)
        if p.returncode != 0:
            return None
        try:
            return json.loads(p.stdout)
        except ValueError:
            return None

    def pause(self, cid: str) -> None:
        self.call("pause", cid)

    def resume(self, cid: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.call("resume", cid, check=check)

    def update(self, cid: str, resources: dict) -> None:
        """``update --resources - ID`` with a ``linux.resources`` object on stdin (as containerd's shim does)."""
        self.call("update", "--resources", "-", cid, input=json.dumps(resources).encode())

    def ps(self, cid: str) -> list[int]:
        p = self.call("ps", "--format", "json", cid)
        return [int(x) for x in json.loads(p.stdout or b"[]") or []]

    def exec(self, cid: str, process_file: str, pid_file: str, console_socket: str | None,
             stdin: int, stdout: int, stderr: int | None) -> None:
        """``exec --process F --detach --pid-file P``: the process inherits these fds (no terminal) and is
        re-parented to the nearest subreaper once the runtime exits."""
        args = ["exec", "--process", process_file, "--detach", "--pid-file", pid_file]
        if console_socket:
            args += ["--console-socket", console_socket]
        since = self._log_size()
        with tempfile.TemporaryFile() as err_copy:
            p = subprocess.run(self.argv(*args, cid), stdin=stdin, stdout=stdout,
                               stderr=stderr if stderr is not None else err_copy)
            err_copy.seek(0)
            err_text = err_copy.read()
        if p.returncode != 0:
            raise self.fail("exec", since, err_text, p.returncode)


def remove_empty_cgroup_parent(name: str = CGROUP_PARENT.strip("/")) -> None:
    """The runtime removes a container's cgroup, not the engine's parent (``/pyctr``, chosen by
    spec.py): take it away with its last container (EBUSY while others live: left alone)."""
    roots = ["/sys/fs/cgroup"]
    try:
        roots += [os.path.join("/sys/fs/cgroup", h) for h in os.listdir("/sys/fs/cgroup")]
    except OSError:
        return
    for root in roots:
        try:
            os.rmdir(os.path.join(root, name))
        except OSError:
            pass
