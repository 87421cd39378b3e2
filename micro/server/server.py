"""Server layer: :class:`Server` binds the listener and runs the I/O loop and the workers.

This is the object the CLI, the tests and embedding code hold: ``start()`` returns at
once, ``address`` tells where it listens, ``stop()`` stops accepting, lets requests
already under way finish, closes idle connections and joins the threads.

A graceful stop runs in two halves so that no request the server accepted is lost:
the I/O loop drains (:meth:`IOLoop.drain`: takes what the kernel queued, stops
accepting, lets heads under way complete), then the worker pool finishes everything
queued, then the loop closes what is left.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from micro.errors import ConfigError

from .channel import Channel
from .config import ServerConfig
from .context import ServerContext
from .limits import Overloaded
from .loop import IOLoop
from .proxy import ProxyFix
from .stats import STATS_KEY, ServerStats
from .workers import WorkerPool

__all__ = ["Server", "serve"]

PARKED_AT_STOP = "the server stopped before the app answered"


def _listen(config: ServerConfig) -> socket.socket:
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    return socket.create_server(
        (config.host, config.port), family=family, backlog=config.backlog, reuse_port=False
    )


class Server:
    """An HTTP/1.1 server for one WSGI app.

    ``sock``: a listening socket to serve instead of binding ``config.host:port``
    (the process supervisor passes each worker process its socket).
    """

    def __init__(
        self,
        app: Callable[..., Any],
        config: ServerConfig | None = None,
        *,
        sock: socket.socket | None = None,
    ) -> None:
        if not callable(app):
            raise ConfigError(f"the app must be a WSGI callable, got {app!r}")
        self.app = app
        self.config = config or ServerConfig()
        self._sock = sock
        self._proxy_fix = ProxyFix.from_config(app, self.config)
        self._listener: socket.socket | None = None
        self._loop: IOLoop | None = None
        self._pool: WorkerPool | None = None
        self._ctx: ServerContext | None = None
        self._stopped = threading.Event()
        self._lock = threading.Lock()

    @property
    def address(self) -> tuple[str, int]:
        if self._listener is None:
            raise ConfigError("the server is not started")
        host, port = self._listener.getsockname()[:2]
        return str(host), int(port)

    def start(self) -> None:
        """Bind and start the threads; raises OSError if the address cannot be bound."""
        with self._lock:
            if self._listener is not None:
                return
            listener = self._sock if self._sock is not None else _listen(self.config)
            port = int(listener.getsockname()[1])
            ctx = ServerContext(self._proxy_fix or self.app, self.config, port)
            pool: WorkerPool
            max_pending = self.config.max_pending
            submit: Callable[[Channel, Any], None]
            if max_pending is None:
                submit = lambda c, h: pool.submit(c, h)  # noqa: E731
            else:

                def submit(channel: Channel, head: Any) -> None:
                    # Only the loop thread submits; a worker may put back a pipelined
                    # head while others wait, so the queue can pass the bound by at most
                    # one per worker, and those requests are not refused.
                    if pool.pending() >= max_pending:
                        raise Overloaded(f"{max_pending} requests already wait for a worker")
                    pool.submit(channel, head)

            loop = IOLoop(
                listener,
                self.config,
                submit,
                ctx.error_bytes,
                lambda fn: pool.submit_call(fn),
                ctx.parked.expire,
            )
            pool = WorkerPool(ctx, self.config.threads, loop)
            loop.serve_inline(pool)
            ctx.adopt = loop.adopt
            ctx.resume = pool.resume
            ctx.unpark = loop.unpark
            ctx.parked.offload = pool.submit_call

            def stats() -> ServerStats:
                return ServerStats(
                    loop.open_connections,
                    pool.pending(),
                    pool.busy(),
                    pool.threads,
                    ctx.parked.count,
                )

            ctx.base_environ[STATS_KEY] = stats
            self._listener, self._ctx, self._loop, self._pool = listener, ctx, loop, pool
            self._stopped.clear()
            pool.start(lead=loop.lead)  # one of the pool's threads runs the loop

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop accepting, finish requests under way, close idle connections, join.

        Waits up to ``timeout`` seconds in all; True when every request the server
        had accepted was finished in that time.
        """
        dropped: list[Callable[[], None]] = []  # drop callbacks, made once unlocked
        with self._lock:
            if self._listener is None or self._ctx is None:
                return True
            deadline = time.monotonic() + timeout
            self._ctx.stopping = True
            finished = True
            if self._loop is not None:
                finished = self._loop.drain(timeout)
            # Exchanges an app deferred (micro.defer) are finished by the workers once
            # resumed (or timed out): they get their share of the timeout before the
            # workers stop; those still parked then get a 503 and are closed.
            parked = self._ctx.parked
            if not parked.wait_empty(max(0.0, deadline - time.monotonic())):
                dropped = parked.abandon(self._ctx.error_bytes(503, PARKED_AT_STOP))
                finished = False
            if self._pool is not None:
                self._pool.stop(max(0.0, deadline - time.monotonic()))
                finished = finished and self._pool.idle()
            if self._loop is not None:
                self._loop.stop(max(0.1, deadline - time.monotonic()))
            self._listener = self._loop = self._pool = self._ctx = None
            self._stopped.set()
        for notify in dropped:
            notify()
        return finished

    def serve_forever(self) -> None:
        """Start if needed and block until :meth:`stop` or Ctrl-C (then stop gracefully,
        within ``config.graceful_timeout``). ``micro serve`` also stops on SIGTERM:
        see :mod:`micro.server.signals`."""
        self.start()
        try:
            # wait() with a timeout keeps the main thread responsive to Ctrl-C.
            while not self._stopped.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            self.stop(self.config.graceful_timeout)

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve(
    app: Callable[..., Any], host: str = "127.0.0.1", port: int = 8000, **fields: Any
) -> None:
    """Build a :class:`ServerConfig` from the arguments and serve ``app`` until stopped."""
    Server(app, ServerConfig(host=host, port=port, **fields)).serve_forever()
