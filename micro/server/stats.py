"""Server layer: the numbers a running server can tell about itself, for metrics.

Every WSGI environ micro's server builds carries ``environ["micro.server_stats"]``
(:data:`STATS_KEY`): a callable with no arguments that returns a :class:`ServerStats`
of this server (this process, under ``--processes``) at the moment of the call.
Nothing is counted for it that the server does not keep anyway, so calling it costs
a few attribute reads; a metrics exporter (the ``metrics`` plugin) calls it when it
is scraped or samples it now and then, never per request. Under another WSGI server
the entry is absent: read it with ``environ.get``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from micro.wsgitypes import STATS_KEY

__all__ = ["STATS_KEY", "ServerStats", "StatsSource"]


class ServerStats(NamedTuple):
    """One reading of a server's load."""

    connections: int
    """Client connections open, idle keep-alive ones included."""
    pending: int
    """Complete requests waiting for a free worker thread (the queue's depth)."""
    busy: int
    """Threads working on a request (running the app, or sending): the worker
    threads, and the I/O loop's thread while it serves one itself."""
    threads: int
    """Worker threads in all (the thread running the I/O loop aside)."""
    parked: int = 0
    """Requests the app deferred (``micro.defer``, ``async def`` routes) that wait for
    their answer, holding no thread (until ``defer_timeout``)."""


StatsSource = Callable[[], ServerStats]
