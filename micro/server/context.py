"""Server layer: :class:`ServerContext`, what the workers of one server share.

The app, the settings read on every request (copied to attributes for speed), the
Date clock, the loggers and the caches of header keys and response heads. It sits
apart from the worker pool so that the WSGI adapter (:mod:`micro.server.wsgi`) and
the pool (:mod:`micro.server.workers`) both import it without importing each other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from micro.http import error_response
from micro.http.forwarded import default_port

from .body import BodyPolicy
from .config import ServerConfig
from .defer import Parked
from .environ import base_environ
from .logs import ERROR_LOGGER, AccessLog, DateClock, ErrorStream

__all__ = ["ServerContext"]


class ServerContext:
    """State shared by the workers of one server (never module-level)."""

    def __init__(self, app: Callable[..., Any], config: ServerConfig, port: int) -> None:
        self.app = app
        self.config = config
        self.write_timeout = config.write_timeout
        self.bodies = BodyPolicy.from_config(config)
        self.server_name = config.server_name
        self.clock = DateClock()
        self.error_log = logging.getLogger(ERROR_LOGGER)
        self.access_log: AccessLog | None = (
            AccessLog(config.access_log_format) if config.access_log else None
        )
        self.default_port = default_port(config.url_scheme)
        self.base_environ = base_environ(
            server_name=config.host,
            server_port=str(port),
            url_scheme=config.url_scheme,
            errors=ErrorStream(self.error_log),
        )
        self.header_keys: dict[str, str | None] = {}
        self.head_cache: dict[tuple[Any, ...], Any] = {}
        self.stopping = False
        # Set by the Server to the I/O loop's adopt (connections that answered 101).
        self.adopt: Callable[[Any, Any], None] | None = None
        # Set by the Server to the worker pool's resume (micro.server.defer).
        self.resume: Callable[[Any], None] | None = None
        # Set by the Server to the I/O loop's unpark: stop watching a parked
        # connection, then call (micro.server.defer).
        self.unpark: Callable[[Any, Callable[[], None]], None] | None = None
        self.parked = Parked(config.defer_timeout, self.error_log)

    def error_bytes(self, status: int, reason: str) -> bytes:
        return error_response(status, reason, date=self.clock.now(), server=self.server_name)
