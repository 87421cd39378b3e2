"""The ``metrics`` plugin as an operator sees it: an App served by micro's server, scraped
over HTTP and read back with prometheus_client's own parser.

The plugin comes in through the entry point of the installed micro-metrics distribution.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from webtest import TestApp

from micro import App, HTTPError, PluginError, Request
from micro.plugins import PluginRegistry
from micro.testing import LiveServer

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of a scrape, keyed by (name, labels)."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def make_app(**settings: Any) -> tuple[App, threading.Event, threading.Event]:
    app = App(plugins=["metrics"], settings=settings)
    entered, release = threading.Event(), threading.Event()

    @app.route("/items/{id:d}", name="item")
    def item(request: Request, id: int) -> dict[str, int]:
        if id == 0:
            raise HTTPError(404, "no item 0")
        return {"id": id}

    @app.route("/boom")
    def boom(request: Request) -> str:
        raise RuntimeError("boom")

    @app.route("/slow")
    def slow(request: Request) -> str:
        entered.set()
        release.wait(10)
        return "slow"

    @app.route("/later")
    async def later(request: Request) -> str:  # parked on the App's loop, holding no thread
        entered.set()
        for _ in range(1000):  # bounded: 10 s
            if release.is_set():
                break
            await asyncio.sleep(0.01)
        return "later"

    return app, entered, release


@pytest.fixture
def served() -> Iterator[tuple[str, threading.Event, threading.Event]]:
    app, entered, release = make_app()
    with LiveServer(app) as server:
        yield server.url, entered, release
    release.set()


def test_the_plugin_comes_from_its_distribution() -> None:
    assert PluginRegistry().info("metrics").distribution == "micro-metrics"


def test_requests_are_counted_by_route_name_method_and_status(
    served: tuple[str, threading.Event, threading.Event],
) -> None:
    url, _, _ = served
    for path in ("/items/1", "/items/2", "/items/0", "/nowhere", "/boom"):
        get(url + path)
    status, content_type, text = get(url + "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain; version=")
    samples = parse(text)
    total = "micro_requests_total"
    assert value(samples, total, route="item", method="GET", status="200") == 2
    assert value(samples, total, route="item", method="GET", status="404") == 1
    assert value(samples, total, route="<unmatched>", method="GET", status="404") == 1
    assert value(samples, total, route="/boom", method="GET", status="500") == 1  # no name
    duration = "micro_request_duration_seconds"
    assert value(samples, duration + "_count", route="item", method="GET") == 3
    assert value(samples, duration + "_bucket", route="item", method="GET", le="+Inf") == 3
    assert 0 < (value(samples, duration + "_sum", route="item", method="GET") or 0) < 10


def test_in_flight_counts_requests_still_running(
    served: tuple[str, threading.Event, threading.Event],
) -> None:
    url, entered, release = served
    slow = threading.Thread(target=get, args=(url + "/slow",))
    slow.start()
    try:
        assert entered.wait(10)
        samples = parse(get(url + "/metrics")[2])
        # The slow request and the scrape itself.
        assert value(samples, "micro_requests_in_flight") == 2
    finally:
        release.set()
        slow.join(10)
    samples = parse(get(url + "/metrics")[2])
    assert value(samples, "micro_requests_in_flight") == 1  # only this scrape now
    assert value(samples, "micro_requests_total", route="/slow", method="GET", status="200") == 1


def test_the_path_is_a_setting_and_none_means_no_route() -> None:
    app, _, _ = make_app(metrics_path="/internal/prom")
    client = TestApp(app)
    client.get("/items/4")
    text = client.get("/internal/prom").text
    assert value(parse(text), "micro_requests_total", route="item", method="GET", status="200")
    client.get("/metrics", status=404)

    quiet, _, _ = make_app(metrics_path=None)
    TestApp(quiet).get("/metrics", status=404)
    # The numbers are still kept, for whoever serves them another way.
    body, _ = quiet.helper("metrics", None).render()  # type: ignore[arg-type]
    assert b"micro_requests_total" in body


def test_every_app_has_its_own_numbers() -> None:
    first, _, _ = make_app()
    second, _, _ = make_app()
    TestApp(first).get("/items/1")
    text = TestApp(second).get("/metrics").text
    assert (
        value(parse(text), "micro_requests_total", route="item", method="GET", status="200") is None
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"metrics_path": "metrics"}, "metrics_path must be a path"),
        ({"metrics_sample_interval": 0}, "metrics_sample_interval must be positive"),
        ({"metrics_buckets": [1.0, 0.5]}, "metrics plugin: "),
    ],
)
def test_bad_settings_are_refused_at_start_up(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(PluginError, match=message):
        App(plugins=["metrics"], settings=settings)


# -- micro serve --processes N with prometheus_client's multiprocess mode ---------------
APP = """
from micro import App, Request

app = App(plugins=["metrics"])


@app.route("/hello", name="hello")
def hello(request: Request) -> str:
    return "hello"
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_under_processes_every_process_is_counted(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP, encoding="utf-8")
    metrics_dir = tmp_path / "prom"
    metrics_dir.mkdir()
    port = free_port()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    argv = [sys.executable, "-m", "micro", "serve", "app.py", "--processes", "2", "--threads", "2"]
    server = subprocess.Popen(
        [*argv, "--bind", f"127.0.0.1:{port}"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        assert "micro: serving" in server.stdout.readline()
        url = f"http://127.0.0.1:{port}"
        # A new connection each time: the kernel spreads them over both processes.
        for _ in range(40):
            assert get(url + "/hello")[0] == 200
        counted = [name for name in os.listdir(metrics_dir) if name.startswith("counter_")]
        assert len(counted) == 2, f"both processes should have counted requests: {counted}"
        # Whichever process answers the scrape, the totals are the sum of all of them.
        for scrape in range(1, 6):
            samples = parse(get(url + "/metrics")[2])
            total = "micro_requests_total"
            assert value(samples, total, route="hello", method="GET", status="200") == 40
            scraped = value(samples, total, route="metrics", method="GET", status="200")
            assert (scraped or 0) == scrape - 1  # a scrape is counted once it is answered
            assert value(samples, "micro_requests_in_flight") == 1
            # Each process samples its own server; the gauges add up the live ones.
            assert value(samples, "micro_workers") == 4  # 2 processes x 2 threads
    finally:
        server.terminate()
        server.communicate(timeout=30)
    assert server.returncode == 0


def test_a_dead_process_gauges_are_dropped_but_its_counts_kept(tmp_path: Path) -> None:
    """prometheus_client's files of a process that is gone: livesum gauges go, sums stay."""
    script = f"""
import os, sys
os.environ["PROMETHEUS_MULTIPROC_DIR"] = {str(tmp_path)!r}
from webtest import TestApp
from micro import App
app = App(plugins=["metrics"])
app.add_route("/", lambda request: "hi")
TestApp(app).get("/")
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path)
    try:
        from micro_metrics import Instruments

        body, _ = Instruments().render()
    finally:
        del os.environ["PROMETHEUS_MULTIPROC_DIR"]
    samples = parse(body.decode())
    assert value(samples, "micro_requests_total", route="/", method="GET", status="200") == 1
    assert not any(name.startswith("gauge_live") for name in os.listdir(tmp_path))


def test_the_server_gauges_come_from_micro_server(
    served: tuple[str, threading.Event, threading.Event],
) -> None:
    url, entered, release = served
    slow = threading.Thread(target=get, args=(url + "/slow",))
    slow.start()
    try:
        assert entered.wait(10)
        samples = parse(get(url + "/metrics")[2])
    finally:
        release.set()
        slow.join(10)
    assert value(samples, "micro_workers") == 4  # LiveServer's threads
    assert value(samples, "micro_workers_busy") == 2  # the slow request and the scrape
    assert value(samples, "micro_worker_queue_depth") == 0
    assert value(samples, "micro_open_connections") == 2
    assert value(samples, "micro_requests_parked") == 0


def test_a_deferred_request_is_counted_as_parked(
    served: tuple[str, threading.Event, threading.Event],
) -> None:
    url, entered, release = served
    later = threading.Thread(target=get, args=(url + "/later",))
    later.start()
    try:
        assert entered.wait(10)
        parked = value(parse(get(url + "/metrics")[2]), "micro_requests_parked")
    finally:
        release.set()
        later.join(10)
    assert parked == 1
    for _ in range(100):  # answered: the count drops as the worker finishes (bounded: 1 s)
        if value(parse(get(url + "/metrics")[2]), "micro_requests_parked") == 0:
            break
        time.sleep(0.01)
    else:
        raise AssertionError("the answered request still counts as parked")


def test_under_another_server_the_server_gauges_are_absent() -> None:
    app, _, _ = make_app()
    text = TestApp(app).get("/metrics").text  # WebTest: no micro.server_stats
    assert "micro_workers" not in text and "micro_open_connections" not in text
