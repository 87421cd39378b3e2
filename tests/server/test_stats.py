"""The ``micro.server_stats`` environ entry: the server's own numbers, read by an app."""

from __future__ import annotations

import json
import socket
import threading
import urllib.request
from collections.abc import Callable
from typing import Any

from micro.server import STATS_KEY, Server, ServerConfig, ServerStats


def test_an_app_reads_connections_queue_and_busy_workers() -> None:
    entered, release = threading.Event(), threading.Event()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if environ["PATH_INFO"] == "/block":
            entered.set()
            release.wait(10)
            body = b"unblocked"
        else:
            stats = environ[STATS_KEY]()
            assert isinstance(stats, ServerStats)
            body = json.dumps(stats._asdict()).encode()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]

    server = Server(app, ServerConfig(port=0, threads=3))
    server.start()
    try:
        url = f"http://127.0.0.1:{server.address[1]}"
        blocked = threading.Thread(
            target=lambda: urllib.request.urlopen(url + "/block", timeout=15).read()
        )
        blocked.start()
        assert entered.wait(10)
        idle = socket.create_connection(server.address, timeout=5)  # open, says nothing
        try:
            with urllib.request.urlopen(url + "/stats", timeout=5) as response:
                stats = json.loads(response.read())
        finally:
            idle.close()
            release.set()
            blocked.join(15)
    finally:
        server.stop()
    # The blocked request, the idle connection and this one; two threads at work.
    assert stats == {"connections": 3, "pending": 0, "busy": 2, "threads": 3, "parked": 0}
