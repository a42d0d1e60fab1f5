"""Issue 8: the import budget of the hot path, a structural check (not a timing).

Each lifecycle command runs exactly the way bin/pyrunc runs (``/usr/bin/python3 -I -S`` on the
launcher, which appends site-packages by hand) plus ``-X importtime``; the modules listed on stderr
(the forked container init included) must not contain the heavy ones: json/re pull enum and friends
(~18 ms), argparse ~20 ms, ctypes ~7 ms, logging pulls re, threading and more; enum alone ~2 ms.
"""
import os
import tempfile

import pytest

from support import pyrunc_bin

# issue 8: never on the create path
FORBIDDEN = ("json", "argparse", "re", "ctypes", "logging")
# the runtime notes' hot-path rule adds these (socket and signal import enum: use _socket, _signal);
# os costs ~1.2 ms a start under -I -S (its _collections_abc): runtime/fastos.py stands in for it
ALSO_FORBIDDEN = ("subprocess", "socket", "enum", "dataclasses", "os")


def _launcher_argv() -> list[str]:
    """The interpreter line of bin/pyrunc (``exec /usr/bin/python3 -IS "$0"``) plus -X importtime."""
    launcher = pyrunc_bin()
    try:
        with open(launcher, "rb") as f:
            head = f.read(300).decode(errors="replace").splitlines()
    except OSError:
        head = []
    # installed: "#!/usr/bin/python3 -IS"; in the source tree: the sh polyglot "exec /usr/bin/python3 -IS"
    line = next((ln for ln in head if "exec " in ln and "python" in ln), None)
    if head and head[0].startswith("#!") and "python" in head[0]:
        interp = head[0][2:].split()[0]
    elif line is not None:
        interp = line.split("exec ", 1)[1].split()[0]
    else:
        interp = None
    if os.environ.get("PYRUNC_TEST_RUNTIME") or interp is None:
        pytest.skip("the import budget is about pyrunc's Python launcher")
    return [interp, "-I", "-S", "-X", "importtime", launcher]


def _imports(rt, *args) -> tuple[set[str], int, str]:
    """Run one pyrunc command under -X importtime; return (modules imported, exit code, stderr)."""
    import subprocess
    argv = _launcher_argv() + ["--root", rt.root] + [str(a) for a in args]
    # files, not pipes: a created container inherits our stdio
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.run(argv, stdout=out, stderr=err, timeout=60)
        err.seek(0)
        text = err.read().decode(errors="replace")
    mods = set()
    for ln in text.splitlines():
        if ln.startswith("import time:") and "|" in ln:
            name = ln.rsplit("|", 1)[1].strip()
            if name != "imported package":
                mods.add(name)
    return mods, p.returncode, text


def _check(mods: set[str], code: int, err: str, command: str) -> None:
    assert code == 0, f"pyrunc {command} failed under -X importtime: {err[-2000:]}"
    assert "pyrunc.runtime.cli" in mods, f"no import trace captured for {command}: {err[-2000:]}"
    heavy = sorted(m for m in mods if m.split(".")[0] in FORBIDDEN + ALSO_FORBIDDEN)
    assert not heavy, f"pyrunc {command} imports {heavy} (hot path must stay light)"


def test_lifecycle_commands_import_budget(rt, busybox_rootfs):
    bundle = rt.bundle(["sleep", "30"], busybox_rootfs)
    cid = rt.new_id()
    seen = {}
    for cmd in (["create", "--bundle", bundle, cid], ["state", cid], ["start", cid], ["exec", cid, "true"],
                ["kill", cid, "KILL"]):
        mods, code, err = _imports(rt, *cmd)
        _check(mods, code, err, cmd[0])
        seen[cmd[0]] = mods
    assert "pyrunc.runtime.commands.create" in seen["create"]
    rt.wait_status(cid, "stopped")
    mods, code, err = _imports(rt, "delete", cid)
    _check(mods, code, err, "delete")
    assert not os.path.exists(os.path.join(rt.root, cid))


def test_run_import_budget(rt, busybox_rootfs):
    bundle = rt.bundle(["true"], busybox_rootfs)
    mods, code, err = _imports(rt, "run", "--bundle", bundle, rt.new_id())
    _check(mods, code, err, "run")
    assert "pyrunc.runtime.commands.run" in mods


def test_shim_style_create_import_budget(rt, busybox_rootfs, tmp_path):
    """The containerd shim's argv (--log FILE --log-format json) must not pull json or logging either."""
    bundle = rt.bundle(["true"], busybox_rootfs)
    cid = rt.new_id()
    log = str(tmp_path / "log.json")
    mods, code, err = _imports(rt, "--log", log, "--log-format", "json", "create", "--bundle", bundle,
                               "--pid-file", str(tmp_path / "init.pid"), cid)
    _check(mods, code, err, "create (shim flags)")
    mods, code, err = _imports(rt, "--log", log, "--log-format", "json", "delete", "--force", cid)
    _check(mods, code, err, "delete --force (shim flags)")
