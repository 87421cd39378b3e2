"""Tests of micro.http.response: response heads, chunks, body rules, error answers, dates."""

from __future__ import annotations

import email.utils
import io
from http.client import HTTPResponse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from micro.errors import InvalidResponse
from micro.http import (
    LAST_CHUNK,
    body_allowed,
    build_response_head,
    encode_chunk,
    error_response,
    http_date,
)


class _FakeSocket:
    def __init__(self, data: bytes) -> None:
        self._file = io.BytesIO(data)

    def makefile(self, mode: str) -> io.BytesIO:
        return self._file


def read_response(data: bytes) -> tuple[HTTPResponse, bytes]:
    """Parse ``data`` the way a client (http.client) does."""
    response = HTTPResponse(_FakeSocket(data))  # type: ignore[arg-type]
    response.begin()
    return response, response.read()


def test_head_has_status_line_fields_and_empty_line() -> None:
    head = build_response_head(
        "1.1", "200 OK", [("Content-Type", "text/plain"), ("X-Tab", "a\tb"), ("X-Latin", "café")]
    )
    assert head == (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Tab: a\tb\r\nX-Latin: caf\xe9\r\n\r\n"
    )
    assert build_response_head("1.0", "204 No Content", []) == b"HTTP/1.0 204 No Content\r\n\r\n"


def test_a_client_reads_the_head_back() -> None:
    head = build_response_head(
        "1.1", "201 Created", [("Content-Length", "2"), ("Set-Cookie", "a=1")]
    )
    response, body = read_response(head + b"ok")
    assert (response.status, response.reason, body) == (201, "Created", b"ok")
    assert response.getheader("Set-Cookie") == "a=1"


@pytest.mark.parametrize(
    "status", ["200", "20 OK", "2000 OK", "abc OK", "200 OK\r\nX: y", "200 O\x00K", "200 ☃"]
)
def test_bad_status_is_refused_and_named(status: str) -> None:
    with pytest.raises(InvalidResponse, match="status"):
        build_response_head("1.1", status, [])


@pytest.mark.parametrize(
    "name", ["", "Bad Name", "X:Y", "X\r\nY", "X\nY", "Ünicode", "X\x00", "X Y", "X;Y"]
)
def test_bad_header_name_is_refused_and_named(name: str) -> None:
    with pytest.raises(InvalidResponse, match="header name") as info:
        build_response_head("1.1", "200 OK", [("Good", "v"), (name, "v")])
    assert repr(name) in str(info.value)


@pytest.mark.parametrize(
    "value", ["a\r\nSet-Cookie: evil=1", "a\rb", "a\nb", "a\x00b", "a\x01b", "a\x7fb", "€"]
)
def test_bad_header_value_is_refused_and_named(value: str) -> None:
    with pytest.raises(InvalidResponse, match="X-Bad"):
        build_response_head("1.1", "200 OK", [("Good", "v"), ("X-Bad", value)])


@given(
    status=st.text(max_size=12),
    headers=st.lists(st.tuples(st.text(max_size=8), st.text(max_size=12)), max_size=4),
)
def test_whatever_the_app_gives_the_head_never_splits(
    status: str, headers: list[tuple[str, str]]
) -> None:
    try:
        head = build_response_head("1.1", status, headers)
    except InvalidResponse:
        return
    lines = head.split(b"\r\n")
    assert lines[-2:] == [b"", b""] and len(lines) == len(headers) + 3
    assert all(b"\r" not in line and b"\n" not in line for line in lines)
    assert [line.split(b":", 1)[0].decode() for line in lines[1:-2]] == [n for n, _ in headers]


def test_bad_version_is_refused() -> None:
    with pytest.raises(InvalidResponse, match="version"):
        build_response_head("2", "200 OK", [])


def test_encode_chunk_frames_data_and_never_ends_the_body() -> None:
    assert encode_chunk(b"hello") == b"5\r\nhello\r\n"
    assert encode_chunk(b"x" * 255) == b"ff\r\n" + b"x" * 255 + b"\r\n"
    assert encode_chunk(b"") == b""
    assert LAST_CHUNK == b"0\r\n\r\n"


@pytest.mark.parametrize(
    ("method", "status", "allowed"),
    [
        ("GET", 200, True),
        ("POST", 404, True),
        ("GET", 205, True),
        ("HEAD", 200, False),
        ("GET", 100, False),
        ("GET", 101, False),
        ("GET", 199, False),
        ("GET", 204, False),
        ("GET", 304, False),
    ],
)
def test_body_allowed(method: str, status: int, allowed: bool) -> None:
    assert body_allowed(method, status) is allowed


def test_error_response_is_a_whole_closing_answer() -> None:
    date = http_date(784111777)
    data = error_response(431, "too many header fields", date=date, server="micro/0.1")
    response, body = read_response(data)
    assert (response.status, response.reason) == (431, "Request Header Fields Too Large")
    assert response.getheader("Connection") == "close"
    assert response.getheader("Date") == "Sun, 06 Nov 1994 08:49:37 GMT"
    assert response.getheader("Server") == "micro/0.1"
    assert response.getheader("Content-Type") == "text/plain; charset=utf-8"
    assert int(response.getheader("Content-Length") or -1) == len(body)
    assert b"too many header fields" in body
    assert data.endswith(body)


def test_error_response_cannot_be_split_by_its_arguments() -> None:
    data = error_response(400, "bad\r\nX-Evil: 1", date="now\r\nX-Evil: 2", server="s\nX-Evil: 3")
    head = data.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nX-Evil" not in head and b"\n" not in head.replace(b"\r\n", b"")


@pytest.mark.parametrize("timestamp", [0.0, 784111777.0, 951782400.5, 1700000000.0, 4102444799.0])
def test_http_date_is_imf_fixdate(timestamp: float) -> None:
    assert http_date(timestamp) == email.utils.formatdate(timestamp, usegmt=True)


def test_http_date_defaults_to_now() -> None:
    parsed = email.utils.parsedate_to_datetime(http_date())
    assert parsed.tzinfo is not None
    assert abs(parsed.timestamp() - email.utils.parsedate_to_datetime(http_date()).timestamp()) < 2
