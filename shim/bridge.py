"""``--network bridge``: a Linux bridge ``pyctr0`` (172.29.0.1/16) in pyctr's network namespace and one veth
pair per container, its inner end renamed ``eth0`` in the container's namespace with an address from a small
IPAM file and a default route through the bridge.

Containers reach each other and the namespace pyctr runs in (and published ports: shim/ports.py); their outbound
traffic is masqueraded (IPv4 forwarding and three iptables rules, docker's). The veth pair is set up by the monitor between the runtime's ``create`` and ``start``
(the namespace exists, the process has not started) with iproute2, the way CNI's bridge plugin drives the
kernel; it disappears with the container's network namespace. The address is released when the monitor
finishes.
"""
from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import subprocess

from .errors import EngineError

BRIDGE = "pyctr0"
SUBNET = ipaddress.ip_network("172.29.0.0/16")
GATEWAY = SUBNET.network_address + 1


def _ip(*args: str, netns_pid: int | None = None) -> str:
    argv = ["ip", *args]
    if netns_pid is not None:
        argv = ["nsenter", f"--net=/proc/{netns_pid}/ns/net", "--", *argv]
    p = subprocess.run(argv, capture_output=True, text=True)
    if p.returncode != 0:
        raise EngineError(f"bridge network: {' '.join(args)}: {p.stderr.strip() or p.returncode}", 125)
    return p.stdout


class IPAM:
    """Addresses in use, by container ID: ``<root>/network/bridge.json`` under a flock."""

    def __init__(self, root: str) -> None:
        self.dir = os.path.join(root, "network")
        self.path = os.path.join(self.dir, "bridge.json")

    @contextlib.contextmanager
    def _locked(self):
        os.makedirs(self.dir, 0o700, exist_ok=True)
        fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                with open(self.path) as f:
                    used = json.load(f)
            except FileNotFoundError:
                used = {}
            yield used
            tmp = self.path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(used, f)
            os.replace(tmp, self.path)
        finally:
            os.close(fd)

    def allocate(self, cid: str) -> str:
        with self._locked() as used:
            for ip, owner in used.items():
                if owner == cid:
                    return ip
            for host in SUBNET.hosts():
                if host == GATEWAY:
                    continue
                if str(host) not in used:
                    used[str(host)] = cid
                    return str(host)
        raise EngineError("bridge network: no free address in " + str(SUBNET), 125)

    def release(self, cid: str) -> None:
        with self._locked() as used:
            for ip in [ip for ip, owner in used.items() if owner == cid]:
                del used[ip]


def ensure_bridge() -> None:
    """The bridge with the gateway address, up, and outbound NAT (made once per network namespace)."""
    if subprocess.run(["ip", "link", "show", BRIDGE], capture_output=True).returncode != 0:
        with contextlib.suppress(EngineError):  # a concurrent start made it first
            _ip("link", "add", BRIDGE, "type", "bridge")
    addrs = _ip("-o", "addr", "show", "dev", BRIDGE)
    if f" {GATEWAY}/" not in addrs:
        _ip("addr", "add", f"{GATEWAY}/{SUBNET.prefixlen}", "dev", BRIDGE)
    _ip("link", "set", BRIDGE, "up")
    ensure_nat()


# (table, chain, rule): what docker's bridge driver adds for outbound traffic, minus its own chains
NAT_RULES = (
    ("nat", "POSTROUTING", ["-s", str(SUBNET), "!", "-o", BRIDGE, "-j", "MASQUERADE"]),
    ("filter", "FORWARD", ["-i", BRIDGE, "-j", "ACCEPT"]),
    ("filter", "FORWARD", ["-o", BRIDGE, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"]),
)


def ensure_nat() -> None:
    """Outbound traffic of the bridge's containers leaves masqueraded: IPv4 forwarding on, and the rules
    above once each (``iptables -C`` first). Without iptables the containers still reach each other."""
    with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
        f.write("1")
    for table, chain, rule in NAT_RULES:
        if subprocess.run(["iptables", "-w", "-t", table, "-C", chain, *rule], capture_output=True).returncode:
            p = subprocess.run(["iptables", "-w", "-t", table, "-A", chain, *rule], capture_output=True, text=True)
            if p.returncode:
                raise EngineError(f"bridge network: iptables -t {table} -A {chain}: {p.stderr.strip()}", 125)


def attach(cid: str, pid: int, ip: str) -> dict:
    """Give the container whose init is ``pid`` its ``eth0`` on the bridge; returns NetworkSettings values."""
    ensure_bridge()
    host_end, tmp_end = f"veth{cid[:11]}", f"ctmp{cid[:11]}"
    _ip("link", "add", host_end, "type", "veth", "peer", "name", tmp_end, "netns", str(pid))
    try:
        _ip("link", "set", host_end, "master", BRIDGE, "up")
        _ip("link", "set", tmp_end, "name", "eth0", netns_pid=pid)
        _ip("addr", "add", f"{ip}/{SUBNET.prefixlen}", "dev", "eth0", netns_pid=pid)
        _ip("link", "set", "eth0", "up", netns_pid=pid)
        _ip("route", "add", "default", "via", str(GATEWAY), netns_pid=pid)
        mac = _ip("-o", "link", "show", "eth0", netns_pid=pid).split("link/ether", 1)[1].split()[0]
    except BaseException:
        with contextlib.suppress(EngineError):
            _ip("link", "del", host_end)
        raise
    return {"IPAddress": ip, "IPPrefixLen": SUBNET.prefixlen, "Gateway": str(GATEWAY), "MacAddress": mac,
            "HostVeth": host_end}


def detach(info: dict | None) -> None:
    """Remove the host end if the container's namespace did not take the pair with it already."""
    veth = (info or {}).get("HostVeth")
    if veth and subprocess.run(["ip", "link", "show", veth], capture_output=True).returncode == 0:
        with contextlib.suppress(EngineError):
            _ip("link", "del", veth)
