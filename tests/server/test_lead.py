"""The I/O loop's thread serves quick requests itself and hands the loop on when one is slow.

micro.server.lead: while a worker is free, the thread running the loop serves a
complete request itself; a request that runs past ``inline_budget`` has the loop
taken over by a free worker, so other clients never wait for a slow one.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from micro.errors import ConfigError
from micro.server import Server, ServerConfig
from micro.server.lead import OFF_SWEEPS, PROBES, Pace

from .conftest import Harness

Start = Callable[..., Any]


def naming_app(gate: threading.Event | None = None, spin: float = 0.0) -> Any:
    """Answers with the name of the thread that ran it; /block waits for ``gate``,
    /spin computes for ``spin`` seconds holding the GIL as much as Python lets it."""

    def app(environ: dict[str, Any], start_response: Start) -> list[bytes]:
        path = environ["PATH_INFO"]
        if path == "/block" and gate is not None:
            gate.wait(10)
        elif path == "/spin":
            end = time.perf_counter() + spin
            while time.perf_counter() < end:
                sum(range(1000))
        body = threading.current_thread().name.encode()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]

    return app


GET = b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n"


# Where a test names the thread that served a request, its inline_budget is large:
# on a loaded machine a quick request may take a millisecond now and then, and with
# the default budget a few of those would send requests to the workers for a while.
ROOMY = 0.5


def test_a_quick_request_is_served_by_the_loops_own_thread(harness: Harness) -> None:
    address = harness.serve(naming_app(), threads=2, inline_budget=ROOMY)
    client = harness.client(address)
    for _ in range(3):
        client.send(GET % b"/")
        assert client.response().body == b"micro-io"


def test_with_a_zero_budget_every_request_goes_to_a_worker(harness: Harness) -> None:
    address = harness.serve(naming_app(), threads=2, inline_budget=0)
    client = harness.client(address)
    for _ in range(3):
        client.send(GET % b"/")
        assert client.response().body.startswith(b"micro-worker-")


def test_a_blocked_request_hands_the_loop_to_a_worker(harness: Harness) -> None:
    gate = threading.Event()
    address = harness.serve(naming_app(gate), threads=2)
    slow = harness.client(address, timeout=10)
    slow.send(GET % b"/block")  # served on the loop's thread, which then blocks
    try:
        time.sleep(0.1)  # well past the budget: the worker has taken the loop over
        started = time.monotonic()
        for _ in range(5):
            other = harness.client(address)
            other.send(GET % b"/")
            assert other.response().status == 200
        assert time.monotonic() - started < 5.0  # not held until the gate opens
    finally:
        gate.set()
    assert slow.response().status == 200
    # The blocked thread finished as a worker; its connection carries on.
    slow.send(GET % b"/")
    assert slow.response().status == 200


def test_a_request_pipelined_behind_one_that_lost_the_lead_is_answered(
    harness: Harness,
) -> None:
    # The loop's thread serves /block, the lead moves on, /block ends: the request
    # the client sent right behind it is already in the parser, and no more bytes
    # will come to wake the loop for it. The thread that served /block goes on with
    # the connection as a worker would.
    gate = threading.Event()
    address = harness.serve(naming_app(gate), threads=2, head_timeout=30)
    client = harness.client(address, timeout=10)
    client.send(GET % b"/block" + GET % b"/after")
    time.sleep(0.1)  # past the budget: the loop has moved to another thread
    gate.set()
    started = time.monotonic()
    assert client.response().status == 200
    after = client.response()
    assert after.status == 200
    assert time.monotonic() - started < 5.0
    # Served by the thread that lost the lead, as the worker it is again: only the
    # thread running the loop is called micro-io.
    assert after.body.startswith(b"micro-worker-")


def test_a_computing_request_does_not_hold_the_other_clients(harness: Harness) -> None:
    address = harness.serve(naming_app(spin=2.0), threads=2)
    spinning = harness.client(address, timeout=10)
    spinning.send(GET % b"/spin")
    time.sleep(0.1)
    started = time.monotonic()
    other = harness.client(address)
    other.send(GET % b"/")
    assert other.response().status == 200
    # The spin still runs (2 s): the answer came from the thread that took the loop.
    assert time.monotonic() - started < 1.5
    assert spinning.response().status == 200


def test_two_blocked_requests_with_one_worker_leave_the_loop_running(
    harness: Harness,
) -> None:
    # One request blocks the loop's thread (the worker takes the loop over); the
    # next blocked request goes to the queue, since no thread is free to take the
    # loop again; the loop keeps answering.
    gate = threading.Event()
    address = harness.serve(naming_app(gate), threads=1)
    first = harness.client(address, timeout=10)
    first.send(GET % b"/block")
    time.sleep(0.1)
    second = harness.client(address, timeout=10)
    second.send(GET % b"/block")
    time.sleep(0.1)
    bad = harness.client(address)
    bad.send(b"NOT HTTP\r\n\r\n")
    assert bad.response().status == 400
    gate.set()
    assert first.response().status == 200
    assert second.response().status == 200


def test_after_requests_that_wait_the_workers_serve_them_for_a_sweep_or_two(
    harness: Harness,
) -> None:
    # 30 ms is under the budget (0.1 s) but over its fifth: an app that waits on a
    # database like this is served by the workers side by side, not one request
    # after another on the loop's thread; a sweep or two later (every 0.5 s with
    # these timeouts) the loop tries again. The average that decides it gives the
    # latest request a fifth of its weight (about five waits to cross 20 ms), then
    # PROBES requests are asked whether they waited.
    def app(environ: dict[str, Any], start_response: Start) -> list[bytes]:
        if environ["PATH_INFO"] == "/wait":
            time.sleep(0.03)
        body = threading.current_thread().name.encode()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]

    address = harness.serve(app, threads=2, head_timeout=4, inline_budget=0.1)
    client = harness.client(address)
    here = 0
    for _ in range(5 + PROBES + 10):
        client.send(GET % b"/wait")
        body = client.response().body
        if body.startswith(b"micro-worker-"):
            break  # the workers serve them now
        assert body == b"micro-io"
        here += 1
    else:
        raise AssertionError("the loop's thread served every waiting request itself")
    assert here >= PROBES  # it probed before it stepped aside
    time.sleep(1.5)  # sweeps every 0.5 s with these timeouts: the loop tries again
    client.send(GET % b"/")
    assert client.response().body == b"micro-io"


def test_pace_probes_before_it_sends_requests_to_the_workers() -> None:
    pace = Pace(0.005)  # slow: over 1 ms on average
    for _ in range(20):
        pace.record(0.00003, False)  # quick requests: nothing to do
    assert not pace.probing and not pace.off
    for _ in range(20):
        if pace.probing:
            break
        pace.record(0.004, False)
    assert pace.probing == PROBES  # the average crossed: the next ones are asked
    for _ in range(PROBES):
        assert not pace.off
        pace.record(0.004, False)  # slow, but never waited: the scheduler, not the app
    assert not pace.probing and not pace.off  # stays on the loop
    for _ in range(20):
        if pace.probing:
            break
        pace.record(0.004, True)
    for _ in range(PROBES):
        pace.record(0.004, True)  # these waited: the workers would serve them better
    assert pace.off == OFF_SWEEPS
    pace.sweep()
    assert pace.off == OFF_SWEEPS - 1
    pace.sweep()
    assert not pace.off


def test_pipelined_requests_served_on_the_loop_come_back_in_order(harness: Harness) -> None:
    def echo(environ: dict[str, Any], start_response: Start) -> list[bytes]:
        body = environ["PATH_INFO"].encode()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]

    address = harness.serve(echo, threads=2)
    client = harness.client(address)
    client.send(b"".join(GET % b"/%d" % i for i in range(50)))
    assert [client.response().body for _ in range(50)] == [b"/%d" % i for i in range(50)]


def test_a_server_stops_cleanly_while_the_loop_was_handed_over(harness: Harness) -> None:
    gate = threading.Event()
    address = harness.serve(naming_app(gate), threads=1)
    slow = harness.client(address, timeout=10)
    slow.send(GET % b"/block")
    time.sleep(0.1)
    server = harness.servers[0]
    finished: list[bool] = []
    stopper = threading.Thread(target=lambda: finished.append(server.stop(5.0)))
    stopper.start()
    time.sleep(0.2)
    gate.set()
    response = slow.response()
    assert response.status == 200
    assert response.header("Connection") == "close"
    stopper.join(10)
    assert finished == [True]  # every request finished, every thread ended


def test_the_budget_cannot_be_negative() -> None:
    with pytest.raises(ConfigError, match="inline_budget"):
        ServerConfig(inline_budget=-1)


def test_a_stop_right_after_start_does_not_wait_for_the_loops_thread() -> None:
    # The stop may come before any of the pool's threads took the lead: the thread
    # that takes it later must not be joined like a worker (for the whole timeout).
    for _ in range(20):
        server = Server(naming_app(), ServerConfig(port=0, threads=1))
        server.start()
        started = time.monotonic()
        assert server.stop(timeout=5.0)
        assert time.monotonic() - started < 2.0


def test_mixed_quick_waiting_computing_and_pipelined_requests_all_get_their_answers(
    harness: Harness,
) -> None:
    # Quick requests on the loop's thread, waits that hand the loop on (/block,
    # 0.2 s), computing ones and pipelined batches, from clients at once: every
    # answer arrives, in order, and none waits on a lost wake-up (a socket timeout).
    def app(environ: dict[str, Any], start_response: Start) -> list[bytes]:
        path = environ["PATH_INFO"]
        if path == "/wait":
            time.sleep(0.01)
        elif path == "/block":
            time.sleep(0.2)
        elif path == "/spin":
            end = time.perf_counter() + 0.003
            while time.perf_counter() < end:
                pass
        body = path.encode()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]

    address = harness.serve(app, threads=2)
    failures: list[str] = []

    def client(seed: int) -> None:
        rnd = random.Random(seed)
        conn = harness.client(address, timeout=10)
        try:
            for _ in range(15):
                paths = [
                    rnd.choice([b"/fast"] * 5 + [b"/wait", b"/spin", b"/block"])
                    for _ in range(rnd.choice([1, 1, 2, 3]))
                ]
                conn.send(b"".join(GET % p for p in paths))
                for path in paths:
                    response = conn.response()
                    if response.status != 200 or response.body != path:
                        failures.append(f"{path!r}: {response.status} {response.body!r}")
                        return
        except OSError as exc:  # a timeout: an answer that never came
            failures.append(repr(exc))

    clients = [threading.Thread(target=client, args=(seed,)) for seed in range(10)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join(60)
    assert not [t for t in clients if t.is_alive()]
    assert failures == []
