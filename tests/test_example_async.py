"""examples/async_fetch.py: an async route calling a local stub with httpx's AsyncClient.

Both the example and its stub run under micro's server with one worker thread each;
with twenty trips at once, the upstream sees their calls waiting side by side:
the calls overlap and no thread waits for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from urllib.error import HTTPError
from urllib.request import urlopen

import pytest

from micro import App, Request
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


def counting_stub() -> tuple[App, list[int]]:
    """An upstream that holds each call until all forty of twenty trips wait on it
    (or 3 s, under httpx's 5 s timeout), and keeps the most calls it held at once."""
    stub = App()
    waiting = [0]
    most = [0]
    everyone = asyncio.Event()

    async def hold() -> None:
        waiting[0] += 1
        most[0] = max(most[0], waiting[0])
        if waiting[0] == 40:
            everyone.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(everyone.wait(), 3.0)
        waiting[0] -= 1

    @stub.route(r"/weather/(\w+)")
    async def weather(request: Request, city: str) -> dict[str, str]:
        await hold()
        return {"forecast": "snow"}

    @stub.route(r"/hotels/(\w+)")
    async def hotels(request: Request, city: str) -> list[str]:
        await hold()
        return ["Hotel Oslo 1"]

    return stub, most


def test_twenty_trips_at_once_on_one_thread(example: ModuleType) -> None:
    # How many upstream calls wait at once, not how long the trips take: one trip at a
    # time would never have more than its own two waiting. A loaded machine slows the
    # trips down; it cannot change that count.
    stub_app, most = counting_stub()
    stub = Server(stub_app, ServerConfig(host="127.0.0.1", port=0, threads=1))
    stub.start()
    app = example.make_app("http://{}:{}".format(*stub.address))
    server = Server(app, ServerConfig(host="127.0.0.1", port=0, threads=1))
    server.start()
    base = "http://{}:{}".format(*server.address)
    answers: list[bytes] = []

    def fetch() -> None:
        with urlopen(base + "/trip/oslo", timeout=60) as r:
            answers.append(r.read())

    try:
        threads = [threading.Thread(target=fetch) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        server.stop()
        stub.stop()
        closing = app.settings["upstream"].aclose()
        asyncio.run_coroutine_threadsafe(closing, app.asyncio_loop()).result(5)
    assert len(answers) == 20
    assert all(json.loads(a)["weather"] == {"forecast": "snow"} for a in answers)
    assert most[0] >= 20, f"at most {most[0]} upstream calls waited at once"
