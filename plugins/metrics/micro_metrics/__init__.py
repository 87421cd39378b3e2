"""micro-metrics: the ``metrics`` plugin, Prometheus metrics for a micro app.

Enabled with ``App(plugins=["metrics"])``; the entry point ``metrics`` in the
``micro.plugins`` group names :class:`MetricsPlugin`. It adds

- a middleware, ``metrics``, that runs outside every other plugin's and records each
  request: ``micro_requests_total{route, method, status}``,
  ``micro_request_duration_seconds{route, method}`` (a histogram of the time until
  the app returned its response; a streamed body's sending is not in it) and
  ``micro_requests_in_flight``. ``route`` is the route's name, else its pattern
  (never the raw path, so the number of series stays bounded), and ``<unmatched>``
  for a request no route took (404, 405);
- the gauges of micro's server: ``micro_open_connections``,
  ``micro_worker_queue_depth``, ``micro_workers_busy`` and ``micro_workers``
  (present when micro's server serves the app, see :mod:`micro_metrics.instruments`);
- a route, named ``metrics``, at ``metrics_path`` that answers GET with every metric
  in Prometheus's text format.

Settings (defaults in :attr:`MetricsPlugin.settings`): ``metrics_path`` ("/metrics";
None for no route, e.g. to serve :meth:`Instruments.render` elsewhere),
``metrics_namespace`` ("micro", the metric names' prefix), ``metrics_buckets`` (the
histogram's bucket bounds in seconds; None for prometheus_client's defaults) and
``metrics_sample_interval`` (seconds between samples of the server gauges in
multiprocess mode). The plugin's :class:`Instruments` is the ``metrics`` helper:
``app.helper("metrics", request)``.

The path answers anyone who can reach it: keep it behind the proxy, or on a path the
proxy does not forward.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from micro import ConfigError, PluginApp, Request, Response

from .instruments import STATS_KEY, Instruments

__all__ = ["UNMATCHED", "Instruments", "MetricsMiddleware", "MetricsPlugin"]

UNMATCHED = "<unmatched>"


def route_label(request: Request) -> str:
    """The ``route`` label: the route's name, else its pattern; UNMATCHED without one."""
    route = request.route
    if route is None:
        return UNMATCHED
    return str(route.name or route.pattern)


class MetricsMiddleware:
    """Count, time and track in flight every request that passes through it."""

    name = "metrics"

    def __init__(self, instruments: Instruments) -> None:
        self.instruments = instruments

    def __call__(self, request: Request, call_next: Callable[[Request], Response]) -> Response:
        instruments = self.instruments
        stats = request.environ.get(STATS_KEY)
        if stats is not None:
            instruments.watch(stats)
        started = time.perf_counter()
        instruments.in_flight.inc()
        try:
            response = call_next(request)
        except BaseException:
            # The App answers it with a 500 once it has passed every middleware.
            elapsed = time.perf_counter() - started
            instruments.finished(route_label(request), request.method, 500, elapsed)
            raise
        elapsed = time.perf_counter() - started
        instruments.finished(route_label(request), request.method, response.status, elapsed)
        return response


class MetricsPlugin:
    """The ``metrics`` plugin (see the module docstring)."""

    name = "metrics"
    api_version = 1
    # First in the chain, so that the time of every other plugin's middleware counts.
    before: Sequence[str] = ("gzip", "xsrf", "static")
    after: Sequence[str] = ()
    requires: Sequence[str] = ()
    settings: Mapping[str, Any] = MappingProxyType(
        {
            "metrics_path": "/metrics",
            "metrics_namespace": "micro",
            "metrics_buckets": None,
            "metrics_sample_interval": 1.0,
        }
    )

    def setup(self, app: PluginApp) -> None:
        settings = app.settings
        path = settings["metrics_path"]
        if path is not None and (not isinstance(path, str) or not path.startswith("/")):
            raise ConfigError(f"metrics_path must be a path starting with '/', got {path!r}")
        interval = settings["metrics_sample_interval"]
        if not isinstance(interval, int | float) or not interval > 0:
            raise ConfigError(f"metrics_sample_interval must be positive seconds, got {interval!r}")
        try:
            instruments = Instruments(
                namespace=settings["metrics_namespace"],
                buckets=settings["metrics_buckets"],
                sample_interval=float(interval),
            )
        except ValueError as exc:  # prometheus_client's word on a bad name or buckets
            raise ConfigError(f"metrics plugin: {exc}") from exc
        app.add_middleware(MetricsMiddleware(instruments))
        app.add_helper("metrics", lambda request: instruments)
        if path is None:
            return

        def scrape(request: Request) -> Response:
            stats = request.environ.get(STATS_KEY)
            if stats is not None:
                instruments.sample(stats)
            body, content_type = instruments.render()
            return Response(body, content_type=content_type)

        app.add_route(path, scrape, methods=["GET"], name="metrics")
