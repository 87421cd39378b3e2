"""The WSGI adapter over real sockets: framing, HEAD/204/304, app errors, write(), files."""

from __future__ import annotations

import gc
import logging
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.validate import validator

import pytest

Start = Callable[..., Any]
GET = b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n"


def request(path: bytes, method: bytes = b"GET", version: bytes = b"1.1") -> bytes:
    return b"%s %s HTTP/%s\r\nHost: x\r\n\r\n" % (method, path, version)


def streaming(environ: dict[str, Any], start_response: Start) -> Iterator[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"one,"
    yield b""
    yield b"two"


def test_stream_of_unknown_length_is_chunked_on_http11(harness: Any) -> None:
    client = harness.client(harness.serve(streaming))
    client.send(request(b"/"))
    response = client.response()
    assert response.header("transfer-encoding") == "chunked"
    assert response.header("content-length") is None
    assert response.body == b"one,two"
    client.send(request(b"/again"))
    assert client.response().body == b"one,two"


def test_stream_of_unknown_length_is_close_delimited_on_http10(harness: Any) -> None:
    client = harness.client(harness.serve(streaming))
    client.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    response = client.response()
    assert response.header("transfer-encoding") is None
    assert response.header("connection") == "close"
    assert response.body == b"one,two"


def test_list_result_gets_content_length(harness: Any) -> None:
    def app(environ: dict[str, Any], start_response: Start) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ab", b"", b"cd"]

    client = harness.client(harness.serve(app))
    client.send(request(b"/"))
    response = client.response()
    assert response.header("content-length") == "4"
    assert response.body == b"abcd"


@pytest.mark.parametrize("status", ["204 No Content", "304 Not Modified"])
def test_no_body_for_204_and_304_even_if_the_app_returns_one(harness: Any, status: str) -> None:
    def app(environ: dict[str, Any], start_response: Start) -> list[bytes]:
        start_response(status, [])
        return [b"must not be sent"]

    client = harness.client(harness.serve(app))
    client.send(request(b"/a") + request(b"/b"))
    first = client.response()
    assert first.status == int(status[:3])
    assert client.response().status == int(status[:3])  # no stray bytes in between


def test_head_gets_the_headers_without_the_body(harness: Any) -> None:
    def app(environ: dict[str, Any], start_response: Start) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"twelve bytes"]

    client = harness.client(harness.serve(app))
    client.send(request(b"/", b"HEAD") + request(b"/next"))
    head = client.response("HEAD")
    assert head.status == 200
    assert head.header("content-length") == "12"
    assert client.response().body == b"twelve bytes"


def test_head_with_streamed_body_sends_no_chunks(harness: Any) -> None:
    client = harness.client(harness.serve(streaming))
    client.send(request(b"/", b"HEAD") + request(b"/next"))
    client.response("HEAD")
    assert client.response().body == b"one,two"


def test_head_answered_with_an_empty_body_gets_no_made_up_length(harness: Any) -> None:
    # Werkzeug (so every streamed Flask route) returns no body for HEAD while GET
    # streams: HEAD must not claim Content-Length: 0 (RFC 9110 9.3.2).
    def app(environ: dict[str, Any], start_response: Start) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        if environ["REQUEST_METHOD"] != "HEAD":
            yield b"streamed"

    client = harness.client(harness.serve(app))
    client.send(request(b"/") + request(b"/", b"HEAD") + request(b"/", b"HEAD", b"1.0"))
    get = client.response()
    assert (get.header("transfer-encoding"), get.body) == ("chunked", b"streamed")
    head = client.response("HEAD")
    assert head.status == 200
    assert head.header("content-length") is None
    assert head.header("transfer-encoding") is None
    head10 = client.response("HEAD")
    assert head10.header("content-length") is None
    assert client.closed_by_server()  # HTTP/1.0 without keep-alive


def test_head_keeps_the_apps_own_content_length(harness: Any) -> None:
    def app(environ: dict[str, Any], start_response: Start) -> list[bytes]:
        start_response("200 OK", [("Content-Length", "12")])
        return []

    client = harness.client(harness.serve(app))
    client.send(request(b"/", b"HEAD"))
    assert client.response("HEAD").header("content-length") == "12"


def test_app_error_before_start_response_gives_500_and_logs(
    harness: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def app(environ: dict[str, Any], start_response: Start) -> list[bytes]:
        raise RuntimeError("secret detail")

    client = harness.client(harness.serve(app))
    with caplog.at_level(logging.ERROR, logger="micro.error"):
        client.send(request(b"/boom"))
        response = client.response()
    assert response.status == 500
    assert b"secret" not in response.body
    assert response.header("date")
    assert "secret detail" in caplog.text
    # The worker survived: a new connection is served.
    client = harness.client(client.sock.getpeername())
    client.send(request(b"/"))
    assert client.response().status == 500


def test_app_error_after_headers_closes_the_connection(harness: Any) -> None:
    def app(environ: dict[str, Any], start_response: Start) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Length", "10")])
        yield b"12345"
        raise RuntimeError("half way")

    client = harness.client(harness.serve(app))
    client.send(request(b"/") + request(b"/"))
    assert client.rest().endswith(b"12345")  # then EOF: never the next response


@pytest.mark.parametrize(("chunks", "sent"), [([b"abc"], b"abc"), ([b"abcdefgh"], b"abcde")])
def test_wrong_content_length_from_app_closes(
    harness: Any, chunks: list[bytes], sent: bytes
) -> None:
    def app(environ: dict[str, Any], start_response: Start) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Length", "5")])
        yield from chunks

    client = harness.client(harness.serve(app))
    client.send(request(b"/") + request(b"/"))
    data = client.rest()
    assert data.count(b"HTTP/1.1") == 1
    assert data.endswith(b"\r\n\r\n" + sent)


@pytest.mark.parametrize(
    "headers",
    [
        [("X-Bad", "a\r\nSet-Cookie: evil=1")],
        [("X-Bad", "nul\x00")],
        [("Bad Name", "v")],
        [("Transfer-Encoding", "chunked")],
    ],
)
def test_bad_headers_from_app_give_500(
    harness: Any, caplog: pytest.LogCaptureFixture, headers: list[tuple[str, str]]
) -> None:
    def app(environ: dict[str, Any], start_response: Start) -> list[bytes]:
        start_response("200 OK", headers)
        return [b"body"]

    client = harness.client(harness.serve(app))
    with caplog.at_level(logging.ERROR, logger="micro.error"):
        client.send(request(b"/"))
        response = client.response()
    assert response.status == 500
    assert response.header("set-cookie") is None
    assert "invalid response" in caplog.text


def test_exc_info_replaces_headers_before_they_are_sent(harness: Any) -> None:
    def app(environ: dict[str, Any], start_response: Start) -> list[bytes]:
        start_response("200 OK", [("X-First", "1")])
        try:
            raise ValueError("oops")
        except ValueError:
            start_response("503 Service Unavailable", [("X-Second", "2")], sys.exc_info())
        return [b"sorry"]

    client = harness.client(harness.serve(app))
    client.send(request(b"/"))
    response = client.response()
    assert response.status == 503
    assert response.header("x-first") is None
    assert response.header("x-second") == "2"


def test_write_callable_and_close_always_called(harness: Any) -> None:
    closed: list[str] = []

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            yield b" and iterated"

        def close(self) -> None:
            closed.append("closed")

    def app(environ: dict[str, Any], start_response: Start) -> Body:
        write = start_response("200 OK", [])
        write(b"written")
        return Body()

    client = harness.client(harness.serve(app))
    client.send(request(b"/") + request(b"/"))
    assert client.response().body == b"written and iterated"
    # close() runs after the last byte is sent; the same connection's next answer
    # comes after it.
    assert client.response().body == b"written and iterated"
    assert closed[:1] == ["closed"]


def test_validator_wrapped_app_is_served(harness: Any) -> None:
    def app(environ: dict[str, Any], start_response: Start) -> list[bytes]:
        # The validator insists on read(size).
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"got " + body]

    client = harness.client(harness.serve(validator(app)))
    client.send(b"POST /v?q=1 HTTP/1.1\r\nHost: x:81\r\nContent-Length: 3\r\n\r\nabc")
    assert client.response().body == b"got abc"
    client.send(request(b"/again"))
    assert client.response().body == b"got "


def test_file_wrapper_sends_a_real_file(harness: Any, tmp_path: Path) -> None:
    data = bytes(range(256)) * 1000
    path = tmp_path / "data.bin"
    path.write_bytes(data)

    def app(environ: dict[str, Any], start_response: Start) -> Any:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        file = path.open("rb")
        file.seek(10)
        return environ["wsgi.file_wrapper"](file, 4096)

    client = harness.client(harness.serve(app))
    client.send(request(b"/") + request(b"/", b"HEAD"))
    response = client.response()
    assert response.header("content-length") == str(len(data) - 10)
    assert response.body == data[10:]
    head = client.response("HEAD")
    assert head.header("content-length") == str(len(data) - 10)


@pytest.mark.parametrize("size", [0, 1, 100_000])
def test_a_files_head_and_bytes_arrive_whole_and_the_connection_goes_on(
    harness: Any, tmp_path: Path, size: int
) -> None:
    # The head is sent with MSG_MORE (to leave in the file's first packets), the
    # file's bytes by sendfile: whatever the size (an empty file has no bytes to
    # follow the head), each answer arrives whole, and the connection goes on.
    path = tmp_path / "data.bin"
    path.write_bytes(b"z" * size)

    def app(environ: dict[str, Any], start_response: Start) -> Any:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](path.open("rb"))

    client = harness.client(harness.serve(app), timeout=2.0)
    for _ in range(3):  # one after another, each answer read before the next request
        client.send(request(b"/"))
        response = client.response()
        assert response.header("content-length") == str(size)
        assert response.body == b"z" * size


def test_file_wrapper_over_a_non_file_iterates(harness: Any) -> None:
    import io

    def app(environ: dict[str, Any], start_response: Start) -> Any:
        start_response("200 OK", [])
        return environ["wsgi.file_wrapper"](io.BytesIO(b"x" * 10000), 1000)

    client = harness.client(harness.serve(app))
    client.send(request(b"/"))
    assert client.response().body == b"x" * 10000


def test_client_disconnect_mid_response_does_not_stop_the_server(harness: Any) -> None:
    finished: list[bool] = []

    def app(environ: dict[str, Any], start_response: Start) -> Iterator[bytes]:
        start_response("200 OK", [])
        try:
            for _ in range(2000):
                yield b"x" * 65536
                time.sleep(0.001)
            finished.append(True)
        finally:
            finished.append(False)

    address = harness.serve(app, threads=1)
    client = harness.client(address)
    client.send(request(b"/big"))
    client.file.read(100000)
    client.close()
    other = harness.client(address)
    other.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    other.sock.settimeout(5)
    assert other.file.readline().startswith(b"HTTP/1.1 200")
    assert finished[0] is False


def test_client_that_stops_reading_is_dropped_after_write_timeout(harness: Any) -> None:
    closed: list[bool] = []

    def flood(environ: dict[str, Any], start_response: Start) -> Iterator[bytes]:
        start_response("200 OK", [])
        try:
            for _ in range(10000):  # up to 640 MB: far more than socket buffers hold
                yield b"x" * 65536
        finally:
            closed.append(True)

    address = harness.serve(flood, threads=1, write_timeout=0.3)
    stuck = harness.client(address)
    stuck.send(request(b"/flood"))  # and never read
    started = time.monotonic()
    other = harness.client(address)
    other.send(request(b"/"))
    assert other.file.readline().startswith(b"HTTP/1.1 200")
    assert time.monotonic() - started < 5
    assert closed[:1] == [True]


def test_head_stops_iterating_a_streamed_body(harness: Any) -> None:
    produced: list[int] = []

    def endless(environ: dict[str, Any], start_response: Start) -> Iterator[bytes]:
        start_response("200 OK", [])
        for i in range(1000):
            produced.append(i)
            yield b"chunk"

    client = harness.client(harness.serve(endless))
    client.send(request(b"/", b"HEAD") + request(b"/", b"HEAD"))
    client.response("HEAD")
    client.response("HEAD")
    assert len(produced) == 2  # one chunk per HEAD: the server stopped asking


@pytest.mark.parametrize("pieces", [[b"a", b"bc", b"def"], [b"x" * 200_000, b"y"], [b"z" * 70_000]])
def test_list_bodies_small_and_large_arrive_whole(harness: Any, pieces: list[bytes]) -> None:
    def app(environ: dict[str, Any], start_response: Start) -> list[bytes]:
        start_response("200 OK", [])
        return pieces

    client = harness.client(harness.serve(app))
    client.send(request(b"/") + request(b"/"))
    for _ in range(2):
        response = client.response()
        assert response.header("content-length") == str(sum(map(len, pieces)))
        assert response.body == b"".join(pieces)


def test_close_delimited_answer_is_not_cut_by_a_pipelined_request(harness: Any) -> None:
    def big(environ: dict[str, Any], start_response: Start) -> Iterator[bytes]:
        start_response("200 OK", [])
        for i in range(50):
            yield b"%05d" % i * 2000

    client = harness.client(harness.serve(big))
    old = b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    client.send(old + old)  # the second is never answered: the first ends with a close
    response = client.response()
    assert response.header("connection") == "close"
    assert response.body == b"".join(b"%05d" % i * 2000 for i in range(50))


def test_an_exchange_leaves_nothing_for_the_cycle_collector(harness: Any) -> None:
    # The environ holds callables bound to the exchange (micro.defer, and
    # micro.upgrade for upgrade requests); the exchange must let go of the environ
    # once it is over, or every request leaves a cycle of a dozen objects behind.
    def app(environ: dict[str, Any], start_response: Start) -> list[bytes]:
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    address = harness.serve(app, threads=2)
    client = harness.client(address)
    upgrade = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: other\r\nConnection: Upgrade\r\n\r\n"
    client.send(upgrade)  # warm up: every lazy import and cache is done with
    assert client.response().status == 200
    gc.collect()
    gc.disable()  # for every thread: only gc.collect below finds cycles
    try:
        for _ in range(50):
            client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert client.response().body == b"ok"
            client.send(upgrade)  # answered 200: no upgrade taken, no cycle either
            assert client.response().body == b"ok"
        found = gc.collect()
    finally:
        gc.enable()
    assert found < 100  # a cycle per request leaves about 1,000
