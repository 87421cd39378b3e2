"""Server layer: the access log (Combined Log Format), the error log and the Date clock.

Two loggers: ``micro.access`` receives one line per answered request in Combined Log
Format when the server's ``access_log`` is on, with control characters, quotes and
backslashes escaped so a client cannot forge log lines; ``micro.error`` receives
application tracebacks and server-side failures. :class:`DateClock` caches the
IMF-fixdate string for the current second so answering a request costs no
formatting work.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from micro.http import http_date
from micro.http.response import MONTHS

__all__ = [
    "ACCESS_LOGGER",
    "ERROR_LOGGER",
    "DateClock",
    "ErrorStream",
    "access_line",
    "escape",
    "refused_line",
]

ACCESS_LOGGER = "micro.access"
ERROR_LOGGER = "micro.error"

# Everything outside printable ASCII, plus the quote and backslash that delimit fields.
_UNSAFE = re.compile(r'[^\x20-\x7e]|["\\]')


def _escape_one(match: re.Match[str]) -> str:
    char = match.group()
    if char in '"\\':
        return "\\" + char
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape(text: str) -> str:
    """Escape control characters, non-ASCII, ``"`` and ``\\`` for one log field."""
    return _UNSAFE.sub(_escape_one, text)


def _clf_time(timestamp: float) -> str:
    local = time.localtime(timestamp)
    offset = local.tm_gmtoff or 0
    sign = "+" if offset >= 0 else "-"
    hours, minutes = divmod(abs(offset) // 60, 60)
    return (
        f"{local.tm_mday:02d}/{MONTHS[local.tm_mon - 1]}/{local.tm_year}:"
        f"{local.tm_hour:02d}:{local.tm_min:02d}:{local.tm_sec:02d} {sign}{hours:02d}{minutes:02d}"
    )


def access_line(
    *,
    remote_addr: str,
    timestamp: float,
    request_line: str,
    status: int,
    size: int,
    referer: str | None,
    user_agent: str | None,
) -> str:
    """One Combined Log Format line: host ident user [time] "request" status size "ref" "ua"."""
    return (
        f'{escape(remote_addr) or "-"} - - [{_clf_time(timestamp)}] "{escape(request_line)}" '
        f'{status} {size if size else "-"} "{escape(referer or "-")}" '
        f'"{escape(user_agent or "-")}"'
    )


def refused_line(remote_addr: str, status: int, answer: bytes) -> str:
    """The line for a request refused before any app saw it with the error ``answer``.

    The request line may be what was wrong with it: "-" stands for it, never an echo.
    """
    return access_line(
        remote_addr=remote_addr,
        timestamp=time.time(),
        request_line="-",
        status=status,
        size=len(answer) - answer.index(b"\r\n\r\n") - 4,
        referer=None,
        user_agent=None,
    )


class DateClock:
    """The Date header, formatted once per second and shared by all workers."""

    __slots__ = ("_cached",)

    def __init__(self) -> None:
        # One tuple, replaced whole, so a reader never pairs a second with another
        # second's string; racing workers at a second's turn compute the same value.
        self._cached: tuple[int, str, bytes] = (-1, "", b"")

    def _update(self, second: int) -> tuple[int, str, bytes]:
        value = http_date(second)
        cached = (second, value, b"Date: " + value.encode("ascii") + b"\r\n\r\n")
        self._cached = cached
        return cached

    def now(self) -> str:
        """The IMF-fixdate of the current second."""
        cached = self._cached
        if cached[0] != int(time.time()):
            cached = self._update(int(time.time()))
        return cached[1]

    def line(self) -> bytes:
        """``Date: <now>`` with the CRLF CRLF that ends a response head."""
        cached = self._cached
        if cached[0] != int(time.time()):
            cached = self._update(int(time.time()))
        return cached[2]


class ErrorStream:
    """``wsgi.errors``: a text stream whose lines go to the ``micro.error`` logger."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._logger = logger or logging.getLogger(ERROR_LOGGER)

    def write(self, text: str) -> int:
        stripped = text.rstrip("\n")
        if stripped:
            self._logger.error("%s", stripped)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Lines are handed to logging at once; nothing is buffered."""
