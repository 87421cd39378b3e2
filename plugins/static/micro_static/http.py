"""micro-static, pure helpers: safe paths, byte ranges, validators, HTTP dates.

Nothing here touches a Request or a Response, so each rule is testable alone.
"""

from __future__ import annotations

import os
import re
from datetime import UTC
from email.utils import formatdate, parsedate_to_datetime

__all__ = [
    "UNSATISFIABLE",
    "accepts_gzip",
    "clean_relative",
    "etag_matches",
    "http_date",
    "inside",
    "parse_http_date",
    "parse_range",
]

# Percent-encoded "/", "\" or NUL in the raw request target: such a path names no
# file of ours, whatever the server decoded it to.
_ENCODED_SEPARATOR = re.compile(r"%(?:2f|5c|00)", re.IGNORECASE)
UNSATISFIABLE = (-1, -1)
_RANGE = re.compile(r"bytes=(\d*)-(\d*)", re.IGNORECASE)


def clean_relative(relative: str, raw_target: str | None = None) -> list[str] | None:
    """The segments of a plain relative path of named segments, or None.

    None for anything else: empty, absolute, with ``.``/``..``/empty segments,
    backslashes, NUL bytes, or encoded separators in ``raw_target`` (the request
    target as sent, when the server tells it).
    """
    if not relative or "\0" in relative or "\\" in relative or relative.startswith("/"):
        return None
    if raw_target is not None and _ENCODED_SEPARATOR.search(raw_target):
        return None
    segments = relative.split("/")
    if any(s in ("", ".", "..") for s in segments):
        return None
    return segments


def inside(root: str, path: str) -> str | None:
    """The real path of ``path`` if, symlinks resolved, it lies under the real ``root``."""
    real = os.path.realpath(path)
    try:
        if os.path.commonpath([real, root]) != root:
            return None
    except ValueError:  # different drives (Windows)
        return None
    return real


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``(first, last)`` byte positions (inclusive) of a single-range header.

    None when the header must be ignored (malformed, another unit, or several
    ranges: serving the whole file is allowed then); ``UNSATISFIABLE`` when the
    range lies beyond the end of a file of ``size`` bytes (answer 416).
    """
    match = _RANGE.fullmatch(header.strip().replace(" ", ""))
    if match is None:
        return None
    first_text, last_text = match.groups()
    if not first_text:
        if not last_text:
            return None
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            return UNSATISFIABLE
        return max(0, size - suffix), size - 1
    first = int(first_text)
    last = int(last_text) if last_text else size - 1
    if last_text and last < first:
        return None
    if first >= size:
        return UNSATISFIABLE
    return first, min(last, size - 1)


def etag_matches(header: str, etag: str, *, weak: bool) -> bool:
    """Whether the list of entity tags ``header`` names ``etag``.

    ``weak=True`` is the comparison If-None-Match uses (``W/`` ignored);
    ``weak=False`` is the strong one If-Range needs (a weak tag never matches).
    """
    if header.strip() == "*":
        return True
    wanted = etag[2:] if etag.startswith("W/") else etag
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate.startswith("W/"):
            if not weak:
                continue
            candidate = candidate[2:]
        if candidate == wanted and (weak or not etag.startswith("W/")):
            return True
    return False


def http_date(timestamp: float) -> str:
    return formatdate(timestamp, usegmt=True)


def parse_http_date(value: str) -> float | None:
    """Seconds since the epoch of an HTTP date, or None when it is not one."""
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:  # asctime dates carry no zone: HTTP dates are GMT
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def accepts_gzip(header: str | None) -> bool:
    """Whether ``Accept-Encoding`` allows gzip (q > 0 for gzip, x-gzip or ``*``)."""
    if not header:
        return False
    star: float | None = None
    for element in header.split(","):
        coding, *params = element.split(";")
        coding = coding.strip().lower()
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if coding in ("gzip", "x-gzip"):
            return q > 0
        if coding == "*":
            star = q
    return star is not None and star > 0
