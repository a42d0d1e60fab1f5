"""Typed messages between the runtime (parent) and the container's init stages.

One SOCK_SEQPACKET socketpair: every send is one message, a one-byte tag plus payload, with
optional fds. ``_socket`` is used directly because ``socket.py`` imports enum (slow).
"""
import sys
from posix import close as _close

import _socket

# child -> parent
USERNS_READY = b"U"      # user namespace created: write the id maps
INIT_PID = b"P"          # (user-ns path) pid of the final init, decimal
RUN_HOOKS = b"H"         # mounts done, before pivot_root: run prestart/createRuntime hooks
SECCOMP_FD = b"S"        # the seccomp notify listener fd (SCM_RIGHTS)
READY = b"R"             # setup done, about to block on the start handshake
ERROR = b"E"             # payload: one-line message
# parent -> child
MAPS_WRITTEN = b"u"
CGROUP_READY = b"c"     # the cgroup exists; fds: v1 tasks files the receiver writes "0" into
HOOKS_DONE = b"h"
CONTINUE = b"g"

_SCM_RIGHTS = 1
_SOL_SOCKET = 1


class ChannelClosed(Exception):
    """The other side exited without a message."""


def pair() -> tuple[_socket.socket, _socket.socket]:
    return _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)


def send(sock, tag: bytes, payload: bytes = b"", fds: tuple[int, ...] = ()) -> None:
    if fds:
        blob = b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in fds)
        sock.sendmsg([tag + payload], [(_SOL_SOCKET, _SCM_RIGHTS, blob)])
    else:
        sock.send(tag + payload)


def recv(sock) -> tuple[bytes, bytes, list[int]]:
    """Next message as (tag, payload, fds); raise ChannelClosed at EOF."""
    data, anc, _flags, _addr = sock.recvmsg(65536, 64)
    if not data:
        raise ChannelClosed()
    fds: list[int] = []
    for level, kind, blob in anc:
        if level == _SOL_SOCKET and kind == _SCM_RIGHTS:
            fds.extend(int.from_bytes(blob[i:i + 4], sys.byteorder, signed=True) for i in range(0, len(blob) - 3, 4))
    return data[:1], data[1:], fds


def expect(sock, tag: bytes) -> bytes:
    """Wait for ``tag``; an ERROR message or EOF raises."""
    return expect_one_of(sock, (tag,))[1]


def expect_one_of(sock, tags: tuple[bytes, ...]) -> tuple[bytes, bytes, list[int]]:
    """Wait for one of ``tags``: (tag, payload, fds); an ERROR message or EOF raises."""
    got, payload, fds = recv(sock)
    if got in tags:
        return got, payload, fds
    for fd in fds:
        _close(fd)
    if got == ERROR:
        raise ChannelClosed(payload.decode(errors="replace"))
    expected = repr(tags[0]) if len(tags) == 1 else f"one of {tags!r}"
    raise ChannelClosed(f"protocol error: expected {expected}, got {got!r}")


def send_fd_with_payload(path: str, fd: int, payload: bytes) -> None:
    """Connect to a unix stream socket and pass ``fd`` (the console-socket protocol)."""
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        s.connect(path)
        send(s, payload[:1], payload[1:], (fd,))
    finally:
        s.close()
