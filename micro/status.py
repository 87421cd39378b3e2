"""HTTP status codes' reason phrases and status lines, in one place (a leaf of micro).

Every part of micro that names a status takes its phrase from here: an HTTPError's
default reason (:mod:`micro.errors`), the App's status lines and its Responses, the
server's own error answers and the test client's proxy. The phrases are the standard
library's (:class:`http.HTTPStatus`); a code it does not list is ``Unknown``. Like
:mod:`micro.errors`, this module imports nothing of micro, so every layer may use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from types import MappingProxyType

__all__ = ["PHRASES", "STATUS_LINES", "reason_phrase"]

PHRASES: Mapping[int, str] = MappingProxyType({s.value: s.phrase for s in HTTPStatus})
"""The standard reason phrase of each status code the standard library lists."""

STATUS_LINES: Mapping[int, str] = MappingProxyType(
    {code: f"{code} {PHRASES.get(code, 'Unknown')}" for code in range(100, 600)}
)
"""``"404 Not Found"`` and so on: a WSGI status for every code 100..599."""


def reason_phrase(status: int) -> str:
    """The standard phrase of ``status``, ``Unknown`` for a code without one."""
    return PHRASES.get(status, "Unknown")
