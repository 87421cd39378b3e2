"""micro-sessions: sessions in an SQLite file (``session_store = "sqlite:///path/sessions.db"``).

The embedded choice for server-side sessions: one file, the standard library's
sqlite3, nothing to run. Safe across threads and ``micro serve --processes``:

- every operation opens its own connection and closes it, so no connection is
  shared between threads or inherited through a fork (opening one costs tens of
  microseconds, small beside the request);
- the database runs in WAL mode, so readers never wait for a writer, and a
  writer waits up to ``timeout`` seconds for another (SQLite's busy timeout);
- every write is one statement in autocommit mode, so there is no transaction
  for two processes to interleave.

Expired rows are never returned and are deleted in passing, at most every five
minutes, by whichever process saves a session then. Expiry is decided by the
store's ``clock`` (``time.time`` unless given; a test passes its own to move time
without waiting), and a lifetime may have a fraction of a second. Several machines
cannot share the file: use the cookie store or Redis there.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing, contextmanager
from typing import Any

from micro.errors import ConfigError
from micro_sessions.stores import StoreUnavailable, dump_session, load_session, new_session_id

__all__ = ["SQLiteStore"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS micro_sessions"
    " (id TEXT PRIMARY KEY, data TEXT NOT NULL, expires REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS micro_sessions_expires ON micro_sessions (expires)",
)
_PURGE_EVERY = 300.0


class SQLiteStore:
    """Sessions by id in the table ``micro_sessions`` of the SQLite file ``path``.

    ``timeout``: SQLite's busy timeout, in seconds. ``clock``: the time in seconds
    since the epoch that expiry is measured by (every process sharing the file must
    agree on it, as wall clocks do).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = os.fspath(path)
        if not self.path:
            raise ConfigError(
                "session_store 'sqlite://' needs a file: 'sqlite:///path/sessions.db'"
            )
        self.timeout = timeout
        self.clock = clock
        self.description = f"sqlite://{self.path}"
        self._next_purge = 0.0
        folder = os.path.dirname(os.path.abspath(self.path))
        try:
            os.makedirs(folder, exist_ok=True)
            with self._connect() as db:
                db.execute("PRAGMA journal_mode=WAL")
                for statement in _SCHEMA:
                    db.execute(statement)
        except (OSError, StoreUnavailable) as exc:
            raise ConfigError(f"session_store {self.description}: cannot open it: {exc}") from exc

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            with closing(
                sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            ) as db:
                yield db
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"{self.description}: {exc}") from exc

    def load(self, payload: bytes) -> tuple[str | None, dict[str, Any]] | None:
        sid = payload.decode("ascii", "replace")
        with self._connect() as db:
            row = db.execute(
                "SELECT data FROM micro_sessions WHERE id = ? AND expires > ?", (sid, self.clock())
            ).fetchone()
        if row is None:
            return None
        data = load_session(row[0])
        return None if data is None else (sid, data)

    def save(self, sid: str | None, data: Mapping[str, Any], max_age: float) -> bytes:
        text = dump_session(data).decode("utf-8")
        sid = sid or new_session_id()
        now = self.clock()
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO micro_sessions (id, data, expires) VALUES (?, ?, ?)",
                (sid, text, now + max_age),
            )
            if now >= self._next_purge:
                self._next_purge = now + _PURGE_EVERY
                db.execute("DELETE FROM micro_sessions WHERE expires <= ?", (now,))
        return sid.encode("ascii")

    def delete(self, sid: str) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM micro_sessions WHERE id = ?", (sid,))

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"
