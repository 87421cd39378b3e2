"""The template-engine hook and the session hook as an app author meets them: render
through any engine, clear errors without one, and cookie defaults (Secure over https,
signed cookies that carry their Max-Age)."""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

import pytest
from webtest import TestApp

from micro import App, ConfigError, Request, RequestHandler, Response


class FormatEngine:
    """Another engine: ``string.Template`` files held in memory."""

    def __init__(self, templates: dict[str, str]) -> None:
        self.templates = templates
        self.seen: list[Mapping[str, Any]] = []

    def render(self, request: Request, name: str, context: Mapping[str, Any]) -> str:
        self.seen.append(context)
        return string.Template(self.templates[name]).substitute(context)


def make_app(engine: FormatEngine | None = None, **settings: Any) -> App:
    app = App(settings=settings)
    if engine is not None:
        app.set_template_engine(engine)

    @app.user_loader
    def load(request: Request) -> str:
        return "ann"

    @app.route("/fn")
    def fn(request: Request) -> Response:
        return request.render("page.html", title="from a function")

    @app.route("/feed")
    def feed(request: Request) -> Response:
        return request.render("feed.xml", title="feed")

    class Page(RequestHandler):
        def get(self) -> None:
            self.render("page.html", title="from a handler")

    app.add_route("/handler", Page, name="page")
    return app


def test_any_engine_plugs_in_through_the_hook() -> None:
    engine = FormatEngine({"page.html": "<h1>$title</h1>", "feed.xml": "<feed>$title</feed>"})
    client = TestApp(make_app(engine))
    page = client.get("/fn")
    assert (page.text, page.content_type) == ("<h1>from a function</h1>", "text/html")
    assert client.get("/handler").text == "<h1>from a handler</h1>"
    feed = client.get("/feed")
    assert (feed.text, feed.headers["Content-Type"]) == (
        "<feed>feed</feed>",
        "application/xml; charset=utf-8",
    )


def test_templates_see_micros_standard_names() -> None:
    engine = FormatEngine({"page.html": "$title"})
    client = TestApp(make_app(engine))
    client.get("/fn")
    client.get("/handler")
    from_fn, from_handler = engine.seen
    assert from_fn["current_user"] == from_handler["current_user"] == "ann"
    assert from_fn["reverse_url"]("page") == from_fn["url_for"]("page") == "/handler"
    assert from_fn["url_for"]("page", _query={"q": "a b"}) == "/handler?q=a%20b"
    assert from_fn["flashed_messages"]() == []  # no sessions: no messages, no error
    assert isinstance(from_fn["request"], Request)
    assert isinstance(from_handler["handler"], RequestHandler)
    assert "handler" not in from_fn


def test_render_without_an_engine_names_the_plugin_to_enable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    TestApp(make_app()).get("/handler", status=500)
    errors = [r.exc_info[1] for r in caplog.records if r.exc_info]
    assert isinstance(errors[0], ConfigError)
    assert "enable the 'templates' plugin" in str(errors[0])


def test_an_app_has_one_engine() -> None:
    app = make_app(FormatEngine({}))
    with pytest.raises(ConfigError, match="two template engines"):
        app.set_template_engine(FormatEngine({}))


def test_a_session_without_the_plugin_names_it(caplog: pytest.LogCaptureFixture) -> None:
    app = App()

    @app.route("/")
    def home(request: Request) -> str:
        request.flash("hello")
        return "never"

    TestApp(app).get("/", status=500)
    errors = [r.exc_info[1] for r in caplog.records if r.exc_info]
    assert isinstance(errors[0], ConfigError)
    assert "enable the 'sessions' plugin" in str(errors[0])


# -- cookie defaults ---------------------------------------------------------------


def cookie_app(**settings: Any) -> App:
    app = App(settings={"cookie_secret": "a test secret", **settings})

    @app.route("/fn")
    def fn(request: Request) -> Response:
        response = Response("ok")
        response.set_cookie("plain", "1")
        response.set_cookie("marked", "2", secure=True)
        return response

    class Signed(RequestHandler):
        def get(self) -> None:
            self.set_signed_cookie("who", "ann")
            self.set_signed_cookie("short", "x", max_age_days=1)
            self.set_cookie("plain", "1")

    app.add_route("/signed", Signed)
    return app


def set_cookies(answer: Any) -> dict[str, str]:
    return {v.split("=", 1)[0]: v for v in answer.headers.getall("Set-Cookie")}


def test_cookies_are_secure_over_https_only() -> None:
    client = TestApp(cookie_app())
    over_http = set_cookies(client.get("/fn"))
    assert "Secure" not in over_http["plain"]
    over_https = set_cookies(client.get("/fn", extra_environ={"wsgi.url_scheme": "https"}))
    assert over_https["plain"].endswith("; Secure")
    assert over_https["marked"].count("Secure") == 1


def test_a_trusted_proxy_saying_https_makes_cookies_secure() -> None:
    client = TestApp(cookie_app(trusted_proxies=["127.0.0.1"]))
    proxied = {"REMOTE_ADDR": "127.0.0.1"}
    said = set_cookies(
        client.get("/fn", headers={"X-Forwarded-Proto": "https"}, extra_environ=proxied)
    )
    assert said["plain"].endswith("; Secure")
    # The same header from a client that is no trusted proxy changes nothing.
    spoofed = set_cookies(
        client.get(
            "/fn",
            headers={"X-Forwarded-Proto": "https"},
            extra_environ={"REMOTE_ADDR": "203.0.113.9"},
        )
    )
    assert "Secure" not in spoofed["plain"]


def test_signed_cookies_carry_the_max_age_the_server_enforces() -> None:
    cookies = set_cookies(TestApp(cookie_app()).get("/signed"))
    assert f"Max-Age={31 * 86400}" in cookies["who"]
    assert "HttpOnly" in cookies["who"]
    assert "Max-Age=86400" in cookies["short"]
    assert "Max-Age" not in cookies["plain"]
