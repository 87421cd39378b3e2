"""Limits under load over real sockets: max_pending answers 503, max_connections waits.

The app blocks on an event (one worker thread), so how many requests wait is known.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from typing import Any

import pytest

from micro.errors import ConfigError
from micro.server import ServerConfig

REQUEST = b"GET /block HTTP/1.1\r\nHost: t\r\n\r\n"
QUICK = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


class BlockingApp:
    """``/block`` waits until released; counts the requests that entered."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Semaphore(0)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/block":
            self.entered.release()
            self.release.wait(20)
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]


def readable(sock: socket.socket, timeout: float) -> bool:
    return bool(select.select([sock], [], [], timeout)[0])


def wait_for_answers(clients: list[Any], count: int, timeout: float = 10.0) -> list[Any]:
    """The first ``count`` clients that have bytes to read (polled, bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = select.select([c.sock for c in clients], [], [], 0.1)[0]
        if len(ready) >= count:
            return [c for c in clients if c.sock in ready]
    raise AssertionError(f"fewer than {count} answers within {timeout}s")


def test_full_backlog_answers_503_with_retry_after_then_recovers(harness: Any) -> None:
    app = BlockingApp()
    address = harness.serve(app, threads=1, max_pending=2)
    first = harness.client(address)
    first.send(REQUEST)
    assert app.entered.acquire(timeout=10)  # the one worker is now held
    waiting = [harness.client(address) for _ in range(5)]
    for client in waiting:
        client.send(REQUEST)
    # Two fit in the backlog; three are refused at once, while the app still blocks.
    refused = wait_for_answers(waiting, 3)
    assert len(refused) == 3
    for client in refused:
        response = client.response()
        assert response.status == 503
        assert response.header("retry-after") == "1"
        assert response.header("connection") == "close"
        assert client.closed_by_server()
    assert not app.release.is_set()
    app.release.set()
    assert first.response().status == 200
    served = [c for c in waiting if c not in refused]
    assert [c.response().body for c in served] == [b"ok", b"ok"]
    again = harness.client(address)
    again.send(QUICK)
    assert again.response().status == 200


def test_max_pending_one_serves_a_lone_request_and_refuses_the_second_waiting(
    harness: Any,
) -> None:
    app = BlockingApp()
    address = harness.serve(app, threads=1, max_pending=1)
    first = harness.client(address)
    first.send(REQUEST)
    assert app.entered.acquire(timeout=10)
    queued, refused = harness.client(address), harness.client(address)
    queued.send(QUICK)
    assert not readable(queued.sock, 0.3)  # waits in the backlog
    refused.send(QUICK)
    assert refused.response().status == 503
    app.release.set()
    assert first.response().status == 200
    assert queued.response().status == 200
    first.send(QUICK)  # the connection that was served stays usable
    assert first.response().status == 200


def test_without_max_pending_requests_queue_and_all_are_served(harness: Any) -> None:
    app = BlockingApp()
    address = harness.serve(app, threads=1)
    clients = [harness.client(address) for _ in range(6)]
    for client in clients:
        client.send(REQUEST)
    assert app.entered.acquire(timeout=10)
    assert not select.select([c.sock for c in clients], [], [], 0.3)[0]  # nobody refused
    app.release.set()
    assert [c.response().status for c in clients] == [200] * 6


def test_max_connections_holds_new_clients_until_one_closes(harness: Any) -> None:
    address = harness.serve(BlockingApp(), threads=2, max_connections=2)
    first, second = harness.client(address), harness.client(address)
    for client in (first, second):
        client.send(QUICK)  # answered: both connections are open and counted
        assert client.response().status == 200
    third = harness.client(address)  # the kernel completes the TCP handshake
    third.send(QUICK)
    assert not readable(third.sock, 0.5)  # but the server does not take it yet
    second.send(QUICK)  # the open ones are served as usual
    assert second.response().status == 200
    first.close()
    assert readable(third.sock, 10.0)
    assert third.response().status == 200
    fourth = harness.client(address)  # second and third are open: fourth waits too
    fourth.send(QUICK)
    assert not readable(fourth.sock, 0.3)
    third.send(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert third.response().status == 200
    assert readable(fourth.sock, 10.0)
    assert fourth.response().status == 200


def test_max_connections_counts_connections_closed_by_timeouts(harness: Any) -> None:
    address = harness.serve(BlockingApp(), threads=1, max_connections=1, idle_timeout=0.3)
    silent = harness.client(address)
    waiting = harness.client(address)
    waiting.send(QUICK)
    assert silent.closed_by_server()  # idle timeout frees the slot...
    assert waiting.response().status == 200  # ...and the waiting client is taken


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_connections", 0), ("max_pending", 0), ("graceful_timeout", 0)],
)
def test_limits_are_validated(field: str, value: int) -> None:
    with pytest.raises(ConfigError, match=field):
        ServerConfig(**{field: value})  # type: ignore[arg-type]
