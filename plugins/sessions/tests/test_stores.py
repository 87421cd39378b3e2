"""The session stores on their own: cookie JSON, an SQLite file shared by threads and
processes, and a real redis-server (started on a free loopback port), including a
Redis that is gone or never answers."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from micro_sessions import (
    CookieStore,
    SessionError,
    SQLiteStore,
    StoreUnavailable,
    store_from_setting,
)
from micro_sessions.redis_store import RedisStore

from micro import ConfigError


def test_the_cookie_store_keeps_the_session_itself_as_json() -> None:
    store = CookieStore()
    payload = store.save(None, {"user": "ann", "n": 1}, 60)
    assert payload == b'{"user":"ann","n":1}'
    assert store.load(payload) == (None, {"user": "ann", "n": 1})
    assert store.load(b"[1, 2]") is None
    assert store.load(b"\xff not json") is None


def test_a_value_json_cannot_hold_is_an_error_naming_its_key() -> None:
    with pytest.raises(SessionError, match=r"session\['when'\] cannot be stored"):
        CookieStore().save(None, {"ok": 1, "when": object()}, 60)


@pytest.mark.parametrize(
    ("setting", "kind"),
    [
        ("cookie", CookieStore),
        ("sqlite://{tmp}/s.db", SQLiteStore),
        ("redis://127.0.0.1:1/0", RedisStore),
    ],
)
def test_the_setting_names_the_store(tmp_path: Path, setting: str, kind: type) -> None:
    assert isinstance(store_from_setting(setting.format(tmp=tmp_path)), kind)


@pytest.mark.parametrize("setting", ["memcached://x", "sqlite://", 42])
def test_an_unknown_store_is_a_config_error(setting: Any) -> None:
    with pytest.raises(ConfigError, match="session_store"):
        store_from_setting(setting)


def test_the_redis_store_never_logs_a_password() -> None:
    store = RedisStore("redis://:hunter2@127.0.0.1:1/0")
    assert "hunter2" not in store.description
    assert "hunter2" not in repr(store)


# -- SQLite ----------------------------------------------------------------------


def test_sqlite_keeps_sessions_by_id_and_forgets_them(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "instance" / "sessions.db")  # the folder is created
    sid = store.save(None, {"user": "ann"}, 60).decode()
    assert len(sid) >= 40
    assert store.load(sid.encode()) == (sid, {"user": "ann"})
    assert store.save(sid, {"user": "bob"}, 60) == sid.encode()
    assert store.load(sid.encode()) == (sid, {"user": "bob"})
    store.delete(sid)
    assert store.load(sid.encode()) is None
    assert store.load(b"no such id") is None


def test_sqlite_sessions_expire_by_the_stores_clock(tmp_path: Path, clock: Any) -> None:
    store = SQLiteStore(tmp_path / "sessions.db", clock=clock)
    sid = store.save(None, {"user": "ann"}, 1)
    other = store.save(None, {"user": "bob"}, 60)
    clock.now += 0.9
    assert store.load(sid) == (sid.decode(), {"user": "ann"})
    clock.now += 0.2
    assert store.load(sid) is None
    assert store.load(other) == (other.decode(), {"user": "bob"})
    # Saving again gives a session a new lifetime from now.
    store.save(other.decode(), {"user": "bob"}, 60)
    clock.now += 59
    assert store.load(other) is not None


def test_sqlite_expired_rows_are_deleted_in_passing(tmp_path: Path, clock: Any) -> None:
    path = tmp_path / "sessions.db"
    store = SQLiteStore(path, clock=clock)
    store.save(None, {"user": "ann"}, 1)
    store.save(None, {"user": "bob"}, 600)
    clock.now += 301  # ann's has expired, and the five minutes between purges are over
    store.save(None, {"user": "cy"}, 600)
    with closing(sqlite3.connect(path)) as db:
        users = sorted(row[0] for row in db.execute("SELECT data FROM micro_sessions"))
    assert users == ['{"user":"bob"}', '{"user":"cy"}']


def test_sqlite_expiry_follows_the_wall_clock_by_default(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "sessions.db")
    assert store.clock is time.time
    sid = store.save(None, {"user": "ann"}, 0.05)  # 50 ms
    assert wait_until_gone(store, sid) < 5.0


def wait_until_gone(store: Any, sid: bytes) -> float:
    """Seconds until ``store`` no longer has ``sid`` (asserting that it goes within 5 s)."""
    started = time.monotonic()
    while store.load(sid) is not None:
        assert time.monotonic() - started < 5.0, "the session did not expire"
        time.sleep(0.01)
    return time.monotonic() - started


def test_sqlite_is_safe_across_threads(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "sessions.db")
    saved: list[tuple[bytes, int]] = []
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(25):
                sid = store.save(None, {"n": n, "i": i}, 60)
                loaded = store.load(sid)
                assert loaded is not None and loaded[1] == {"n": n, "i": i}
                saved.append((sid, n))
        except BaseException as exc:  # reported below, with the others
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert len(saved) == 200
    assert all(store.load(sid) is not None for sid, _ in saved)


def test_sqlite_is_safe_across_processes(tmp_path: Path) -> None:
    """Three processes of four threads each write at once, as ``--processes 3`` would."""
    path = tmp_path / "sessions.db"
    SQLiteStore(path)  # the schema, made before the workers start (as at app start-up)
    script = textwrap.dedent(
        """
        import sys, threading
        from micro_sessions import SQLiteStore
        store = SQLiteStore(sys.argv[1])
        ids = []
        def work():
            for i in range(20):
                sid = store.save(None, {"i": i}, 60)
                assert store.load(sid)[1] == {"i": i}
                ids.append(sid.decode())
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads: t.start()
        for t in threads: t.join()
        print(" ".join(ids))
        """
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    ids: list[str] = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            ids += out.split()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
    assert len(set(ids)) == 240
    store = SQLiteStore(path)
    assert all(store.load(sid.encode()) is not None for sid in ids)


# -- Redis -----------------------------------------------------------------------


def test_redis_keeps_sessions_with_its_own_expiry(redis_server: Any) -> None:
    store = RedisStore(redis_server.url)
    sid = store.save(None, {"user": "ann"}, 60)
    assert store.load(sid) == (sid.decode(), {"user": "ann"})
    assert 0 < int(store.client.ttl(store.prefix + sid.decode())) <= 60
    store.delete(sid.decode())
    assert store.load(sid) is None


def test_redis_expires_sessions_itself_to_the_millisecond(redis_server: Any) -> None:
    store = RedisStore(redis_server.url)
    other = store.save(None, {"user": "bob"}, 60)
    sid = store.save(None, {"user": "ann"}, 60)
    assert store.load(sid) == (sid.decode(), {"user": "ann"})
    store.save(sid.decode(), {"user": "ann"}, 0.05)  # the same session, now for 50 ms
    # -2 when the key is gone already (a slow machine); never -1 (no expiry) or whole seconds.
    assert int(store.client.pttl(store.prefix + sid.decode())) <= 50
    wait_until_gone(store, sid)  # Redis itself forgot it: nothing of ours looks at a clock
    assert store.load(other) == (other.decode(), {"user": "bob"})
    assert 30_000 < int(store.client.pttl(store.prefix + other.decode())) <= 60_000


def test_a_redis_that_is_gone_is_unavailable_at_once(own_redis_server: Any) -> None:
    # A long timeout, so that "at once" (a refused connection) stays far from it
    # however slowly a loaded machine runs the client.
    store = RedisStore(own_redis_server.url, timeout=20.0)
    sid = store.save(None, {"user": "ann"}, 60)
    own_redis_server.stop()
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match=r"redis://127\.0\.0\.1:\d+/0: ConnectionError"):
        store.load(sid)
    assert time.monotonic() - started < 10.0


def test_a_redis_that_never_answers_times_out() -> None:
    """A listener that accepts and stays silent: the read timeout ends the wait."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        store = RedisStore(f"redis://127.0.0.1:{port}/0", timeout=0.5)
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="Timeout"):
            store.load(b"some-id")
        assert 0.4 < time.monotonic() - started < 3.0
