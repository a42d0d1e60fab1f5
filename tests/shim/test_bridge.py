"""--network bridge, with pyrunc and with runc. Every engine command runs inside a network namespace made for the
test (``ip netns add``; ``nsenter --net``), so the bridge, the veth pairs and all traffic stay in it."""
from __future__ import annotations

import json
import os
import subprocess
import time
import uuid

import pytest

from test_containers import ctr, engine  # noqa: F401 (fixtures)


@pytest.fixture
def netns():
    name = f"pyctr-t-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def _in(engine, netns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run(["nsenter", f"--net=/run/netns/{netns}", "--", *engine.argv(*args)],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    if check and p.returncode != 0:
        raise AssertionError(f"pyctr {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def _links(netns: str) -> str:
    return subprocess.run(["ip", "netns", "exec", netns, "ip", "-o", "link"], capture_output=True, text=True).stdout


def test_containers_on_the_bridge_reach_each_other_and_the_gateway(engine, ctr, netns):
    a, b = ctr("ba"), ctr("bb")
    _in(engine, netns, "run", "-d", "--name", a, "--network", "bridge", "busybox", "sleep", "1000")
    _in(engine, netns, "run", "-d", "--name", b, "--network", "bridge", "busybox", "sleep", "1000")
    ia, ib = engine.inspect(a)["NetworkSettings"], engine.inspect(b)["NetworkSettings"]
    assert ia["IPAddress"].startswith("172.29.") and ia["IPAddress"] != ib["IPAddress"]
    assert ia["Gateway"] == "172.29.0.1" and ia["Networks"]["bridge"]["IPAddress"] == ia["IPAddress"]
    out = _in(engine, netns, "exec", a, "sh", "-c",
              f"ip -o -4 addr show eth0; ping -c1 -W2 {ib['IPAddress']} >/dev/null && echo peer-ok; "
              "ping -c1 -W2 172.29.0.1 >/dev/null && echo gateway-ok; grep $(hostname) /etc/hosts").stdout
    assert f"inet {ia['IPAddress']}/16" in out and "peer-ok" in out and "gateway-ok" in out, out
    assert ia["IPAddress"] in out.splitlines()[-1]
    assert "pyctr0" in _links(netns) and f"veth{engine.inspect(a)['Id'][:11]}" in _links(netns)
    # nothing of it exists outside the test's namespace
    assert "pyctr0" not in subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    # stop: the pair goes with the container's namespace and the address is free again
    veth_a = f"veth{engine.inspect(a)['Id'][:11]}"
    _in(engine, netns, "rm", "-f", a)
    assert veth_a not in _links(netns)
    assert "veth" + engine.inspect(b)["Id"][:11] in _links(netns)
    ipam = json.load(open(os.path.join(engine.root, "network", "bridge.json")))
    assert ia["IPAddress"] not in ipam and ib["IPAddress"] in ipam


def test_bridge_address_is_released_when_the_container_exits(engine, ctr, netns):
    name = ctr("bx")
    p = _in(engine, netns, "run", "--name", name, "--network", "bridge", "busybox", "sh", "-c",
            "ip -o -4 addr show eth0 | wc -l")
    assert p.stdout.strip() == "1", p.stdout + p.stderr
    cid = engine.inspect(name)["Id"]
    assert f"veth{cid[:11]}" not in _links(netns)
    ipam = json.load(open(os.path.join(engine.root, "network", "bridge.json")))
    assert cid not in ipam.values()
    assert engine.inspect(name)["NetworkSettings"]["IPAddress"] == ""


def test_published_port_reaches_the_container(engine, ctr, netns):
    name = ctr("bp")
    _in(engine, netns, "run", "-d", "--name", name, "--network", "bridge", "-p", "18080:80", "busybox", "sh", "-c",
        "mkdir /www && echo hello-from-the-container > /www/index.html && exec httpd -f -p 80 -h /www")
    assert engine.inspect(name)["NetworkSettings"]["Ports"] == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "18080"}]}
    assert "0.0.0.0:18080->80/tcp" in engine("ps").stdout
    out = ""
    for _ in range(50):  # httpd is up a moment after start returns
        p = subprocess.run(["nsenter", f"--net=/run/netns/{netns}", "--", "/bin/busybox", "wget", "-qO-",
                            "http://127.0.0.1:18080/"], capture_output=True, text=True, timeout=30)
        out = p.stdout
        if out:
            break
        time.sleep(0.1)
    assert out == "hello-from-the-container\n"
    other = ctr("bq")
    p = _in(engine, netns, "run", "-d", "--name", other, "--network", "bridge", "-p", "18080:80", "busybox",
            "sleep", "100", check=False)
    assert p.returncode == 125 and "port is already allocated" in p.stderr, p.stderr
    p = _in(engine, netns, "run", "--rm", "-p", "18081:80", "busybox", "true", check=False)
    assert p.returncode == 125 and "needs --network bridge" in p.stderr


def test_outbound_traffic_is_masqueraded(engine, ctr, netns):
    """A second namespace plays the outside world: it has no route to the bridge's subnet, so only
    masquerading lets the container's ping come back."""
    outside = f"{netns}-out"
    subprocess.run(["ip", "netns", "add", outside], check=True)
    try:
        sh = [["ip", "-n", netns, "link", "add", "vout", "type", "veth", "peer", "name", "vin", "netns", outside],
              ["ip", "-n", netns, "addr", "add", "10.200.0.1/24", "dev", "vout"],
              ["ip", "-n", netns, "link", "set", "vout", "up"],
              ["ip", "-n", outside, "addr", "add", "10.200.0.2/24", "dev", "vin"],
              ["ip", "-n", outside, "link", "set", "vin", "up"],
              ["ip", "-n", outside, "link", "set", "lo", "up"]]
        for argv in sh:
            subprocess.run(argv, check=True)
        name = ctr("bn")
        p = _in(engine, netns, "run", "--name", name, "--network", "bridge", "busybox", "sh", "-c",
                "ping -c1 -W3 10.200.0.2 >/dev/null && echo outside-ok")
        assert p.stdout == "outside-ok\n", p.stdout + p.stderr
        rules = subprocess.run(["ip", "netns", "exec", netns, "iptables", "-t", "nat", "-S", "POSTROUTING"],
                               capture_output=True, text=True).stdout
        assert "-s 172.29.0.0/16 ! -o pyctr0 -j MASQUERADE" in rules, rules
    finally:
        subprocess.run(["ip", "netns", "del", outside], check=False)
