"""Framework layer: HTTP header containers and the checks that keep header injection out.

Two containers live here. :class:`ResponseHeaders` is the ordered, case-insensitive,
multi-value list the App hands to ``start_response`` as it is (WSGI wants a list of
``(str, str)`` tuples, so storing exactly that costs nothing at the boundary).
:class:`RequestHeaders` is a read-only view over the WSGI environ's ``HTTP_*`` keys:
nothing is copied until a header is asked for.

Every name and value an application sets goes through :func:`check_header`, which
refuses CR, LF and NUL (response splitting) and names that are not RFC 9110 tokens.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar, overload

from micro.errors import InvalidResponse
from micro.http.grammar import TOKEN_RE

__all__ = ["InvalidHeader", "RequestHeaders", "ResponseHeaders", "check_header"]

_D = TypeVar("_D")

# RFC 9110 5.1: field-name = token; tchar excludes separators and controls.
# Response splitting needs CR or LF; NUL truncates in C servers. Other controls but
# HTAB are also refused (RFC 9110 5.5 field-vchar).
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class InvalidHeader(InvalidResponse, ValueError):
    """A header name or value an application set cannot be sent (it names the header)."""


def check_header(name: str, value: str) -> None:
    """Raise :class:`InvalidHeader` unless ``name: value`` is a safe response field."""
    if not isinstance(name, str) or TOKEN_RE.fullmatch(name) is None:
        raise InvalidHeader(f"invalid header name {name!r}")
    if not isinstance(value, str):
        raise InvalidHeader(f"header {name!r}: value must be str, got {type(value).__name__}")
    if _BAD_VALUE.search(value):
        raise InvalidHeader(f"header {name!r}: value contains CR, LF, NUL or a control character")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise InvalidHeader(f"header {name!r}: value is not latin-1 text") from None


class ResponseHeaders:
    """Ordered, case-insensitive, multi-value response headers.

    ``items`` is the very list given to ``start_response``; read it, but change headers
    through the methods so that values are checked.
    """

    __slots__ = ("items",)

    def __init__(self, items: list[tuple[str, str]] | None = None) -> None:
        self.items: list[tuple[str, str]] = items if items is not None else []

    @classmethod
    def from_mapping(cls, headers: Mapping[str, str] | None) -> ResponseHeaders:
        new = cls()
        if headers:
            for name, value in headers.items():
                new.add(name, value)
        return new

    def add(self, name: str, value: str) -> None:
        """Append a field (a second ``Set-Cookie``, ``Vary`` ...)."""
        check_header(name, value)
        self.items.append((name, value))

    def set(self, name: str, value: str) -> None:
        """Replace every field called ``name`` with one."""
        check_header(name, value)
        self.remove(name)
        self.items.append((name, value))

    def setdefault(self, name: str, value: str) -> str:
        found = self.get(name)
        if found is not None:
            return found
        self.set(name, value)
        return value

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name`` (case-insensitive), or ``default``."""
        lname = name.lower()
        for key, value in self.items:
            if key.lower() == lname:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        lname = name.lower()
        return [v for k, v in self.items if k.lower() == lname]

    def remove(self, name: str) -> None:
        """Drop every field called ``name``; no error when there is none."""
        lname = name.lower()
        items = self.items
        if any(k.lower() == lname for k, _ in items):
            items[:] = [kv for kv in items if kv[0].lower() != lname]

    def clear(self) -> None:
        self.items.clear()

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __setitem__(self, name: str, value: str) -> None:
        self.set(name, value)

    def __delitem__(self, name: str) -> None:
        self.remove(name)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return f"ResponseHeaders({self.items!r})"


class RequestHeaders(Mapping[str, str]):
    """Case-insensitive, read-only request headers backed by the WSGI environ.

    Repeated fields arrive joined by ", " (the server's job, per RFC 9110 5.3);
    ``Content-Type`` and ``Content-Length`` live under their CGI names.
    """

    __slots__ = ("_environ",)

    def __init__(self, environ: Mapping[str, Any]) -> None:
        self._environ = environ

    @staticmethod
    def _key(name: str) -> str:
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            return key
        return "HTTP_" + key

    def __getitem__(self, name: str) -> str:
        value = self._environ.get(self._key(name))
        if value is None or not isinstance(value, str):
            raise KeyError(name)
        return value

    @overload
    def get(self, name: str, default: None = None) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    @overload
    def get(self, name: str, default: _D) -> str | _D: ...
    def get(self, name: str, default: object = None) -> object:
        """The value of header ``name`` (case-insensitive), or ``default``."""
        value = self._environ.get(self._key(name))
        return default if value is None else value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._key(name) in self._environ

    def __iter__(self) -> Iterator[str]:
        for key, value in self._environ.items():
            if key.startswith("HTTP_"):
                yield key[5:].replace("_", "-").title()
            elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
                yield key.replace("_", "-").title()

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"RequestHeaders({dict(self.items())!r})"
