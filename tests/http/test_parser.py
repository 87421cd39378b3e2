"""Tests of micro.http.parser: events out of bytes, framing, limits, dead state."""

from __future__ import annotations

import dataclasses

import pytest

from micro.errors import (
    BadRequest,
    ConfigError,
    ContentTooLarge,
    HeaderFieldsTooLarge,
    ProtocolError,
    URITooLong,
)
from micro.http import (
    NEED_DATA,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Event,
    Limits,
    RequestHead,
    RequestParser,
)


def events(raw: bytes, *, eof: bool = True, limits: Limits | None = None) -> list[Event]:
    """Feed ``raw`` whole (then EOF) and collect events up to NEED_DATA/ConnectionClosed."""
    parser = RequestParser(limits)
    parser.feed(raw)
    if eof:
        parser.feed(b"")
    out: list[Event] = []
    for _ in range(10_000):
        event = parser.next_event()
        out.append(event)
        if event is NEED_DATA or isinstance(event, ConnectionClosed):
            return out
    raise AssertionError("parser produced more than 10000 events")


def head_of(raw: bytes) -> RequestHead:
    event = events(raw)[0]
    assert isinstance(event, RequestHead)
    return event


def test_simple_get_gives_head_then_end_then_closed() -> None:
    out = events(b"GET /a/b?x=1&y HTTP/1.1\r\nHost: example.com:8080\r\nAccept: */*\r\n\r\n")
    head = out[0]
    assert isinstance(head, RequestHead)
    assert (head.method, head.target, head.path, head.query) == (
        "GET",
        "/a/b?x=1&y",
        "/a/b",
        "x=1&y",
    )
    assert head.http_version == "1.1"
    assert head.headers == [("host", "example.com:8080"), ("accept", "*/*")]
    assert head.host == "example.com:8080"
    assert head.content_length is None and not head.chunked
    assert head.keep_alive and not head.expect_continue
    assert out[1:] == [EndOfMessage([]), ConnectionClosed()]


def test_content_length_body_never_includes_the_next_request() -> None:
    out = events(
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
        b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n"
    )
    assert out[1:3] == [Data(b"hello"), EndOfMessage([])]
    second = out[3]
    assert isinstance(second, RequestHead) and second.target == "/next"


def test_a_content_length_body_may_be_read_around_the_parser() -> None:
    parser = RequestParser()
    parser.feed(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc")
    assert isinstance(parser.next_event(), RequestHead)
    assert parser.raw_body_left == 0  # "abc" is buffered: it comes as Data first
    assert parser.next_event() == Data(b"abc")
    assert parser.raw_body_left == 7
    parser.body_read(4)  # the caller read 4 body bytes itself
    assert parser.raw_body_left == 3
    with pytest.raises(ValueError):
        parser.body_read(4)
    parser.body_read(3)
    assert parser.raw_body_left == 0
    parser.feed(b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n")
    assert parser.next_event() == EndOfMessage([])
    nxt = parser.next_event()
    assert isinstance(nxt, RequestHead) and nxt.target == "/next"


def test_no_raw_body_for_chunked_bodies_or_after_eof() -> None:
    parser = RequestParser()
    parser.feed(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert isinstance(parser.next_event(), RequestHead)
    assert parser.raw_body_left == 0
    parser = RequestParser()
    parser.feed(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n")
    assert isinstance(parser.next_event(), RequestHead)
    parser.feed(b"")
    assert parser.raw_body_left == 0
    with pytest.raises(BadRequest):
        parser.next_event()


def test_chunked_body_is_decoded_with_trailers() -> None:
    raw = (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: abc\r\n\r\n"
    )
    out = events(raw)
    head = out[0]
    assert isinstance(head, RequestHead) and head.chunked and head.content_length is None
    body = b"".join(e.data for e in out if isinstance(e, Data))
    assert body == b"hello world"
    assert out[-2:] == [EndOfMessage([("x-sum", "abc")]), ConnectionClosed()]


def test_eof_inside_a_body_is_a_bad_request() -> None:
    with pytest.raises(BadRequest):
        events(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nshort")


def test_partial_head_without_eof_needs_data() -> None:
    assert events(b"GET / HTTP/1.1\r\nHost: h\r\n", eof=False) == [NEED_DATA]


def test_after_an_error_every_call_raises_it_again() -> None:
    parser = RequestParser()
    parser.feed(b"GET / HTTP/1.1\r\nHost : h\r\n\r\nGET /ok HTTP/1.1\r\nHost: h\r\n\r\n")
    with pytest.raises(BadRequest) as first:
        parser.next_event()
    for _ in range(3):
        with pytest.raises(BadRequest) as again:
            parser.next_event()
        assert again.value is first.value
    with pytest.raises(BadRequest):
        parser.feed(b"more")


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (
            b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            400,
        ),
        (b"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\nHost: h\n\n", 400),
    ],
)
def test_rejections_carry_their_status(raw: bytes, status: int) -> None:
    with pytest.raises(ProtocolError) as info:
        events(raw)
    assert info.value.status == status


def test_limits_give_414_431_413() -> None:
    limits = Limits(max_request_line=20, max_header_bytes=30, max_body_bytes=4)
    with pytest.raises(URITooLong):
        events(b"GET /" + b"a" * 30 + b" HTTP/1.1\r\n", eof=False, limits=limits)
    with pytest.raises(HeaderFieldsTooLarge):
        events(b"GET / HTTP/1.1\r\nX: " + b"a" * 40, eof=False, limits=limits)
    with pytest.raises(ContentTooLarge):
        events(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n", limits=limits)


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        # The limit is passed (byte 33) before the bare LF arrives: 414 however split.
        (b"GET /" + b"a" * 40 + b" HTTP/1.1\nHost: h\n\n", 414),
        # The bare LF comes first: 400 however split.
        (b"GET /a\n" + b"a" * 40 + b" HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    ],
)
def test_the_first_fault_in_byte_order_decides_whatever_the_reads(raw: bytes, status: int) -> None:
    limits = Limits(max_request_line=32)
    for size in (len(raw), 1, 3, 7):
        parser = RequestParser(limits)
        with pytest.raises(ProtocolError) as info:
            for i in range(0, len(raw), size):
                parser.feed(raw[i : i + size])
                assert parser.next_event() is NEED_DATA
        assert info.value.status == status, size


def test_bare_lf_is_answered_before_the_head_could_end() -> None:
    parser = RequestParser()
    parser.feed(b"GET / HTTP/1.1\nHost: h\n")
    with pytest.raises(BadRequest, match="bare LF"):
        parser.next_event()


def test_between_requests_and_buffered_follow_the_message() -> None:
    parser = RequestParser()
    assert parser.between_requests and parser.buffered == 0
    parser.feed(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nab")
    assert isinstance(parser.next_event(), RequestHead)
    assert not parser.between_requests and parser.buffered == 2
    assert parser.next_event() == Data(b"ab")
    assert parser.next_event() is NEED_DATA
    parser.feed(b"cdGET")
    assert parser.next_event() == Data(b"cd")
    assert parser.buffered == 3
    assert parser.next_event() == EndOfMessage([])
    assert parser.between_requests
    assert parser.next_event() is NEED_DATA


def test_limits_defaults_are_the_documented_ones() -> None:
    assert Limits() == Limits(
        max_request_line=8190,
        max_header_bytes=65536,
        max_header_count=100,
        max_body_bytes=1_073_741_824,
        max_chunk_line=4096,
        max_trailer_bytes=16384,
    )


@pytest.mark.parametrize(
    "bad", [{"max_request_line": 0}, {"max_body_bytes": -1}, {"max_header_count": 1.5}]
)
def test_limits_refuse_nonsense(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        Limits(**bad)


def test_max_body_bytes_zero_still_allows_bodiless_requests() -> None:
    out = events(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", limits=Limits(max_body_bytes=0))
    assert out[1:] == [EndOfMessage([]), ConnectionClosed()]


def outcome_fed(raw: bytes, limits: Limits, size: int) -> int | str:
    """Feed ``raw`` in pieces of ``size`` then EOF; the error status or "ok"."""
    parser = RequestParser(limits)
    try:
        for i in range(0, len(raw), size):
            parser.feed(raw[i : i + size])
            while parser.next_event() is not NEED_DATA:
                pass
        parser.feed(b"")
        while not isinstance(parser.next_event(), ConnectionClosed):
            pass
    except ProtocolError as exc:
        return exc.status
    return "ok"


@pytest.mark.parametrize("extra", [0, 1, 2, 3, 50])
def test_header_bytes_limit_is_exact_however_fed(extra: int) -> None:
    fields = b"Host: h\r\nX: " + b"v" * (36 + extra) + b"\r\n"  # 50 + extra bytes
    limits = Limits(max_header_bytes=50)
    raw = b"GET / HTTP/1.1\r\n" + fields + b"\r\n"
    expected = "ok" if extra == 0 else 431
    assert [outcome_fed(raw, limits, size) for size in (len(raw), 1, 5)] == [expected] * 3


@pytest.mark.parametrize("extra", [0, 1, 2, 3, 50])
def test_trailer_bytes_limit_is_exact_however_fed(extra: int) -> None:
    trailers = b"T: " + b"t" * (15 + extra) + b"\r\n"  # 20 + extra bytes
    limits = Limits(max_trailer_bytes=20)
    raw = (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
        + trailers
        + b"\r\n"
    )
    expected = "ok" if extra == 0 else 431
    assert [outcome_fed(raw, limits, size) for size in (len(raw), 1, 5)] == [expected] * 3


@pytest.mark.parametrize("extra", [0, 1, 2, 50])
def test_request_line_limit_is_exact_however_fed(extra: int) -> None:
    line = b"GET /" + b"a" * (11 + extra) + b" HTTP/1.1"  # 25 + extra bytes
    raw = line + b"\r\nHost: h\r\n\r\n"
    expected = "ok" if extra == 0 else 414
    limits = Limits(max_request_line=25)
    assert [outcome_fed(raw, limits, size) for size in (len(raw), 1, 5)] == [expected] * 3


@pytest.mark.parametrize(
    ("host", "reason"),
    [("a b", "invalid Host field"), ("h:99999", "port out of range"), ("", "empty Host")],
)
def test_a_connection_that_changes_its_host_has_the_new_one_checked(host: str, reason: str) -> None:
    # The parser skips the checks for a Host value its connection already sent:
    # any other value is checked in full, however many good requests came before.
    good = b"GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n"
    parser = RequestParser()
    for _ in range(3):
        parser.feed(good)
        head = parser.next_event()
        assert isinstance(head, RequestHead)
        assert head.host == "example.com:8080"
        assert isinstance(parser.next_event(), EndOfMessage)
    assert parser.next_event() is NEED_DATA
    parser.feed(b"GET / HTTP/1.1\r\nHost: " + host.encode() + b"\r\n\r\n")
    with pytest.raises(BadRequest, match=reason):
        parser.next_event()


def test_end_of_message_is_an_immutable_value() -> None:
    # The parser hands every bodiless or trailer-less request the same
    # END_OF_MESSAGE: no consumer can change what the next request gets.
    parser = RequestParser()
    ends = []
    for _ in range(2):
        parser.feed(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        assert isinstance(parser.next_event(), RequestHead)
        ends.append(parser.next_event())
    assert ends[0] == ends[1] == EndOfMessage([]) == EndOfMessage()
    assert ends[0].trailers == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        ends[0].trailers = [("x", "y")]  # type: ignore[misc]
    assert EndOfMessage([("x", "y")]).trailers == (("x", "y"),)
