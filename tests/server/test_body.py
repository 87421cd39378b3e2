"""Request bodies read by the I/O loop over real sockets (micro.server.body).

No body ever holds a worker: it arrives whole (memory, or a spool file past
``spool_threshold``) before the app runs; ``Expect: 100-continue`` is answered by
the loop; slow and stalled bodies get 408; temporary files never outlive a request.
"""

from __future__ import annotations

import hashlib
import os
import select
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from micro.errors import ConfigError
from micro.http import Limits
from micro.server import ServerConfig
from micro.server.body import Body, BodyPolicy

Start = Callable[..., Any]
GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def digest(environ: dict[str, Any], start_response: Start) -> list[bytes]:
    """Answers the body's length, SHA-256 and whether wsgi.input is a spool file."""
    stream = environ["wsgi.input"]
    sha = hashlib.sha256()
    total = 0
    while piece := stream.read(65536):
        sha.update(piece)
        total += len(piece)
    try:
        spooled = os.fstat(stream.fileno()).st_nlink == 0  # unlinked: a TemporaryFile
    except (AttributeError, OSError, ValueError):
        spooled = False
    start_response("200 OK", [("X-Spooled", str(spooled))])
    return [b"%d %s" % (total, sha.hexdigest().encode())]


def spool_files(spool_dir: Path) -> list[str]:
    """Open descriptors of this process on files in ``spool_dir`` (deleted or not)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(spool_dir) + "/"):
            found.append(target)
    return found


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


needs_proc = pytest.mark.skipif(
    not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd to see open files"
)


# ---------------------------------------------------------------- Body on its own


def test_a_body_past_the_threshold_moves_to_a_file_and_reads_back_whole(
    tmp_path: Path,
) -> None:
    body = Body(None, 10, str(tmp_path), 0.0)
    body.write(b"0123456")
    assert not body.spooled
    body.write(b"789abcdef")
    assert body.spooled and body.size == 16
    stream = body.stream()
    assert stream.read() == b"0123456789abcdef"
    body.close()
    assert stream.closed
    body.close()  # twice is fine


def test_a_known_large_length_goes_straight_to_a_file(tmp_path: Path) -> None:
    body = Body(11, 10, str(tmp_path), 0.0)
    assert body.spooled
    body.close()
    small = Body(10, 10, str(tmp_path), 0.0)
    small.write(b"x" * 10)
    assert not small.spooled and small.stream().read() == b"x" * 10


def test_the_body_deadline_is_the_sooner_of_the_read_gap_and_the_rate_floor() -> None:
    policy = BodyPolicy(body_timeout=2.0, min_body_rate=100.0)
    body = Body(None, 1000, None, started=10.0)
    assert policy.deadline(body, 10.0) == 12.0  # nothing yet: the floor starts at 12
    body.size = 1000  # 10 s worth of the floor
    assert policy.deadline(body, 11.0) == 13.0  # the read gap comes first
    body.size = 50
    assert policy.deadline(body, 11.9) == 12.5  # the floor comes first
    assert BodyPolicy(body_timeout=2.0, min_body_rate=0).deadline(body, 11.9) == 13.9


@pytest.mark.parametrize(
    "field, value",
    [("spool_threshold", -1), ("min_body_rate", -1.0), ("spool_dir", "/nonexistent/micro")],
)
def test_bad_body_settings_are_refused(field: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=field):
        ServerConfig(**{field: value})


# ---------------------------------------------------------------- over sockets


def test_small_body_is_in_memory_and_large_one_in_the_spool(harness: Any, tmp_path: Path) -> None:
    client = harness.client(harness.serve(digest, spool_threshold=1000, spool_dir=str(tmp_path)))
    for size, spooled in ((1000, "False"), (1001, "True")):
        payload = os.urandom(size)
        client.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size + payload)
        response = client.response()
        assert response.body == b"%d %s" % (size, hashlib.sha256(payload).hexdigest().encode())
        assert response.header("x-spooled") == spooled


@pytest.mark.parametrize("framing", ["chunked", "content-length"])
def test_an_upload_streams_through_the_spool_whole(
    harness: Any, tmp_path: Path, framing: str
) -> None:
    payload = os.urandom(8 * 1024 * 1024)
    address = harness.serve(digest, spool_threshold=65536, spool_dir=str(tmp_path))
    client = harness.client(address, timeout=30)
    if framing == "chunked":
        client.send(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        for i in range(0, len(payload), 300_000):
            piece = payload[i : i + 300_000]
            client.send(b"%x\r\n%b\r\n" % (len(piece), piece))
        client.send(b"0\r\n\r\n")
    else:
        # Read straight from the socket into the spool file (Channel.recv_body).
        client.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(payload))
        for i in range(0, len(payload), 300_000):
            client.send(payload[i : i + 300_000])
    response = client.response()
    assert response.body == b"%d %s" % (len(payload), hashlib.sha256(payload).hexdigest().encode())
    assert response.header("x-spooled") == "True"


def test_the_app_runs_only_once_the_body_is_whole(harness: Any) -> None:
    entered = threading.Event()

    def app(environ: dict[str, Any], start_response: Start) -> list[bytes]:
        entered.set()
        data = environ["wsgi.input"].read()
        start_response("200 OK", [])
        return [data]

    client = harness.client(harness.serve(app, threads=1))
    client.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nabc")
    assert not entered.wait(0.3)
    client.send(b"def")
    assert client.response().body == b"abcdef"


def test_100_continue_comes_from_the_loop_before_the_app_runs(harness: Any) -> None:
    entered = threading.Event()

    def app(environ: dict[str, Any], start_response: Start) -> list[bytes]:
        entered.set()
        start_response("200 OK", [])
        return [environ["wsgi.input"].read()]

    client = harness.client(harness.serve(app))
    client.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
    assert client.response().status == 100
    assert not entered.is_set()
    client.send(b"body")
    response = client.response()
    assert (response.status, response.body, response.header("connection")) == (200, b"body", None)
    client.send(GET)
    assert client.response().status == 200  # the connection carries on


def test_an_over_limit_body_with_expect_gets_413_and_no_100(harness: Any) -> None:
    client = harness.client(harness.serve(digest))
    client.send(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000000\r\nExpect: 100-continue\r\n\r\n"
    )
    response = client.response()
    assert response.status == 413
    assert response.header("connection") == "close"
    assert client.closed_by_server()


def test_a_body_sent_without_waiting_for_100_gets_no_100(harness: Any) -> None:
    client = harness.client(harness.serve(digest))
    client.send(
        b"PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello"
    )
    response = client.response()
    assert response.status == 200  # not 100: the body was already here
    assert response.body.startswith(b"5 ")


def test_a_stalled_body_gets_408_and_close(harness: Any) -> None:
    client = harness.client(harness.serve(digest, body_timeout=0.3))
    started = time.monotonic()
    client.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
    response = client.response()
    assert response.status == 408
    assert time.monotonic() - started < 3
    assert client.closed_by_server()


def test_a_body_dripping_under_the_minimum_rate_gets_408(harness: Any) -> None:
    client = harness.client(harness.serve(digest, body_timeout=0.5, min_body_rate=200))
    client.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
    started = time.monotonic()
    answer = b""
    while time.monotonic() - started < 5 and not answer:
        client.send(b"x")  # 20 bytes a second: never a gap of body_timeout
        if select.select([client.sock], [], [], 0.05)[0]:
            answer = client.sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert 0.5 <= time.monotonic() - started < 3


def test_a_slow_body_above_the_minimum_rate_is_served(harness: Any) -> None:
    # 250 bytes a second for 1.2 s: past body_timeout, so the floor applies, and every
    # gap 0.9 s shorter than body_timeout, so that a loaded machine cannot stretch one.
    client = harness.client(harness.serve(digest, body_timeout=1.0, min_body_rate=100))
    payload = b"y" * 300
    client.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 300\r\n\r\n")
    for i in range(0, 300, 25):
        time.sleep(0.1)
        client.send(payload[i : i + 25])
    assert client.response().body.startswith(b"300 ")


def test_a_client_gone_mid_body_never_reaches_the_app(harness: Any) -> None:
    calls: list[str] = []

    def app(environ: dict[str, Any], start_response: Start) -> list[bytes]:
        calls.append(environ["PATH_INFO"])
        start_response("200 OK", [])
        return [environ["wsgi.input"].read()]

    address = harness.serve(app, threads=1)
    sock = socket.create_connection(address)
    sock.sendall(b"POST /gone HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\npartial")
    sock.close()
    client = harness.client(address)
    client.send(b"POST /next HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nz")
    assert client.response().body == b"z"
    assert calls == ["/next"]


def test_an_unread_large_body_is_dropped_and_the_connection_kept(
    harness: Any, tmp_path: Path
) -> None:
    def ignore(environ: dict[str, Any], start_response: Start) -> list[bytes]:
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    address = harness.serve(ignore, max_discard=10, spool_threshold=1000, spool_dir=str(tmp_path))
    client = harness.client(address)
    client.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100000)
    first = client.response()
    assert (first.body, first.header("connection")) == (b"ok", None)
    client.send(GET)
    assert client.response().body == b"ok"


def test_a_refused_body_is_dropped_up_to_max_discard_then_the_connection_closes(
    harness: Any,
) -> None:
    # The linger grace is 2 s; past max_discard the close must come well before it.
    address = harness.serve(digest, limits=Limits(max_body_bytes=100), max_discard=1000)
    sock = socket.create_connection(address, timeout=5)
    sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n")
    answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413 ")
    started = time.monotonic()
    try:
        for _ in range(200):  # bounded: 200 x 64 KiB
            sock.sendall(b"z" * 65536)
    except OSError:
        pass  # reset: the server stopped reading past max_discard and closed
    else:
        raise AssertionError("the server kept reading a refused body")
    finally:
        sock.close()
    assert time.monotonic() - started < 1.0


@needs_proc
def test_spool_files_are_removed_whatever_ends_the_request(harness: Any, tmp_path: Path) -> None:
    def app(environ: dict[str, Any], start_response: Start) -> list[bytes]:
        if environ["PATH_INFO"] == "/fail":
            raise RuntimeError("the app fails")
        start_response("200 OK", [])
        return [b"%d" % len(environ["wsgi.input"].read())]

    address = harness.serve(app, spool_threshold=100, spool_dir=str(tmp_path))
    head = b"POST /%s HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n"
    # Served, and failed in the app.
    for path, status in ((b"ok", 200), (b"fail", 500)):
        client = harness.client(address)
        client.send(head % path + b"b" * 5000)
        assert client.response().status == status
        assert eventually(lambda: not spool_files(tmp_path))
    # The client goes away mid-body: the file exists while the body arrives, then goes.
    sock = socket.create_connection(address)
    sock.sendall(head % b"ok" + b"b" * 1000)
    assert eventually(lambda: len(spool_files(tmp_path)) == 1)
    sock.close()
    assert eventually(lambda: not spool_files(tmp_path))
    # The server stops while a body arrives.
    sock = socket.create_connection(address)
    sock.sendall(head % b"ok" + b"b" * 1000)
    assert eventually(lambda: len(spool_files(tmp_path)) == 1)
    harness.servers[-1].stop(timeout=1.0)  # the drain waits for it, up to the timeout
    sock.close()
    assert eventually(lambda: not spool_files(tmp_path))
    assert os.listdir(tmp_path) == []  # nothing was ever left with a name


def test_a_pipelined_body_still_arriving_is_left_to_the_loop(harness: Any) -> None:
    def app(environ: dict[str, Any], start_response: Start) -> list[bytes]:
        start_response("200 OK", [])
        return [environ["wsgi.input"].read() or environ["PATH_INFO"].encode()]

    address = harness.serve(app, threads=1)
    slow = harness.client(address)
    slow.send(GET + b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nabc")
    assert slow.response().body == b"/"
    other = harness.client(address)
    other.send(b"GET /other HTTP/1.1\r\nHost: x\r\n\r\n")  # the one worker is free
    assert other.response().body == b"/other"
    slow.send(b"def")
    assert slow.response().body == b"abcdef"


def test_a_pipelined_100_continue_body_is_asked_for_and_read_by_the_loop(harness: Any) -> None:
    def app(environ: dict[str, Any], start_response: Start) -> list[bytes]:
        start_response("200 OK", [])
        return [environ["wsgi.input"].read() or environ["PATH_INFO"].encode()]

    client = harness.client(harness.serve(app, threads=1))
    client.send(
        GET + b"PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"
    )
    assert client.response().body == b"/"
    assert client.response().status == 100  # from the worker that found the head
    other = harness.client(harness.servers[-1].address)
    other.send(b"GET /free HTTP/1.1\r\nHost: x\r\n\r\n")
    assert other.response().body == b"/free"  # no worker waits for that body
    client.send(b"body")
    assert client.response().body == b"body"


# ---------------------------------------------------------------- under load


def _slow_bodies_do_not_block(harness: Any, expect: bool) -> None:
    address = harness.serve(digest, threads=4, body_timeout=30.0)
    extra = b"Expect: 100-continue\r\n" if expect else b""
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n" + extra + b"\r\n"
    drippers, stalled = [], []
    try:
        for group in (drippers, stalled):
            for _ in range(50):
                sock = socket.create_connection(address, timeout=5)
                sock.sendall(head)
                group.append(sock)
        if expect:
            for sock in drippers + stalled:
                assert sock.recv(64).startswith(b"HTTP/1.1 100 ")
        normal = harness.client(address)
        latencies = []
        next_drip = time.monotonic()
        end = time.monotonic() + 3.0
        for _ in range(2000):  # bounded in count and in time
            now = time.monotonic()
            if now >= end:
                break
            if now >= next_drip:
                for sock in drippers:
                    sock.sendall(b"d")  # one byte a second each
                next_drip = now + 1.0
            started = time.perf_counter()
            normal.send(GET)
            response = normal.response()
            latencies.append(time.perf_counter() - started)
            assert response.status == 200
            time.sleep(0.01)
        assert len(latencies) >= 20
        latencies.sort()
        p99 = latencies[int(len(latencies) * 0.99) - 1]
        # A worker held by a slow body would hold a request behind it for
        # body_timeout (30 s); served freely, one takes a millisecond. The bound sits
        # far from both, where a loaded machine's scheduling delays cannot reach it.
        assert p99 < 1.0, f"p99 {p99 * 1000:.1f} ms over {len(latencies)} requests"
    finally:
        for sock in drippers + stalled:
            sock.close()


def test_drippers_and_stalled_bodies_never_hold_a_worker(harness: Any) -> None:
    _slow_bodies_do_not_block(harness, expect=False)


def test_slow_100_continue_bodies_never_hold_a_worker(harness: Any) -> None:
    _slow_bodies_do_not_block(harness, expect=True)
