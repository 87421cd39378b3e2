"""The ``sessions`` plugin as an app sees it: ``request.session`` on every store, saved
only when changed, regenerated on login, expired, flashed, and bad input that is an
empty session, never an error; a Redis that goes away is a 503 with a log line."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any

import pytest
from micro_sessions import SQLiteStore
from micro_sessions.redis_store import RedisStore
from webtest import TestApp

from micro import App, PluginError, Request, RequestHandler, Response, plugins, web
from micro.plugins import PluginRegistry
from micro.web import create_signed_value, decode_signed_value

SECRET = "a test secret, long enough to be real"


def make_app(**settings: Any) -> App:
    app = App(plugins=["sessions"], settings={"cookie_secret": SECRET, **settings})

    @app.route("/get")
    def get(request: Request) -> dict[str, Any]:
        return dict(request.session)

    @app.route("/set", methods=["POST"])
    def set_(request: Request) -> str:
        for key, value in request.body_arguments.items():
            request.session[key] = value[-1]
        return "set"

    @app.route("/login", methods=["POST"])
    def login(request: Request) -> str:
        request.session.regenerate()
        request.session["user"] = request.get_argument("user")
        return "in"

    @app.route("/logout", methods=["POST"])
    def logout(request: Request) -> str:
        request.session.clear()
        return "out"

    @app.route("/flash", methods=["POST"])
    def flash(request: Request) -> str:
        request.flash("Saved.", "success")
        request.flash("Twice.")
        return "flashed"

    @app.route("/messages")
    def messages(request: Request) -> list[list[str]]:
        first = request.flashed_messages()
        assert request.flashed_messages() is first  # the same list all request long
        return [list(m) for m in first]

    @app.route("/big", methods=["POST"])
    def big(request: Request) -> str:
        request.session["blob"] = "x" * 5000
        return "big"

    class Visits(RequestHandler):
        def get(self) -> None:
            session = self.request.session
            session["n"] = session.get("n", 0) + 1
            self.write({"n": session["n"]})

    app.add_route("/visits", Visits)
    return app


@pytest.fixture(params=["cookie", "sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite://{tmp_path}/sessions.db"
    if request.param == "redis":
        return str(request.getfixturevalue("redis_server").url)
    return "cookie"


def session_cookie(answer: Any) -> str | None:
    for value in answer.headers.getall("Set-Cookie"):
        if value.startswith("session="):
            return str(value)
    return None


def test_request_session_is_the_frameworks_session_type(store: str) -> None:
    """Handlers name it ``micro.web.Session``; plugins ``micro.plugins.Session``: one type."""
    app = make_app(session_store=store)

    @app.route("/types")
    def types(request: Request) -> list[bool]:
        session = request.session
        return [isinstance(session, web.Session), isinstance(session, plugins.Session)]

    assert web.Session is plugins.Session
    assert TestApp(app).get("/types").json == [True, True]


def test_the_plugin_is_the_installed_distributions_entry_point() -> None:
    info = PluginRegistry().info("sessions")
    assert (info.distribution, info.entry_point.value) == (
        "micro-sessions",
        "micro_sessions:plugin",
    )


def test_a_session_lives_across_requests(store: str) -> None:
    client = TestApp(make_app(session_store=store))
    assert client.get("/visits").json == {"n": 1}
    assert client.get("/visits").json == {"n": 2}
    client.post("/set", {"colour": "green"})
    assert client.get("/get").json == {"n": 2, "colour": "green"}
    assert TestApp(make_app(session_store=store)).get("/get").json == {}  # another browser


def test_the_cookie_is_httponly_lax_and_secure_over_https(store: str) -> None:
    client = TestApp(make_app(session_store=store))
    cookie = session_cookie(client.get("/visits"))
    assert cookie is not None
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert f"Max-Age={14 * 86400}" in cookie
    assert "Secure" not in cookie
    over_https = client.get("/visits", extra_environ={"wsgi.url_scheme": "https"})
    assert "Secure" in str(session_cookie(over_https))


def test_a_session_is_saved_only_when_it_changed(store: str) -> None:
    client = TestApp(make_app(session_store=store))
    client.post("/set", {"a": "1"})
    read = client.get("/get")
    assert read.json == {"a": "1"}
    assert session_cookie(read) is None  # read, not changed: no cookie sent
    assert "Cookie" in read.headers["Vary"]
    assert session_cookie(client.get("/messages")) is None  # no flashes: nothing changed


def test_regenerate_gives_a_new_id_and_forgets_the_old(store: str) -> None:
    client = TestApp(make_app(session_store=store))
    client.post("/set", {"cart": "3 apples"})
    before = client.cookies["session"]
    client.post("/login", {"user": "ann"})
    after = client.cookies["session"]
    assert after != before
    assert client.get("/get").json == {"cart": "3 apples", "user": "ann"}
    replay = TestApp(make_app(session_store=store))
    replay.set_cookie("session", before)
    if store != "cookie":  # server-side: the old id is gone (no session fixation)
        assert replay.get("/get").json == {}


def test_logout_clears_the_cookie_and_the_stored_session(store: str) -> None:
    client = TestApp(make_app(session_store=store))
    client.post("/login", {"user": "ann"})
    old = client.cookies["session"]
    cleared = session_cookie(client.post("/logout"))
    assert cleared is not None and "Max-Age=0" in cleared
    assert client.get("/get").json == {}
    if store != "cookie":
        replay = TestApp(make_app(session_store=store))
        replay.set_cookie("session", old)
        assert replay.get("/get").json == {}


def test_flash_messages_are_read_once(store: str) -> None:
    client = TestApp(make_app(session_store=store))
    client.post("/flash")
    assert client.get("/messages").json == [["success", "Saved."], ["info", "Twice."]]
    assert client.get("/messages").json == []


@pytest.mark.parametrize(
    "cookie",
    [
        "garbage",
        "1|123|e30=|" + "0" * 64,  # a forged signature
        create_signed_value("another secret", "session", b"{}"),
        create_signed_value(SECRET, "xsrf", b'{"user": "admin"}'),  # signed for another name
    ],
)
def test_a_bad_cookie_is_an_empty_session_logged_at_debug(
    cookie: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = TestApp(make_app())
    client.set_cookie("session", cookie)
    with caplog.at_level(logging.DEBUG, logger="micro.sessions"):
        assert client.get("/get").json == {}
    assert "forged, tampered with or expired" in caplog.text


def sent_later(cookie: str, seconds: int) -> str:
    """The signed ``cookie`` as it looks ``seconds`` after it was sent: signed that long ago.

    Its signature's timestamp is all that ages; the payload (the session, or its id)
    is the same bytes.
    """
    payload = decode_signed_value(SECRET, "session", cookie)
    assert payload is not None
    return create_signed_value(SECRET, "session", payload, clock=lambda: time.time() - seconds)


def test_an_expired_session_is_empty(store: str) -> None:
    app = make_app(session_store=store, session_max_age_days=60 / 86400)
    client = TestApp(app)
    client.post("/set", {"a": "1"})
    cookie = client.cookies["session"]
    for seconds, seen in [(59, {"a": "1"}), (61, {})]:
        later = TestApp(app)  # the browser, that many seconds later
        later.set_cookie("session", sent_later(cookie, seconds))
        assert later.get("/get").json == seen


def test_the_store_forgets_a_session_at_the_max_age_too(
    tmp_path: Path, clock: Any, redis_server: Any
) -> None:
    """A cookie still young enough that names a session the store expired: empty."""
    store = SQLiteStore(tmp_path / "sessions.db", clock=clock)
    client = TestApp(make_app(session_store=store, session_max_age_days=60 / 86400))
    client.post("/set", {"a": "1"})
    clock.now += 59
    assert client.get("/get").json == {"a": "1"}
    clock.now += 2
    assert client.get("/get").json == {}
    # Redis expires keys itself (proved against the server in test_stores.py): the
    # session's key is given the max age, to the millisecond.
    client = TestApp(make_app(session_store=redis_server.url, session_max_age_days=60 / 86400))
    client.post("/set", {"a": "1"})
    sid = decode_signed_value(SECRET, "session", client.cookies["session"])
    assert sid is not None
    redis = RedisStore(redis_server.url)
    assert 30_000 < int(redis.client.pttl(redis.prefix + sid.decode())) <= 60_000


def test_a_session_too_big_for_a_cookie_is_an_error_naming_its_size(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    client = TestApp(make_app())
    client.post("/big", status=500)
    message = next(str(r.exc_info[1]) for r in caplog.records if r.exc_info)
    assert re.search(r"the session cookie 'session' would be \d{4} bytes, over the 4096", message)
    assert "sqlite:///" in message  # and says what to do instead
    server_side = TestApp(make_app(session_store=f"sqlite://{tmp_path}/big.db"))
    assert server_side.post("/big").text == "big"


def test_a_redis_that_goes_away_is_a_503_with_a_log_line(
    own_redis_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # A long timeout, so that the answer to a refused connection stays far from it
    # however slowly a loaded machine runs the app.
    client = TestApp(make_app(session_store=own_redis_server.url, session_store_timeout=20.0))
    client.post("/set", {"a": "1"})
    own_redis_server.stop()
    started = time.monotonic()
    answer = client.get("/get", status=503)
    assert time.monotonic() - started < 10.0
    assert "Session store unavailable" in answer.text
    line = next(
        r.getMessage() for r in caplog.records if "session store unavailable" in r.getMessage()
    )
    assert re.search(
        r"GET /get: session store unavailable: redis://127\.0\.0\.1:\d+/0: Connection", line
    )


def test_the_plugin_needs_a_cookie_secret() -> None:
    with pytest.raises(PluginError, match="set the 'cookie_secret' setting"):
        App(plugins=["sessions"])


def test_an_unknown_store_stops_the_app_at_start_up() -> None:
    with pytest.raises(PluginError, match="session_store 'memcached://x'"):
        make_app(session_store="memcached://x")


def test_a_session_in_a_response_object_route(store: str) -> None:
    app = make_app(session_store=store)

    @app.route("/resp")
    def resp(request: Request) -> Response:
        request.session["r"] = 1
        return Response.json({"ok": True})

    client = TestApp(app)
    assert client.get("/resp").json == {"ok": True}
    assert client.get("/get").json == {"r": 1}
