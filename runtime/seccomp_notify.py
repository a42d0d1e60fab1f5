"""Minimal seccomp user-notification agent side (SECCOMP_IOCTL_NOTIF_*), via fcntl.ioctl.

pyrunc only hands the listener fd to the agent; this module exists for the tests and for tools that
want to answer notifications (a tiny agent), without libseccomp. Struct layouts are the kernel UAPI
(linux/seccomp.h): seccomp_notif is 80 bytes, seccomp_notif_resp 24 bytes.
"""
from __future__ import annotations

import fcntl
import struct

# _IOWR('!', 0, struct seccomp_notif) / _IOWR('!', 1, struct seccomp_notif_resp) / _IOW('!', 2, u64)
NOTIF_RECV = 0xC0502100
NOTIF_SEND = 0xC0182101
NOTIF_ID_VALID = 0x40082102
FLAG_CONTINUE = 1  # SECCOMP_USER_NOTIF_FLAG_CONTINUE

_NOTIF = struct.Struct("=QII iIQ 6Q")  # id, pid, flags, data{nr, arch, instruction_pointer, args[6]}
_RESP = struct.Struct("=QqiI")  # id, val, error (negative errno), flags


class Notification:
    """One intercepted syscall: ``nr``/``arch``/``args`` are the raw seccomp_data of the caller."""

    __slots__ = ("id", "pid", "flags", "nr", "arch", "ip", "args")

    def __init__(self, raw: bytes) -> None:
        f = _NOTIF.unpack(raw)
        self.id, self.pid, self.flags, self.nr, self.arch, self.ip = f[:6]
        self.args = f[6:]

    def __repr__(self) -> str:
        return f"Notification(id={self.id}, pid={self.pid}, nr={self.nr}, args={self.args})"


def recv(fd: int) -> Notification:
    """Block until a notification arrives (poll the fd for POLLIN to wait with a timeout)."""
    buf = bytearray(_NOTIF.size)  # the kernel insists on a zeroed buffer
    fcntl.ioctl(fd, NOTIF_RECV, buf, True)
    return Notification(bytes(buf))


def respond(fd: int, notif_id: int, val: int = 0, error: int = 0, flags: int = 0) -> None:
    """Answer: the syscall returns ``val``, or fails with errno ``error`` (a positive errno)."""
    buf = bytearray(_RESP.pack(notif_id, val, -error if error > 0 else error, flags))
    fcntl.ioctl(fd, NOTIF_SEND, buf, True)


def id_valid(fd: int, notif_id: int) -> bool:
    """True while the target is still waiting on ``notif_id`` (TOCTOU guard for agents)."""
    try:
        fcntl.ioctl(fd, NOTIF_ID_VALID, bytearray(struct.pack("=Q", notif_id)), True)
    except OSError:
        return False
    return True
