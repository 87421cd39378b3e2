"""Hypothesis properties of micro.http.parser.

- Invariant: any bytes, split anywhere, with or without EOF, give events or a
  ProtocolError carrying a status micro answers with; never another exception,
  never an endless stream of events. The outcome does not depend on the split.
- Round trip: a random valid request, serialised with Content-Length or chunked
  framing and split anywhere, parses back to the same head, body and trailers.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from micro.errors import ProtocolError
from micro.http import (
    NEED_DATA,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Limits,
    RequestHead,
    RequestParser,
)
from micro.http.head import SINGLETON_FIELDS

STATUSES = {400, 413, 414, 431, 501, 505}
MAX_EVENTS = 2_000
# Small limits so that random inputs reach them too.
SMALL = Limits(
    max_request_line=64,
    max_header_bytes=128,
    max_header_count=6,
    max_body_bytes=64,
    max_chunk_line=16,
    max_trailer_bytes=32,
)

# Pieces of HTTP, valid and broken, so that random inputs get past the first line.
FRAGMENTS = [
    b"GET / HTTP/1.1\r\n",
    b"POST /p?q HTTP/1.1\r\n",
    b"OPTIONS * HTTP/1.0\r\n",
    b"GET http://a.example/x HTTP/1.1\r\n",
    b"Host: h\r\n",
    b"Host: \r\n",
    b"Content-Length: 5\r\n",
    b"Content-Length: 0\r\n",
    b"Content-Length: 5, 5\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: gzip, chunked\r\n",
    b"Connection: close\r\n",
    b"Expect: 100-continue\r\n",
    b"X: \xff\r\n",
    b" folded\r\n",
    b"\r\n",
    b"\n",
    b"\r",
    b"5\r\nhello\r\n",
    b'3;e="v"\r\nabc\r\n',
    b"0\r\n",
    b"0\r\n\r\n",
    b"T: x\r\n",
    b"hello",
    b" ",
    b":",
    b"\x00",
    b"HTTP/2.0",
    # Long enough to pass the SMALL limits, so limit and syntax errors meet.
    b"GET /" + b"a" * 70,
    b"X-Long: " + b"v" * 140 + b"\r\n",
    b"T: " + b"t" * 40 + b"\r\n",
    b"FFFFFFFFFFFFFFFFFFFF\r\n",
    b"0;" + b"e" * 20 + b"\r\n",
]
fragments = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.binary(max_size=8)), max_size=24).map(
    b"".join
)
inputs = st.one_of(st.binary(max_size=300), fragments)


def outcome(data: bytes, cuts: list[int], limits: Limits, eof: bool) -> list[Any]:
    """Feed ``data`` in the pieces ``cuts`` defines; return the normalised events."""
    parser = RequestParser(limits)
    bounds = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    pieces = [data[a:b] for a, b in pairwise(bounds) if b > a]
    out: list[Any] = []
    try:
        for piece in [*pieces, *([b""] if eof else [])]:
            parser.feed(piece)
            for _ in range(MAX_EVENTS):
                event = parser.next_event()
                if event is NEED_DATA:
                    break
                if isinstance(event, Data):
                    assert event.data
                    if out and isinstance(out[-1], bytes):
                        out[-1] += event.data
                    else:
                        out.append(event.data)
                else:
                    assert isinstance(event, RequestHead | EndOfMessage | ConnectionClosed)
                    out.append(event)
                    if isinstance(event, ConnectionClosed):
                        return out
            else:
                raise AssertionError("more than MAX_EVENTS events from one feed")
    except ProtocolError as exc:
        assert exc.status in STATUSES
        out.append(("error", exc.status))
        return out
    if eof:
        raise AssertionError("EOF fed but neither ConnectionClosed nor an error came")
    return out


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=inputs,
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12),
    small=st.booleans(),
    eof=st.booleans(),
)
def test_any_bytes_give_events_or_a_protocol_error_whatever_the_split(
    data: bytes, cuts: list[int], small: bool, eof: bool
) -> None:
    limits = SMALL if small else Limits()
    whole = outcome(data, [], limits, eof)
    assert outcome(data, cuts, limits, eof) == whole
    if eof:
        one_by_one = list(range(len(data)))
        assert outcome(data, one_by_one, limits, eof) == whole


# ---------------------------------------------------------------- round trip

TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
token = st.text(alphabet=TCHARS, min_size=1, max_size=12)
# Field values: visible latin-1 with inner spaces, no surrounding whitespace.
VALUE_CHARS = "".join(chr(c) for c in range(0x20, 0x7F)) + "\t\x80\xa0\xe9\xff"
field_value = st.text(alphabet=VALUE_CHARS, max_size=20).map(lambda v: v.strip(" \t"))
# Framing fields are drawn apart; the singletons could repeat, which is a 400.
RESERVED = {"host", "content-length", "transfer-encoding", "connection", "expect"} | set(
    SINGLETON_FIELDS
)
field = st.tuples(token.filter(lambda n: n.lower() not in RESERVED), field_value)
path_char = st.sampled_from("abcXYZ019-._~!$&'()*+,;=:@/%")


@st.composite
def requests(draw: st.DrawFn) -> tuple[bytes, dict[str, Any]]:
    method = draw(token)
    path = "/" + draw(st.text(path_char, max_size=20))
    query = draw(st.one_of(st.none(), st.text(path_char | st.just("?"), max_size=10)))
    target = path if query is None else f"{path}?{query}"
    host = draw(st.sampled_from(["example.com", "h:8080", "[::1]", "127.0.0.1:1"]))
    fields = [("Host", host), *draw(st.lists(field, max_size=5))]
    body = draw(st.binary(max_size=200))
    framing = draw(st.sampled_from(["length", "chunked", "none"]))
    trailers: list[tuple[str, str]] = []
    if framing == "none":
        body = b""
    if framing == "length":
        fields.append(("Content-Length", str(len(body))))
    framed = body
    if framing == "chunked":
        fields.append(("Transfer-Encoding", "chunked"))
        sizes = draw(st.lists(st.integers(1, 50), max_size=10))
        framed, rest = b"", body
        for size in sizes:
            if not rest:
                break
            piece, rest = rest[:size], rest[size:]
            framed += b"%X\r\n%b\r\n" % (len(piece), piece)
        if rest:
            framed += b"%x;ext=1\r\n%b\r\n" % (len(rest), rest)
        trailers = draw(st.lists(field, max_size=3))
        trailer_lines = "".join(f"{n}: {v}\r\n" for n, v in trailers)
        framed += b"0\r\n" + trailer_lines.encode("latin-1") + b"\r\n"
    head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{n}:  {v} \r\n" for n, v in fields)
    raw = head.encode("latin-1") + b"\r\n" + framed
    expected = {
        "method": method,
        "target": target,
        "path": path,
        "query": query or "",
        "host": host,
        "headers": [(n.lower(), v) for n, v in fields],
        "body": body,
        "trailers": [(n.lower(), v) for n, v in trailers],
        "chunked": framing == "chunked",
    }
    return raw, expected


@settings(max_examples=150, deadline=None)
@given(
    reqs=st.lists(requests(), min_size=1, max_size=3),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=20),
)
def test_valid_requests_round_trip_whatever_the_split(
    reqs: list[tuple[bytes, dict[str, Any]]], cuts: list[int]
) -> None:
    data = b"".join(raw for raw, _ in reqs)
    out = outcome(data, cuts, Limits(), eof=True)
    assert isinstance(out[-1], ConnectionClosed)
    parsed: list[dict[str, Any]] = []
    for item in out[:-1]:
        if isinstance(item, RequestHead):
            parsed.append(
                {
                    "method": item.method,
                    "target": item.target,
                    "path": item.path,
                    "query": item.query,
                    "host": item.host,
                    "headers": item.headers,
                    "body": b"",
                    "trailers": [],
                    "chunked": item.chunked,
                }
            )
        elif isinstance(item, bytes):
            parsed[-1]["body"] = item
        else:
            assert isinstance(item, EndOfMessage)
            parsed[-1]["trailers"] = list(item.trailers)
    assert parsed == [expected for _, expected in reqs]
