"""The defer seam: ``resume = environ["micro.defer"]()``, then ``resume(app)`` from anywhere.

Between the two the request holds no worker. Checked with a raw WSGI app (the seam
alone) and with micro.App's async routes: 200 concurrent requests to a route that
awaits are all awaiting at once on four worker threads.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

from micro import App, Request

from .conftest import Harness


def answer(text: bytes) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [text + body]

    return app


def test_a_deferred_request_holds_no_worker(harness: Harness) -> None:
    parked: list[Any] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/later":
            parked.append(environ["micro.defer"]())
            return []
        start_response("200 OK", [])
        return [b"now"]

    address = harness.serve(app, threads=1)
    waiting = harness.client(address)
    waiting.send(b"POST /later HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
    deadline = time.monotonic() + 5
    while not parked and time.monotonic() < deadline:
        time.sleep(0.01)
    # The one worker is free for others while /later waits.
    other = harness.client(address)
    other.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert other.response().body == b"now"
    threading.Thread(target=parked[0], args=(answer(b"later: "),)).start()
    response = waiting.response()
    assert response.status == 200
    assert response.body == b"later: hello"  # the body was kept for the resumed app
    waiting.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # and the connection goes on
    assert waiting.response().body == b"now"


def test_resumed_before_the_app_returned(harness: Harness) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        environ["micro.defer"]()(answer(b"at once"))
        return []

    address = harness.serve(app)
    client = harness.client(address)
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert client.response().body == b"at once"


def test_a_stop_waits_for_parked_requests(harness: Harness) -> None:
    parked: list[Any] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        parked.append(environ["micro.defer"]())
        return []

    address = harness.serve(app)
    client = harness.client(address)
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    deadline = time.monotonic() + 5
    while not parked and time.monotonic() < deadline:
        time.sleep(0.01)
    threading.Timer(0.2, parked[0], args=(answer(b"finished"),)).start()
    assert harness.servers[0].stop(timeout=5.0)
    assert client.response().body == b"finished"


def test_200_awaiting_requests_on_four_threads(harness: Harness) -> None:
    # Each request awaits until all 200 are awaiting: possible only if an awaiting
    # request holds no worker thread. A count, not a stopwatch: a loaded machine
    # slows the requests down but cannot make the count lie.
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
        if arrived == 200:
            everyone.set()
        try:
            await asyncio.wait_for(everyone.wait(), 60)
        except TimeoutError:
            everyone.set()  # the rest need not wait too: the test has failed
            return f"only {arrived} awaiting"
        return "slept"

    host, port = harness.serve(app, threads=4, max_connections=None)
    warm_up = socket.create_connection((host, port), timeout=5)
    warm_up.sendall(f"GET /warm HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    assert b"warm" in warm_up.recv(4096)  # starts the App's loop
    warm_up.close()
    request = f"GET /sleep HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    socks = [socket.create_connection((host, port), timeout=90) for _ in range(200)]
    try:
        for sock in socks:
            sock.sendall(request)
        answers = []
        for sock in socks:
            data = b""
            while not data.endswith((b"slept", b"awaiting")):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
            answers.append(data)
    finally:
        for sock in socks:
            sock.close()
    assert all(a.startswith(b"HTTP/1.1 200 ") for a in answers), answers[0]
    assert [a.rpartition(b"\r\n\r\n")[2] for a in answers] == [b"slept"] * 200
