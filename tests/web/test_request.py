"""Request: headers, host, peer, scheme, cookies, state, laziness.

The body, JSON, urlencoded forms and arguments are in test_arguments.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from webtest import TestApp

from micro import App, Request, Response


def echo_app(**settings: Any) -> App:
    app = App(settings=settings)

    @app.route("/meta")
    def meta(request: Request) -> dict[str, Any]:
        return {
            "method": request.method,
            "path": request.path,
            "query": request.query,
            "host": request.host,
            "host_name": request.host_name,
            "remote_ip": request.remote_ip,
            "scheme": request.scheme,
            "ua": request.headers.get("user-agent"),
            "has_ua": "User-Agent" in request.headers,
            "cookies": request.cookies,
        }

    return app


@pytest.mark.parametrize("number", [float("nan"), float("inf"), -float("inf")])
def test_nan_and_infinity_are_never_sent_as_json(
    number: float, caplog: pytest.LogCaptureFixture
) -> None:
    app = App()

    @app.route("/")
    def price(request: Request) -> dict[str, float]:
        return {"price": number}

    @app.route("/response")
    def response(request: Request) -> Response:
        return Response.json([number])

    client = TestApp(app)
    for path in ("/", "/response"):
        caplog.clear()
        res = client.get(path, status=500)
        assert "NaN" not in res.text and "Infinity" not in res.text
        assert "cannot send NaN or Infinity as JSON (RFC 8259" in caplog.text


def test_meta_headers_host_cookies() -> None:
    t = TestApp(echo_app())
    res = t.get(
        "/meta?x=1",
        headers={"User-Agent": "tester", "Host": "Example.com:8080", "Cookie": 'a=1; b="two"'},
        extra_environ={"REMOTE_ADDR": "10.0.0.5"},
    )
    assert res.json == {
        "method": "GET",
        "path": "/meta",
        "query": "x=1",
        "host": "Example.com:8080",
        "host_name": "example.com",
        "remote_ip": "10.0.0.5",
        "scheme": "http",
        "ua": "tester",
        "has_ua": True,
        "cookies": {"a": "1", "b": "two"},
    }


FORWARDED = {"X-Forwarded-For": "1.2.3.4, 5.6.7.8", "X-Forwarded-Proto": "https"}


def test_forwarded_headers_ignored_unless_configured() -> None:
    res = TestApp(echo_app()).get(
        "/meta", headers=FORWARDED, extra_environ={"REMOTE_ADDR": "10.0.0.1"}
    )
    assert (res.json["remote_ip"], res.json["scheme"]) == ("10.0.0.1", "http")


def test_forwarded_headers_trusted_for_the_configured_hops() -> None:
    res = TestApp(echo_app(proxy_hops=1)).get(
        "/meta", headers=FORWARDED, extra_environ={"REMOTE_ADDR": "10.0.0.1"}
    )
    assert (res.json["remote_ip"], res.json["scheme"]) == ("5.6.7.8", "https")


def test_two_proxy_hops_take_the_entry_the_outer_proxy_wrote() -> None:
    # The client sent "1.2.3.4"; the outer proxy appended the client's real address
    # (5.6.7.8), the inner one appended the outer proxy's (9.9.9.9).
    headers = {"X-Forwarded-For": "1.2.3.4, 5.6.7.8, 9.9.9.9", "X-Forwarded-Proto": "https"}
    res = TestApp(echo_app(proxy_hops=2)).get(
        "/meta", headers=headers, extra_environ={"REMOTE_ADDR": "10.0.0.1"}
    )
    assert res.json["remote_ip"] == "5.6.7.8"


def test_forwarded_headers_only_from_trusted_proxies() -> None:
    t = TestApp(echo_app(trusted_proxies=["10.0.0.1"]))
    res = t.get("/meta", headers=FORWARDED, extra_environ={"REMOTE_ADDR": "10.0.0.1"})
    assert res.json["remote_ip"] == "5.6.7.8"
    res = t.get("/meta", headers=FORWARDED, extra_environ={"REMOTE_ADDR": "10.9.9.9"})
    assert (res.json["remote_ip"], res.json["scheme"]) == ("10.9.9.9", "http")


def test_x_real_ip_is_never_believed() -> None:
    res = TestApp(echo_app(proxy_hops=1)).get(
        "/meta", headers={"X-Real-Ip": "1.2.3.4"}, extra_environ={"REMOTE_ADDR": "10.0.0.1"}
    )
    assert res.json["remote_ip"] == "10.0.0.1"


def test_request_state_is_per_request() -> None:
    app = App()
    ids: list[int] = []

    @app.route("/s")
    def s(request: Request) -> str:
        assert not hasattr(request.state, "seen")
        request.state.seen = True
        ids.append(id(request.state))
        return "ok"

    t = TestApp(app)
    t.get("/s")
    t.get("/s")
    assert len(ids) == 2


def test_peek_state_sees_what_the_route_stored_and_defaults_otherwise() -> None:
    seen: list[Any] = []

    class Peek:
        name = "peek"

        def __call__(self, request: Request, call_next: Any) -> Any:
            seen.append(request.peek_state("mark", "nothing yet"))
            response = call_next(request)
            seen.append(request.peek_state("mark", "none"))
            return response

    app = App(middleware=[Peek()])

    @app.route("/mark")
    def mark(request: Request) -> str:
        request.state.mark = "marked"
        return "ok"

    @app.route("/plain")
    def plain(request: Request) -> str:
        return "ok"

    t = TestApp(app)
    t.get("/mark")
    t.get("/plain")
    assert seen == ["nothing yet", "marked", "nothing yet", "none"]


def test_request_is_lazy_body_untouched_unless_read() -> None:
    import webob

    app = App()

    @app.route("/ignore", methods=["POST"])
    def ignore(request: Request) -> str:
        return "ignored"

    @app.route("/read", methods=["POST"])
    def read(request: Request) -> bytes:
        return request.body

    environ = webob.Request.blank("/ignore", method="POST", body=b"payload").environ
    assert list(app(environ, lambda *a: None)) == [b"ignored"]
    assert environ["wsgi.input"].tell() == 0
    environ = webob.Request.blank("/read", method="POST", body=b"payload").environ
    assert list(app(environ, lambda *a: None)) == [b"payload"]


def test_headers_mapping() -> None:
    app = App()

    @app.route("/h")
    def h(request: Request) -> dict[str, Any]:
        headers = request.headers
        return {
            "names": sorted(n for n in headers if n.startswith("X-")),
            "ctype": headers.get("content-type"),
            "missing": headers.get("x-nope", "default"),
        }

    res = TestApp(app).get("/h", headers={"X-One": "1", "X-Two-Words": "2"})
    assert res.json == {"names": ["X-One", "X-Two-Words"], "ctype": None, "missing": "default"}


def test_what_moved_to_the_arguments_module_still_imports_from_request() -> None:
    from micro.web import arguments, request
    from micro.web.request import NO_DEFAULT, AppContext, Helpers, UploadedFile  # noqa: F401

    assert set(request.__all__) == {"NO_DEFAULT", "AppContext", "Helpers", "Request"}
    assert NO_DEFAULT is arguments.NO_DEFAULT
    assert Request is request.Request and issubclass(Request, arguments.RequestArguments)
