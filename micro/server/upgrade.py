"""Server layer: connections an app switched to another protocol (``101``), on the I/O loop.

The seam between a WSGI app and micro's server is one environ entry, documented in
``docs/`` and named by :data:`UPGRADE_KEY`::

    upgrade = environ.get("micro.upgrade")   # absent under any other WSGI server
    upgrade(protocol)                         # then answer "101 Switching Protocols"

Once the ``101`` head has left, the worker lets go of the connection and the I/O loop
owns it for the rest of its life: no worker and no thread waits on it. The loop feeds
what arrives to the protocol (``data_received``) and writes what the protocol (or any
other thread) queued with :meth:`Transport.write`. The protocol never touches the
socket; it runs slow work on the worker pool through :meth:`Transport.submit`.

Threads: the protocol's methods are called on the I/O loop thread and must not
block. ``write``, ``close``, ``abort``, ``submit``, ``call_soon``, ``pause_reading``
and ``resume_reading`` may be called from any thread; ``set_deadline`` only from the
loop thread (inside a protocol method). Memory: a peer that stops reading lets
:attr:`Transport.buffered` grow; the protocol watches it and closes (the server puts
no cap of its own on it, because what to say before closing is the protocol's).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import selectors
import threading
import time
from collections.abc import Callable
from typing import Protocol

from micro.wsgitypes import UPGRADE_KEY

from .channel import Channel, ConnectionLost, State
from .poller import Poller

__all__ = ["UPGRADE_KEY", "Hub", "Transport", "UpgradeProtocol", "Upgraded"]

_SEND_BATCH = 256 * 1024  # bytes joined for one send() from the queued pieces


class Transport(Protocol):
    """What an upgraded protocol may do with its connection (see the module docs)."""

    @property
    def peer(self) -> tuple[str, int]: ...
    @property
    def buffered(self) -> int:
        """Bytes queued by :meth:`write` that the peer has not taken yet."""
        ...

    def write(self, data: bytes) -> None: ...
    def close(self) -> None:
        """Close once everything written so far has been sent (any thread)."""

    def abort(self) -> None:
        """Close now, dropping what is still queued (any thread)."""

    def submit(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the worker pool; raises ``Overloaded`` once the server stops."""

    def call_soon(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the I/O loop thread (any thread)."""

    def set_deadline(self, seconds: float | None) -> None:
        """Call ``protocol.deadline_passed()`` after ``seconds`` (loop thread only)."""

    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...


class UpgradeProtocol(Protocol):
    """What the app hands to ``environ["micro.upgrade"]``; called on the loop thread."""

    def connection_made(self, transport: Transport, data: bytes) -> None:
        """The 101 has been sent; ``data`` is what the client sent after its head."""

    def data_received(self, data: bytes) -> None: ...
    def deadline_passed(self) -> None: ...
    def server_stopping(self) -> None:
        """The server is stopping: say goodbye and close (it is aborted after a grace)."""

    def connection_lost(self) -> None:
        """The connection is closed (by either side); called once, last."""


class Hub(Protocol):
    """What an upgraded connection needs from the I/O loop."""

    @property
    def selector(self) -> Poller: ...
    def call_soon(self, fn: Callable[[], None]) -> None: ...
    def submit_call(self, fn: Callable[[], None]) -> None: ...
    def forget(self, upgraded: Upgraded) -> None: ...


class Upgraded:
    """One upgraded connection: the channel, its protocol and its queue of bytes out.

    The loop registers it with the selector (as the key's data) and calls
    :meth:`ready` with the events; it implements :class:`Transport` for the protocol.
    """

    __slots__ = (
        "_closing",
        "_flush_scheduled",
        "_lock",
        "_out",
        "_paused",
        "_size",
        "_want_write",
        "channel",
        "closed",
        "deadline",
        "hub",
        "log",
        "protocol",
    )

    def __init__(self, channel: Channel, protocol: UpgradeProtocol, hub: Hub) -> None:
        self.channel = channel
        self.protocol = protocol
        self.hub = hub
        self.log = logging.getLogger("micro.server")
        self.deadline = float("inf")
        self.closed = False
        self._lock = threading.Lock()
        self._out: collections.deque[bytes] = collections.deque()
        self._size = 0
        self._flush_scheduled = False
        self._closing = False
        self._want_write = False
        self._paused = False
        channel.state = State.UPGRADED

    # -- Transport (for the protocol) -------------------------------------------------
    @property
    def peer(self) -> tuple[str, int]:
        return self.channel.peer

    @property
    def buffered(self) -> int:
        return self._size

    def write(self, data: bytes) -> None:
        if not data:
            return
        with self._lock:
            if self._closing or self.closed:
                return  # NOTE: a write racing a close is dropped, as on a closed socket
            self._out.append(bytes(data))
            self._size += len(data)
            if self._flush_scheduled:
                return
            self._flush_scheduled = True
        self.hub.call_soon(self._flush)

    def close(self) -> None:
        with self._lock:
            if self._closing:
                return
            self._closing = True
            if self._flush_scheduled:
                return  # the pending flush closes once the queue is empty
            self._flush_scheduled = True
        self.hub.call_soon(self._flush)

    def abort(self) -> None:
        self.hub.call_soon(self.finish)

    def submit(self, fn: Callable[[], None]) -> None:
        self.hub.submit_call(fn)

    def call_soon(self, fn: Callable[[], None]) -> None:
        self.hub.call_soon(fn)

    def set_deadline(self, seconds: float | None) -> None:
        self.deadline = float("inf") if seconds is None else time.monotonic() + seconds

    def pause_reading(self) -> None:
        self.hub.call_soon(lambda: self._set_paused(True))

    def resume_reading(self) -> None:
        self.hub.call_soon(lambda: self._set_paused(False))

    # -- the loop thread --------------------------------------------------------------
    def start(self, leftover: bytes) -> None:
        """Register with the loop's selector and tell the protocol (loop thread)."""
        self.hub.selector.register(self.channel.sock, selectors.EVENT_READ, self)
        self._call(lambda: self.protocol.connection_made(self, leftover))

    def ready(self, events: int) -> None:
        if events & selectors.EVENT_WRITE:
            self._flush()
        if events & selectors.EVENT_READ and not self.closed:
            data = self.channel.recv_nowait()
            if data is None:
                return
            if not data:
                self.finish()  # EOF: whatever the protocol expected, the peer is gone
                return
            self._call(lambda: self.protocol.data_received(data))

    def check_deadline(self, now: float) -> None:
        if now >= self.deadline and not self.closed:
            self.deadline = float("inf")
            self._call(self.protocol.deadline_passed)

    def stopping(self) -> None:
        self._call(self.protocol.server_stopping)

    def finish(self) -> None:
        """Close the socket and tell the protocol, once (loop thread)."""
        if self.closed:
            return
        self.closed = True
        with self._lock:
            self._closing = True
            self._out.clear()
            self._size = 0
        with contextlib.suppress(KeyError, ValueError):
            self.hub.selector.unregister(self.channel.sock)
        self.channel.close()
        self.hub.forget(self)
        try:
            self.protocol.connection_lost()
        except Exception:
            self.log.exception("an upgraded protocol failed in connection_lost")

    def _call(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception:
            self.log.exception("an upgraded protocol failed; connection closed")
            self.finish()

    def _set_paused(self, paused: bool) -> None:
        if self.closed or paused == self._paused:
            return
        self._paused = paused
        self._register()

    def _register(self) -> None:
        events = (0 if self._paused else selectors.EVENT_READ) | (
            selectors.EVENT_WRITE if self._want_write else 0
        )
        sock = self.channel.sock
        selector = self.hub.selector
        try:
            if events:
                selector.modify(sock, events, self)
            else:
                selector.unregister(sock)
        except KeyError:
            if events:
                selector.register(sock, events, self)

    def _flush(self) -> None:
        if self.closed:
            return
        with self._lock:
            self._flush_scheduled = False
            pieces = self._out
            batch: list[bytes] = []
            size = 0
            while pieces and size < _SEND_BATCH:
                piece = pieces.popleft()
                batch.append(piece)
                size += len(piece)
            closing = self._closing
        if batch:
            data = batch[0] if len(batch) == 1 else b"".join(batch)
            try:
                sent = self.channel.send_some(data)
            except ConnectionLost:
                self.finish()
                return
            with self._lock:
                self._size -= sent
                if sent < len(data):
                    self._out.appendleft(data[sent:])
                more = bool(self._out)
                if more:
                    self._flush_scheduled = True  # the write event (or below) flushes
        else:
            more = False
        if more:
            if sent < len(data):
                if not self._want_write:
                    self._want_write = True
                    self._register()
            else:
                self.hub.call_soon(self._flush)  # more than one batch queued: go on
            return
        if self._want_write:
            self._want_write = False
            self._register()
        if closing:
            self.channel.shutdown_write()
            self.finish()
