"""Server layer: one client connection (its socket, its parser and where it stands).

A :class:`Channel` is owned by exactly one thread at a time: the I/O loop while the
connection waits for a request head (idle, or a head arriving), then one worker
while a request is served, then the loop again. The socket is always non-blocking;
the worker's blocking operations (reading a body, writing a response) try the call
first and only wait with ``poll`` when the kernel says it would block, so the common
case costs one system call. A later TLS layer can wrap the socket: everything else
goes through the methods here.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import time
from collections.abc import Callable
from typing import BinaryIO

from micro.errors import MicroError
from micro.http import Limits, RequestParser

__all__ = ["Channel", "ConnectionLost", "IOTimeout", "State", "poll_ready"]

RECV_SIZE = 65536


class ConnectionLost(MicroError, ConnectionError):
    """The peer closed or reset the connection while the server needed it."""


class IOTimeout(MicroError, TimeoutError):
    """A read or a write on the connection made no progress within its timeout."""


class State:
    """Where a channel stands (plain ints: compared on every loop iteration)."""

    IDLE = 0  # between requests, nothing buffered: idle_timeout applies
    HEAD = 1  # a request head is arriving: head_timeout applies
    BUSY = 2  # a worker owns it
    CLOSING = 3  # answered and shut for writing: reading and dropping until EOF
    HANDSHAKE = 4  # a TLS handshake is under way (micro.server.tls): head_timeout applies


def poll_ready(fd: int, write: bool, timeout: float) -> bool:
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLOUT if write else select.POLLIN)
        return bool(poller.poll(max(0.0, timeout) * 1000.0))
    rlist, wlist, _ = select.select([] if write else [fd], [fd] if write else [], [], timeout)
    return bool(rlist or wlist)


class Channel:
    """A connection: the socket, the peer address, the request parser and a deadline."""

    __slots__ = ("closed", "deadline", "fd", "on_close", "parser", "peer", "sock", "state")

    def __init__(self, sock: socket.socket, peer: tuple[str, int], limits: Limits) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.fd = sock.fileno()
        self.peer = peer
        self.parser = RequestParser(limits)
        self.state = State.IDLE
        self.deadline = 0.0
        self.closed = False
        # Called once when the connection closes (the max_connections count).
        self.on_close: Callable[[], None] | None = None

    # -- reads ---------------------------------------------------------------------
    def recv_nowait(self) -> bytes | None:
        """Bytes ready now, ``b""`` at EOF, or None when nothing has arrived."""
        try:
            return self.sock.recv(RECV_SIZE)
        except BlockingIOError:
            return None
        except (ConnectionError, OSError):
            return b""

    def recv(self, timeout: float) -> bytes:
        """Wait up to ``timeout`` seconds for bytes; ``b""`` means the peer closed."""
        while True:
            try:
                return self.sock.recv(RECV_SIZE)
            except BlockingIOError:
                pass
            except ConnectionError:
                return b""
            if not poll_ready(self.fd, False, timeout):
                raise IOTimeout(f"no request bytes within {timeout:g}s")

    # -- writes --------------------------------------------------------------------
    def sendall(self, data: bytes | memoryview, timeout: float) -> None:
        """Write everything or raise :class:`ConnectionLost` / :class:`IOTimeout`."""
        try:
            sent = self.sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            raise ConnectionLost(str(exc)) from exc
        if sent == len(data):
            return
        view = memoryview(data)[sent:]
        while view:
            if not poll_ready(self.fd, True, timeout):
                raise IOTimeout(f"response write stalled for {timeout:g}s")
            try:
                sent = self.sock.send(view)
            except BlockingIOError:
                continue
            except OSError as exc:
                raise ConnectionLost(str(exc)) from exc
            view = view[sent:]

    def sendfile(self, file: BinaryIO, offset: int, count: int, timeout: float) -> int:
        """Send ``count`` bytes of a real file from ``offset`` with ``os.sendfile``.

        Returns the bytes sent, fewer than ``count`` only when the file was shorter.
        """
        fd = file.fileno()
        done = 0
        while done < count:
            try:
                sent = os.sendfile(self.fd, fd, offset + done, count - done)
            except BlockingIOError:
                if not poll_ready(self.fd, True, timeout):
                    raise IOTimeout(f"response write stalled for {timeout:g}s") from None
                continue
            except OSError as exc:
                raise ConnectionLost(str(exc)) from exc
            if sent == 0:
                break
            done += sent
        return done

    # -- ending ----------------------------------------------------------------------
    def send_nowait(self, data: bytes) -> None:
        """Best effort for short error answers from the I/O loop, which must not block."""
        with contextlib.suppress(OSError):
            self.sock.send(data)

    def shutdown_write(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(OSError):
                self.sock.close()
            if self.on_close is not None:
                self.on_close()

    def set_deadline(self, state: int, timeout: float) -> None:
        self.state = state
        self.deadline = time.monotonic() + timeout
