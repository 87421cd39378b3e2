"""micro-metrics: the Prometheus instruments of one app, and how they are read out.

:class:`Instruments` owns the metrics (made with prometheus_client) and renders them
in the text exposition format. Two modes, chosen by prometheus_client itself from the
environment when it is first imported:

- **One process** (the default): the metrics live in a :class:`CollectorRegistry` of
  this app's own (never the library's global one, so two apps or two tests never mix
  their numbers). The server gauges are read from the server when scraped.
- **Several processes** (``PROMETHEUS_MULTIPROC_DIR`` set to an empty directory
  before start, as for ``micro serve --processes N``): every process writes its
  values to files in that directory and a scrape, answered by any one process, adds
  them up with the library's ``MultiProcessCollector``. Counters and the histogram
  are summed over every process that ever ran (a replaced process's requests still
  count); gauges are summed over live processes only (``livesum``): the files of a
  process that is gone are dropped at the next scrape. A scrape reaches one process,
  so each process samples its own server gauges every ``metrics_sample_interval``
  seconds in a daemon thread, started by its first request.

The server gauges come from the ``micro.server_stats`` WSGI environ entry that
micro's server provides (see :mod:`micro.server.stats`): a callable returning a
``ServerStats`` (connections, pending, busy, threads) of this process. Under
another WSGI server the entry is absent and those gauges are left out; the request
metrics work the same.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from micro.wsgitypes import STATS_KEY

__all__ = ["SERVER_GAUGES", "STATS_KEY", "Instruments", "multiprocess_dir"]


# (attribute of the server's stats, metric name, help)
SERVER_GAUGES: tuple[tuple[str, str, str], ...] = (
    ("connections", "open_connections", "Client connections open (idle keep-alive included)"),
    ("pending", "worker_queue_depth", "Complete requests waiting for a worker thread"),
    ("busy", "workers_busy", "Worker threads running a request"),
    ("threads", "workers", "Worker threads in all"),
    (
        "parked",
        "requests_parked",
        "Requests an app deferred (async routes, micro.defer), not answered yet",
    ),
)

_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w+?_(\d+)\.db")


def multiprocess_dir() -> str | None:
    """The directory of prometheus_client's multiprocess mode, None when it is off."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class Instruments:
    """The metrics of one app: record requests, sample the server, render a scrape."""

    def __init__(
        self,
        namespace: str = "micro",
        buckets: Sequence[float] | None = None,
        sample_interval: float = 1.0,
    ) -> None:
        self.directory = multiprocess_dir()
        self.sample_interval = sample_interval
        # In multiprocess mode the values live in files, not in a registry: the
        # metrics are registered nowhere and each scrape collects the files afresh.
        self.registry = CollectorRegistry() if self.directory is None else None
        extra: dict[str, Any] = {} if buckets is None else {"buckets": tuple(buckets)}
        self.requests = Counter(
            "requests",
            "Requests answered, by route name, method and status",
            ("route", "method", "status"),
            namespace=namespace,
            registry=self.registry,
        )
        self.latency = Histogram(
            "request_duration_seconds",
            "Time from the request reaching the app to the response's last byte handed over",
            ("route", "method"),
            namespace=namespace,
            registry=self.registry,
            **extra,
        )
        self.in_flight = Gauge(
            "requests_in_flight",
            "Requests the app is working on",
            namespace=namespace,
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.namespace = namespace
        # Made at the first sample: under a server without the stats entry they would
        # only ever say 0, which reads as a fact.
        self.server: dict[str, Gauge] = {}
        self._lock = threading.Lock()
        self._sampler_pid: int | None = None

    # -- recording ------------------------------------------------------------------
    def finished(self, route: str, method: str, status: int, seconds: float) -> None:
        """One request answered: count it, time it, and it is no longer in flight."""
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)
        self.in_flight.dec()

    def sample(self, stats: Callable[[], Any]) -> None:
        """Copy the server's current numbers into the server gauges."""
        snapshot = stats()
        if not self.server:
            with self._lock:
                if not self.server:
                    self.server = {
                        attr: Gauge(
                            name,
                            text,
                            namespace=self.namespace,
                            registry=self.registry,
                            multiprocess_mode="livesum",
                        )
                        for attr, name, text in SERVER_GAUGES
                    }
        for attr, gauge in self.server.items():
            value = getattr(snapshot, attr, None)
            if isinstance(value, int | float):
                gauge.set(value)

    def watch(self, stats: Callable[[], Any]) -> None:
        """In multiprocess mode: sample ``stats`` in this process from now on (once each)."""
        if self.directory is None:
            return
        pid = os.getpid()
        with self._lock:
            if self._sampler_pid == pid:
                return
            self._sampler_pid = pid  # a forked process has the parent's pid here: start anew
        interval = self.sample_interval

        def run() -> None:
            while True:
                self.sample(stats)
                time.sleep(interval)

        threading.Thread(target=run, name="micro-metrics-sampler", daemon=True).start()

    # -- reading out ----------------------------------------------------------------
    def render(self) -> tuple[bytes, str]:
        """The text exposition of every metric, and its Content-Type."""
        if self.registry is not None:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        directory = str(self.directory)  # no registry of our own: multiprocess mode
        self._forget_dead_processes(directory)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST

    @staticmethod
    def _forget_dead_processes(directory: str) -> None:
        for name in os.listdir(directory):
            match = _LIVE_GAUGE_FILE.fullmatch(name)
            if match and not _alive(int(match[1])):
                mark_process_dead(int(match[1]), directory)  # type: ignore[no-untyped-call]
