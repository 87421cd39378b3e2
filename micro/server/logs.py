"""Server layer: the access log (Combined Log Format), the error log and the Date clock.

Two loggers: ``micro.access`` receives one line per answered request when the
server's ``access_log`` is on: Combined Log Format followed by the time taken in
microseconds (Apache's ``%D``), or with ``access_log_format = "json"`` one JSON object
a line; control characters, quotes and backslashes are escaped so a client cannot
forge log lines; ``micro.error`` receives
application tracebacks and server-side failures. :class:`DateClock` caches the
IMF-fixdate string for the current second so answering a request costs no
formatting work.
"""

from __future__ import annotations

import json
import logging
import re
import time
from datetime import UTC, datetime
from typing import Any

from micro.http import http_date
from micro.http.response import MONTHS

__all__ = [
    "ACCESS_LOGGER",
    "ACCESS_LOG_FORMATS",
    "ERROR_LOGGER",
    "AccessLog",
    "DateClock",
    "ErrorStream",
    "access_json",
    "access_line",
    "escape",
    "refused_line",
]

ACCESS_LOGGER = "micro.access"
ACCESS_LOG_FORMATS = ("combined", "json")
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
    duration: float | None = None,
) -> str:
    """One Combined Log Format line: host ident user [time] "request" status size "ref" "ua",
    then, like Apache's ``%D``, the time taken in microseconds ("-" when unknown)."""
    micros = "-" if duration is None else str(round(duration * 1_000_000))
    return (
        f'{escape(remote_addr) or "-"} - - [{_clf_time(timestamp)}] "{escape(request_line)}" '
        f'{status} {size if size else "-"} "{escape(referer or "-")}" '
        f'"{escape(user_agent or "-")}" {micros}'
    )


def access_json(
    *,
    remote_addr: str,
    timestamp: float,
    method: str | None,
    target: str | None,
    protocol: str | None,
    status: int,
    size: int,
    referer: str | None,
    user_agent: str | None,
    duration: float | None = None,
) -> str:
    """The same facts as one JSON object on one line (non-ASCII escaped, so a client's
    header can never start a line of its own)."""
    when = datetime.fromtimestamp(timestamp, UTC)
    record = {
        "time": when.isoformat(timespec="milliseconds"),
        "remote_addr": remote_addr,
        "method": method,
        "target": target,
        "protocol": protocol,
        "status": status,
        "size": size,
        "referer": referer,
        "user_agent": user_agent,
        "duration_ms": None if duration is None else round(duration * 1000, 3),
    }
    return json.dumps(record, ensure_ascii=True, separators=(",", ":"))


def refused_line(remote_addr: str, status: int, answer: bytes) -> str:
    """The line for a request refused before any app saw it with the error ``answer``.

    The request line may be what was wrong with it: "-" stands for it, never an echo.
    """
    return access_line(
        remote_addr=remote_addr,
        timestamp=time.time(),
        request_line="-",
        status=status,
        size=_body_size(answer),
        referer=None,
        user_agent=None,
    )


def _body_size(answer: bytes) -> int:
    return len(answer) - answer.index(b"\r\n\r\n") - 4


class AccessLog:
    """The ``micro.access`` logger and the format its lines take (``combined`` or ``json``)."""

    __slots__ = ("format", "logger")

    def __init__(self, fmt: str = "combined", logger: logging.Logger | None = None) -> None:
        if fmt not in ACCESS_LOG_FORMATS:
            raise ValueError(f"access log format must be one of {ACCESS_LOG_FORMATS}, got {fmt!r}")
        self.format = fmt
        self.logger = logger or logging.getLogger(ACCESS_LOGGER)

    def request(
        self,
        *,
        remote_addr: str,
        timestamp: float,
        method: str,
        target: str,
        protocol: str,
        status: int,
        size: int,
        referer: str | None,
        user_agent: str | None,
        duration: float,
    ) -> None:
        """Log one answered request; ``duration`` in seconds, from its head to its end."""
        if self.format == "json":
            line = access_json(
                remote_addr=remote_addr,
                timestamp=timestamp,
                method=method,
                target=target,
                protocol=protocol,
                status=status,
                size=size,
                referer=referer,
                user_agent=user_agent,
                duration=duration,
            )
        else:
            line = access_line(
                remote_addr=remote_addr,
                timestamp=timestamp,
                request_line=f"{method} {target} {protocol}",
                status=status,
                size=size,
                referer=referer,
                user_agent=user_agent,
                duration=duration,
            )
        self.logger.info("%s", line)

    def refused(self, remote_addr: str, status: int, answer: bytes) -> None:
        """Log a request refused before any app saw it (its request line is not echoed)."""
        if self.format == "json":
            line = access_json(
                remote_addr=remote_addr,
                timestamp=time.time(),
                method=None,
                target=None,
                protocol=None,
                status=status,
                size=_body_size(answer),
                referer=None,
                user_agent=None,
            )
        else:
            line = refused_line(remote_addr, status, answer)
        self.logger.info("%s", line)


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
        second = int(time.time())
        if cached[0] != second:
            cached = self._update(second)
        return cached[1]

    def line(self) -> bytes:
        """``Date: <now>`` with the CRLF CRLF that ends a response head."""
        cached = self._cached
        second = int(time.time())
        if cached[0] != second:
            cached = self._update(second)
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
