"""``linux.netDevices``: move host network devices into the container's network namespace (OCI 1.3).

The init does it with rtnetlink, in two halves around its unshare(CLONE_NEWNET): ``capture`` (still in the
runtime's namespace) records each device's index, up flag and addresses and keeps a netlink socket bound
there; ``install`` (in the new namespace) moves and renames each device in one RTM_NEWLINK through that
socket, then re-adds the addresses (a move flushes them; the spec asks to preserve them) and brings it up
if it was. Physical devices return to the initial namespace when the container's namespace goes; virtual
ones go with it. Imported only when a config asks; no user namespace (the move needs CAP_NET_ADMIN over the
runtime's namespace).
"""
import struct

import _socket

from . import fastos as os

_NETLINK_ROUTE = 0
_RTM_NEWLINK, _RTM_GETLINK, _RTM_NEWADDR, _RTM_GETADDR = 16, 18, 20, 22
_NLM_F_REQUEST, _NLM_F_ACK, _NLM_F_DUMP, _NLM_F_CREATE, _NLM_F_EXCL = 1, 4, 0x300, 0x400, 0x200
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_IFLA_IFNAME, _IFLA_NET_NS_FD = 3, 28
_IFA_ADDRESS, _IFA_LOCAL = 1, 2
_IFF_UP = 1


class NetDevError(Exception):
    pass


class _Netlink:
    """One NETLINK_ROUTE socket, bound to the namespace it was made in."""

    def __init__(self) -> None:
        self.sock = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW | _socket.SOCK_CLOEXEC, _NETLINK_ROUTE)
        self.sock.settimeout(5)  # an answer that never comes is an error, not a hung create
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def request(self, mtype: int, flags: int, body: bytes) -> list[tuple[int, bytes]]:
        """Send one message; return the (type, payload) replies up to the ACK or the end of a dump
        (so ``flags`` must hold NLM_F_ACK or NLM_F_DUMP)."""
        self.seq += 1
        msg = struct.pack("=IHHII", 16 + len(body), mtype, _NLM_F_REQUEST | flags, self.seq, 0) + body
        self.sock.send(msg)
        out = []
        while True:
            data = self.sock.recv(65536)
            off = 0
            while off + 16 <= len(data):
                length, rtype, _flags, seq, _pid = struct.unpack_from("=IHHII", data, off)
                payload = data[off + 16: off + length]
                off += (length + 3) & ~3
                if seq != self.seq:
                    continue
                if rtype == _NLMSG_ERROR:
                    err = -struct.unpack_from("=i", payload)[0]
                    if err:
                        raise OSError(err, os.strerror(err))
                    return out
                if rtype == _NLMSG_DONE:
                    return out
                out.append((rtype, payload))


_IFINFO = "=BBHiII"  # struct ifinfomsg: family, pad, type, index, flags, change


def _ifinfo(index: int, flags: int = 0, change: int = 0) -> bytes:
    return struct.pack(_IFINFO, 0, 0, 0, index, flags, change)


def _attr(kind: int, data: bytes) -> bytes:
    return struct.pack("=HH", 4 + len(data), kind) + data + b"\0" * ((4 - len(data) % 4) % 4)


def _attrs(buf: bytes, off: int) -> dict[int, bytes]:
    out = {}
    while off + 4 <= len(buf):
        length, kind = struct.unpack_from("=HH", buf, off)
        if length < 4:
            break
        out[kind] = buf[off + 4: off + length]
        off += (length + 3) & ~3
    return out


class Captured:
    """What ``capture`` saw of the devices, and the socket in the runtime's namespace."""
    __slots__ = ("nl", "devices")

    def __init__(self, nl: _Netlink, devices: list) -> None:
        self.nl, self.devices = nl, devices


def capture(net_devices: dict) -> Captured:
    """Before unshare(CLONE_NEWNET): each device's (name, new name, index, was up, addresses)."""
    nl = _Netlink()
    try:
        dump = nl.request(_RTM_GETADDR, _NLM_F_DUMP, struct.pack("=BBBBI", 0, 0, 0, 0, 0))
        devices = []
        for name, spec in net_devices.items():
            try:
                index = _socket.if_nametoindex(name)
            except OSError:
                raise NetDevError(f"linux.netDevices: {name}: no such network device") from None
            link = nl.request(_RTM_GETLINK, _NLM_F_ACK, _ifinfo(index))
            up = bool(link) and bool(struct.unpack_from(_IFINFO, link[0][1])[4] & _IFF_UP)
            addrs = []
            for _t, p in dump:
                family, prefixlen, _fl, scope, idx = struct.unpack_from("=BBBBI", p)
                if idx != index:
                    continue
                a = _attrs(p, 8)
                addr = a.get(_IFA_LOCAL) or a.get(_IFA_ADDRESS)
                if addr is None or (family == _socket.AF_INET6 and addr[:2] == b"\xfe\x80"):
                    continue  # the kernel makes a new link-local address itself
                addrs.append((family, prefixlen, scope, addr))
            devices.append((name, (spec or {}).get("name") or name, index, up, addrs))
        return Captured(nl, devices)
    except BaseException:
        nl.close()
        raise


def install(cap: Captured) -> None:
    """In the new network namespace: move, rename, re-address, bring up."""
    ns = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    here = _Netlink()
    try:
        for name, new, index, up, addrs in cap.devices:
            body = _ifinfo(index) + _attr(_IFLA_NET_NS_FD, struct.pack("=I", ns)) \
                + _attr(_IFLA_IFNAME, new.encode() + b"\0")
            try:
                cap.nl.request(_RTM_NEWLINK, _NLM_F_ACK, body)
            except OSError as e:
                raise NetDevError(f"linux.netDevices: moving {name} into the container: "
                                  f"{(e.strerror or str(e)).lower()}") from None
            idx = _socket.if_nametoindex(new)
            for family, prefixlen, scope, addr in addrs:
                body = struct.pack("=BBBBI", family, prefixlen, 0, scope, idx) + _attr(_IFA_LOCAL, addr) \
                    + _attr(_IFA_ADDRESS, addr)
                here.request(_RTM_NEWADDR, _NLM_F_ACK | _NLM_F_CREATE | _NLM_F_EXCL, body)
            if up:
                here.request(_RTM_NEWLINK, _NLM_F_ACK, _ifinfo(idx, _IFF_UP, _IFF_UP))
    finally:
        here.close()
        cap.nl.close()
        os.close(ns)
