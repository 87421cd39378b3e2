"""Tests of micro.http.head: the reasons a client reads in its 400, and parse_head alone."""

from __future__ import annotations

import time

import pytest

from micro.errors import BadRequest, ProtocolError
from micro.http import Limits
from micro.http.head import parse_head


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
