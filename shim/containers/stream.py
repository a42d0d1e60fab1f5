"""The attach protocol between the monitor and pyctr clients, over a unix stream socket.

Frames: 1 type byte, 4-byte big-endian length, payload.
client -> monitor: ``A`` attach request (JSON: stdin/stdout/stderr wanted), ``I`` stdin data, ``C`` stdin closed,
``R`` resize (JSON: h, w).  monitor -> client: ``O`` stdout data, ``E`` stderr data, ``X`` the end (JSON:
ExitCode, Error), sent once the container has exited and been cleaned up.
"""
from __future__ import annotations

import json
import os
import socket
import struct

ATTACH, STDIN, CLOSE_STDIN, RESIZE = b"A", b"I", b"C", b"R"
STDOUT, STDERR, EXIT = b"O", b"E", b"X"
_HDR = struct.Struct(">cI")


def frame(kind: bytes, payload: bytes | dict = b"") -> bytes:
    if isinstance(payload, dict):
        payload = json.dumps(payload).encode()
    return _HDR.pack(kind, len(payload)) + payload


class FrameReader:
    """Accumulates bytes; ``frames()`` yields complete (kind, payload) pairs."""

    def __init__(self) -> None:
        self.buf = b""

    def feed(self, data: bytes) -> list[tuple[bytes, bytes]]:
        self.buf += data
        out = []
        while len(self.buf) >= _HDR.size:
            kind, n = _HDR.unpack_from(self.buf)
            if len(self.buf) < _HDR.size + n:
                break
            out.append((kind, self.buf[_HDR.size:_HDR.size + n]))
            self.buf = self.buf[_HDR.size + n:]
        return out


def _short(path: str) -> tuple[int, str]:
    """A sun_path that fits in 108 bytes whatever the directory's length: /proc/self/fd/<dirfd>/<name>."""
    dfd = os.open(os.path.dirname(path) or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    return dfd, f"/proc/self/fd/{dfd}/{os.path.basename(path)}"


def listen(path: str) -> socket.socket:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    dfd, short = _short(path)
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        s.bind(short)
        os.chmod(path, 0o600)
        s.listen(16)
        return s
    finally:
        os.close(dfd)


def connect(path: str) -> socket.socket:
    dfd, short = _short(path)
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            s.connect(short)
        except OSError:
            s.close()
            raise
        return s
    finally:
        os.close(dfd)


def recv_fd(sock: socket.socket) -> int:
    """One pty master sent with SCM_RIGHTS by the runtime (console socket protocol)."""
    _msg, fds, _flags, _addr = socket.recv_fds(sock, 4096, 1)
    if not fds:
        raise OSError("console socket: no file descriptor received")
    return fds[0]
