"""The blog example's storage: posts and users in one SQLite file of the instance folder.

The instance folder holds what one installation of the blog owns and the code does
not: ``blog.db`` (posts, users), ``sessions.db`` (the sessions plugin's SQLite
store) and ``secret`` (the cookie secret, made on first run). Each operation opens
its own connection, so threads and ``--processes`` share the file safely.
Passwords are kept as scrypt hashes with a random salt, compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import NamedTuple

__all__ = ["BlogStore", "Post", "hash_password", "instance_secret", "verify_password"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS posts (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " title TEXT NOT NULL, body TEXT NOT NULL, author TEXT NOT NULL, created REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, password TEXT NOT NULL)",
)


class Post(NamedTuple):
    id: int
    title: str
    body: str
    author: str
    created: float


def hash_password(password: str, salt: bytes | None = None) -> str:
    """``scrypt$<salt hex>$<hash hex>``."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    kind, _, rest = stored.partition("$")
    salt, _, _ = rest.partition("$")
    if kind != "scrypt":
        return False
    try:
        expected = hash_password(password, bytes.fromhex(salt))
    except ValueError:
        return False
    return hmac.compare_digest(expected, stored)


def instance_secret(instance: Path) -> str:
    """The cookie secret of this installation: ``instance/secret``, made on first use."""
    path = instance / "secret"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        secret = secrets.token_urlsafe(32)
        try:  # O_EXCL: two processes starting at once agree on the first one's secret
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text().strip()
        with os.fdopen(fd, "w") as f:
            f.write(secret + "\n")
        return secret


class BlogStore:
    """Posts and users in ``instance/blog.db`` (the folder is made on first run)."""

    def __init__(self, instance: str | os.PathLike[str]) -> None:
        self.instance = Path(instance).resolve()
        self.instance.mkdir(parents=True, exist_ok=True)
        self.path = self.instance / "blog.db"
        with self._db() as db:
            db.execute("PRAGMA journal_mode=WAL")
            for statement in _SCHEMA:
                db.execute(statement)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=10, isolation_level=None)) as db:
            yield db

    # -- posts -------------------------------------------------------------------

    def posts(self) -> list[Post]:
        """Every post, newest first."""
        with self._db() as db:
            rows = db.execute(
                "SELECT id, title, body, author, created FROM posts ORDER BY id DESC"
            ).fetchall()
        return [Post(*row) for row in rows]

    def add_post(self, title: str, body: str, author: str) -> int:
        with self._db() as db:
            cursor = db.execute(
                "INSERT INTO posts (title, body, author, created) VALUES (?, ?, ?, ?)",
                (title, body, author, time.time()),
            )
        return int(cursor.lastrowid or 0)

    def delete_post(self, post_id: int) -> bool:
        """Whether there was such a post."""
        with self._db() as db:
            return db.execute("DELETE FROM posts WHERE id = ?", (post_id,)).rowcount > 0

    # -- users -------------------------------------------------------------------

    def set_user(self, name: str, password: str) -> None:
        """Create user ``name`` or change their password."""
        if not name or not password:
            raise ValueError("a user needs a name and a password")
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO users (name, password) VALUES (?, ?)",
                (name, hash_password(password)),
            )

    def check_user(self, name: str, password: str) -> bool:
        with self._db() as db:
            row = db.execute("SELECT password FROM users WHERE name = ?", (name,)).fetchone()
        if row is None:
            hash_password(password)  # the same work either way: no user enumeration by timing
            return False
        return verify_password(password, row[0])
