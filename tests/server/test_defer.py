"""The defer seam: ``resume = environ["micro.defer"]()``, then ``resume(app)`` from anywhere.

Between the two the request holds no worker. Checked with a raw WSGI app (the seam
alone) and with micro.App's async routes: 200 concurrent requests to a route that
awaits are all awaiting at once on four worker threads.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from typing import Any

import pytest

from micro import App, Request

from .conftest import Client, Harness


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


# -- defer_timeout: a parked exchange nobody resumes --------------------------------


class Deferring:
    """An app that defers every request but /stats, keeping each ``resume`` it got."""

    def __init__(self) -> None:
        self.resumes: list[Any] = []
        self.parked = threading.Semaphore(0)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/stats":
            stats = environ["micro.server_stats"]()
            body = f"parked={stats.parked}".encode()
            start_response("200 OK", [("Content-Length", str(len(body)))])
            return [body]
        self.resumes.append(environ["micro.defer"]())
        self.parked.release()
        return []

    def wait_parked(self, count: int = 1) -> None:
        for _ in range(count):
            assert self.parked.acquire(timeout=5), "the app was not called"


def parked_now(harness: Harness, address: tuple[str, int]) -> bytes:
    client = harness.client(address)
    client.send(b"GET /stats HTTP/1.1\r\nHost: x\r\n\r\n")
    return client.response().body


def test_a_request_nobody_resumes_gets_504_and_is_closed(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    app = Deferring()
    address = harness.serve(app, defer_timeout=0.3)
    client = harness.client(address)
    caplog.set_level(logging.ERROR, logger="micro.error")
    started = time.monotonic()
    client.send(b"GET /never?x=1 HTTP/1.1\r\nHost: x\r\n\r\n")
    app.wait_parked()
    assert parked_now(harness, address) == b"parked=1"
    response = client.response()
    waited = time.monotonic() - started
    assert response.status == 504
    assert response.reason == "Gateway Timeout"
    assert response.body == b"504 Gateway Timeout: the app did not answer in time\n"
    assert response.header("connection") == "close"
    assert 0.3 <= waited < 3.0
    assert client.closed_by_server()  # keep-alive asked, but the connection ends cleanly
    assert parked_now(harness, address) == b"parked=0"
    lines = [r.getMessage() for r in caplog.records if r.name == "micro.error"]
    assert lines == ["GET /never?x=1 was not resumed within 0.3 s (defer_timeout); answered 504"]


def test_a_timeout_replaces_what_the_app_started_before_it_deferred(harness: Harness) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/html")])  # then changed its mind
        environ["micro.defer"]()
        return []

    address = harness.serve(app, defer_timeout=0.2)
    client = harness.client(address)
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    response = client.response()
    assert (response.status, response.header("content-type")) == (
        504,
        "text/plain; charset=utf-8",
    )
    assert client.closed_by_server()


def test_a_resume_after_the_timeout_is_ignored(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    app = Deferring()
    address = harness.serve(app, defer_timeout=0.2)
    client = harness.client(address)
    client.send(b"GET /late HTTP/1.1\r\nHost: x\r\n\r\n")
    app.wait_parked()
    assert client.response().status == 504
    outcome: list[Any] = []

    def late() -> None:  # the app's own thread: it must see no exception
        try:
            outcome.append(app.resumes[0](answer(b"too late")))
        except Exception as exc:  # pragma: no cover - the failure this test looks for
            outcome.append(exc)

    with caplog.at_level(logging.WARNING, logger="micro.error"):
        thread = threading.Thread(target=late)
        thread.start()
        thread.join(5)
    assert outcome == [False]
    assert "GET /late was resumed after the server answered it; resume ignored" in [
        r.getMessage() for r in caplog.records
    ]
    assert client.closed_by_server()  # and "too late" never went out
    assert parked_now(harness, address) == b"parked=0"  # the server serves on


def test_a_resume_before_the_timeout_answers_normally(harness: Harness) -> None:
    app = Deferring()
    address = harness.serve(app, defer_timeout=0.5)
    client = harness.client(address)
    client.send(b"GET /soon HTTP/1.1\r\nHost: x\r\n\r\n")
    app.wait_parked()
    time.sleep(0.3)
    assert app.resumes[0](answer(b"in time")) is True
    response = client.response()
    assert (response.status, response.body) == (200, b"in time")
    assert response.header("connection") is None
    time.sleep(0.5)  # past the deadline: nothing more comes for that request
    client.send(b"GET /stats HTTP/1.1\r\nHost: x\r\n\r\n")
    assert client.response().body == b"parked=0"


def test_resumes_racing_the_timeout_give_one_answer_each(harness: Harness) -> None:
    app = Deferring()
    timeout = 0.3
    address = harness.serve(app, defer_timeout=timeout)
    clients = [harness.client(address) for _ in range(16)]
    for client in clients:
        client.send(b"GET /race HTTP/1.1\r\nHost: x\r\n\r\n")
    app.wait_parked(len(clients))
    parked_at = time.monotonic()
    results: list[bool] = []
    lock = threading.Lock()

    def resume_at(resume: Any, delay: float) -> None:
        time.sleep(max(0.0, parked_at + delay - time.monotonic()))
        result = resume(answer(b"resumed"))
        with lock:
            results.append(result)

    # Resumes spread around the deadline (and the sweep that finds it), the last
    # ones well past it.
    threads = [
        threading.Thread(target=resume_at, args=(resume, timeout - 0.1 + 0.6 * i / 15))
        for i, resume in enumerate(app.resumes)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    statuses = []
    for client in clients:
        response = client.response()
        statuses.append(response.status)
        if response.status == 200:
            assert response.body == b"resumed"
            client.send(b"GET /stats HTTP/1.1\r\nHost: x\r\n\r\n")  # still usable
            assert client.response().status == 200
        else:
            assert response.status == 504
            assert client.closed_by_server()  # nothing after the one answer
    assert 504 in statuses
    assert sorted(results, reverse=True) == [s == 200 for s in sorted(statuses)]
    assert parked_now(harness, address) == b"parked=0"


def test_a_stop_answers_what_is_still_parked_503(harness: Harness) -> None:
    app = Deferring()
    address = harness.serve(app, defer_timeout=0)  # no limit: only the stop ends it
    client = harness.client(address)
    client.send(b"GET /forever HTTP/1.1\r\nHost: x\r\n\r\n")
    app.wait_parked()
    time.sleep(0.3)  # longer than the sweep: with no limit nothing times it out
    started = time.monotonic()
    assert harness.servers[0].stop(timeout=0.5) is False  # not every request finished
    assert time.monotonic() - started < 3.0
    response = client.response()
    assert response.status == 503
    assert response.body == b"503 Service Unavailable: the server stopped before the app answered\n"
    assert client.closed_by_server()
    assert app.resumes[0](answer(b"after the stop")) is False


def test_an_async_route_past_the_timeout_gets_504(harness: Harness) -> None:
    app = App()
    finished = threading.Event()

    @app.route("/slow")
    async def slow(request: Request) -> str:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            finished.set()  # cancelled: nobody is left to answer
            raise
        return "slow"

    @app.route("/quick")
    async def quick(request: Request) -> str:
        return "quick"

    address = harness.serve(app, defer_timeout=0.2)
    client = harness.client(address)
    started = time.monotonic()
    client.send(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
    assert client.response().status == 504
    assert finished.wait(5)
    assert time.monotonic() - started < 5
    other = harness.client(address)
    other.send(b"GET /quick HTTP/1.1\r\nHost: x\r\n\r\n")
    assert other.response().body == b"quick"


# -- a client that goes away while its exchange is parked ---------------------------


class Dropped:
    """Drop callbacks registered on every ``resume`` of a :class:`Deferring` app."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []  # (reason, thread name)
        self.called = threading.Semaphore(0)

    def __call__(self, reason: str) -> None:
        self.calls.append((reason, threading.current_thread().name))
        self.called.release()

    def wait(self) -> list[tuple[str, str]]:
        assert self.called.acquire(timeout=5), "no drop callback within 5 s"
        time.sleep(0.05)  # a second call, if any, would come at once
        return self.calls


class Watching(Deferring):
    """A :class:`Deferring` app that registers a :class:`Dropped` on each resume, and
    answers /now at once."""

    def __init__(self) -> None:
        super().__init__()
        self.dropped = Dropped()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/now":
            start_response("200 OK", [("Content-Length", "3")])
            return [b"now"]
        result = super().__call__(environ, start_response)
        if environ["PATH_INFO"] != "/stats":
            self.resumes[-1].on_drop(self.dropped)
        return result


def wait_parked_count(harness: Harness, address: tuple[str, int], expected: bytes) -> float:
    """Seconds until the server counts ``expected`` parked (asked over HTTP), within 5 s."""
    started = time.monotonic()
    while parked_now(harness, address) != expected:
        assert time.monotonic() - started < 5, f"still not {expected!r} after 5 s"
        time.sleep(0.02)
    return time.monotonic() - started


def leave(client: Client, how: str) -> None:
    if how == "reset":  # SO_LINGER 0: close() sends a reset instead of a FIN
        client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
    client.close()


@pytest.mark.parametrize("how", ["close", "reset"])
def test_a_client_that_leaves_drops_its_parked_exchange(
    harness: Harness, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    app = Watching()
    address = harness.serve(app, defer_timeout=30)
    client = harness.client(address)
    caplog.set_level(logging.DEBUG, logger="micro.error")
    client.send(b"GET /gone HTTP/1.1\r\nHost: x\r\n\r\n")
    app.wait_parked()
    assert parked_now(harness, address) == b"parked=1"
    leave(client, how)
    assert wait_parked_count(harness, address, b"parked=0") < 3  # not defer_timeout's 30
    calls = app.dropped.wait()
    assert [reason for reason, _ in calls] == ["client gone"]
    assert calls[0][1].startswith("micro-worker-")  # a worker: never the I/O loop
    answered: list[bool] = []

    def late(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        answered.append(True)  # pragma: no cover - the failure this test looks for
        return []  # pragma: no cover

    assert app.resumes[0](late) is False  # no exception into the app's thread
    assert answered == []  # nothing was sent for a client that left
    records = [r for r in caplog.records if r.name == "micro.error"]
    assert all(r.levelno <= logging.INFO and r.exc_info is None for r in records), records
    assert "GET /gone was resumed after its client went away; resume ignored" in [
        r.getMessage() for r in records
    ]
    other = harness.client(address)  # the server serves on
    other.send(b"GET /now HTTP/1.1\r\nHost: x\r\n\r\n")
    assert other.response().body == b"now"


def test_a_half_close_counts_as_leaving(harness: Harness) -> None:
    # Shut for writing after the request: an end of input, as a close reads (see
    # micro.server.defer for why it is treated the same).
    app = Watching()
    address = harness.serve(app, defer_timeout=30)
    client = harness.client(address)
    client.send(b"GET /half HTTP/1.1\r\nHost: x\r\n\r\n")
    app.wait_parked()
    client.sock.shutdown(socket.SHUT_WR)
    assert [reason for reason, _ in app.dropped.wait()] == ["client gone"]
    assert client.closed_by_server()  # closed, with no answer
    assert parked_now(harness, address) == b"parked=0"
    assert app.resumes[0](answer(b"too late")) is False


@pytest.mark.parametrize("when", ["with the first", "while parked"])
def test_a_request_pipelined_behind_a_parked_one_is_answered_after_it(
    harness: Harness, when: str
) -> None:
    app = Watching()
    # head_timeout 0.4: the loop sweeps (and starts watching parked connections)
    # every 0.1 s (a quarter of the lingering grace, min(2, head_timeout)).
    address = harness.serve(app, defer_timeout=30, head_timeout=0.4)
    client = harness.client(address)
    first = b"POST /later HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
    second = b"GET /now HTTP/1.1\r\nHost: x\r\n\r\n"
    if when == "with the first":
        client.send(first + second)
        app.wait_parked()
    else:
        client.send(first)
        app.wait_parked()
        time.sleep(0.3)  # the loop watches the connection now
        client.send(second)  # read by the loop while /later is parked: no hang-up
        time.sleep(0.1)
    assert parked_now(harness, address) == b"parked=1"  # /now waits its turn
    assert app.resumes[0](answer(b"later: ")) is True
    assert client.response().body == b"later: hi"
    assert client.response().body == b"now"
    client.send(b"GET /now HTTP/1.1\r\nHost: x\r\n\r\n")  # and the connection goes on
    assert client.response().body == b"now"
    assert app.dropped.calls == []


def test_the_drop_callback_fires_once_for_a_504(harness: Harness) -> None:
    app = Watching()
    address = harness.serve(app, defer_timeout=0.2)
    client = harness.client(address)
    client.send(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
    app.wait_parked()
    assert client.response().status == 504
    calls = app.dropped.wait()
    assert [reason for reason, _ in calls] == ["timed out"]
    assert calls[0][1].startswith("micro-worker-")
    client.close()  # a hang-up after the answer drops nothing more
    time.sleep(0.1)
    assert len(app.dropped.calls) == 1
    late = Dropped()
    app.resumes[0].on_drop(late)  # registered after the drop: called at once
    assert late.calls == [("timed out", threading.current_thread().name)]


def test_the_drop_callback_fires_once_for_a_stop(harness: Harness) -> None:
    app = Watching()
    address = harness.serve(app, defer_timeout=0)
    client = harness.client(address)
    client.send(b"GET /forever HTTP/1.1\r\nHost: x\r\n\r\n")
    app.wait_parked()
    assert harness.servers[0].stop(timeout=0.3) is False
    assert client.response().status == 503
    assert client.closed_by_server()
    assert [reason for reason, _ in app.dropped.wait()] == ["server stopping"]


def test_the_drop_callback_never_fires_for_an_answer(harness: Harness) -> None:
    app = Watching()
    address = harness.serve(app, defer_timeout=0.3)
    client = harness.client(address)
    client.send(b"GET /soon HTTP/1.1\r\nHost: x\r\n\r\n")
    app.wait_parked()
    assert app.resumes[0](answer(b"in time")) is True
    assert client.response().body == b"in time"
    client.close()  # leaving after the answer drops nothing
    time.sleep(0.5)  # past defer_timeout too
    assert app.dropped.calls == []
    assert parked_now(harness, address) == b"parked=0"


def test_an_async_route_is_cancelled_when_its_client_leaves(harness: Harness) -> None:
    app = App()
    cancelled = threading.Event()
    ended = threading.Event()

    @app.route("/slow")
    async def slow(request: Request) -> str:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        finally:
            ended.set()
        return "slow"

    @app.route("/stats")
    def stats(request: Request) -> str:
        return f"parked={request.environ['micro.server_stats']().parked}"

    address = harness.serve(app, defer_timeout=30)
    client = harness.client(address)
    client.send(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
    wait_parked_count(harness, address, b"parked=1")
    started = time.monotonic()
    client.close()
    assert cancelled.wait(5) and ended.wait(5)
    assert time.monotonic() - started < 5  # not defer_timeout's 30
    assert wait_parked_count(harness, address, b"parked=0") < 3


def test_an_async_route_is_cancelled_by_a_stop_that_answers_503(harness: Harness) -> None:
    app = App()
    arrived = threading.Event()
    cancelled = threading.Event()

    @app.route("/slow")
    async def slow(request: Request) -> str:
        arrived.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "slow"

    address = harness.serve(app, defer_timeout=0)
    client = harness.client(address)
    client.send(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
    assert arrived.wait(5)
    assert harness.servers[0].stop(timeout=0.3) is False
    assert client.response().status == 503
    assert cancelled.wait(5)
