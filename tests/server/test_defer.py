"""The defer seam: ``resume = environ["micro.defer"]()``, then ``resume(app)`` from anywhere.

Between the two the request holds no worker. Checked with a raw WSGI app (the seam
alone) and with micro.App's async routes: 200 concurrent requests to a route that
awaits ``asyncio.sleep(0.1)`` all finish within 0.5 s on four worker threads.
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
    app = App()

    @app.route("/sleep")
    async def sleep(request: Request) -> str:
        await asyncio.sleep(0.1)
        return "slept"

    host, port = harness.serve(app, threads=4, max_connections=None)
    request = f"GET /sleep HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    warm = socket.create_connection((host, port), timeout=5)
    warm.sendall(request)
    assert b"slept" in warm.recv(4096)  # starts the App's loop
    warm.close()
    socks = [socket.create_connection((host, port), timeout=5) for _ in range(200)]
    try:
        started = time.monotonic()
        for sock in socks:
            sock.sendall(request)
        answers = []
        for sock in socks:
            data = b""
            while not data.endswith(b"slept"):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
            answers.append(data)
        elapsed = time.monotonic() - started
    finally:
        for sock in socks:
            sock.close()
    assert all(a.startswith(b"HTTP/1.1 200 ") and a.endswith(b"slept") for a in answers)
    assert elapsed < 0.5, f"200 requests took {elapsed:.2f}s"
