"""micro-sessions: the store protocol, its JSON helpers and the cookie store.

Every session travels in one signed, timestamped cookie (the App's signing, so
``cookie_secret`` rotation works). What the signed payload holds is the store's
business:

- ``cookie`` (the default): the session itself, as JSON. Nothing is shared
  between processes or machines, so it scales out as it is; a browser keeps at
  most about 4 KB per cookie, so a session that grows past that is refused when
  it is saved (:class:`SessionTooLarge`).
- ``sqlite:///path/sessions.db`` and ``redis://host:port/db``: a random session
  id; the data lives in the database (:mod:`micro_sessions.sqlite_store`,
  :mod:`micro_sessions.redis_store`).

A store never sees HTTP: the middleware verifies the cookie and hands the store
the payload, then asks it for the payload of the next cookie.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any, Protocol

from micro.errors import MicroError

__all__ = [
    "CookieStore",
    "SessionError",
    "SessionStore",
    "SessionTooLarge",
    "StoreUnavailable",
    "dump_session",
    "load_session",
    "new_session_id",
]


class SessionError(MicroError):
    """A session cannot be saved as it is (a value JSON cannot hold)."""


class SessionTooLarge(SessionError):
    """A cookie-store session grew past what a browser keeps in one cookie."""


class StoreUnavailable(SessionError):
    """The store cannot be reached in time (the middleware answers 503)."""


class SessionStore(Protocol):
    """Where sessions live; ``payload`` is the verified content of the session cookie."""

    @property
    def description(self) -> str:
        """What the store is, for log lines (never a password)."""
        ...

    def load(self, payload: bytes) -> tuple[str | None, dict[str, Any]] | None:
        """``(session id or None, data)`` for a cookie's payload; None if unknown or expired."""
        ...

    def save(self, sid: str | None, data: Mapping[str, Any], max_age: int) -> bytes:
        """Keep ``data`` for ``max_age`` seconds (a new id when ``sid`` is None).

        Returns the payload of the cookie to send.
        """
        ...

    def delete(self, sid: str) -> None:
        """Forget session ``sid`` (after logout or regenerate)."""
        ...


def dump_session(data: Mapping[str, Any]) -> bytes:
    """``data`` as compact JSON; SessionError naming the key JSON cannot hold."""
    try:
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError):
        for key, value in data.items():
            try:
                json.dumps(value)
            except (TypeError, ValueError) as exc:
                raise SessionError(
                    f"session[{key!r}] cannot be stored: {exc} (sessions hold JSON values)"
                ) from None
        raise


def load_session(raw: bytes | str) -> dict[str, Any] | None:
    """The data of a stored session, or None when it is not a JSON object."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def new_session_id() -> str:
    """256 random bits, URL- and cookie-safe."""
    return secrets.token_urlsafe(32)


class CookieStore:
    """The session itself in the signed cookie (see the module docstring)."""

    description = "cookie"

    def load(self, payload: bytes) -> tuple[str | None, dict[str, Any]] | None:
        data = load_session(payload)
        return None if data is None else (None, data)

    def save(self, sid: str | None, data: Mapping[str, Any], max_age: int) -> bytes:
        return dump_session(data)

    def delete(self, sid: str) -> None:
        """Nothing to forget: the browser holds the only copy."""
