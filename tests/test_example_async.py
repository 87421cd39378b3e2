"""examples/async_fetch.py: an async route calling a local stub with httpx's AsyncClient.

Both the example and its stub run under micro's server with one worker thread each;
twenty trips at once, each waiting 0.2 s on two upstream calls, take well under the
4 s they would take one after the other:
the calls overlap and no thread waits for them.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from urllib.error import HTTPError
from urllib.request import urlopen

import pytest

from micro.server import Server, ServerConfig

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "async_fetch.py"


@pytest.fixture(scope="module")
def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("micro_async_fetch_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def base(example: ModuleType) -> Iterator[str]:
    stub = Server(example.make_stub(), ServerConfig(host="127.0.0.1", port=0, threads=1))
    stub.start()
    upstream = "http://{}:{}".format(*stub.address)
    app = example.make_app(upstream)
    server = Server(app, ServerConfig(host="127.0.0.1", port=0, threads=1))
    server.start()
    try:
        yield "http://{}:{}".format(*server.address)
    finally:
        server.stop()
        stub.stop()
        closing = app.settings["upstream"].aclose()
        asyncio.run_coroutine_threadsafe(closing, app.asyncio_loop()).result(5)


def test_a_trip_asks_both_services(base: str) -> None:
    with urlopen(base + "/trip/paris", timeout=10) as r:
        assert json.loads(r.read()) == {
            "city": "paris",
            "weather": {"forecast": "sunny"},
            "hotels": ["Hotel Paris 1", "Hotel Paris 2"],
        }
    with pytest.raises(HTTPError) as caught:
        urlopen(base + "/trip/atlantis", timeout=10)
    assert caught.value.code == 404
    caught.value.close()


def test_twenty_trips_at_once_on_one_thread(base: str) -> None:
    urlopen(base + "/trip/oslo", timeout=10).close()  # warm: loops and clients started
    answers: list[bytes] = []

    def fetch() -> None:
        with urlopen(base + "/trip/oslo", timeout=10) as r:
            answers.append(r.read())

    threads = [threading.Thread(target=fetch) for _ in range(20)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    elapsed = time.monotonic() - started
    assert len(answers) == 20
    assert all(json.loads(a)["weather"] == {"forecast": "snow"} for a in answers)
    # One worker each, 0.2 s upstream per trip: one at a time would take 4 s or more.
    # The bound leaves a loaded machine room to run twenty trips' worth of Python.
    assert elapsed < 3.0, f"twenty trips took {elapsed:.2f}s"
