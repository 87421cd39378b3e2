"""Error handling: custom handlers per status, HTML/JSON pages, nothing on wsgi.errors."""

from __future__ import annotations

import io
from typing import Any

import webob
from webtest import TestApp

from micro import App, HTTPError, Request, Response


def make_app(**kwargs: Any) -> App:
    app = App(**kwargs)

    @app.route("/boom")
    def boom(request: Request) -> str:
        raise ValueError("kaboom")

    @app.route("/gone")
    def gone(request: Request) -> str:
        raise HTTPError(410, log_message="only for the log")

    @app.route("/unavailable")
    def unavailable(request: Request) -> str:
        raise HTTPError(503, headers={"Retry-After": "30"})

    return app


def test_custom_error_handlers_per_status() -> None:
    app = make_app()

    @app.error_handler(404)
    def not_found(request: Request, error: HTTPError) -> dict[str, Any]:
        return {"missing": request.path}

    @app.error_handler(500)
    def server_error(request: Request, error: HTTPError) -> str:
        return f"sorry ({type(error.__cause__).__name__})"

    @app.error_handler(503)
    def busy(request: Request, error: HTTPError) -> Response:
        return Response("come back", 503, content_type="text/plain")

    t = TestApp(app)
    res = t.get("/nowhere", status=404)
    assert res.json == {"missing": "/nowhere"}
    res = t.get("/boom", status=500)
    assert res.text == "sorry (ValueError)"
    res = t.get("/unavailable", status=503)
    assert res.text == "come back"
    assert res.headers["Retry-After"] == "30"
    # Statuses without a handler keep the default page.
    assert "410" in t.get("/gone", status=410).text


def test_error_handler_for_405_keeps_allow() -> None:
    app = make_app()

    @app.error_handler(405)
    def nope(request: Request, error: HTTPError) -> str:
        return "nope"

    res = TestApp(app).post("/boom", status=405)
    assert res.text == "nope"
    assert res.headers["Allow"] == "GET, HEAD, OPTIONS"


def test_failing_error_handler_falls_back_to_500() -> None:
    app = make_app()

    @app.error_handler(404)
    def broken(request: Request, error: HTTPError) -> str:
        raise RuntimeError("handler bug")

    res = TestApp(app).get("/nowhere", status=500)
    assert "handler bug" not in res.text


def test_json_or_html_by_accept() -> None:
    t = TestApp(make_app())
    res = t.get("/gone", status=410, headers={"Accept": "application/json"})
    assert res.json == {"status": 410, "reason": "Gone"}
    res = t.get("/gone", status=410, headers={"Accept": "text/html,*/*;q=0.8"})
    assert res.headers["Content-Type"] == "text/html; charset=utf-8"
    res = t.get("/gone", status=410, headers={"Accept": "application/json;q=0.5, text/html"})
    assert res.content_type == "text/html"
    res = t.get("/gone", status=410, headers={"Accept": "application/problem+json"})
    assert res.content_type == "application/json"
    assert "only for the log" not in res.text


def test_handled_errors_write_nothing_to_wsgi_errors() -> None:
    # WebTest already fails on wsgi.errors output; check it directly as well, for every
    # kind of error the app answers itself, 500 included.
    app = make_app()
    for path, method in [
        ("/gone", "GET"),
        ("/nowhere", "GET"),
        ("/boom", "POST"),
        ("/boom", "GET"),
    ]:
        errors = io.StringIO()
        environ = webob.Request.blank(path, method=method).environ
        environ["wsgi.errors"] = errors
        list(app(environ, lambda *a: None))
        assert errors.getvalue() == ""


def test_reason_with_control_characters_is_made_safe() -> None:
    app = App()

    @app.route("/weird")
    def weird(request: Request) -> str:
        raise HTTPError(400, "bad\r\nX-Injected: 1")

    res = TestApp(app).get("/weird", status=400)
    assert "X-Injected" not in res.headers
    assert "\n" not in res.status
