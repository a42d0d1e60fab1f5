"""linux.netDevices: a device of the runtime's network namespace moved (and renamed) into the container's with
its addresses. pyrunc runs inside a network namespace the test makes (``nsenter --net``), so no host device is
touched."""
import os
import subprocess
import uuid

import pytest

from pyrunc.runtime.errors import Error
from pyrunc.runtime.linux import CLONE_NEWNET, CLONE_NEWUSER
from pyrunc.runtime.plan import net_devices
from support import pyrunc_bin
from test_init_support import create_error

pytest_plugins = ("test_init_support",)


@pytest.fixture
def netns():
    name = f"pyrunc-t-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        # (no dummy module in this kernel: one end of a veth pair plays the device)
        for argv in (["link", "add", "dummy9", "type", "veth", "peer", "name", "dummy9p"],
                     ["addr", "add", "192.0.2.7/24", "dev", "dummy9"],
                     ["addr", "add", "2001:db8::7/64", "dev", "dummy9", "nodad"], ["link", "set", "dummy9", "up"]):
            subprocess.run(["ip", "-n", name, *argv], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def _run_in(rt, netns: str, bundle: str) -> subprocess.CompletedProcess:
    return subprocess.run(["nsenter", f"--net=/run/netns/{netns}", "--", pyrunc_bin(), "--root", rt.root, "run",
                           "--bundle", bundle, rt.new_id()], capture_output=True, text=True, timeout=60)


def test_device_moves_in_renamed_with_its_addresses(rt, busybox_rootfs, netns):
    def cfg(c):
        c["linux"]["netDevices"] = {"dummy9": {"name": "ctr9"}}
    bundle = rt.bundle(["sh", "-c", "ip -o addr show ctr9; cat /sys/class/net/ctr9/flags"], busybox_rootfs,
                       mutate=cfg)
    p = _run_in(rt, netns, bundle)
    assert p.returncode == 0, p.stderr
    assert "inet 192.0.2.7/24" in p.stdout and "inet6 2001:db8::7/64" in p.stdout, p.stdout
    assert int(p.stdout.split()[-1], 16) & 1, "up, as it was"
    # it left the runtime's namespace (a virtual device then goes with the container's namespace)
    links = subprocess.run(["ip", "-n", netns, "-o", "link"], capture_output=True, text=True).stdout
    names = [ln.split(": ")[1].split("@")[0] for ln in links.splitlines()]
    assert "dummy9" not in names and "ctr9" not in names, names


def test_missing_device_is_a_create_error(rt, busybox_rootfs):
    def cfg(c):
        c["linux"]["netDevices"] = {f"nodev{os.getpid() % 1000}": {}}
    assert "no such network device" in create_error(rt, busybox_rootfs, cfg)


@pytest.mark.parametrize("devs, ns, field", [
    ({"eth0": {"name": "a" * 16}}, CLONE_NEWNET, "linux.netDevices.eth0.name"),
    ({"bad/name": {}}, CLONE_NEWNET, "linux.netDevices.bad/name"),
    ({"eth0": {}}, 0, "linux.netDevices: needs a new network namespace"),
    ({"eth0": {}}, CLONE_NEWNET | CLONE_NEWUSER, "linux.netDevices: not supported with a user namespace"),
])
def test_net_devices_plan_errors(devs, ns, field):
    with pytest.raises(Error) as e:
        net_devices({"netDevices": devs}, ns, [])
    assert str(e.value).startswith(field), e.value


def test_net_devices_plan():
    assert net_devices({}, 0, []) == {}
    assert net_devices({"netDevices": {"eth1": {"name": "c1"}, "eth2": {}}}, CLONE_NEWNET, []) == \
        {"eth1": {"name": "c1"}, "eth2": {}}
