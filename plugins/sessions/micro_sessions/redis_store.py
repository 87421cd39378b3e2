"""micro-sessions: sessions in Redis (``session_store = "redis://127.0.0.1:6379/0"``).

For several machines behind one name: every process of every machine sees the
same sessions. Each session is one key, ``micro:session:<id>``, holding its JSON
with Redis's own expiry (``SET ... PX``: Redis keeps expiry times to the
millisecond, so a lifetime with a fraction of a second is honoured as given, at
least one millisecond), so Redis forgets old sessions itself; no clock of ours
takes part.

A Redis that is down or slow must not hang a worker: the client connects and
reads with a timeout (the ``session_store_timeout`` setting) and does not
retry, and every failure becomes :class:`~micro_sessions.stores.StoreUnavailable`,
which the middleware answers with a 503 and one log line naming the store.
redis-py's connection pool notices a fork and opens new connections in the
child, so ``micro serve --processes`` is safe.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from micro.errors import ConfigError
from micro_sessions.stores import StoreUnavailable, dump_session, load_session, new_session_id

__all__ = ["RedisStore"]

PREFIX = "micro:session:"


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class RedisStore:
    """Sessions by id in the Redis that ``url`` names."""

    def __init__(self, url: str, *, timeout: float = 2.0, prefix: str = PREFIX) -> None:
        self.description = _without_password(url)
        self.prefix = prefix
        try:
            self.client = redis.Redis.from_url(
                url,
                socket_connect_timeout=timeout,
                socket_timeout=timeout,
                # One try: the timeout is the whole wait (redis-py retries by default).
                retry=Retry(NoBackoff(), 0),
            )
        except ValueError as exc:
            raise ConfigError(f"session_store {self.description!r}: {exc}") from exc

    def _fail(self, exc: redis.RedisError) -> StoreUnavailable:
        return StoreUnavailable(f"{self.description}: {type(exc).__name__}: {exc}")

    def load(self, payload: bytes) -> tuple[str | None, dict[str, Any]] | None:
        sid = payload.decode("ascii", "replace")
        try:
            raw = self.client.get(self.prefix + sid)
        except redis.RedisError as exc:
            raise self._fail(exc) from exc
        if not isinstance(raw, bytes):
            return None
        data = load_session(raw)
        return None if data is None else (sid, data)

    def save(self, sid: str | None, data: Mapping[str, Any], max_age: float) -> bytes:
        value = dump_session(data)
        sid = sid or new_session_id()
        try:
            # Redis refuses a lifetime of 0; a session saved to live 0 s lives 1 ms.
            self.client.set(self.prefix + sid, value, px=max(1, round(max_age * 1000)))
        except redis.RedisError as exc:
            raise self._fail(exc) from exc
        return sid.encode("ascii")

    def delete(self, sid: str) -> None:
        try:
            self.client.delete(self.prefix + sid)
        except redis.RedisError as exc:
            raise self._fail(exc) from exc

    def __repr__(self) -> str:
        return f"RedisStore({self.description!r})"
