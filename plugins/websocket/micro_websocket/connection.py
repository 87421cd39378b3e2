"""micro-websocket: one WebSocket connection on micro's I/O loop (wsproto underneath).

A :class:`WebSocketConnection` is the protocol object handed to the server's
``environ["micro.upgrade"]`` entry. The I/O loop calls it with the bytes that arrive;
it parses frames with wsproto *on the loop thread*, answers pings, enforces the
limits, and queues the handler's callbacks (``open``, ``on_message``, ``on_pong``,
``on_close``) on the connection's :class:`~micro_websocket.serial.Serial`, which runs
them on the worker pool in order.

Limits (from the handler's :class:`Options`):

- a message longer than ``max_message_size`` bytes (UTF-8 for text, after inflating
  when compressed) closes the connection with 1009; a compressed one is never inflated
  much past the limit (:mod:`micro_websocket.deflate`), whatever its ratio;
- silence for ``ping_interval`` sends a ping; no pong (or any frame) within
  ``ping_timeout`` after it closes the connection (the peer is gone or stuck);
- more than ``max_send_buffer`` bytes queued for a peer that does not read closes
  with 1008 and drops the connection ``close_timeout`` later if it still does not read;
- a frame wsproto cannot parse (bad UTF-8, corrupt deflate data) gets a Close with
  wsproto's code (1007, 1002) and reason, and the connection ends;
- more than ``max_pending`` messages waiting for the handler stops reading from the
  socket until the handler catches up (TCP then slows the sender down).

One lock orders everything that touches the wsproto state (frames in and out,
compression contexts), so ``write_message`` may be called from any thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import (
    BytesMessage,
    CloseConnection,
    Event,
    Message,
    Ping,
    Pong,
    TextMessage,
)
from wsproto.extensions import Extension
from wsproto.frame_protocol import CloseReason

from micro.errors import ConfigError, MicroError
from micro_websocket.deflate import BoundedDeflate
from micro_websocket.serial import Serial

__all__ = ["Options", "Transport", "WebSocketClosedError", "WebSocketConnection", "server_frame"]

log = logging.getLogger("micro.websocket")

GOING_AWAY = 1001
MESSAGE_TOO_BIG = 1009
POLICY_VIOLATION = 1008


def server_frame(message: str | bytes) -> bytes:
    """One whole unmasked, uncompressed frame of ``message`` (text for str, binary for bytes).

    PERF: a broadcast builds it once and hands the same bytes to every connection that
    negotiated no extension, instead of framing the message once per connection.
    """
    if isinstance(message, str):
        opcode, payload = 0x81, message.encode("utf-8")
    else:
        opcode, payload = 0x82, bytes(message)
    size = len(payload)
    if size < 126:
        head = bytes((opcode, size))
    elif size < 65536:
        head = bytes((opcode, 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((opcode, 127)) + size.to_bytes(8, "big")
    return head + payload


class _MessageTooBig(Event):
    """Stands in for the frame whose inflating went past ``max_message_size``."""


class WebSocketClosedError(MicroError, ConnectionError):
    """A message was written to a WebSocket that is closed (or closing)."""


class Transport(Protocol):
    """The part of micro's upgrade transport (micro.server.upgrade) this module uses."""

    @property
    def buffered(self) -> int: ...
    def write(self, data: bytes) -> None: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...
    def submit(self, fn: Callable[[], None]) -> None: ...
    def call_soon(self, fn: Callable[[], None]) -> None: ...
    def set_deadline(self, seconds: float | None) -> None: ...
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...


class Callbacks(Protocol):
    """What the connection calls on its handler (all on the worker pool, in order)."""

    def _ws_open(self) -> Any: ...
    def _ws_message(self, message: str | bytes) -> Any: ...
    def _ws_pong(self, data: bytes) -> Any: ...
    def _ws_closed(self, code: int | None, reason: str | None) -> Any: ...


@dataclass(frozen=True)
class Options:
    """The limits of one connection (from the ``websocket_*`` settings)."""

    max_message_size: int = 10 * 1024 * 1024
    ping_interval: float | None = 20.0
    ping_timeout: float = 20.0
    max_send_buffer: int = 4 * 1024 * 1024
    close_timeout: float = 5.0
    max_pending: int = 64

    def __post_init__(self) -> None:
        for name in ("max_message_size", "max_send_buffer", "max_pending"):
            value = getattr(self, name)
            if value < 1:
                raise ConfigError(f"websocket_{name} must be at least 1, got {value!r}")
        for name in ("ping_timeout", "close_timeout"):
            value = getattr(self, name)
            if not value > 0:
                raise ConfigError(f"websocket_{name} must be above 0, got {value!r}")
        if self.ping_interval is not None and not self.ping_interval > 0:
            raise ConfigError(
                f"websocket_ping_interval must be above 0 (None: never), got {self.ping_interval!r}"
            )


class WebSocketConnection:
    """The loop side of one WebSocket (an ``UpgradeProtocol`` for micro's server)."""

    def __init__(
        self,
        handler: Callbacks,
        extensions: list[Extension],
        options: Options,
        asyncio_loop: Callable[[], asyncio.AbstractEventLoop] | None,
    ) -> None:
        self.handler = handler
        self.options = options
        self._ws = Connection(ConnectionType.SERVER, extensions)
        # Without extensions a message's frame is the same bytes for every peer.
        self.plain = not extensions
        self._lock = threading.Lock()
        self._asyncio_loop = asyncio_loop
        self.transport: Transport | None = None
        self.serial: Serial | None = None
        self._deflate = next((e for e in extensions if isinstance(e, BoundedDeflate)), None)
        self._fragments: list[Any] = []
        self._fragment_size = 0
        self._too_big = False  # closing with 1009: later data messages are dropped
        self._last_seen = 0.0
        self._ping_sent = 0.0  # when the ping we wait a pong for left; 0 when none
        self._closing_since = 0.0
        self._paused = False
        self._lost = False
        self.close_code: int | None = None
        self.close_reason: str | None = None

    # -- any thread ---------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self.transport is not None and self._ws.state == ConnectionState.OPEN

    def send(self, event: Event, *, strict: bool = True) -> None:
        """Frame ``event`` and queue it; WebSocketClosedError if closing and ``strict``."""
        transport = self.transport
        if transport is None:
            raise WebSocketClosedError("the WebSocket is not open yet (wait for open())")
        overflow = False
        with self._lock:
            if self._lost or self._ws.state != ConnectionState.OPEN:
                if strict:
                    raise WebSocketClosedError("the WebSocket is closed")
                return
            if transport.buffered > self.options.max_send_buffer:
                overflow = True
            else:
                transport.write(self._ws.send(event))
        if overflow:
            self.close(POLICY_VIOLATION, "the client does not read its messages")
            if strict:
                raise WebSocketClosedError("the client does not read: connection closed (1008)")

    def send_frame(self, frame: bytes) -> None:
        """Queue a frame made by :func:`server_frame` (only when :attr:`plain`).

        Safe beside :meth:`send`: this connection never sends a message in fragments,
        so a whole frame can go between any two of wsproto's.
        """
        transport = self.transport
        if transport is None:
            raise WebSocketClosedError("the WebSocket is not open yet (wait for open())")
        overflow = False
        with self._lock:
            if self._lost or self._ws.state != ConnectionState.OPEN:
                raise WebSocketClosedError("the WebSocket is closed")
            if transport.buffered > self.options.max_send_buffer:
                overflow = True
            else:
                transport.write(frame)
        if overflow:
            self.close(POLICY_VIOLATION, "the client does not read its messages")
            raise WebSocketClosedError("the client does not read: connection closed (1008)")

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake (any thread); a second call does nothing."""
        transport = self.transport
        if transport is None:
            return
        with self._lock:
            if self._ws.state not in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
                return
            remote_first = self._ws.state == ConnectionState.REMOTE_CLOSING
            transport.write(self._ws.send(CloseConnection(code=code, reason=reason)))
            if self.close_code is None:
                self.close_code, self.close_reason = code, reason
        if remote_first:
            transport.close()  # both Close frames have been exchanged: end TCP
        else:
            # The peer should answer with its Close; if it never does, drop it.
            transport.call_soon(self._start_close_timer)

    # -- the I/O loop thread (micro's UpgradeProtocol) ----------------------------------
    def connection_made(self, transport: Any, data: bytes) -> None:
        self.transport = transport
        self.serial = Serial(transport.submit, self._asyncio_loop)
        self.serial.on_drained = self._drained
        self._last_seen = time.monotonic()
        self._schedule()
        self.serial.call(self.handler._ws_open)
        if data:
            self.data_received(data)

    def data_received(self, data: bytes) -> None:
        transport, serial = self.transport, self.serial
        if transport is None or serial is None:  # pragma: no cover - by construction
            return
        self._last_seen = time.monotonic()
        self._ping_sent = 0.0
        with self._lock:
            try:
                self._ws.receive_data(data)
            except Exception:  # bytes after the peer's close: nothing more to read
                return
            events: list[Event] = []
            tripped = self._too_big
            for event in self._ws.events():
                # The inflater refuses a message as it reads the frame wsproto then
                # yields: that frame, not a later one, is where the message became too big.
                if not tripped and self._deflate is not None and self._deflate.overflowed:
                    tripped = True
                    event = _MessageTooBig()
                events.append(event)
        for event in events:
            if isinstance(event, Message):
                self._message(event)
            elif isinstance(event, _MessageTooBig):
                self._message_too_big()
            elif isinstance(event, Ping):
                self.send(event.response(), strict=False)
            elif isinstance(event, Pong):
                serial.call(self._pong_callback(bytes(event.payload)))
            elif isinstance(event, CloseConnection):
                self._remote_close(event)
        if not self._paused and len(serial) > self.options.max_pending:
            self._paused = True
            transport.pause_reading()
        self._schedule()

    def deadline_passed(self) -> None:
        transport = self.transport
        if transport is None:  # pragma: no cover - by construction
            return
        now = time.monotonic()
        if self._closing_since:
            transport.abort()  # the closing handshake took too long
            return
        if self._ping_sent:
            self.close_code = self.close_code or 1006
            self.close_reason = self.close_reason or "no pong within the ping timeout"
            transport.abort()
            return
        interval = self.options.ping_interval
        if interval and now - self._last_seen >= interval:
            self._ping_sent = now
            self.send(Ping(payload=b"micro"), strict=False)
        self._schedule()

    def server_stopping(self) -> None:
        self.close(GOING_AWAY, "the server is stopping")

    def connection_lost(self) -> None:
        self._lost = True
        if self.close_code is None:
            self.close_code = 1006  # RFC 6455 7.1.5: closed without a Close frame
        if self.serial is not None:
            self.serial.call(lambda: self.handler._ws_closed(self.close_code, self.close_reason))

    # -- helpers (loop thread) ----------------------------------------------------------
    def _pong_callback(self, payload: bytes) -> Callable[[], Any]:
        return lambda: self.handler._ws_pong(payload)

    def _message(self, event: Message[Any]) -> None:
        if self._too_big:
            return  # the rest of a refused message, or what followed it: nobody reads it
        data = event.data
        # Bytes, as the inflater counts: a str's UTF-8 length (cheap when ASCII).
        if isinstance(data, str) and not data.isascii():
            size = self._fragment_size + len(data.encode("utf-8"))
        else:
            size = self._fragment_size + len(data)
        if size > self.options.max_message_size:
            self._message_too_big()
            return
        if not event.message_finished:
            self._fragments.append(event.data)
            self._fragment_size = size
            return
        parts, self._fragments, self._fragment_size = self._fragments, [], 0
        message: str | bytes
        if isinstance(event, TextMessage):
            message = "".join(parts) + event.data if parts else event.data
        elif isinstance(event, BytesMessage):
            message = b"".join(parts) + bytes(event.data) if parts else bytes(event.data)
        else:  # pragma: no cover - wsproto has two message kinds
            return
        if self.serial is not None:
            self.serial.call(lambda: self.handler._ws_message(message))

    def _message_too_big(self) -> None:
        self._too_big = True
        self._fragments, self._fragment_size = [], 0
        self.close(MESSAGE_TOO_BIG, f"message over {self.options.max_message_size} bytes")

    def _remote_close(self, event: CloseConnection) -> None:
        if self.close_code is None:
            self.close_code, self.close_reason = event.code, event.reason
        transport = self.transport
        if transport is None:  # pragma: no cover - by construction
            return
        with self._lock:
            state = self._ws.state
            if state == ConnectionState.REMOTE_CLOSING:
                code = event.code
                if code in (CloseReason.NO_STATUS_RCVD, CloseReason.ABNORMAL_CLOSURE):
                    code = CloseReason.NORMAL_CLOSURE
                transport.write(self._ws.send(CloseConnection(code=code)))
            elif state == ConnectionState.OPEN:
                # Not the peer's Close: wsproto met bytes it cannot parse (bad UTF-8,
                # corrupt deflate data, a reserved bit) and reads no further. RFC 6455
                # 7.1.7: fail the connection, but send a Close that says why first.
                transport.write(self._ws.send(CloseConnection(event.code, event.reason)))
        transport.close()  # our Close went out first, or now: the handshake is complete

    def _start_close_timer(self) -> None:
        if self.transport is not None and not self._closing_since:
            self._closing_since = time.monotonic()
            self.transport.set_deadline(self.options.close_timeout)

    def _schedule(self) -> None:
        transport = self.transport
        if transport is None or self._closing_since:
            return
        if self._ping_sent:
            transport.set_deadline(self.options.ping_timeout)
        elif self.options.ping_interval:
            transport.set_deadline(self.options.ping_interval)
        else:
            transport.set_deadline(None)

    def _drained(self) -> None:
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
