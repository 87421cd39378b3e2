"""micro-sessions: StoredSession, one request's mutable mapping of JSON values.

A StoredSession remembers whether it changed, so the middleware saves it (and sends a
cookie) only then: reading a session costs a load and nothing more. A change
means assigning or deleting a key (or ``clear()``, ``pop()`` ...); mutating a
value in place (``session["cart"].append(x)``) is not seen, so assign the value
again or set ``session.modified = True``.

Values must survive JSON (str, numbers, bools, None, lists, dicts with str
keys): every store keeps the session as JSON, and a value that is not is an
error at the point of saving that names its key.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from micro.plugins import Session

__all__ = ["StoredSession"]


class StoredSession(Session):
    """The session of one request, as ``request.session`` (see the module docstring)."""

    __slots__ = ("_data", "modified", "new", "regenerated", "sid")

    def __init__(self, data: dict[str, Any] | None = None, sid: str | None = None) -> None:
        self._data: dict[str, Any] = dict(data or {})
        #: the server-side id (None for the cookie store and for a new session)
        self.sid = sid
        #: no valid session cookie came with the request
        self.new = data is None
        #: changed since it was loaded: the middleware will save it
        self.modified = False
        #: regenerate() was called: the middleware saves it under a fresh id
        self.regenerated = False

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(key, str):
            raise TypeError(f"session keys are str, not {type(key).__name__}")
        self._data[key] = value
        self.modified = True

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        self.modified = True

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        if self._data:
            self._data.clear()
            self.modified = True

    def regenerate(self) -> None:
        """Keep the data under a new id (call it on login: it defeats session fixation).

        The old id is deleted from a server-side store when the session is saved;
        a cookie-store session gets a freshly signed cookie.
        """
        self.regenerated = True
        self.modified = True

    def to_dict(self) -> dict[str, Any]:
        """A shallow copy of the data, for the stores."""
        return dict(self._data)

    def __repr__(self) -> str:
        return f"<StoredSession sid={self.sid!r} keys={sorted(self._data)!r}>"
