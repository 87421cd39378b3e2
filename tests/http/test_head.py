"""Tests of micro.http.head: the reasons a client reads in its 400, and parse_head alone."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from micro.errors import BadRequest, ProtocolError
from micro.http import Limits
from micro.http.head import parse_head, parse_head_strict


@pytest.mark.parametrize(
    ("head", "reason"),
    [
        ("GET / HTTP/1.1\r\nHost: h\r\nX: 1\r\n folded", "obsolete line folding"),
        ("GET / HTTP/1.1\r\nHost : h", "whitespace between header field name and colon"),
        ("GET / HTTP/1.1\r\nHost: h\r\nNoColon", "header field without colon"),
        ("GET / HTTP/1.1\r\nHost: h\r\nBad Name: x", "invalid header field name"),
        ("GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b", "invalid character in header field value"),
        ("GET / HTTP/1.1\r\nHost: h\r\nX: a\nb", "bare CR or LF in header field"),
        ("GET / HTTP/1.1\r\nHost: a b", "invalid Host field"),
        ("GET / HTTP/1.1\r\nHost: a\r\nHost: a", "more than one Host field"),
        ("GET / HTTP/1.1", "missing Host field"),
        ("GET  / HTTP/1.1", "malformed request line"),
        ("G@T / HTTP/1.1", "invalid method"),
        ("GET /\x7f HTTP/1.1", "invalid request target"),
        ("GET / HTTP/1.x", "invalid HTTP version"),
        ("GET * HTTP/1.1\r\nHost: h", "asterisk-form target is only for OPTIONS"),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 2", "differing Content-Length"),
    ],
)
def test_rejection_reasons_name_the_fault(head: str, reason: str) -> None:
    with pytest.raises(BadRequest) as info:
        parse_head(head, Limits())
    assert reason in info.value.reason
    assert info.value.status == 400


def test_reasons_never_echo_the_request() -> None:
    secret = "Cookie-secret-value"
    for head in (f"GET / HTTP/1.1\r\nHost: h\r\nX: {secret}\x01", f"GET /{secret}\x00 HTTP/1.1"):
        with pytest.raises(ProtocolError) as info:
            parse_head(head, Limits())
        assert secret not in info.value.reason


def test_trailing_whitespace_of_values_is_stripped_only_from_the_ends() -> None:
    head = parse_head("GET / HTTP/1.1\r\nHost:\th \t\r\nX:  a \t b  ", Limits())
    assert head.headers == [("host", "h"), ("x", "a \t b")]
    assert head.host == "h"


@pytest.mark.parametrize(
    ("fields", "version", "keep_alive"),
    [
        ("", "1.1", True),
        ("", "1.0", False),
        ("\r\nConnection: close", "1.1", False),
        ("\r\nConnection: Close  ", "1.1", False),
        ("\r\nConnection: keep-alive", "1.1", True),
        ("\r\nConnection: Keep-Alive", "1.0", True),
        ("\r\nConnection: close", "1.0", False),
        ("\r\nConnection:\tkeep-alive\t", "1.0", True),
        # Two fields, or a list: every token counts, whichever field it came in.
        ("\r\nConnection: keep-alive\r\nConnection: close", "1.1", False),
        ("\r\nConnection: close\r\nConnection: keep-alive", "1.0", False),
        ("\r\nConnection: keep-alive, close", "1.1", False),
        ("\r\nConnection: upgrade", "1.1", True),
        ("\r\nConnection: upgrade", "1.0", False),
        ("\r\nConnection: upgrade, keep-alive", "1.0", True),
        ("\r\nConnection: closed", "1.1", True),  # a token that is not "close"
        ("\r\nX-Connection: close", "1.1", True),  # another field's value
    ],
)
def test_keep_alive_follows_the_connection_tokens(
    fields: str, version: str, keep_alive: bool
) -> None:
    head = parse_head(f"GET / HTTP/{version}\r\nHost: h{fields}", Limits())
    assert head.keep_alive is keep_alive


def test_a_long_run_of_blanks_before_a_bad_character_is_refused_in_linear_time() -> None:
    # With a backtracking OWS this head cost about n * n regex steps: some 5 s
    # for these 30,000 blanks, minutes at the 64 KB header limit, all on the
    # server's I/O thread. Linear, it takes about a millisecond.
    head = "GET / HTTP/1.1\r\nHost: h\r\nX:" + " " * 30_000 + "\x01"
    started = time.process_time()
    with pytest.raises(BadRequest) as info:
        parse_head(head, Limits())
    assert time.process_time() - started < 1.0
    assert info.value.reason == "invalid character in header field value"


# ------------------------------------------------ the fast tier and the strict rules

GOOD_REQUEST_LINES = ["GET / HTTP/1.1", "GET /a?b HTTP/1.1", "POST /a?b?c HTTP/1.0"]
GOOD_REQUEST_LINES += ["GET /? HTTP/1.9", "GET //x HTTP/1.1", "GET /\xe9 HTTP/1.1"]
BAD_REQUEST_LINES = ["GET /#f HTTP/1.1", "GET /a?#f HTTP/1.1", "OPTIONS * HTTP/1.1"]
BAD_REQUEST_LINES += ["GET * HTTP/1.1", "GET http://abs.example:8080/x?y HTTP/1.1"]
BAD_REQUEST_LINES += ["GET http://:80/ HTTP/1.1", "GET / HTTP/2.0", "GET / HTTP/1.x"]
BAD_REQUEST_LINES += [
    "GET /a b HTTP/1.1",
    "G@T / HTTP/1.1",
    "GET  / HTTP/1.1",
    "GET /\x7f HTTP/1.1",
]
BAD_REQUEST_LINES += ["GET /" + "a" * 70 + " HTTP/1.1"]
# Each name with values that fit it, and values that do not (or not always).
GOOD = {
    "Host": ["h", "127.0.0.1:8080", "Example.COM:65535", "h" * 80],
    "Content-Length": ["5", "0", "5, 5", "00"],
    "Transfer-Encoding": ["chunked"],
    "Connection": ["close", "keep-alive", "Keep-Alive", "upgrade, close", "Upgrade", "x"],
    "Expect": ["100-continue", "100-Continue, x", "other"],
    "Content-Type": ["text/plain"],
    "Range": ["bytes=0-1"],
    "X-A": ["1", "\xe9t\xe9", "v" * 140, "", "a  b"],
}
BAD = {
    "Host": ["h:0", "h:65536", "h:", "h:080", "[::1]:80", "a%20b", "", "a b", ":80", "u@h"],
    "Content-Length": ["5, 6", "x", "9" * 20, "-1"],
    "Transfer-Encoding": ["gzip, chunked", "chunked, chunked", "x y"],
    "Connection": ["x y"],
    "Content-Type": ["a\x00b"],
    "X-A": ["a\x7fb"],
}
SPACES = st.sampled_from(["", "", "", " ", "\t", "  "])


def field_line(names: list[str], values: dict[str, list[str]]) -> st.SearchStrategy[str]:
    def lines(name: str) -> st.SearchStrategy[str]:
        return st.tuples(
            st.sampled_from([name, name.upper(), name.lower()]),
            SPACES,
            st.sampled_from(values.get(name) or GOOD[name]),
            st.sampled_from(["", "", "", "", "", "", " ", "\t"]),
        ).map(lambda f: f"{f[0]}:{f[1]}{f[2]}{f[3]}")

    return st.sampled_from(names).flatmap(lines)


GOOD_LINE = field_line(sorted(set(GOOD) - {"Host"}), GOOD)
ODD_LINES = [
    field_line(["Host"], GOOD),
    field_line(sorted(BAD), BAD),
    st.sampled_from([" folded", "NoColon", "Host : h", "X: a\nb", "X: a\rb", "X: a\r"]),
    st.sampled_from(["Bad Name: 1", "X_Y: 1", ": x", "Cookie: a=b"]),
]


@st.composite
def heads(draw: st.DrawFn) -> str:
    """Request heads, about half of them valid, the rest with one fault or a few."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(st.sampled_from("GET /HTP1.\r\n :hosta\t\x00"), max_size=40))
    good = draw(st.integers(0, 3)) > 0
    lines = [draw(st.sampled_from(GOOD_REQUEST_LINES if good else BAD_REQUEST_LINES))]
    if draw(st.integers(0, 5)):
        lines.append("Host: " + draw(st.sampled_from(GOOD["Host"])))
    for _ in range(draw(st.integers(0, 7))):
        odd = draw(st.integers(0, 7)) == 0
        lines.append(draw(st.one_of(*ODD_LINES) if odd else GOOD_LINE))
    return "\r\n".join(lines)


SMALL = {"max_request_line": 64, "max_header_bytes": 128, "max_header_count": 6}


def answer(parse: Any, head: str, limits: Limits, known_host: str) -> Any:
    try:
        return parse(head, limits, known_host)
    except ProtocolError as exc:
        return (type(exc), exc.status, exc.reason)


@settings(max_examples=1000, deadline=None)
@given(
    head=heads(),
    known_host=st.sampled_from(["", "h", "127.0.0.1:8080", "a b"]),
    small=st.booleans(),
)
@example(head="GET / HTTP/1.1\r\nHost: h:65536", known_host="", small=False)
@example(head="GET / HTTP/1.1\r\nHost: h\r\nX: a ", known_host="h", small=False)
@example(head="GET / HTTP/1.0\r\nHost: \r\nHost: h", known_host="", small=False)
@example(head="GET / HTTP/1.1\r\nHost: h\r\nConnection: close", known_host="h", small=False)
@example(head="GET / HTTP/1.0\r\nHost: h\r\nConnection: keep-alive", known_host="", small=False)
@example(head="GET / HTTP/1.0\r\nHost: h\r\nConnection: x, Keep-Alive", known_host="", small=False)
@example(head="GET / HTTP/1.0\r\nHost: h\r\nConnection: x", known_host="", small=False)
@example(head="GET / HTTP/1.0\r\nHost: h", known_host="", small=False)
@example(
    head="PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue",
    known_host="",
    small=False,
)
@example(head="PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 5", known_host="", small=False)
@example(
    head="PUT / HTTP/1.0\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue",
    known_host="",
    small=False,
)
@example(
    head="PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue",
    known_host="",
    small=False,
)
@example(
    head="PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nExpect: 100-continue",
    known_host="",
    small=False,
)
@example(
    head="GET / HTTP/1.1\r\nHost: h" + "".join(f"\r\nX{i}: 1" for i in range(6)),
    known_host="",
    small=True,
)
@example(head="GET / HTTP/1.1\r\nHost: h" + "\r\nX-Long: " + "v" * 122, known_host="", small=True)
@example(head="GET /" + "a" * 59 + " HTTP/1.1\r\nHost: h", known_host="", small=True)
@example(head="GET / HTTP/1.1\r\nHost: h\r\nX: 1\n", known_host="", small=False)
@example(head="GET / HTTP/1.1\r\nHost: h\r\nX: 1\r", known_host="", small=False)
@example(head="GET /a?b?c HTTP/1.1\r\nHost: h", known_host="", small=False)
def test_the_fast_tier_answers_as_the_strict_rules_do(
    head: str, known_host: str, small: bool
) -> None:
    # parse_head takes the usual heads on a fast path and hands the rest to
    # parse_head_strict: whichever took it, the answer (head or error) is the same.
    # A second try goes through the Host values the first one remembered.
    limits = Limits(**SMALL) if small else Limits()
    expected = answer(parse_head_strict, head, limits, known_host)
    assert answer(parse_head, head, limits, known_host) == expected
    assert answer(parse_head, head, limits, "") == answer(parse_head_strict, head, limits, "")
    assert answer(parse_head, head, limits, known_host) == expected


def test_a_host_that_passed_is_remembered_for_every_parser_sharing_the_limits() -> None:
    limits = Limits()
    parse_head("GET / HTTP/1.1\r\nHost: shop.example:8080", limits)
    assert "shop.example:8080" in limits.hosts.passed
    # Values that fail, and the empty value (whose verdict depends on the request),
    # are never remembered.
    for bad in ("a b", "h:0", ""):
        with pytest.raises(BadRequest):
            parse_head(f"GET / HTTP/1.1\r\nHost: {bad}", limits)
    assert limits.hosts.passed == {"shop.example:8080"}
    # Another Limits, another server: its own cache.
    assert not Limits().hosts.passed
