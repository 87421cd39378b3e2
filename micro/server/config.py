"""Server layer: the settings of one server (a frozen dataclass with documented defaults).

Everything the server can be told lives here, so that the CLI, tests and embedding
code build a :class:`ServerConfig` and nothing else. Each setting is declared once:
its default and its checks here, and, for those ``micro serve`` offers, its help text
in the field's metadata, from which the command line derives the flag, the
``MICRO_*`` variable and the ``--help`` default (the idea of waitress's
``adjustments.py``: one table for keyword arguments, validation and the CLI).
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field
from typing import Any

from micro.errors import ConfigError
from micro.http import Limits
from micro.http.forwarded import PROXY_HEADERS

from .logs import ACCESS_LOG_FORMATS

__all__ = ["PRODUCTION", "ServerConfig", "default_threads"]

SECONDS = "SECONDS"
PRODUCTION = "production (see docs/deployment.md)"
"""The ``group`` of the settings ``micro serve --help`` lists under production."""


def _option(
    default: Any,
    help: str,
    metavar: str | None = None,
    *,
    group: str | None = None,
    flag: str | None = None,
    choices: tuple[str, ...] | None = None,
) -> Any:
    """A field that is also a ``micro serve`` option: its help, flag and group live here.

    The command line (:mod:`micro.cli.serve`) derives the flag (``--idle-timeout`` for
    ``idle_timeout`` unless ``flag`` says otherwise), its ``MICRO_*`` variable, its
    ``--help`` line and its default from the field, and checks a value by building a
    ServerConfig with it: each setting is declared once, here.
    """
    metadata = {"help": help, "metavar": metavar, "group": group, "flag": flag, "choices": choices}
    return field(default=default, metadata=metadata)


def default_threads() -> int:
    """Worker threads sized for the machine: two per core, at least 4, at most 32.

    Threads beyond what the cores can run only help apps that wait on I/O, and they
    cost every request some GIL contention; raise ``threads`` for such apps.
    """
    return max(4, min(32, 2 * (os.cpu_count() or 1)))


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """How a :class:`micro.server.Server` listens, limits and times out.

    Timeouts are in seconds; each field's default and help text are declared below,
    once (``micro serve --help`` shows them):

    - ``idle_timeout``: a keep-alive connection with no request under way is closed.
    - ``head_timeout``: a request head that started arriving must be complete within
      this time, else 408 and close (this bounds slow-loris clients).
    - ``body_timeout``: while the I/O loop reads a request body, the longest wait
      for its next bytes, else 408 and close.
    - ``min_body_rate``: once ``body_timeout`` seconds
      have passed since the head, a body must have arrived at this average rate, else
      408 and close (a client dripping a byte now and then cannot hold a connection).
    - ``write_timeout``: a response write that makes no progress for this long
      closes the connection.
    - ``defer_timeout``: an exchange the app deferred (``environ["micro.defer"]``,
      ``async def`` routes) and did not resume within this time is answered ``504
      Gateway Timeout`` and closed; a later resume is ignored (:mod:`micro.server.defer`).
      0: no limit.
    - ``inline_budget``: while a worker is free, the thread running the I/O loop
      serves a complete request itself (:mod:`micro.server.lead`); a request that
      runs longer than this hands the loop over to that worker. 0 sends every
      request to a worker.

    Request bodies are read by the I/O loop before a worker runs the app
    (:mod:`micro.server.body`): in memory up to ``spool_threshold`` bytes,
    in a temporary file in ``spool_dir``
    beyond; ``limits.max_body_bytes`` bounds them (413).

    ``max_discard``: when the loop refuses a request (413, 408, 400 inside a
    body, 503) it shuts its side and reads and drops up to this many more bytes, so
    that the client sees the answer rather than a reset; past that it closes at once.

    Production settings (see docs/deployment.md):

    - ``ssl_context``: serve TLS (``micro.server.tls.server_context`` builds one from
      a certificate and key); ``url_scheme`` then becomes "https". The TLS handshake
      runs in the I/O loop and must finish within ``head_timeout``.
    - ``max_connections``: past it the server stops accepting until a
      connection closes; new clients wait in the kernel's listen backlog.
    - ``max_pending``: complete requests waiting for a free worker;
      when that many wait, a new request is answered 503 with Retry-After and closed.
    - ``graceful_timeout``: how long a graceful stop (SIGTERM) lets requests finish.
    - ``proxy_hops`` / ``trusted_proxies`` (one or the other): trust forwarded headers
      from that many proxies, or from proxies at these addresses or networks;
      ``proxy_headers`` says which headers they write: "x-forwarded" or "forwarded".
    """

    host: str = "127.0.0.1"
    port: int = 8000
    threads: int = field(
        default_factory=default_threads,
        metadata={
            "help": "worker threads running the app, beside the I/O loop's own thread"
            " (default: 2 per core, 4 to 32)",
            "metavar": "N",
        },
    )
    limits: Limits = field(default_factory=Limits)
    idle_timeout: float = _option(60.0, "close a keep-alive connection idle this long", SECONDS)
    head_timeout: float = _option(10.0, "a request head must arrive within this, else 408", SECONDS)
    body_timeout: float = _option(30.0, "longest wait for a body's next bytes, else 408", SECONDS)
    write_timeout: float = _option(30.0, "a write making no progress this long closes", SECONDS)
    defer_timeout: float = _option(
        60.0,
        "a deferred (async) request not resumed within this is answered 504 (0: no limit)",
        SECONDS,
    )
    backlog: int = _option(1024, "the listen queue", "N")
    url_scheme: str = "http"
    server_name: str = "micro"
    access_log: bool = _option(
        False, "log each request on stdout (--debug turns it on unless --no-access-log says no)"
    )
    access_log_format: str = _option(
        "combined",
        "combined: Combined Log Format and the time taken in microseconds; json: an object a line",
        choices=ACCESS_LOG_FORMATS,
    )
    inline_budget: float = _option(
        0.005,
        "the I/O loop's thread serves quick requests itself; one running longer than this"
        " hands the loop to a free worker (0: every request goes to a worker)",
        SECONDS,
    )
    max_discard: int = _option(
        65536, "what the server still reads and drops after refusing a request", "BYTES"
    )
    spool_threshold: int = _option(
        524288, "request bodies larger than this go to a temporary file", "BYTES"
    )
    spool_dir: str | None = _option(
        None, "where those temporary files go (default: the system's temporary directory)", "DIR"
    )
    min_body_rate: float = _option(
        1024.0,
        "after --body-timeout seconds a body must average this rate, else 408 (0: off)",
        "BYTES_PER_S",
    )
    ssl_context: ssl.SSLContext | None = None  # micro serve: --certfile and --keyfile
    max_connections: int | None = _option(
        None, "stop accepting while N connections are open", "N", group=PRODUCTION
    )
    max_pending: int | None = _option(
        None,
        "answer 503 when N complete requests already wait for a worker thread",
        "N",
        group=PRODUCTION,
    )
    graceful_timeout: float = _option(
        30.0,
        "on SIGTERM/SIGINT, how long requests under way may take to finish",
        SECONDS,
        group=PRODUCTION,
    )
    trusted_proxies: tuple[str, ...] = _option(
        (),
        "trust forwarded headers from this address or network (repeatable)",
        "ADDR[/BITS]",
        group=PRODUCTION,
        flag="--trusted-proxy",
    )
    proxy_hops: int = _option(
        0, "trust forwarded headers written by N proxies in front", "N", group=PRODUCTION
    )
    proxy_headers: str = _option(
        PROXY_HEADERS[0],
        "which headers the proxies write",
        group=PRODUCTION,
        choices=PROXY_HEADERS,
    )

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
        if not self.defer_timeout >= 0:
            raise ConfigError(f"defer_timeout must not be negative, got {self.defer_timeout}")
        if not self.inline_budget >= 0:
            raise ConfigError(f"inline_budget must not be negative, got {self.inline_budget}")
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
        if self.access_log_format not in ACCESS_LOG_FORMATS:
            raise ConfigError(
                f"access_log_format must be one of {', '.join(ACCESS_LOG_FORMATS)},"
                f" got {self.access_log_format!r}"
            )
        if self.proxy_headers not in PROXY_HEADERS:
            raise ConfigError(
                f"proxy_headers must be 'x-forwarded' or 'forwarded', got {self.proxy_headers!r}"
            )
