"""micro-sessions: open a request's session on first use, save it on the way out if it changed.

The App asks :meth:`SessionInterface.open_session` the first time a handler reads
``request.session``: the session cookie is verified (signature and age, with the
App's ``cookie_secret``), the store is asked for the data, and the session is
remembered on ``request.state.session``. The middleware half runs after the
handler: a session that was never opened or did not change costs nothing; a
changed one is saved and its cookie sent, an emptied one is deleted and its
cookie cleared. Any response that read the session says ``Vary: Cookie``.

Bad input is an empty session, never an error: a cookie that is forged,
tampered with, expired or unknown to the store is logged at debug level and
ignored. A store that cannot be reached (Redis down, SQLite locked past its
timeout) is a 503 whose log line names the store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from micro.errors import HTTPError
from micro_sessions.session import StoredSession
from micro_sessions.stores import SessionStore, SessionTooLarge, StoreUnavailable

if TYPE_CHECKING:
    from micro import Request, Response

__all__ = ["SessionInterface"]

log = logging.getLogger("micro.sessions")


class SessionInterface:
    """Opens and saves sessions for one app: both the App's hook and the middleware."""

    name = "sessions"

    def __init__(
        self,
        store: SessionStore,
        *,
        cookie_name: str = "session",
        max_age_days: float = 14,
        cookie_options: Mapping[str, Any] | None = None,
        max_cookie_size: int = 4096,
    ) -> None:
        self.store = store
        self.cookie_name = cookie_name
        self.max_age_days = max_age_days
        self.max_age = int(max_age_days * 86400)
        self.cookie_options = dict(cookie_options or {})
        self.max_cookie_size = max_cookie_size

    def _unavailable(self, exc: StoreUnavailable) -> HTTPError:
        return HTTPError(
            503, "Session store unavailable", log_message=f"session store unavailable: {exc}"
        )

    def open_session(self, request: Request) -> StoredSession:
        """The session of ``request`` (an empty one when the cookie is missing or bad)."""
        name = self.cookie_name
        cookie = request.cookies.get(name)
        session = StoredSession()
        if cookie:
            payload = request.app.decode_signed_value(name, cookie, self.max_age_days)
            if payload is None:
                log.debug("session cookie %r is forged, tampered with or expired: ignored", name)
            else:
                try:
                    loaded = self.store.load(payload)
                except StoreUnavailable as exc:
                    raise self._unavailable(exc) from exc
                if loaded is None:
                    log.debug(
                        "session cookie %r names no live session in %s: ignored",
                        name,
                        self.store.description,
                    )
                else:
                    session = StoredSession(loaded[1], loaded[0])
        request.state.session = session
        return session

    def __call__(self, request: Request, call_next: Callable[[Request], Response]) -> Response:
        response = call_next(request)
        # PERF: peek_state, not request.state: a request that never used its session
        # does not make a state object just for this look.
        session = request.peek_state("session")
        if not isinstance(session, StoredSession):
            return response
        vary = response.headers.get("Vary")
        if vary is None:
            response.headers.set("Vary", "Cookie")
        elif "cookie" not in vary.lower():
            response.headers.set("Vary", f"{vary}, Cookie")
        if session.modified:
            try:
                self.save(request, response, session)
            except StoreUnavailable as exc:
                raise self._unavailable(exc) from exc
        return response

    def save(self, request: Request, response: Response, session: StoredSession) -> None:
        """Store ``session`` and send its cookie (or forget it, when it is empty)."""
        store, name = self.store, self.cookie_name
        options: dict[str, Any] = {
            "path": "/",
            "httponly": True,
            "samesite": "Lax",
            "secure": request.scheme == "https",
        }
        options.update(self.cookie_options)
        if session.sid is not None and (session.regenerated or not session):
            store.delete(session.sid)
            session.sid = None
        if not session:
            if not session.new:
                response.delete_cookie(
                    name, path=options.get("path", "/"), domain=options.get("domain")
                )
            return
        payload = store.save(session.sid, session.to_dict(), self.max_age)
        value = request.app.create_signed_value(name, payload)
        size = len(name) + 1 + len(value)
        if size > self.max_cookie_size:
            raise SessionTooLarge(
                f"the session cookie {name!r} would be {size} bytes, over the"
                f" {self.max_cookie_size} a browser keeps (session_cookie_max_size): keep less"
                " in the session, or keep sessions server-side"
                " (session_store = 'sqlite:///path/sessions.db' or 'redis://...')"
            )
        options["max_age"] = self.max_age
        response.set_cookie(name, value, **options)
