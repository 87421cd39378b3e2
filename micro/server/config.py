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
    """Worker threads sized for the machine: two per core, at least 4, at most 32.

    Threads beyond what the cores can run only help apps that wait on I/O, and they
    cost every request some GIL contention; raise ``threads`` for such apps.
    """
    return max(4, min(32, 2 * (os.cpu_count() or 1)))


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """How a :class:`micro.server.Server` listens, limits and times out.

    Timeouts are in seconds:

    - ``idle_timeout`` (60): a keep-alive connection with no request under way is closed.
    - ``head_timeout`` (10): a request head that started arriving must be complete within
      this time, else 408 and close (this bounds slow-loris clients).
    - ``body_timeout`` (30): while the I/O loop reads a request body, the longest wait
      for its next bytes, else 408 and close.
    - ``min_body_rate`` (1024 bytes/s; 0 turns it off): once ``body_timeout`` seconds
      have passed since the head, a body must have arrived at this average rate, else
      408 and close (a client dripping a byte now and then cannot hold a connection).
    - ``write_timeout`` (30): a response write that makes no progress for this long
      closes the connection.

    Request bodies are read by the I/O loop before a worker runs the app
    (:mod:`micro.server.body`): in memory up to ``spool_threshold`` bytes (524288),
    in a temporary file in ``spool_dir`` (None: the system's temporary directory)
    beyond; ``limits.max_body_bytes`` bounds them (413).

    ``max_discard`` (65536): when the loop refuses a request (413, 408, 400 inside a
    body, 503) it shuts its side and reads and drops up to this many more bytes, so
    that the client sees the answer rather than a reset; past that it closes at once.

    Production settings (see docs/deployment.md):

    - ``ssl_context``: serve TLS (``micro.server.tls.server_context`` builds one from
      a certificate and key); ``url_scheme`` then becomes "https". The TLS handshake
      runs in the I/O loop and must finish within ``head_timeout``.
    - ``max_connections`` (None: unbounded): past it the server stops accepting until a
      connection closes; new clients wait in the kernel's listen backlog.
    - ``max_pending`` (None: unbounded): complete requests waiting for a free worker;
      when that many wait, a new request is answered 503 with Retry-After and closed.
    - ``graceful_timeout`` (30): how long a graceful stop (SIGTERM) lets requests finish.
    - ``proxy_hops`` / ``trusted_proxies`` (one or the other): trust forwarded headers
      from that many proxies, or from proxies at these addresses or networks;
      ``proxy_headers`` says which headers they write: "x-forwarded" or "forwarded".
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
    spool_threshold: int = 524288
    spool_dir: str | None = None
    min_body_rate: float = 1024.0
    # Reserved for the production features (TLS, limits under load, proxies, shutdown).
    ssl_context: ssl.SSLContext | None = None
    max_connections: int | None = None
    max_pending: int | None = None
    graceful_timeout: float = 30.0
    trusted_proxies: tuple[str, ...] = ()
    proxy_hops: int = 0
    proxy_headers: str = "x-forwarded"

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
        if self.spool_threshold < 0:
            raise ConfigError(f"spool_threshold must not be negative, got {self.spool_threshold}")
        if self.spool_dir is not None and not os.path.isdir(self.spool_dir):
            raise ConfigError(f"spool_dir is not a directory: {self.spool_dir!r}")
        if not self.min_body_rate >= 0:
            raise ConfigError(f"min_body_rate must not be negative, got {self.min_body_rate}")
        if self.url_scheme not in ("http", "https"):
            raise ConfigError(f"url_scheme must be 'http' or 'https', got {self.url_scheme!r}")
        self._check_production()

    def _check_production(self) -> None:
        if self.ssl_context is not None:
            # A frozen dataclass: the TLS server's scheme is https whatever was given.
            object.__setattr__(self, "url_scheme", "https")
        if self.max_connections is not None and self.max_connections < 1:
            raise ConfigError(f"max_connections must be at least 1, got {self.max_connections}")
        if self.max_pending is not None and self.max_pending < 1:
            # 0 would refuse even when a worker is free: the queue is how work reaches it.
            raise ConfigError(f"max_pending must be at least 1, got {self.max_pending}")
        if not self.graceful_timeout > 0:
            raise ConfigError(f"graceful_timeout must be positive, got {self.graceful_timeout}")
        if self.proxy_hops < 0:
            raise ConfigError(f"proxy_hops must not be negative, got {self.proxy_hops}")
        if self.proxy_hops and self.trusted_proxies:
            raise ConfigError("give proxy_hops or trusted_proxies, not both")
        if self.proxy_headers not in ("x-forwarded", "forwarded"):
            raise ConfigError(
                f"proxy_headers must be 'x-forwarded' or 'forwarded', got {self.proxy_headers!r}"
            )
