"""Server layer: the settings of one server (a frozen dataclass with documented defaults).

Everything the server can be told lives here, so that the CLI, tests and embedding
code build a :class:`ServerConfig` and nothing else. Fields that later features
(TLS, process pools, proxies, a bounded backlog) will read are reserved now with
neutral defaults so their names stay stable.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field

from micro.errors import ConfigError
from micro.http import Limits

__all__ = ["ServerConfig", "default_threads"]


def default_threads() -> int:
    """Worker threads sized for the machine: apps block on I/O, so a few per core."""
    return max(4, min(32, 4 * (os.cpu_count() or 1)))


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """How a :class:`micro.server.Server` listens, limits and times out.

    Timeouts are in seconds:

    - ``idle_timeout`` (60): a keep-alive connection with no request under way is closed.
    - ``head_timeout`` (10): a request head that started arriving must be complete within
      this time, else 408 and close (this bounds slow-loris clients).
    - ``body_timeout`` (30): a worker reading the request body waits at most this long for
      the next bytes, else 408 (if nothing was answered yet) and close.
    - ``write_timeout`` (30): a response write that makes no progress for this long
      closes the connection.

    ``max_discard`` (65536) is how many unread request-body bytes the server reads and
    drops after the app answered so the connection can be reused; with more left it
    closes the connection instead.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    threads: int = field(default_factory=default_threads)
    limits: Limits = field(default_factory=Limits)
    idle_timeout: float = 60.0
    head_timeout: float = 10.0
    body_timeout: float = 30.0
    write_timeout: float = 30.0
    backlog: int = 1024
    url_scheme: str = "http"
    server_name: str = "micro"
    access_log: bool = False
    max_discard: int = 65536
    # Reserved for the production features (TLS, limits under load, proxies, shutdown).
    ssl_context: ssl.SSLContext | None = None
    max_connections: int | None = None
    max_pending: int | None = None
    graceful_timeout: float = 30.0
    trusted_proxies: tuple[str, ...] = ()
    proxy_hops: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be in 0..65535, got {self.port}")
        if self.threads < 1:
            raise ConfigError(f"threads must be at least 1, got {self.threads}")
        for name in ("idle_timeout", "head_timeout", "body_timeout", "write_timeout"):
            value = getattr(self, name)
            if not value > 0:
                raise ConfigError(f"{name} must be a positive number of seconds, got {value}")
        if self.backlog < 1:
            raise ConfigError(f"backlog must be at least 1, got {self.backlog}")
        if self.max_discard < 0:
            raise ConfigError(f"max_discard must not be negative, got {self.max_discard}")
        if self.url_scheme not in ("http", "https"):
            raise ConfigError(f"url_scheme must be 'http' or 'https', got {self.url_scheme!r}")
