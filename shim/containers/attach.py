"""The client side of attach: copy a container's output to our stdout/stderr, our stdin to it, terminal size
changes to its pty, and return its exit code when the monitor reports the end.

With a terminal our own tty is put in raw mode (restored on the way out) and ``^P^Q`` detaches, as in docker.
Without one, signals we receive are forwarded to the container (docker's ``--sig-proxy``).
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import signal
import socket
import struct
import sys
import termios
import tty as ttymod
from typing import Callable

from . import stream

DETACH_KEYS = b"\x10\x11"  # ctrl-p ctrl-q
PROXIED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


class Detached(Exception):
    """The user typed the detach keys."""


def request(sock: socket.socket, stdin: bool, stdout: bool = True, stderr: bool = True) -> None:
    sock.sendall(stream.frame(stream.ATTACH, {"stdin": stdin, "stdout": stdout, "stderr": stderr}))


def terminal_size(fd: int = 0) -> tuple[int, int] | None:
    try:
        h, w, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    except OSError:
        return None
    return (h, w) if h and w else None


def _write_all(fd: int, data: bytes) -> None:
    while data:
        try:
            n = os.write(fd, data)
        except BlockingIOError:
            select.select([], [fd], [])
            continue
        data = data[n:]


def session(sock: socket.socket, *, stdin: bool, tty: bool, forward_signal: Callable[[int], None] | None = None,
            out_fd: int = 1, err_fd: int = 2, in_fd: int = 0) -> dict:
    """Run until the container ends; returns the monitor's exit message ``{"ExitCode", "Error"}``
    (``{}`` if the connection closed without one). Raises ``Detached`` on ^P^Q."""
    sys.stdout.flush()
    sys.stderr.flush()
    old_term = None
    old_handlers = {}
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    pending_signals: list[int] = []
    is_tty = tty and os.isatty(in_fd)

    def on_signal(signum, _frame):
        pending_signals.append(signum)
        with contextlib.suppress(OSError):
            os.write(wake_w, b"s")

    try:
        if is_tty and stdin:
            old_term = termios.tcgetattr(in_fd)
            ttymod.setraw(in_fd)
        if tty:
            size = terminal_size(in_fd) or terminal_size(out_fd)
            if size:
                sock.sendall(stream.frame(stream.RESIZE, {"h": size[0], "w": size[1]}))
            old_handlers[signal.SIGWINCH] = signal.signal(signal.SIGWINCH, on_signal)
        elif forward_signal is not None:
            for sig in PROXIED:
                old_handlers[sig] = signal.signal(sig, on_signal)
        reader = stream.FrameReader()
        reading_stdin = stdin
        last = b""
        while True:
            fds = [sock, wake_r] + ([in_fd] if reading_stdin else [])
            try:
                ready, _, _ = select.select(fds, [], [])
            except InterruptedError:
                continue
            if wake_r in ready:
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_r, 4096)
                while pending_signals:
                    sig = pending_signals.pop(0)
                    if sig == signal.SIGWINCH:
                        size = terminal_size(in_fd) or terminal_size(out_fd)
                        if size:
                            sock.sendall(stream.frame(stream.RESIZE, {"h": size[0], "w": size[1]}))
                    elif forward_signal is not None:
                        forward_signal(sig)
            if reading_stdin and in_fd in ready:
                try:
                    data = os.read(in_fd, 65536)
                except OSError:
                    data = b""
                if not data:
                    reading_stdin = False
                    with contextlib.suppress(OSError):
                        sock.sendall(stream.frame(stream.CLOSE_STDIN))
                else:
                    if tty and DETACH_KEYS in last[-1:] + data:
                        raise Detached()
                    last = data
                    with contextlib.suppress(OSError):
                        sock.sendall(stream.frame(stream.STDIN, data))
            if sock in ready:
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    return {}
                for kind, payload in reader.feed(data):
                    if kind == stream.STDOUT:
                        _write_all(out_fd, payload)
                    elif kind == stream.STDERR:
                        _write_all(err_fd, payload)
                    elif kind == stream.EXIT:
                        return json.loads(payload)
    finally:
        if old_term is not None:
            termios.tcsetattr(in_fd, termios.TCSADRAIN, old_term)
        for sig, h in old_handlers.items():
            signal.signal(sig, h)
        os.close(wake_r)
        os.close(wake_w)
