"""Server layer: one client connection (its socket, its parser and where it stands).

A :class:`Channel` is owned by exactly one thread at a time: the I/O loop while the
connection waits for a request (idle, a head arriving, a body arriving), then one
worker while a complete request is served, then the loop again. The request being
read is :attr:`Channel.head` with its :attr:`Channel.body`
(:mod:`micro.server.body`); :meth:`Channel.read_body` moves what the parser decoded
into it. The socket is always non-blocking; the worker's writes try the call first
and only wait with ``poll`` when the kernel says it would block, so the common case
costs one system call. TLS wraps the socket (:mod:`micro.server.tls`): everything
else goes through the methods here.
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
from micro.http import Data, EndOfMessage, Limits, RequestHead, RequestParser

from .body import CONTINUE, Body, BodyPolicy
from .defer import Deferral
from .environ import ConnectionEnviron

__all__ = ["Channel", "ConnectionLost", "IOTimeout", "State", "poll_ready"]

RECV_SIZE = 65536
MORE = getattr(socket, "MSG_MORE", 0)  # send(): more follows at once (Linux); 0 elsewhere
BODY_RECV_SIZE = 262144  # a direct body read (recv_body): fewer, larger system calls


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
    BODY = 5  # a request body is arriving: the BodyPolicy's deadlines apply
    UPGRADED = 6  # switched protocols (101): micro.server.upgrade drives it on the loop
    PARKED = 7  # its exchange waits for the app's resume: the loop reads it for a hang-up


def poll_ready(fd: int, write: bool, timeout: float) -> bool:
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLOUT if write else select.POLLIN)
        return bool(poller.poll(max(0.0, timeout) * 1000.0))
    rlist, wlist, _ = select.select([] if write else [fd], [fd] if write else [], [], timeout)
    return bool(rlist or wlist)


class Channel:
    """A connection: the socket, the peer address, the request parser and a deadline."""

    __slots__ = (
        "arrived",
        "body",
        "closed",
        "deadline",
        "deferral",
        "discard",
        "environ",
        "fd",
        "head",
        "on_close",
        "parser",
        "peer",
        "sock",
        "state",
    )

    def __init__(self, sock: socket.socket, peer: tuple[str, int], limits: Limits) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.fd = sock.fileno()
        self.peer = peer
        self.parser = RequestParser(limits)
        self.state = State.IDLE
        self.deadline = 0.0
        # A time.monotonic() by which the first byte of the request now being read
        # had arrived (0.0: none vouched for); the environ's ``micro.arrived``.
        self.arrived = 0.0
        self.closed = False
        self.head: RequestHead | None = None  # the request being read or served
        self.body: Body | None = None  # its body, when it has one
        self.discard = 0  # CLOSING: input bytes still to drop before closing at once
        # The exchange the app deferred on this connection, until it is resumed.
        self.deferral: Deferral | None = None
        # What every request's environ on this connection starts from (set by the
        # first request a worker serves: micro.server.wsgi).
        self.environ: ConnectionEnviron | None = None
        # Called once when the connection closes (the max_connections count).
        self.on_close: Callable[[], None] | None = None

    # -- the request under way -------------------------------------------------------
    def start_request(self, head: RequestHead, policy: BodyPolicy) -> None:
        """``head`` came out of the parser: its body (if any) is read next."""
        self.head = head
        if head.content_length or head.chunked:
            self.body = policy.new_body(head, time.monotonic())

    def read_body(self) -> bool:
        """Move decoded body bytes into :attr:`body`; True once the request is whole.

        Raises the parser's ProtocolError (a bad chunk, too large, EOF inside the
        body) and OSError when the spool file cannot take the bytes.
        """
        parser = self.parser
        while True:
            event = parser.next_event()
            kind = type(event)
            if kind is EndOfMessage:
                return True
            if kind is not Data:
                return False  # NEED_DATA: ConnectionClosed cannot come inside a request
            self.body.write(event.data)  # type: ignore[union-attr]

    def ask_for_body(self) -> None:
        """Answer ``100 Continue`` when the head asked for it and no body byte came yet.

        Called once the head has passed every check and its body is still to come.
        """
        head = self.head
        if head is not None and head.expect_continue and not self.parser.buffered:
            self.send_nowait(CONTINUE)

    def end_request(self) -> None:
        """The request is served or refused: drop its body (and its temporary file)."""
        self.head = None
        body = self.body
        if body is not None:
            self.body = None
            body.close()

    # PERF: a Content-Length body is read straight into the Body, skipping the
    # parser's buffer and its copies; TLSChannel reads through OpenSSL and says no.
    direct_body = True

    def recv_body(self, left: int) -> int | None:
        """Read up to ``left`` bytes of a Content-Length body into :attr:`body`.

        ``left`` is the parser's :attr:`~micro.http.RequestParser.raw_body_left`.
        Returns how many came (0: the peer closed), or None when none are ready.
        Raises OSError when the spool file cannot take them.
        """
        try:
            data = self.sock.recv(BODY_RECV_SIZE if left > BODY_RECV_SIZE else left)
        except BlockingIOError:
            return None
        except OSError:
            return 0
        if data:
            self.body.write(data)  # type: ignore[union-attr]
            self.parser.body_read(len(data))
        return len(data)

    # -- reads ---------------------------------------------------------------------
    def recv_nowait(self) -> bytes | None:
        """Bytes ready now, ``b""`` at EOF, or None when nothing has arrived."""
        try:
            return self.sock.recv(RECV_SIZE)
        except BlockingIOError:
            return None
        except (ConnectionError, OSError):
            return b""

    # -- writes --------------------------------------------------------------------
    def sendall(self, data: bytes | memoryview, timeout: float, flags: int = 0) -> None:
        """Write everything or raise :class:`ConnectionLost` / :class:`IOTimeout`.

        ``flags``: for ``send`` (:data:`MORE`: more bytes follow at once).
        """
        try:
            sent = self.sock.send(data, flags)
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
                sent = self.sock.send(view, flags)
            except BlockingIOError:
                continue
            except OSError as exc:
                raise ConnectionLost(str(exc)) from exc
            view = view[sent:]

    def sendfile(
        self, file: BinaryIO, offset: int, count: int, timeout: float, head: bytes = b""
    ) -> int:
        """Send ``head``, then ``count`` bytes of a real file from ``offset`` with
        ``os.sendfile``.

        PERF: the head goes with MSG_MORE where the system has it (Linux), so the
        kernel sends it in the same packets as the file's first bytes rather than in
        a small packet of its own (nginx's ``tcp_nopush``).

        Returns the file bytes sent, fewer than ``count`` only when the file was
        shorter.
        """
        if head:
            self.sendall(head, timeout, MORE if count else 0)
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

    def wait_readable(self, timeout: float) -> bool:
        """Whether input arrives within ``timeout`` seconds (the GIL is released meanwhile)."""
        return poll_ready(self.fd, False, timeout)

    def send_some(self, data: bytes) -> int:
        """Send what the kernel takes now (0 if it would block); ConnectionLost on error."""
        try:
            return self.sock.send(data)
        except BlockingIOError:
            return 0
        except OSError as exc:
            raise ConnectionLost(str(exc)) from exc

    # -- ending ----------------------------------------------------------------------
    def send_nowait(self, data: bytes) -> bool:
        """Best effort for short answers from the I/O loop, which must not block.

        True when the kernel took every byte.
        """
        try:
            return self.sock.send(data) == len(data)
        except OSError:
            return False

    def shutdown_write(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        if self.body is not None:
            self.end_request()
        if not self.closed:
            self.closed = True
            # PERF: try/except, not contextlib.suppress: this runs once per connection.
            try:  # noqa: SIM105
                self.sock.close()
            except OSError:
                pass  # already gone: closed all the same
            if self.on_close is not None:
                self.on_close()

    def set_deadline(self, state: int, timeout: float) -> None:
        self.state = state
        self.deadline = time.monotonic() + timeout
