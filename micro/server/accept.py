"""Server layer: the listening socket of the I/O loop (accept, count, pause, close).

:class:`Acceptor` turns what the kernel queued into :class:`~micro.server.channel.Channel`
objects (TLS ones, :mod:`micro.server.tls`, when the server has a certificate), a
batch per wake-up so that a flood of new clients cannot starve the connections
already open. It counts open connections for ``max_connections``
(:class:`~micro.server.limits.ConnectionLimit`): when the count is full it stops
watching the listener, so new clients wait in the kernel's listen backlog, and
watches it again once a slot frees. A graceful stop takes what the kernel queued
and closes the listener (:meth:`Acceptor.close`). Everything here runs on the
thread running the I/O loop.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import socket
import sys
from collections.abc import Callable, Iterator

from . import tls
from .channel import Channel, State
from .config import ServerConfig
from .limits import ConnectionLimit
from .logs import ERROR_LOGGER
from .poller import Poller

__all__ = ["ACCEPT_BATCH", "Acceptor"]

ACCEPT_BATCH = 64


class _Listener(socket.socket):
    """A second socket object on the listening socket, whose family and type are read once.

    PERF: ``socket.accept`` reads the listener's ``family`` and ``type`` for every
    connection it makes, and each read converts an int to an enum member (about
    1.5 µs a connection in all). This subclass answers both from attributes.
    """

    __slots__ = ("_cached_family", "_cached_type")

    def __init__(self, listener: socket.socket) -> None:
        family, kind = listener.family, listener.type
        super().__init__(family, kind, listener.proto, fileno=os.dup(listener.fileno()))
        self._cached_family = family
        self._cached_type = kind

    @property
    def family(self) -> socket.AddressFamily:
        return self._cached_family

    @property
    def type(self) -> socket.SocketKind:
        return self._cached_type


class Acceptor:
    """The listener, watched in ``selector`` with ``None`` as its data."""

    def __init__(
        self,
        listener: socket.socket,
        config: ServerConfig,
        selector: Poller,
        wake: Callable[[], None],
    ) -> None:
        # Both are closed together: a listener left open anywhere would still queue
        # new clients after a graceful stop instead of refusing them.
        self._given = listener
        self._listener = _Listener(listener)
        self._selector = selector
        self._limits = config.limits
        self._tls = config.ssl_context
        self._backlog = config.backlog
        self._idle_timeout = config.idle_timeout
        self._head_timeout = config.head_timeout
        self._log = logging.getLogger(ERROR_LOGGER)
        # Counted even without max_connections: the count is one of the server's
        # stats (micro.server.stats), and a lock per connection costs nothing visible.
        self.limit = ConnectionLimit(config.max_connections or sys.maxsize, wake)
        self.paused = False  # the listener is not watched (full, or closed)
        self._listener.setblocking(False)
        # PERF: on Linux an accepted socket inherits TCP_NODELAY from the listener,
        # which spares a system call per connection.
        self._nodelay_inherited = False
        if sys.platform.startswith("linux"):
            with contextlib.suppress(OSError):
                listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._nodelay_inherited = True
        selector.register(self._listener, selectors.EVENT_READ, None)

    @property
    def connections(self) -> int:
        """Client connections accepted and not yet closed."""
        return self.limit.connections

    @property
    def closed(self) -> bool:
        return self._listener.fileno() < 0

    def accept(self, everything: bool = False) -> Iterator[Channel]:
        """New connections, each counted, with its state and deadline set (IDLE, or
        HANDSHAKE for TLS); at most a batch, or (``everything``) all the kernel has."""
        limit = self.limit
        nodelay = not self._nodelay_inherited
        for _ in range(self._backlog + ACCEPT_BATCH if everything else ACCEPT_BATCH):
            if not limit.has_room(force=everything):
                # Full: leave new clients in the listen backlog until a slot frees.
                self._selector.unregister(self._listener)
                self.paused = True
                return
            try:
                sock, addr = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # Out of descriptors or a connection reset before accept: try later.
                self._log.error("accept failed: %s", exc)
                return
            if nodelay:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            peer = (str(addr[0]), int(addr[1]))
            channel: Channel
            if self._tls is not None:
                channel = tls.TLSChannel(sock, peer, self._limits, self._tls)
                channel.set_deadline(State.HANDSHAKE, self._head_timeout)
            else:
                channel = Channel(sock, peer, self._limits)
                channel.set_deadline(State.IDLE, self._idle_timeout)
            limit.connected()
            channel.on_close = limit.closed
            yield channel

    def resume(self) -> None:
        """Watch the listener again if it was paused for want of room and room freed."""
        if self.paused and not self.closed and self.limit.has_room():
            self.paused = False
            self._selector.register(self._listener, selectors.EVENT_READ, None)

    def close(self) -> Iterator[Channel]:
        """A graceful stop: the connections the kernel already queued, then the
        listener closes (new clients are refused: a balancer tries elsewhere)."""
        yield from self.accept(everything=True)
        if not self.paused:
            self._selector.unregister(self._listener)
        self.paused = True
        self._close_listener()

    def shutdown(self) -> None:
        """Close the listener at the end (it may be closed already)."""
        self._close_listener()

    def _close_listener(self) -> None:
        self._listener.close()
        self._given.close()
