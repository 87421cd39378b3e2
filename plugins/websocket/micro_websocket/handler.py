"""micro-websocket: :class:`WebSocketHandler`, a Tornado-style WebSocket endpoint.

Routed like any RequestHandler (``app.add_route(r"/ws/(\\w+)", ChatSocket)``), so the
middleware chain sees the handshake request (sessions, ``current_user``, XSRF's
origin rules) and ``prepare()`` may refuse it. ``get()`` checks the handshake, then
hands the connection to micro's I/O loop through ``environ["micro.upgrade"]`` and
answers ``101``. From then on the handler object *is* the connection::

    class Echo(WebSocketHandler):
        def open(self, room):            # after the 101, with the route's arguments
            self.room = room
        def on_message(self, message):   # str for text frames, bytes for binary
            self.write_message(message)
        def on_close(self):              # once, whoever closed
            ...

Callbacks run on the worker pool, in order, never two at once for one connection;
any of them may be ``async def`` (it then runs on the server's asyncio loop and the
next callback waits for it). ``write_message``, ``close`` and ``ping`` may be called
from any thread.

Refusals, each with a reason: no ``Upgrade: websocket`` (400), a version other than
13 (426 with ``Sec-WebSocket-Version: 13``), a foreign ``Origin`` (403, unless the
``websocket_allowed_origins`` setting lists it or :meth:`check_origin` says yes;
a request without Origin, i.e. not from a browser, is accepted), and a WSGI server
other than micro's (426: only micro's server can hand the socket over).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from wsproto.events import BytesMessage, Ping, TextMessage
from wsproto.extensions import Extension

from micro import HTTPError, RequestHandler
from micro.wsgitypes import UPGRADE_KEY
from micro_websocket.connection import (
    Options,
    WebSocketClosedError,
    WebSocketConnection,
)
from micro_websocket.deflate import BoundedDeflate

if TYPE_CHECKING:
    from micro_websocket.groups import Groups

__all__ = ["UPGRADE_KEY", "WebSocketClosedError", "WebSocketHandler", "options_from"]

log = logging.getLogger("micro.websocket")

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def _tokens(value: str | None) -> list[str]:
    return [t.strip().lower() for t in (value or "").split(",") if t.strip()]


def options_from(settings: dict[str, Any]) -> Options:
    """The connection limits from the ``websocket_*`` settings (defaults for the rest)."""
    default = Options()
    interval = settings.get("websocket_ping_interval", default.ping_interval)
    return Options(
        max_message_size=int(settings.get("websocket_max_message_size", default.max_message_size)),
        ping_interval=float(interval) if interval else None,
        ping_timeout=float(settings.get("websocket_ping_timeout", default.ping_timeout)),
        max_send_buffer=int(settings.get("websocket_max_send_buffer", default.max_send_buffer)),
        close_timeout=float(settings.get("websocket_close_timeout", default.close_timeout)),
        max_pending=int(settings.get("websocket_max_pending", default.max_pending)),
    )


class WebSocketHandler(RequestHandler):
    """Subclass and override :meth:`open`, :meth:`on_message`, :meth:`on_close`."""

    _connection: WebSocketConnection | None = None

    # -- the hooks you override ---------------------------------------------------------
    def open(self, *args: Any, **kwargs: Any) -> Any:
        """The connection is open; receives the route's arguments."""

    def on_message(self, message: str | bytes) -> Any:
        """A complete message arrived: ``str`` (text) or ``bytes`` (binary)."""

    def on_pong(self, data: bytes) -> Any:
        """A pong arrived (the answer to :meth:`ping` or to the idle ping)."""

    def on_close(self) -> Any:
        """The connection closed; ``close_code`` and ``close_reason`` say how."""

    def check_origin(self, origin: str) -> bool:
        """True if a browser page from ``origin`` may open this WebSocket.

        Default: the same host as the request, or an origin listed in the
        ``websocket_allowed_origins`` setting (``"*"`` allows any).
        """
        allowed = self.settings.get("websocket_allowed_origins") or ()
        if isinstance(allowed, str):
            allowed = (allowed,)
        if "*" in allowed or origin.rstrip("/").lower() in {a.rstrip("/").lower() for a in allowed}:
            return True
        parts = urlsplit(origin)
        return bool(parts.netloc) and parts.netloc.lower() == self.request.host.lower()

    def select_subprotocol(self, subprotocols: Sequence[str]) -> str | None:
        """Pick one of the client's ``Sec-WebSocket-Protocol`` values, or None."""
        return None

    def get_compression_options(self) -> dict[str, Any] | None:
        """permessage-deflate options (None: no compression); follows the
        ``websocket_compression`` setting (on by default). The keys are
        :class:`~micro_websocket.deflate.BoundedDeflate`'s (wsproto's window and
        context-takeover options); incoming messages inflate to at most
        ``websocket_max_message_size`` bytes whatever is chosen here."""
        return {} if self.settings.get("websocket_compression", True) else None

    # -- what handlers call (any thread) ------------------------------------------------
    def write_message(self, message: str | bytes | dict[str, Any], binary: bool = False) -> None:
        """Send a message (a dict is sent as JSON text); WebSocketClosedError once closed."""
        connection = self._connection
        if connection is None:
            raise WebSocketClosedError("the WebSocket is not open")
        if isinstance(message, dict):
            import json

            message = json.dumps(message)
        if isinstance(message, str) and not binary:
            connection.send(TextMessage(data=message))
        elif isinstance(message, str):
            connection.send(BytesMessage(data=message.encode("utf-8")))
        elif isinstance(message, bytes | bytearray | memoryview):
            connection.send(BytesMessage(data=bytes(message)))
        else:
            raise TypeError(f"write_message takes str, bytes or dict, not {type(message).__name__}")

    def write_prepared(self, message: str | bytes, frame: bytes) -> None:
        """:meth:`write_message` with ``frame = server_frame(message)`` made once by the
        caller (a broadcast): sent as is when no extension (compression) is on."""
        connection = self._connection
        if connection is None:
            raise WebSocketClosedError("the WebSocket is not open")
        if connection.plain:
            connection.send_frame(frame)
        else:
            self.write_message(message, binary=isinstance(message, bytes))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake (the peer's answer ends the connection)."""
        if self._connection is not None:
            self._connection.close(code, reason)

    def ping(self, data: bytes = b"") -> None:
        if self._connection is None:
            raise WebSocketClosedError("the WebSocket is not open")
        self._connection.send(Ping(payload=bytes(data)))

    @property
    def is_open(self) -> bool:
        return self._connection is not None and self._connection.is_open

    @property
    def close_code(self) -> int | None:
        return None if self._connection is None else self._connection.close_code

    @property
    def close_reason(self) -> str | None:
        return None if self._connection is None else self._connection.close_reason

    @property
    def groups(self) -> Groups:
        """This app's broadcast groups (the ``websocket`` plugin must be enabled)."""
        from micro_websocket.groups import groups_of

        return groups_of(self.app)

    # -- the handshake ------------------------------------------------------------------
    def get(self, *args: Any, **kwargs: Any) -> None:
        headers = self.request.headers
        if "websocket" not in _tokens(headers.get("Upgrade")):
            raise HTTPError(400, 'a WebSocket route needs "Upgrade: websocket"')
        if "upgrade" not in _tokens(headers.get("Connection")):
            raise HTTPError(400, 'a WebSocket handshake needs "Connection: Upgrade"')
        if headers.get("Sec-WebSocket-Version", "").strip() != "13":
            raise HTTPError(
                426,
                "only WebSocket version 13 is spoken here",
                headers={"Sec-WebSocket-Version": "13"},
            )
        key = headers.get("Sec-WebSocket-Key", "").strip()
        try:
            if len(base64.b64decode(key, validate=True)) != 16:
                raise ValueError(key)
        except (ValueError, binascii.Error):
            raise HTTPError(400, "Sec-WebSocket-Key is not 16 bytes in base64") from None
        origin = headers.get("Origin")
        if origin is not None and not self.check_origin(origin):
            raise HTTPError(403, f"cross-origin WebSocket from {origin} refused")
        upgrade = self.request.environ.get(UPGRADE_KEY)
        if upgrade is None:
            raise HTTPError(
                426,
                "WebSockets need micro's own server: this WSGI server cannot hand the"
                " connection over (run it with 'micro serve')",
            )
        options = options_from(self.settings)
        extensions: list[Extension] = []
        compression = self.get_compression_options()
        if compression is not None:
            for offer in headers.get("Sec-WebSocket-Extensions", "").split(","):
                if offer.split(";")[0].strip().lower() == "permessage-deflate":
                    deflate = BoundedDeflate(options.max_message_size, **compression)
                    accepted = deflate.accept(offer)
                    if accepted is not None and accepted is not False:
                        value = "permessage-deflate"
                        if isinstance(accepted, str) and accepted:
                            value += "; " + accepted
                        self.set_header("Sec-WebSocket-Extensions", value)
                        extensions.append(deflate)
                        break
        offered = [p.strip() for p in headers.get("Sec-WebSocket-Protocol", "").split(",")]
        chosen = self.select_subprotocol([p for p in offered if p])
        if chosen is not None:
            self.set_header("Sec-WebSocket-Protocol", chosen)
        accept = base64.b64encode(hashlib.sha1(key.encode("ascii") + _GUID).digest())
        self._open_args = (args, kwargs)
        self._connection = WebSocketConnection(self, extensions, options, self.app.asyncio_loop)
        upgrade(self._connection)
        self.set_status(101)
        self.clear_header("Content-Type")
        self.set_header("Upgrade", "websocket")
        self.set_header("Connection", "Upgrade")
        self.set_header("Sec-WebSocket-Accept", accept.decode("ascii"))
        self.finish()

    # -- called by the connection, on the worker pool, in order -------------------------
    def _ws_open(self) -> Any:
        args, kwargs = self._open_args
        return self.open(*args, **kwargs)

    def _ws_message(self, message: str | bytes) -> Any:
        return self.on_message(message)

    def _ws_pong(self, data: bytes) -> Any:
        return self.on_pong(data)

    def _ws_closed(self, code: int | None, reason: str | None) -> Any:
        try:
            groups = self.app.settings.get("websocket.groups")
            if groups is not None:
                groups.leave_all(self)
        finally:
            result = self.on_close()
        return result
