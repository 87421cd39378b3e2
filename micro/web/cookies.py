"""Framework layer: parse the Cookie request header and build Set-Cookie values.

Parsing is forgiving (RFC 6265 5.4: a browser's header may hold junk; bad pairs are
skipped, never fatal). Building is strict (RFC 6265 4.1): names must be tokens and
values cookie-octets, so an application cannot smuggle ``;`` attributes or a CR/LF
into a response; anything else raises :class:`InvalidCookie` naming the cookie.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import TypedDict

from micro.errors import InvalidResponse
from micro.http.grammar import TOKEN_RE

__all__ = [
    "CookieOptions",
    "InvalidCookie",
    "format_set_cookie",
    "mark_secure",
    "parse_cookie_header",
]

# cookie-octet: %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E, optionally in DQUOTEs.
_VALUE = re.compile(
    r'(?:[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*|"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*")\Z'
)
# Path and Domain attribute values: any CHAR except CTLs and ";".
_ATTR = re.compile(r"[\x20-\x3a\x3c-\x7e]*\Z")
_SAMESITE = {"strict": "Strict", "lax": "Lax", "none": "None"}


class CookieOptions(TypedDict, total=False):
    """The attributes of a Set-Cookie, as every ``set_cookie`` of micro takes them.

    ``max_age`` in seconds; ``expires`` an aware datetime or a POSIX timestamp; ``path``
    (``/`` by default, None to omit); ``domain``; ``secure``; ``httponly``; ``samesite``
    Strict, Lax (the default), None (needs ``secure``) or ``None`` to omit it.
    """

    max_age: int | None
    expires: datetime | float | None
    path: str | None
    domain: str | None
    secure: bool
    httponly: bool
    samesite: str | None


class InvalidCookie(InvalidResponse, ValueError):
    """A cookie name, value or attribute cannot be sent safely."""


def parse_cookie_header(header: str) -> dict[str, str]:
    """``"a=1; b=2"`` -> ``{"a": "1", "b": "2"}``; the first of duplicate names wins."""
    cookies: dict[str, str] = {}
    for part in header.split(";"):
        name, sep, value = part.partition("=")
        if not sep:
            continue
        name = name.strip()
        value = value.strip()
        if not name or name in cookies:
            continue
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        cookies[name] = value
    return cookies


def format_set_cookie(
    name: str,
    value: str,
    *,
    max_age: int | None = None,
    expires: datetime | float | None = None,
    path: str | None = "/",
    domain: str | None = None,
    secure: bool = False,
    httponly: bool = False,
    samesite: str | None = "Lax",
) -> str:
    """The value of one ``Set-Cookie`` header field, validated.

    ``expires`` is an aware datetime or a POSIX timestamp; ``samesite`` is Strict,
    Lax, None (which requires ``secure``, as browsers do) or ``None`` to omit it.
    """
    if not isinstance(name, str) or TOKEN_RE.fullmatch(name) is None:
        raise InvalidCookie(f"invalid cookie name {name!r}")
    if not isinstance(value, str) or not _VALUE.match(value):
        raise InvalidCookie(
            f"cookie {name!r}: value may hold only cookie-octets (no space, comma, "
            "semicolon, backslash, quote or control character); encode it first"
        )
    parts = [f"{name}={value}"]
    if max_age is not None:
        parts.append(f"Max-Age={int(max_age)}")
    if expires is not None:
        when = (
            expires
            if isinstance(expires, datetime)
            else datetime.fromtimestamp(float(expires), tz=UTC)
        )
        if when.tzinfo is None:
            raise InvalidCookie(f"cookie {name!r}: expires must be timezone-aware")
        parts.append("Expires=" + format_datetime(when.astimezone(UTC), usegmt=True))
    for attr, text in (("Path", path), ("Domain", domain)):
        if text is None:
            continue
        if not _ATTR.match(text):
            raise InvalidCookie(f"cookie {name!r}: invalid {attr} {text!r}")
        parts.append(f"{attr}={text}")
    if secure:
        parts.append("Secure")
    if httponly:
        parts.append("HttpOnly")
    if samesite is not None:
        canonical = _SAMESITE.get(samesite.lower())
        if canonical is None:
            raise InvalidCookie(f"cookie {name!r}: SameSite must be Strict, Lax or None")
        if canonical == "None" and not secure:
            raise InvalidCookie(f"cookie {name!r}: SameSite=None requires secure=True")
        parts.append(f"SameSite={canonical}")
    return "; ".join(parts)


def mark_secure(headers: list[tuple[str, str]]) -> None:
    """Add ``Secure`` to every Set-Cookie field in ``headers`` that lacks it (https answers).

    A cookie set over https is meant for https: without ``Secure`` the browser would
    also send it over plain http, where anyone on the path can read it.
    """
    for i, (key, value) in enumerate(headers):
        if len(key) == 10 and key.lower() == "set-cookie":
            attributes = value.split(";")[1:]
            if not any(a.strip().lower() == "secure" for a in attributes):
                headers[i] = (key, value + "; Secure")
