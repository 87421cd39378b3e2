"""micro-sessions: the ``sessions`` plugin, ``request.session`` and flash messages.

Enabled with ``App(plugins=["sessions"], settings={"cookie_secret": ...})``; the
entry point ``sessions`` in the ``micro.plugins`` group names :func:`plugin`.

- ``request.session`` (and ``self.request.session`` in a handler) is a mutable
  mapping of JSON values, loaded on first use and saved at the end of the
  request only when it changed (:mod:`micro_sessions.middleware`).
- ``session_store`` picks where sessions live: ``"cookie"`` (the default, a
  signed timestamped cookie), ``"sqlite:///path/sessions.db"`` or
  ``"redis://127.0.0.1:6379/0"`` (:mod:`micro_sessions.stores`), or a store object.
- ``request.session.regenerate()`` moves the data to a new id (call it on login).
- Sessions expire after ``session_max_age_days``: the cookie's Max-Age, the
  signature's age limit and the server-side expiry all say the same.
- The cookie is HttpOnly, SameSite=Lax, and Secure when the request came over
  https (directly, or through a trusted proxy).
- ``request.flash(message, category)`` and ``request.flashed_messages()`` keep
  one-time messages in the session (micro's own API; it needs a session).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from micro import ConfigError, PluginApp
from micro.web import normalize_secrets
from micro_sessions.middleware import SessionInterface
from micro_sessions.session import StoredSession
from micro_sessions.sqlite_store import SQLiteStore
from micro_sessions.stores import (
    CookieStore,
    SessionError,
    SessionStore,
    SessionTooLarge,
    StoreUnavailable,
)

__all__ = [
    "CookieStore",
    "SQLiteStore",
    "SessionError",
    "SessionInterface",
    "SessionStore",
    "SessionTooLarge",
    "SessionsPlugin",
    "StoreUnavailable",
    "StoredSession",
    "plugin",
    "store_from_setting",
]


def store_from_setting(value: Any, *, timeout: float = 2.0) -> SessionStore:
    """The store the ``session_store`` setting names (a store object passes through)."""
    if not isinstance(value, str):
        if all(hasattr(value, attr) for attr in ("load", "save", "delete", "description")):
            return value  # type: ignore[no-any-return]  # it has the store's shape
        raise ConfigError(
            "session_store must be 'cookie', 'sqlite:///path' or 'redis://host:port/db'"
            f" (or a store object), not {value!r}"
        )
    if value == "cookie":
        return CookieStore()
    if value.startswith("sqlite://"):
        return SQLiteStore(value.removeprefix("sqlite://"), timeout=timeout)
    if value.startswith(("redis://", "rediss://", "unix://")):
        # Imported here: redis-py takes ~130 ms to import, which apps on another store skip.
        from micro_sessions.redis_store import RedisStore

        return RedisStore(value, timeout=timeout)
    raise ConfigError(
        f"session_store {value!r}: use 'cookie', 'sqlite:///path/sessions.db'"
        " or 'redis://127.0.0.1:6379/0'"
    )


class SessionsPlugin:
    """The ``sessions`` plugin: the App's session interface plus its saving middleware."""

    name = "sessions"
    api_version = 1
    before: Sequence[str] = ()
    after: Sequence[str] = ()
    requires: Sequence[str] = ()
    settings: Mapping[str, Any] = MappingProxyType(
        {
            "session_store": "cookie",
            "session_cookie_name": "session",
            "session_max_age_days": 14,
            "session_store_timeout": 2.0,
            "session_cookie_max_size": 4096,
            "session_cookie_options": MappingProxyType({}),
        }
    )

    def setup(self, app: PluginApp) -> None:
        settings = app.settings
        normalize_secrets(settings.get("cookie_secret"))  # missing: a start-up ConfigError
        interface = SessionInterface(
            store_from_setting(
                settings["session_store"], timeout=float(settings["session_store_timeout"])
            ),
            cookie_name=settings["session_cookie_name"],
            max_age_days=float(settings["session_max_age_days"]),
            cookie_options=settings["session_cookie_options"],
            max_cookie_size=int(settings["session_cookie_max_size"]),
        )
        app.set_session_interface(interface)
        app.add_middleware(interface)


def plugin() -> SessionsPlugin:
    """The entry point's factory: a fresh plugin for each app."""
    return SessionsPlugin()
