"""micro-websocket: the ``websocket`` plugin, WebSockets on micro's own I/O loop.

``App(plugins=["websocket"])`` (entry point ``websocket`` in the ``micro.plugins``
group) gives the app broadcast :class:`Groups` and the ``websocket_*`` settings;
:class:`WebSocketHandler` subclasses are routed like any handler. See
:mod:`micro_websocket.handler` for the handler's life and refusals,
:mod:`micro_websocket.connection` for the limits, :mod:`micro_websocket.groups` for
broadcasting across processes through Redis.

Settings (defaults in :attr:`WebSocketPlugin.settings`):

- ``websocket_allowed_origins``: browser origins besides the page's own host that
  may connect (``"https://app.example"``, or ``"*"`` for any);
- ``websocket_max_message_size`` (10 MiB): larger messages close with 1009; it also
  bounds inflating, so a compressed message cannot grow past it in memory;
- ``websocket_ping_interval`` (20 s, None for never) and ``websocket_ping_timeout``
  (20 s): ping a silent peer, drop it when no answer comes;
- ``websocket_max_send_buffer`` (4 MiB): bytes queued for a peer that does not read
  before it is closed with 1008; ``websocket_close_timeout`` (5 s);
- ``websocket_max_pending`` (64): received messages waiting for the handler before
  the server stops reading from that socket;
- ``websocket_compression`` (True): negotiate permessage-deflate when offered;
- ``websocket_redis_url`` (None): share groups across processes through Redis.

The server seam is the environ entry ``micro.upgrade`` (documented in
``docs/websocket.md``); under another WSGI server it is absent and a WebSocket
route answers 426 with a reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from micro_websocket.connection import Options, WebSocketClosedError
from micro_websocket.groups import SETTING, Broker, Groups, RedisBroker, groups_of
from micro_websocket.handler import WebSocketHandler, options_from

__all__ = [
    "Broker",
    "Groups",
    "Options",
    "RedisBroker",
    "WebSocketClosedError",
    "WebSocketHandler",
    "WebSocketPlugin",
    "groups_of",
    "plugin",
]


class WebSocketPlugin:
    """Creates the app's broadcast groups (in-process, or through Redis)."""

    name = "websocket"
    api_version = 1
    before: Sequence[str] = ()
    after: Sequence[str] = ()
    requires: Sequence[str] = ()
    settings: Mapping[str, Any] = MappingProxyType(
        {
            "websocket_allowed_origins": (),
            "websocket_max_message_size": 10 * 1024 * 1024,
            "websocket_ping_interval": 20.0,
            "websocket_ping_timeout": 20.0,
            "websocket_max_send_buffer": 4 * 1024 * 1024,
            "websocket_close_timeout": 5.0,
            "websocket_max_pending": 64,
            "websocket_compression": True,
            "websocket_redis_url": None,
        }
    )

    def setup(self, app: Any) -> None:
        options_from(app.settings)  # a bad limit is a ConfigError now, not a 500 per handshake
        url = app.settings.get("websocket_redis_url")
        broker = RedisBroker(url) if url else None
        app.settings[SETTING] = Groups(broker)


def plugin() -> WebSocketPlugin:
    """The entry point's factory: a fresh plugin (and so fresh groups) per app."""
    return WebSocketPlugin()
