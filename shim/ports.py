"""``-p [HOST_IP:]HOST_PORT:CONTAINER_PORT[/tcp]`` on the bridge network: a userland TCP proxy in the container's
monitor (what docker-proxy does), listening in pyctr's network namespace and connecting to the container's
bridge address. No iptables rules are written; UDP is not published.
"""
from __future__ import annotations

import contextlib
import re
import socket
import threading

from .errors import EngineError

_SPEC = re.compile(r"(?:(?P<ip>[0-9.]+):)?(?P<host>\d{1,5}):(?P<ctr>\d{1,5})(?:/(?P<proto>tcp|udp))?")


def parse(specs: list[str]) -> dict:
    """docker's PortBindings: {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}."""
    out: dict = {}
    for s in specs:
        m = _SPEC.fullmatch(s)
        if not m or not (0 < int(m["host"]) < 65536 and 0 < int(m["ctr"]) < 65536):
            raise EngineError(f'invalid port specification: "{s}" (use [HOST_IP:]HOST_PORT:CONTAINER_PORT[/tcp])', 125)
        if m["proto"] == "udp":
            raise EngineError(f'"{s}": only TCP ports can be published', 125)
        out.setdefault(f"{int(m['ctr'])}/tcp", []).append({"HostIp": m["ip"] or "", "HostPort": str(int(m["host"]))})
    return out


class Proxy:
    """The listening sockets of one container; each accepted connection is relayed by two threads."""

    def __init__(self, bindings: dict, target_ip: str) -> None:
        self.listeners: list[socket.socket] = []
        try:
            for port_proto, hosts in bindings.items():
                cport = int(port_proto.split("/")[0])
                for b in hosts:
                    addr = (b.get("HostIp") or "0.0.0.0", int(b["HostPort"]))
                    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    try:
                        s.bind(addr)
                    except OSError as e:
                        s.close()
                        raise EngineError(f"Bind for {addr[0]}:{addr[1]} failed: port is already allocated"
                                          if e.errno == 98 else f"Bind for {addr[0]}:{addr[1]} failed: {e.strerror}",
                                          125) from None
                    s.listen(64)
                    self.listeners.append(s)
                    threading.Thread(target=self._accept, args=(s, (target_ip, cport)), daemon=True).start()
        except BaseException:
            self.close()
            raise

    def _accept(self, listener: socket.socket, target: tuple[str, int]) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._relay, args=(conn, target), daemon=True).start()

    @staticmethod
    def _relay(conn: socket.socket, target: tuple[str, int]) -> None:
        try:
            up = socket.create_connection(target, timeout=10)
        except OSError:
            conn.close()
            return
        up.settimeout(None)

        def pump(src: socket.socket, dst: socket.socket) -> None:
            with contextlib.suppress(OSError):
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    dst.sendall(data)
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

        t = threading.Thread(target=pump, args=(up, conn), daemon=True)
        t.start()
        pump(conn, up)
        t.join()
        conn.close()
        up.close()

    def close(self) -> None:
        for s in self.listeners:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        self.listeners = []
