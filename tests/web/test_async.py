"""Async handlers: ``async def`` routes and handler methods on the App's asyncio loop.

Driven here without micro's server (WebTest, and wsgiref as a foreign server): the
coroutine runs on the App's loop and the calling thread waits. The no-thread-held
behaviour under micro's server is in tests/server/test_defer.py.
"""

from __future__ import annotations

import asyncio
import threading
import wsgiref.simple_server
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.request import urlopen

import pytest
from webtest import TestApp

from micro import App, HTTPError, Request, RequestHandler, Response, skip_middleware


def test_async_function_route() -> None:
    app = App()

    @app.route(r"/hello/(\w+)")
    async def hello(request: Request, name: str) -> dict[str, str]:
        await asyncio.sleep(0)
        return {"hello": name, "thread": threading.current_thread().name}

    res = TestApp(app).get("/hello/ann")
    assert res.json == {"hello": "ann", "thread": "micro-asyncio"}
    assert TestApp(app).head("/hello/ann").body == b""


def test_async_handler_methods_and_hooks() -> None:
    seen: list[str] = []

    class Thing(RequestHandler):
        async def prepare(self) -> None:
            await asyncio.sleep(0)
            seen.append("prepare")

        async def get(self, name: str) -> None:
            await asyncio.sleep(0)
            self.set_header("X-Name", name)
            self.write({"name": name})

        def post(self, name: str) -> None:  # plain methods still work beside async ones
            self.write("posted " + name)

        async def on_finish(self) -> None:
            seen.append("finish")

    app = App()
    app.add_route(r"/things/(\w+)", Thing)
    client = TestApp(app)
    res = client.get("/things/a")
    assert res.json == {"name": "a"}
    assert res.headers["X-Name"] == "a"
    assert client.post("/things/b").text == "posted b"
    assert seen == ["prepare", "finish", "prepare", "finish"]


def test_errors_in_async_code() -> None:
    class Broken(RequestHandler):
        async def get(self) -> None:
            raise HTTPError(409, "taken")

        async def post(self) -> Any:
            yield b"no streaming"  # an async generator: refused with a 500

    app = App()
    app.add_route("/broken", Broken)

    @app.route("/boom")
    async def boom(request: Request) -> str:
        raise RuntimeError("boom")

    @app.route("/teapot")
    async def teapot(request: Request) -> str:
        raise HTTPError(418)

    client = TestApp(app)
    assert client.get("/broken", status=409).status == "409 taken"
    assert client.post("/broken", status=500)
    assert client.get("/boom", status=500)
    assert client.get("/teapot", status=418)


class Tag:
    """A plain (synchronous) middleware: runs on an executor thread for async routes."""

    name = "tag"

    def __call__(self, request: Request, call_next: Callable[[Request], Response]) -> Response:
        response = call_next(request)
        response.headers.set("X-Tag", threading.current_thread().name[:7])
        return response


class AsyncTag:
    """A middleware with call_async: awaited on the loop for async routes."""

    name = "atag"

    def __call__(self, request: Request, call_next: Callable[[Request], Response]) -> Response:
        response = call_next(request)
        response.headers.set("X-ATag", "sync")
        return response

    async def call_async(
        self, request: Request, call_next: Callable[[Request], Coroutine[Any, Any, Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.set("X-ATag", threading.current_thread().name)
        return response


def test_middleware_apply_to_async_routes() -> None:
    app = App(middleware=[Tag(), AsyncTag()])

    @app.route("/a")
    async def a(request: Request) -> str:
        return "async"

    @app.route("/s")
    def s(request: Request) -> str:
        return "sync"

    @app.route("/skip")
    @skip_middleware("tag")
    async def skip(request: Request) -> str:
        return "skipped"

    client = TestApp(app)
    res = client.get("/a")
    assert res.text == "async"
    assert res.headers["X-ATag"] == "micro-asyncio"
    assert res.headers["X-Tag"] != "micro-a"  # a thread of the loop's executor
    assert client.get("/s").headers["X-ATag"] == "sync"
    res = client.get("/skip")
    assert "X-Tag" not in res.headers
    assert res.headers["X-ATag"] == "micro-asyncio"


def test_waiting_threads_share_the_loop() -> None:
    """Ten threads calling an async route are all awaiting on the loop at once.

    Each request awaits until all ten await: a count, not a stopwatch, so that a
    loaded machine slows the test down without making it fail."""
    app = App()
    arrived = 0
    everyone = asyncio.Event()

    @app.route("/warm")
    async def warm(request: Request) -> str:
        return "warm"

    @app.route("/sleep")
    async def sleep(request: Request) -> str:
        nonlocal arrived
        arrived += 1
        if arrived == 10:
            everyone.set()
        try:
            await asyncio.wait_for(everyone.wait(), 60)
        except TimeoutError:
            everyone.set()  # the others need not wait too: the test has failed
            return f"only {arrived} awaiting"
        return "ok"

    client = TestApp(app)
    client.get("/warm")  # start the loop
    answers: list[str] = []
    threads = [
        threading.Thread(target=lambda: answers.append(client.get("/sleep").text))
        for _ in range(10)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert answers == ["ok"] * 10


def test_under_another_wsgi_server() -> None:
    app = App()

    @app.route("/")
    async def index(request: Request) -> str:
        await asyncio.sleep(0.01)
        return "from the loop"

    class Quiet(wsgiref.simple_server.WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = wsgiref.simple_server.make_server("127.0.0.1", 0, app, handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with urlopen(f"http://127.0.0.1:{server.server_port}/", timeout=5) as r:
            assert r.read() == b"from the loop"
    finally:
        server.shutdown()
        server.server_close()


def test_a_loop_thread_cannot_wait_for_itself() -> None:
    app = App()

    @app.route("/")
    async def index(request: Request) -> str:
        return "x"

    async def nested() -> str:
        return str(TestApp(app).get("/").text)  # a sync call into the App from the loop

    with pytest.raises(Exception, match="from that loop"):
        asyncio.run_coroutine_threadsafe(nested(), app.asyncio_loop()).result(5)
