"""sans-IO HTTP layer: the bytes micro sends, checked before they leave.

:func:`build_response_head` refuses a status line or header an application gave
that HTTP cannot carry (raising :class:`~micro.errors.InvalidResponse`), so no
response can split into two; :func:`encode_chunk` and :data:`LAST_CHUNK` frame a
chunked body; :func:`body_allowed` says whether a response may carry a body;
:func:`error_response` is the whole answer to a rejected request.
"""

from __future__ import annotations

import re
import time
from typing import Final

from micro.errors import InvalidResponse
from micro.http import grammar
from micro.status import PHRASES

__all__ = [
    "LAST_CHUNK",
    "MONTHS",
    "body_allowed",
    "build_response_head",
    "encode_chunk",
    "error_response",
    "http_date",
]

LAST_CHUNK: Final = b"0\r\n\r\n"

# status-code SP reason-phrase, reason-phrase = *( HTAB / SP / VCHAR / obs-text )
_STATUS = re.compile(r"[0-9]{3} [\t\x20-\x7e\x80-\xff]*")
# Names joined with LF match this only if each one is a token (given that no name
# holds an LF itself, which the LF count checks).
_NAMES = re.compile(rf"{grammar.TOKEN}(?:\n{grammar.TOKEN})*")
# Concatenating values creates no new character, so one search checks them all.
_BAD_VALUE_CHAR = re.compile(r"[^\t\x20-\x7e\x80-\xff]")

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def build_response_head(http_version: str, status: str, headers: list[tuple[str, str]]) -> bytes:
    """Return ``HTTP/<version> <status>\\r\\n`` + the header lines + the empty line.

    Raises InvalidResponse naming the bad part if the status is not ``"NNN reason"``,
    a name is not a token, or a value holds CR, LF, NUL, another control but HTAB,
    or a character beyond latin-1.
    """
    if http_version != "1.1" and http_version != "1.0":
        raise InvalidResponse(f"invalid HTTP version {http_version!r}: must be '1.0' or '1.1'")
    if _STATUS.fullmatch(status) is None:
        raise InvalidResponse(f"invalid status line {status!r}: must be 'NNN reason'")
    if headers:
        names = "\n".join([n for n, _ in headers])
        if _NAMES.fullmatch(names) is None or names.count("\n") != len(headers) - 1:
            _raise_for_name(headers)
        if _BAD_VALUE_CHAR.search("".join([v for _, v in headers])) is not None:
            _raise_for_value(headers)
        lines = "".join([f"{n}: {v}\r\n" for n, v in headers])
    else:
        lines = ""
    return f"HTTP/{http_version} {status}\r\n{lines}\r\n".encode("latin-1")


def _raise_for_name(headers: list[tuple[str, str]]) -> None:
    for name, _ in headers:
        if grammar.TOKEN_RE.fullmatch(name) is None:
            raise InvalidResponse(f"invalid header name {name!r}")


def _raise_for_value(headers: list[tuple[str, str]]) -> None:
    for name, value in headers:
        if _BAD_VALUE_CHAR.search(value) is not None:
            raise InvalidResponse(f"invalid character in value of header {name!r}: {value!r}")


def encode_chunk(data: bytes) -> bytes:
    """Frame ``data`` as one chunk; empty data gives ``b""`` (it would end the body)."""
    if not data:
        return b""
    return b"%x\r\n%b\r\n" % (len(data), data)


def body_allowed(method: str, status: int) -> bool:
    """False when the response must not carry a body: HEAD, 1xx, 204 and 304."""
    return method != "HEAD" and status >= 200 and status != 204 and status != 304


def error_response(status: int, reason: str, *, date: str, server: str = "micro") -> bytes:
    """A whole HTTP/1.1 answer to a rejected request; it closes the connection.

    ``reason`` is the client-safe explanation for the text/plain body; the status
    line carries the standard phrase. Characters HTTP cannot carry are replaced.
    """
    phrase = PHRASES.get(status, "Error")
    body = f"{status} {phrase}: {reason}\n".encode("utf-8", "replace")
    server = _BAD_VALUE_CHAR.sub("?", server)
    date = _BAD_VALUE_CHAR.sub("?", date)
    head = (
        f"HTTP/1.1 {status} {phrase}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n"
        f"Date: {date}\r\n"
        f"Server: {server}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def http_date(timestamp: float | None = None) -> str:
    """IMF-fixdate of ``timestamp`` (now if None): ``Sun, 06 Nov 1994 08:49:37 GMT``."""
    t = time.gmtime(timestamp)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {MONTHS[t.tm_mon - 1]} {t.tm_year:04d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )
