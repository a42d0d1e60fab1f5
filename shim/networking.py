"""Container networking: ``--network none`` (default: a private network namespace with only ``lo``, brought up
by the runtime), ``--network bridge`` (that plus an ``eth0`` on the ``pyctr0`` bridge: shim/bridge.py) and
``--network host`` (no network namespace: the container shares pyctr's).

Each container gets its own /etc/hostname, /etc/hosts and /etc/resolv.conf, bound over the image's files
like dockerd does.
"""
from __future__ import annotations

import os
import socket

MODES = ("none", "host", "bridge")

HOSTS_LOCAL = ("127.0.0.1\tlocalhost\n"
               "::1\tlocalhost ip6-localhost ip6-loopback\n"
               "fe00::0\tip6-localnet\n"
               "ff00::0\tip6-mcastprefix\n"
               "ff02::1\tip6-allnodes\n"
               "ff02::2\tip6-allrouters\n")


def host_hostname() -> str:
    return socket.gethostname()


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def resolv_conf(mode: str, host_text: str) -> str:
    """The host's resolv.conf; outside the host network, loopback resolvers are unusable and dropped (dockerd's
    FilterResolvDNS)."""
    if mode == "host":
        return host_text
    lines = []
    for line in host_text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver" and (parts[1].startswith("127.") or parts[1] == "::1"):
            continue
        lines.append(line)
    return "\n".join(lines) + ("\n" if lines else "")


def hosts(mode: str, hostname: str, host_text: str, ip: str | None = None) -> str:
    if mode == "host":
        return host_text
    return HOSTS_LOCAL + (f"{ip}\t{hostname}\n" if ip else "")


def write_etc_files(cdir: str, mode: str, hostname: str, ip: str | None = None) -> dict[str, str]:
    """Write hostname, hosts and resolv.conf into the container's directory; returns name -> path.
    ``ip``: the container's bridge address (its hosts file is rewritten at each start: the address may change)."""
    files = {
        "hostname": hostname + "\n",
        "hosts": hosts(mode, hostname, _read("/etc/hosts"), ip),
        "resolv.conf": resolv_conf(mode, _read("/etc/resolv.conf")),
    }
    out = {}
    for name, text in files.items():
        path = os.path.join(cdir, name)
        if not os.path.exists(path) or (ip and name == "hosts"):  # else keep the container's own edits
            with open(path + ".tmp", "w") as f:
                f.write(text)
            os.chmod(path + ".tmp", 0o644)
            os.replace(path + ".tmp", path)
        out[name] = path
    return out
