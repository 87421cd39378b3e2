"""RequestHandler: life cycle, output API, header checks, redirects, errors, streaming."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import webob
from webtest import TestApp

from micro import App, HTTPError, MicroError, RequestHandler, RoutingError, URLSpec
from micro.errors import BadRequest, ContentTooLarge
from micro.web.handler import HandlerError
from micro.web.headers import InvalidHeader


class Greeter(RequestHandler):
    def initialize(self, greeting: str, events: list[str]) -> None:
        self.greeting = greeting
        self.events = events

    def prepare(self) -> None:
        self.events.append("prepare")
        if self.get_query_argument("stop", None):
            self.set_status(403, "Stopped Early")
            self.finish("stopped in prepare")

    def get(self, name: str) -> None:
        self.events.append("get")
        self.write(f"{self.greeting}, {name}")

    def on_finish(self) -> None:
        self.events.append("on_finish")


class Kinds(RequestHandler):
    def get(self) -> None:
        kind = self.get_argument("kind")
        if kind == "dict":
            self.write({"ok": True})
        elif kind == "list":
            self.write([1, 2])
        elif kind == "bytes":
            self.set_header("Content-Type", "application/octet-stream")
            self.write(b"\x00raw")
        elif kind == "status":
            self.set_status(202, "Queued Up")
            self.write("later")
        elif kind == "headers":
            self.set_header("X-One", "1")
            self.set_header("X-Num", 5)
            self.add_header("X-Multi", "a")
            self.add_header("X-Multi", "b")
            self.set_header("X-Gone", "x")
            self.clear_header("X-Gone")
            self.write("h")

    def post(self) -> None:
        self.write("posted")

    def delete(self) -> None:
        self.set_status(204)
        self.finish()


def make_app(**settings: Any) -> tuple[App, list[str]]:
    events: list[str] = []
    app = App(settings=settings)
    app.add_handlers(
        ".*$",
        [
            URLSpec(r"/hello/(\w+)", Greeter, {"greeting": "Hi", "events": events}, "hello"),
            ("/kinds", Kinds),
        ],
    )
    return app, events


def test_initialize_prepare_method_on_finish_in_order() -> None:
    app, events = make_app()
    res = TestApp(app).get("/hello/bob")
    assert res.text == "Hi, bob"
    assert events == ["prepare", "get", "on_finish"]
    assert app.reverse_url("hello", "ann") == "/hello/ann"


def test_prepare_may_finish_early() -> None:
    app, events = make_app()
    res = TestApp(app).get("/hello/bob?stop=1", status=403)
    assert res.status == "403 Stopped Early"
    assert res.text == "stopped in prepare"
    assert events == ["prepare", "on_finish"]


@pytest.mark.parametrize(
    ("kind", "ctype", "body"),
    [
        ("dict", "application/json; charset=utf-8", b'{"ok":true}'),
        ("list", "application/json; charset=utf-8", b"[1,2]"),
        ("bytes", "application/octet-stream", b"\x00raw"),
    ],
)
def test_write_kinds(kind: str, ctype: str, body: bytes) -> None:
    res = TestApp(make_app()[0]).get("/kinds", {"kind": kind})
    assert res.headers["Content-Type"] == ctype
    assert res.body == body


def test_set_status_with_reason_and_headers() -> None:
    t = TestApp(make_app()[0])
    res = t.get("/kinds?kind=status", status=202)
    assert res.status == "202 Queued Up"
    res = t.get("/kinds?kind=headers")
    assert res.headers["X-One"] == "1"
    assert res.headers["X-Num"] == "5"
    assert res.headers.getall("X-Multi") == ["a", "b"]
    assert "X-Gone" not in res.headers


def test_supported_methods_drive_allow_and_405() -> None:
    t = TestApp(make_app()[0])
    res = t.put("/kinds", status=405)
    assert res.headers["Allow"] == "DELETE, GET, HEAD, OPTIONS, POST"
    assert t.options("/kinds", status=204).headers["Allow"] == "DELETE, GET, HEAD, OPTIONS, POST"
    assert t.post("/kinds").text == "posted"
    res = t.delete("/kinds", status=204)
    assert "Content-Type" not in res.headers


def test_missing_argument_is_400() -> None:
    res = TestApp(make_app()[0]).get("/kinds", status=400)
    assert "Missing argument kind" in res.text


def test_restricted_supported_methods() -> None:
    class ReadOnly(RequestHandler):
        SUPPORTED_METHODS = ("GET", "HEAD")

        def get(self) -> None:
            self.write("r")

        def post(self) -> None:  # not supported: never routed
            self.write("w")

    app = App()
    app.route("/ro")(ReadOnly)
    res = TestApp(app).post("/ro", status=405)
    assert res.headers["Allow"] == "GET, HEAD, OPTIONS"


def test_head_runs_get_without_body() -> None:
    app, _ = make_app()
    res = TestApp(app).head("/hello/bob")
    assert res.body == b""
    assert res.headers["Content-Length"] == str(len("Hi, bob"))


@pytest.mark.parametrize("bad", ["a\r\nSet-Cookie: x=1", "a\nb", "a\x00b"])
def test_header_injection_is_refused_naming_the_header(bad: str) -> None:
    caught: list[BaseException] = []

    class Inject(RequestHandler):
        def get(self) -> None:
            try:
                self.set_header("X-Evil", bad)
            except MicroError as exc:
                caught.append(exc)
                raise

    app = App()
    app.route("/inject")(Inject)
    res = TestApp(app).get("/inject", status=500)
    assert "Set-Cookie" not in res.headers
    assert isinstance(caught[0], InvalidHeader)
    assert "X-Evil" in str(caught[0])


def test_bad_header_name_is_refused() -> None:
    class BadName(RequestHandler):
        def get(self) -> None:
            self.add_header("X Bad:", "v")

    app = App()
    app.route("/bad")(BadName)
    TestApp(app).get("/bad", status=500)


def test_redirects() -> None:
    class Go(RequestHandler):
        def get(self, how: str) -> None:
            if how == "temp":
                self.redirect("/there")
            elif how == "perm":
                self.redirect("/there", permanent=True)
            else:
                self.redirect("/there", status=307)

    app = App()
    app.route("/go/(\\w+)")(Go)
    t = TestApp(app)
    assert t.get("/go/temp", status=302).headers["Location"].endswith("/there")
    assert t.get("/go/perm", status=301).headers["Location"].endswith("/there")
    assert t.get("/go/other", status=307).headers["Location"].endswith("/there")


def test_write_after_finish_is_an_error() -> None:
    errors: list[BaseException] = []

    class Twice(RequestHandler):
        def get(self) -> None:
            self.finish("done")
            try:
                self.write("more")
            except HandlerError as exc:
                errors.append(exc)

    app = App()
    app.route("/twice")(Twice)
    assert TestApp(app).get("/twice").text == "done"
    assert errors and isinstance(errors[0], MicroError)


class Failing(RequestHandler):
    def get(self, what: str) -> None:
        self.write("partial output that must not leak")
        if what == "http":
            raise HTTPError(409, "Already There", "internal detail")
        raise RuntimeError("secret detail")


def failing_app(debug: bool = False) -> App:
    app = App(debug=debug)
    app.route("/fail/(\\w+)")(Failing)
    return app


def test_http_error_in_handler_renders_error_page_html_or_json() -> None:
    t = TestApp(failing_app())
    res = t.get("/fail/http", status=409)
    assert res.status == "409 Already There"
    assert res.headers["Content-Type"].startswith("text/html")
    assert "partial output" not in res.text
    assert "internal detail" not in res.text
    res = t.get("/fail/http", status=409, headers={"Accept": "application/json"})
    assert res.json == {"status": 409, "reason": "Already There"}


def test_http_error_log_message_in_handler_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level("WARNING", logger="micro.web"):
        TestApp(failing_app()).get("/fail/http", status=409)
    logged = [r.getMessage() for r in caplog.records if "internal detail" in r.getMessage()]
    assert logged == ["GET /fail/http: internal detail"]


def test_exception_traceback_only_in_debug() -> None:
    res = TestApp(failing_app()).get("/fail/boom", status=500)
    assert "secret detail" not in res.text
    assert "Traceback" not in res.text
    res = TestApp(failing_app(debug=True)).get("/fail/boom", status=500)
    assert "secret detail" in res.text and "Traceback" in res.text
    res = TestApp(failing_app(debug=True)).get(
        "/fail/boom", status=500, headers={"Accept": "application/json"}
    )
    assert "secret detail" in res.json["traceback"]


def test_custom_write_error_and_send_error() -> None:
    class Custom(RequestHandler):
        def get(self) -> None:
            self.send_error(503, reason="Busy")

        def write_error(self, status: int, **kwargs: Any) -> None:
            self.write({"custom": status})

    app = App()
    app.route("/custom")(Custom)
    res = TestApp(app).get("/custom", status=503)
    assert res.status == "503 Busy"
    assert res.json == {"custom": 503}


def test_current_user_hook() -> None:
    calls: list[int] = []

    class Me(RequestHandler):
        def get_current_user(self) -> str | None:
            calls.append(1)
            return self.request.headers.get("X-User")

        def get(self) -> None:
            if not self.current_user:
                raise HTTPError(401)
            self.write(f"hi {self.current_user}")

    app = App()
    app.route("/me")(Me)
    t = TestApp(app)
    t.get("/me", status=401)
    calls.clear()
    assert t.get("/me", headers={"X-User": "ann"}).text == "hi ann"
    assert calls == [1]  # computed once per request


def test_reverse_url_and_helpers_on_handler() -> None:
    class Links(RequestHandler):
        def get(self) -> None:
            self.write(self.reverse_url("links") + " " + self.helpers.shout)

    app = App()
    app.route("/links", name="links")(Links)
    app.add_helper("shout", lambda request: request.path.upper())
    assert TestApp(app).get("/links").text == "/links /LINKS"


def test_generator_method_streams_each_yield_before_it_finishes() -> None:
    progress: list[str] = []

    class Stream(RequestHandler):
        def get(self) -> Iterator[str | None]:
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.write("head;")
            progress.append("first")
            yield None
            progress.append("second")
            yield "two;"
            progress.append("end")
            self.write("tail")

    app = App()
    app.route("/stream")(Stream)
    seen: list[str] = []
    environ = webob.Request.blank("/stream").environ
    body = iter(app(environ, lambda status, headers, exc_info=None: seen.append(status)))
    assert seen == ["200 OK"]
    assert next(body) == b"head;"
    assert progress == ["first"]  # the handler has not finished yet
    assert next(body) == b"two;"
    assert progress == ["first", "second"]
    assert list(body) == [b"tail"]
    assert progress == ["first", "second", "end"]
    assert TestApp(app).get("/stream").body == b"head;two;tail"


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_streaming_handler_finishes_when_its_body_is_closed_unread(method: str) -> None:
    # The server closes the body without reading it (a client gone; the App for HEAD):
    # the method is stopped and on_finish runs then, not whenever the GC gets to it.
    events: list[str] = []

    class Stream(RequestHandler):
        def get(self) -> Iterator[str]:
            try:
                yield "one"
                yield "two"
            finally:
                events.append("stopped")

        def on_finish(self) -> None:
            events.append("on_finish")

    app = App()
    app.route("/stream")(Stream)
    environ = webob.Request.blank("/stream", method=method).environ
    body = app(environ, lambda status, headers: None)
    # `body` stays referenced (as a server holds it): only close() may finish the method.
    close = getattr(body, "close", None)
    if close is not None:
        close()
    assert events == ["stopped", "on_finish"]


def test_flush_in_plain_method_makes_chunks() -> None:
    class Chunks(RequestHandler):
        def get(self) -> None:
            self.write("a")
            self.flush()
            self.write("b")

    app = App()
    app.route("/chunks")(Chunks)
    environ = webob.Request.blank("/chunks").environ
    assert list(app(environ, lambda *a: None)) == [b"a", b"b"]


def test_initialize_without_kwargs_rejects_unexpected_ones() -> None:
    class Plain(RequestHandler):
        def get(self) -> None:
            self.write("x")

    app = App()
    app.add_handlers(".*", [("/plain", Plain, {"unexpected": 1})])
    TestApp(app).get("/plain", status=500)


def test_error_after_flush_in_plain_method_still_gets_a_clean_page() -> None:
    class Flushes(RequestHandler):
        def get(self) -> None:
            self.write("half")
            self.flush()
            raise HTTPError(502)

    app = App()
    app.route("/flushes")(Flushes)
    res = TestApp(app).get("/flushes", status=502)
    assert "half" not in res.text


def test_protocol_errors_raised_by_app_code_answer_their_status() -> None:
    class TooBig(RequestHandler):
        def get(self) -> None:
            raise ContentTooLarge("way too big")

    app = App(debug=True)
    app.route("/big")(TooBig)

    @app.route("/bad")
    def bad(request: Any) -> str:
        raise BadRequest("nope")

    t = TestApp(app)
    res = t.get("/big", status=413)
    assert "Traceback" not in res.text
    assert t.get("/bad", status=400).status == "400 nope"


def test_methods_argument_restricts_a_handler_class() -> None:
    class Both(RequestHandler):
        def get(self) -> None:
            self.write("g")

        def post(self) -> None:
            self.write("p")

    app = App()
    app.route("/only-get", methods=["GET", "HEAD", "OPTIONS"])(Both)
    t = TestApp(app)
    assert t.get("/only-get").text == "g"
    assert t.head("/only-get").body == b""
    assert t.options("/only-get", status=204).headers["Allow"] == "GET, HEAD, OPTIONS"
    assert t.post("/only-get", status=405).headers["Allow"] == "GET, HEAD, OPTIONS"
    with pytest.raises(RoutingError, match="PUT"):
        app.route("/put", methods=["PUT"])(Both)
    with pytest.raises(RoutingError, match="list"):
        app.route("/str", methods="GET")(Both)  # type: ignore[arg-type]


# -- what a client sees whichever road the output takes (the quick finish, lazy headers) --


def call(
    app: App, path: str, method: str = "GET"
) -> tuple[str, list[tuple[str, str]], list[bytes]]:
    """One WSGI call: the status line, the header list and the body's chunks as sent."""
    seen: list[Any] = []
    environ = webob.Request.blank(path, method=method).environ
    body = app(environ, lambda status, headers, exc_info=None: seen.extend([status, headers]))
    try:
        chunks = list(body)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return seen[0], seen[1], chunks


def test_a_plain_answer_is_one_chunk_with_its_length_and_the_html_type() -> None:
    class Pieces(RequestHandler):
        def get(self) -> None:
            self.write("a")
            self.write(b"b")
            self.write("c")

    class Silent(RequestHandler):
        def get(self) -> None:
            pass

    app = App()
    app.route("/pieces")(Pieces)
    app.route("/silent")(Silent)
    status, headers, chunks = call(app, "/pieces")
    assert (status, chunks) == ("200 OK", [b"abc"])
    assert headers == [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", "3")]
    status, headers, chunks = call(app, "/silent")
    assert (status, b"".join(chunks)) == ("200 OK", b"")
    assert headers == [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", "0")]
    status, headers, chunks = call(app, "/pieces", "HEAD")
    assert (status, chunks) == ("200 OK", [])
    assert dict(headers)["Content-Length"] == "3"


def test_headers_and_cookies_set_after_write_reach_the_client() -> None:
    class Late(RequestHandler):
        def get(self) -> None:
            self.write({"n": 1})  # JSON before any header was touched
            self.set_header("X-After", "yes")
            self.set_cookie("flavour", "oat", path="/")
            self.add_header("Vary", "Cookie")

    class TypeWins(RequestHandler):
        def get(self) -> None:
            self.write({"n": 2})
            self.set_header("Content-Type", "text/plain; charset=utf-8")

    app = App()
    app.route("/late")(Late)
    app.route("/type")(TypeWins)
    t = TestApp(app)
    res = t.get("/late")
    assert res.json == {"n": 1}
    assert res.headers["Content-Type"] == "application/json; charset=utf-8"
    assert res.headers["X-After"] == "yes" and res.headers["Vary"] == "Cookie"
    assert res.headers["Set-Cookie"].startswith("flavour=oat;")
    assert t.cookies["flavour"] == "oat"
    res = t.get("/type")
    assert res.headers.getall("Content-Type") == ["text/plain; charset=utf-8"]
    assert res.body == b'{"n":2}'


def test_write_dict_after_a_header_and_clear_after_write_dict() -> None:
    class HeaderFirst(RequestHandler):
        def get(self) -> None:
            self.set_header("X-First", "1")
            self.write([1])

    class Cleared(RequestHandler):
        def get(self) -> None:
            self.write({"gone": True})
            self.clear()
            self.write("<p>fresh</p>")

    app = App()
    app.route("/first")(HeaderFirst)
    app.route("/cleared")(Cleared)
    _, headers, chunks = call(app, "/first")
    assert dict(headers)["Content-Type"] == "application/json; charset=utf-8"
    assert dict(headers)["X-First"] == "1" and chunks == [b"[1]"]
    _, headers, chunks = call(app, "/cleared")
    assert dict(headers)["Content-Type"] == "text/html; charset=utf-8"
    assert chunks == [b"<p>fresh</p>"]


@pytest.mark.parametrize("touch", [False, True])
@pytest.mark.parametrize("status", [204, 304])
def test_no_content_answers_carry_no_content_type(status: int, touch: bool) -> None:
    class Empty(RequestHandler):
        def get(self) -> None:
            if touch:
                self.set_header("ETag", '"v1"')
            self.set_status(status)

    app = App()
    app.route("/empty")(Empty)
    line, headers, chunks = call(app, "/empty")
    assert line.startswith(str(status)) and b"".join(chunks) == b""
    names = [name for name, _ in headers]
    assert "Content-Type" not in names and "Content-Length" not in names
    assert ("ETag" in names) is touch


def test_overridden_finish_and_flush_are_still_called() -> None:
    calls: list[str] = []

    class Stamped(RequestHandler):
        def get(self) -> None:
            self.write("body")

        def flush(self) -> None:
            calls.append("flush")
            super().flush()

        def finish(self, chunk: Any = None) -> None:
            calls.append("finish")
            self.set_header("X-Stamp", "finished")
            super().finish(chunk)

    app = App()
    app.route("/stamped")(Stamped)
    res = TestApp(app).get("/stamped")
    assert res.text == "body" and res.headers["X-Stamp"] == "finished"
    assert calls[:2] == ["finish", "flush"]


def test_on_finish_sees_a_closed_response() -> None:
    seen: list[str] = []

    class Closing(RequestHandler):
        def get(self) -> None:
            self.write("done")

        def on_finish(self) -> None:
            for attempt in (lambda: self.set_header("X-Late", "1"), lambda: self.write("more")):
                try:
                    attempt()
                except HandlerError as exc:
                    seen.append(type(exc).__name__)

    app = App()
    app.route("/closing")(Closing)
    res = TestApp(app).get("/closing")
    assert res.text == "done" and "X-Late" not in res.headers
    assert seen == ["HandlerError", "HandlerError"]


def test_a_stream_sends_headers_set_before_its_first_yield() -> None:
    class Feed(RequestHandler):
        def get(self) -> Iterator[str]:
            self.write({"first": 1})
            self.set_header("X-Feed", "live")
            self.set_cookie("seen", "1")
            yield "\n"
            yield "tail"

    app = App()
    app.route("/feed")(Feed)
    status, headers, chunks = call(app, "/feed")
    assert status == "200 OK" and chunks == [b'{"first":1}\n', b"tail"]
    fields = dict(headers)
    assert fields["Content-Type"] == "application/json; charset=utf-8"
    assert fields["X-Feed"] == "live" and fields["Set-Cookie"].startswith("seen=1;")
    assert "Content-Length" not in fields


def test_prepare_and_on_finish_run_for_a_class_that_overrides_only_one() -> None:
    events: list[str] = []

    class OnlyPrepare(RequestHandler):
        def prepare(self) -> None:
            events.append("prepare")

        def get(self) -> None:
            self.write("p")

    class OnlyFinish(RequestHandler):
        def get(self) -> None:
            self.write("f")

        def on_finish(self) -> None:
            events.append("on_finish")

    app = App()
    app.route("/p")(OnlyPrepare)
    app.route("/f")(OnlyFinish)
    t = TestApp(app)
    assert t.get("/p").text == "p" and t.get("/f").text == "f"
    assert t.head("/f").body == b""
    assert events == ["prepare", "on_finish", "on_finish"]


def test_a_class_with_its_own_init_is_built_through_it() -> None:
    class Counted(RequestHandler):
        built = 0

        def __init__(self, app: Any, request: Any, **kwargs: Any) -> None:
            super().__init__(app, request, **kwargs)
            type(self).built += 1
            self.label = kwargs.get("label", "none")

        def initialize(self, label: str = "none") -> None:
            self.seen_label = label

        def get(self) -> None:
            self.write(f"{self.label}/{self.seen_label}/{Counted.built}")

    app = App()
    app.add_route("/counted", Counted, kwargs={"label": "x"})
    t = TestApp(app)
    assert t.get("/counted").text == "x/x/1"
    assert t.get("/counted").text == "x/x/2"
