"""Server layer: TLS for the server (server contexts, and connections that speak TLS).

The handshake runs in the I/O loop, never in a worker: a :class:`TLSChannel` starts in
``State.HANDSHAKE`` and the loop calls :meth:`TLSChannel.handshake` each time the
socket is ready, so a client that stalls or fails its handshake costs the loop a few
bytes and is closed at ``head_timeout``. Before wrapping, the first byte is peeked: a
TLS connection opens with a handshake record (content type 0x16); anything else is a
plain-HTTP client on the TLS port, answered with a plain-text 400 and closed.

After the handshake a :class:`TLSChannel` behaves like any :class:`Channel`: its
reads drain what OpenSSL already decrypted (the selector cannot see those bytes),
writes retry on ``SSLWantWriteError`` with the same buffer, and files are sent by
reading and writing, because ``os.sendfile`` would bypass the encryption.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
from typing import BinaryIO

from micro.errors import ConfigError
from micro.http import Limits

from .channel import RECV_SIZE, Channel, ConnectionLost, IOTimeout, State, poll_ready

__all__ = [
    "DONE",
    "FAILED",
    "PLAINTEXT",
    "WANT_READ",
    "WANT_WRITE",
    "TLSChannel",
    "server_context",
]

# What one step of a handshake came to (plain ints: the loop compares them).
DONE, WANT_READ, WANT_WRITE, PLAINTEXT, FAILED = range(5)

_HANDSHAKE_RECORD = b"\x16"
_FILE_BLOCK = 65536


def server_context(
    certfile: str, keyfile: str | None = None, password: str | None = None
) -> ssl.SSLContext:
    """A server-side context with the standard library's secure defaults (TLS >= 1.2).

    Raises :class:`ConfigError` when the certificate or key cannot be loaded.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # Clients that offer h2 learn at once that this server speaks HTTP/1.1.
    context.set_alpn_protocols(["http/1.1"])
    try:
        context.load_cert_chain(certfile, keyfile, password)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the TLS certificate {certfile!r}: {exc}") from exc
    return context


class TLSChannel(Channel):
    """A connection on a TLS port: handshake first, then encrypted reads and writes."""

    __slots__ = ("context",)
    direct_body = False  # bytes come decrypted from OpenSSL, never straight off the socket

    # No ``micro.arrived`` over TLS: a record that carries no request (an alert, a
    # key update) can make the socket readable, and the request read with it may
    # have come after the poller answered. Set by the intake, it is dropped here.
    @property
    def arrived(self) -> float:
        return 0.0

    @arrived.setter
    def arrived(self, value: float) -> None:
        pass

    def __init__(
        self,
        sock: socket.socket,
        peer: tuple[str, int],
        limits: Limits,
        context: ssl.SSLContext,
    ) -> None:
        super().__init__(sock, peer, limits)
        self.context = context
        self.state = State.HANDSHAKE

    def handshake(self) -> int:
        """Advance the handshake as far as the socket allows; returns what happened.

        The socket object changes when it is wrapped (same descriptor): the loop
        must stop watching the old one before calling this.
        """
        sock = self.sock
        if not isinstance(sock, ssl.SSLSocket):
            try:
                first = sock.recv(1, socket.MSG_PEEK)
            except BlockingIOError:
                return WANT_READ
            except OSError:
                return FAILED
            if not first:
                return FAILED
            if first != _HANDSHAKE_RECORD:
                return PLAINTEXT
            try:
                sock = self.context.wrap_socket(
                    sock, server_side=True, do_handshake_on_connect=False
                )
            except (OSError, ValueError):
                return FAILED
            self.sock = sock
        try:
            sock.do_handshake()
        except ssl.SSLWantReadError:
            return WANT_READ
        except ssl.SSLWantWriteError:
            return WANT_WRITE
        except (OSError, ValueError):
            # ssl.SSLError (bad hello, no shared cipher, unknown CA...) is an OSError.
            return FAILED
        return DONE

    # -- reads ---------------------------------------------------------------------
    def recv_nowait(self) -> bytes | None:
        sock = self.sock
        try:
            data = sock.recv(RECV_SIZE)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return None
        except (OSError, ValueError):
            return b""
        # Bytes OpenSSL decrypted but we did not take wake no selector: take them now.
        if data and isinstance(sock, ssl.SSLSocket):
            with contextlib.suppress(OSError, ValueError):
                while pending := sock.pending():
                    more = sock.recv(pending)
                    if not more:
                        break
                    data += more
        return data

    # -- writes --------------------------------------------------------------------
    def sendall(self, data: bytes | memoryview, timeout: float, flags: int = 0) -> None:
        # ``flags`` are for plain sockets: an SSLSocket's send takes none.
        view = memoryview(data)
        while view:
            try:
                sent = self.sock.send(view)
            except (BlockingIOError, ssl.SSLWantWriteError):
                write = True
            except ssl.SSLWantReadError:
                write = False
            except (OSError, ValueError) as exc:
                raise ConnectionLost(str(exc)) from exc
            else:
                view = view[sent:]
                continue
            # OpenSSL wants the same buffer again once the socket is ready.
            if not poll_ready(self.fd, write, timeout):
                raise IOTimeout(f"response write stalled for {timeout:g}s")

    def send_some(self, data: bytes) -> int:
        # A retry after SSLWantWriteError re-sends the same bytes first (upgrade.py
        # puts them back at the head of its queue), as OpenSSL requires.
        try:
            return self.sock.send(data)
        except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
            return 0
        except (OSError, ValueError) as exc:
            raise ConnectionLost(str(exc)) from exc

    def sendfile(
        self, file: BinaryIO, offset: int, count: int, timeout: float, head: bytes = b""
    ) -> int:
        if head:
            self.sendall(head, timeout)
        fd = file.fileno()
        done = 0
        while done < count:
            block = os.pread(fd, min(_FILE_BLOCK, count - done), offset + done)
            if not block:
                break
            self.sendall(block, timeout)
            done += len(block)
        return done

    # -- ending ----------------------------------------------------------------------
    def shutdown_write(self) -> None:
        sock = self.sock
        if isinstance(sock, ssl.SSLSocket):
            # Best effort close_notify, so a close-delimited body reads as complete;
            # on a non-blocking socket unwrap() raises once it waits for the peer's.
            with contextlib.suppress(OSError, ValueError):
                sock.unwrap()
        super().shutdown_write()
