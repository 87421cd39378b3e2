"""The request side of WSGI over real sockets: environ keys and wsgi.input.

How bodies arrive (spooling, 100-continue, slow clients) is tested in test_body.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

Start = Callable[..., Any]


def environ_app(environ: dict[str, Any], start_response: Start) -> list[bytes]:
    shown = {k: v for k, v in environ.items() if isinstance(v, str | bool | int | tuple)}
    body = json.dumps(shown).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def echo(environ: dict[str, Any], start_response: Start) -> list[bytes]:
    stream = environ["wsgi.input"]
    lines = []
    while line := stream.readline(4):
        lines.append(line)
    start_response("200 OK", [("X-Pieces", str(len(lines)))])
    return [b"".join(lines)]


def test_environ_is_pep3333_complete(harness: Any) -> None:
    address = harness.serve(environ_app)
    client = harness.client(address)
    client.send(
        b"GET /caf%C3%A9/a%2Fb?x=1&y=%20 HTTP/1.1\r\nHost: example.org:8080\r\n"
        b"Accept: a\r\nAccept: b\r\nCookie: a=1\r\nCookie: b=2\r\n"
        b"Content-Type: text/plain\r\nX_Spoof: 1\r\n\r\n"
    )
    env = json.loads(client.response().body)
    local_port = client.sock.getsockname()[1]
    assert env["REQUEST_METHOD"] == "GET"
    assert env["SCRIPT_NAME"] == ""
    assert env["PATH_INFO"] == "/caf\xc3\xa9/a/b"  # decoded bytes as latin-1
    assert env["QUERY_STRING"] == "x=1&y=%20"
    assert env["SERVER_NAME"] == "example.org"
    assert env["SERVER_PORT"] == "8080"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["REMOTE_PORT"] == str(local_port)
    assert env["HTTP_ACCEPT"] == "a, b"
    assert env["HTTP_COOKIE"] == "a=1; b=2"
    assert env["CONTENT_TYPE"] == "text/plain"
    assert "CONTENT_LENGTH" not in env
    assert "HTTP_X_SPOOF" not in env
    assert env["wsgi.version"] == [1, 0]
    assert env["wsgi.url_scheme"] == "http"
    assert env["wsgi.multithread"] is True
    assert env["wsgi.multiprocess"] is False
    assert env["wsgi.run_once"] is False


def test_server_name_falls_back_to_bind_address_without_host(harness: Any) -> None:
    host, port = harness.serve(environ_app)
    client = harness.client((host, port))
    client.send(b"GET / HTTP/1.0\r\n\r\n")
    env = json.loads(client.response().body)
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("127.0.0.1", str(port))
    assert env["SERVER_PROTOCOL"] == "HTTP/1.0"


def test_a_host_with_an_empty_port_gives_the_name_and_the_default_port(harness: Any) -> None:
    client = harness.client(harness.serve(environ_app))
    for host, name in ((b"example.org:", "example.org"), (b"[::1]:", "[::1]")):
        client.send(b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")  # RFC 3986: port = *DIGIT
        env = json.loads(client.response().body)
        assert (env["SERVER_NAME"], env["SERVER_PORT"]) == (name, "80")


def test_each_request_on_a_connection_gets_its_own_host_and_a_fresh_environ(
    harness: Any,
) -> None:
    # What a connection's requests share is built once; what each one says is its own.
    host, port = harness.serve(environ_app)
    client = harness.client((host, port))
    local_port = str(client.sock.getsockname()[1])
    sent = [
        (b"Host: a.example:81\r\nX-One: 1\r\n", ("a.example", "81"), True),
        (b"Host: a.example:81\r\n", ("a.example", "81"), False),
        (b"Host: b.example\r\n", ("b.example", "80"), False),
        (b"Host: a.example:81\r\n", ("a.example", "81"), False),
    ]
    for fields, server, one in sent:
        client.send(b"GET / HTTP/1.1\r\n" + fields + b"\r\n")
        env = json.loads(client.response().body)
        assert (env["SERVER_NAME"], env["SERVER_PORT"]) == server
        assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == ("127.0.0.1", local_port)
        assert ("HTTP_X_ONE" in env) is one
    client.send(b"GET / HTTP/1.0\r\n\r\n")  # no Host: the bound address again
    env = json.loads(client.response().body)
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("127.0.0.1", str(port))


def test_what_an_app_writes_into_its_environ_never_reaches_the_next_request(
    harness: Any,
) -> None:
    # The first request's environ is the connection's first copy of the shared keys
    # (micro.server.environ): writes into it must not reach the second or third.
    def marking(environ: dict[str, Any], start_response: Start) -> list[bytes]:
        seen = [environ.get("app.mark"), environ.get("REMOTE_ADDR"), "wsgi.version" in environ]
        environ["app.mark"] = "written"
        environ["REMOTE_ADDR"] = "10.9.9.9"
        del environ["wsgi.version"]
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(seen).encode()]

    address = harness.serve(marking)
    for client in (harness.client(address), harness.client(address)):
        for _ in range(3):
            client.send(b"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n")
            assert json.loads(client.response().body) == [None, "127.0.0.1", True]


def test_absolute_form_authority_wins_over_host(harness: Any) -> None:
    client = harness.client(harness.serve(environ_app))
    client.send(b"GET http://real.example/p?q HTTP/1.1\r\nHost: other.example\r\n\r\n")
    env = json.loads(client.response().body)
    assert env["SERVER_NAME"] == "real.example"
    assert env["PATH_INFO"] == "/p"


def test_content_length_body_through_wsgi_input(harness: Any) -> None:
    client = harness.client(harness.serve(echo))
    client.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nab\ncdefgh\ni")
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    response = client.response()
    assert response.body == b"ab\ncdefgh\ni"
    assert response.header("x-pieces") == "4"
    assert client.response().body == b""


def test_chunked_body_with_trailers_is_never_read_as_a_request(harness: Any) -> None:
    client = harness.client(harness.serve(echo))
    client.send(
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-Trailer: GET /evil HTTP/1.1\r\n\r\n"
        b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    assert client.response().body == b"abcde"
    second = client.response()
    assert second.status == 200
    assert second.body == b""


def test_body_arriving_in_pieces_reaches_the_app_whole(harness: Any) -> None:
    client = harness.client(harness.serve(echo))
    client.send(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    for piece in (b"5\r\nhel", b"lo\r\n", b"1\r\n!\r\n", b"0\r\n\r\n"):
        time.sleep(0.02)
        client.send(piece)
    assert client.response().body == b"hello!"


def test_a_body_sent_without_waiting_for_100_keeps_the_connection(harness: Any) -> None:
    # RFC 9110 10.1.1: the client need not wait for the 100. No 100 is then owed, and
    # the request pipelined behind the body is answered on the same connection.
    client = harness.client(harness.serve(echo))
    client.send(
        b"PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello"
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
    )
    first = client.response()
    assert (first.status, first.body, first.header("connection")) == (200, b"hello", None)
    second = client.response()
    assert (second.status, second.body) == (200, b"hi")


def test_an_unread_body_sent_without_waiting_for_100_is_discarded(harness: Any) -> None:
    def ignore(environ: dict[str, Any], start_response: Start) -> list[bytes]:
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    client = harness.client(harness.serve(ignore))
    client.send(
        b"PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello"
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    first = client.response()
    assert (first.status, first.header("connection")) == (200, None)
    assert client.response().body == b"ok"


def test_expect_on_http10_is_ignored(harness: Any) -> None:
    client = harness.client(harness.serve(echo))
    client.send(b"POST / HTTP/1.0\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nhi")
    response = client.response()
    assert response.status == 200
    assert response.body == b"hi"


def test_unread_small_body_is_drained_and_the_connection_reused(harness: Any) -> None:
    def ignore(environ: dict[str, Any], start_response: Start) -> list[bytes]:
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    client = harness.client(harness.serve(ignore))
    client.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nGET /")
    assert client.response().header("connection") is None
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert client.response().body == b"ok"


def test_bad_chunk_in_body_answers_400(harness: Any) -> None:
    client = harness.client(harness.serve(echo))
    client.send(
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
    )
    assert client.response().status == 400
    assert client.closed_by_server()


def test_large_body_read_in_pieces_arrives_whole(harness: Any) -> None:
    def digest(environ: dict[str, Any], start_response: Start) -> list[bytes]:
        stream = environ["wsgi.input"]
        total = bytearray()
        while piece := stream.read(7777):
            total += piece
        start_response("200 OK", [])
        return [b"%d %d" % (len(total), sum(total[::4096]))]

    payload = bytes(range(256)) * 20000  # 5 MB
    client = harness.client(harness.serve(digest))
    chunks = b"".join(
        b"%x\r\n%b\r\n" % (len(payload[i : i + 100000]), payload[i : i + 100000])
        for i in range(0, len(payload), 100000)
    )
    client.send(
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
    )
    assert client.response().body == b"%d %d" % (len(payload), sum(payload[::4096]))


def test_absolute_form_authority_is_the_host_the_app_sees(harness: Any) -> None:
    client = harness.client(harness.serve(environ_app))
    client.send(b"GET http://abs.example:8080/ HTTP/1.1\r\nHost: hdr.example\r\n\r\n")
    env = json.loads(client.response().body)
    assert env["HTTP_HOST"] == "abs.example:8080"
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("abs.example", "8080")


@pytest.mark.parametrize(
    "head",
    [
        b"GET /p?q=1#frag HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: a/b\r\nContent-Type: c/d\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x:99999\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x:0\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost:\r\n\r\n",
    ],
    ids=["fragment", "two-content-types", "port-99999", "port-0", "empty-host"],
)
def test_framing_faults_get_400_before_the_app(harness: Any, head: bytes) -> None:
    calls: list[str] = []

    def app(environ: dict[str, Any], start_response: Start) -> list[bytes]:
        calls.append(environ["PATH_INFO"])
        start_response("200 OK", [])
        return [b""]

    client = harness.client(harness.serve(app))
    client.send(head)
    assert client.response().status == 400
    assert client.closed_by_server()
    assert calls == []


def arrival_app(seen: list[tuple[float | None, float]]) -> Callable[..., list[bytes]]:
    """An app that notes each request's ``micro.arrived`` and when it was called."""

    def app(environ: dict[str, Any], start_response: Start) -> list[bytes]:
        seen.append((environ.get("micro.arrived"), time.monotonic()))
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    return app


REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def answered_once(harness: Any, seen: list[tuple[float | None, float]]) -> Any:
    """A client of an :func:`arrival_app` server whose first request was answered.

    Its next request, sent after :func:`settled`, is read by the I/O loop.
    """
    client = harness.client(harness.serve(arrival_app(seen)))
    client.send(REQUEST)
    assert client.response().status == 200
    return client


def settled() -> float:
    """Wait until no worker still waits for the connection's next request
    (workers.NEXT_REQUEST_WAIT): the I/O loop reads it. The moment after."""
    time.sleep(0.05)
    return time.monotonic()


def test_micro_arrived_lies_between_sending_and_the_app_call(harness: Any) -> None:
    seen: list[tuple[float | None, float]] = []
    client = answered_once(harness, seen)
    for _ in range(3):
        sent = settled()
        client.send(REQUEST)
        assert client.response().status == 200
        arrived, called = seen[-1]
        assert arrived is not None
        assert sent <= arrived <= called


def test_a_request_pipelined_behind_another_has_no_micro_arrived(harness: Any) -> None:
    seen: list[tuple[float | None, float]] = []
    client = answered_once(harness, seen)
    sent = settled()
    client.send(REQUEST * 2)  # one write: the second may have come after the poller answered
    assert [client.response().status for _ in range(2)] == [200, 200]
    (first, called), (second, _) = seen[-2:]
    assert first is not None and sent <= first <= called
    assert second is None
