"""The create/apply/destroy path must not pull in slow stdlib modules (each costs 8-20 ms here)."""
import os
import subprocess
import sys
import uuid

import pytest

import pyrunc

HEAVY = ("json", "re", "argparse", "ctypes", "logging", "dataclasses", "enum", "typing", "select", "struct")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
@pytest.mark.timeout(30)
def test_create_path_imports_stay_light():
    site = os.path.dirname(os.path.dirname(pyrunc.__file__))
    parent = f"/pyrunc-test-{uuid.uuid4().hex[:12]}"
    code = f"""
import sys
sys.path.insert(0, {site!r})
import os
from pyrunc.runtime.cgroups import new_manager, load_manager, _fs
m = new_manager({parent + '/c'!r}, "c", {{"pids": {{"limit": 10}}, "memory": {{"limit": 1 << 30}}}})
try:
    m.create()
    m.set_resources(m.resources)
    pid = os.fork()
    if pid == 0:
        os.read(os.open("/dev/null", os.O_RDONLY), 1)
        os._exit(0)
    m.apply(pid)
    os.waitpid(pid, 0)
    load_manager(m.save()).is_frozen()
    m.signal_all(9)
finally:
    m.destroy()
    for root in sorted({{mnt for mnt, _ in _fs.mounts()[0].values()}}) + [(_fs.mounts()[1] or ("/nonexistent",))[0]]:
        if os.path.isdir(root + {parent!r}):
            os.rmdir(root + {parent!r})
print(" ".join(sorted(k for k in {HEAVY!r} if k in sys.modules)))
"""
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
