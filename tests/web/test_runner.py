"""HandlerRunner (micro.web.runner): how a RequestHandler class is driven through a request.

The life cycle as a handler author sees it: ``initialize``, ``prepare`` (which may
finish early), the method, ``finish``, ``on_finish``; streaming methods; exceptions
turned into error pages; which methods a class serves. Then the runner's own
decisions (what it skips, what it joins), and that none of its interface lives on
the handler, whose names are the subclass's own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import webob
from webtest import TestApp

from micro import App, HTTPError, RequestHandler, RoutingError, URLSpec
from micro.errors import BadRequest, ContentTooLarge
from micro.web.handler import HandlerError
from micro.web.runner import HandlerRunner

# -- the life cycle -----------------------------------------------------------------


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


def make_app() -> tuple[App, list[str]]:
    events: list[str] = []
    app = App()
    app.add_handlers(
        ".*$",
        [URLSpec(r"/hello/(\w+)", Greeter, {"greeting": "Hi", "events": events}, "hello")],
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


def test_a_class_whose_init_skips_the_base_init_is_named_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Forgetful(RequestHandler):
        def __init__(self, app: Any, request: Any, **kwargs: Any) -> None:
            self.note = "no super().__init__"

        def get(self) -> None:
            self.write("never")

    app = App()
    app.add_route("/forgetful", Forgetful)
    with caplog.at_level("ERROR"):
        res = TestApp(app).get("/forgetful", status=500)
    assert "never" not in res.text
    assert "Forgetful.__init__ must call RequestHandler.__init__" in caplog.text


# -- the runner's own decisions ---------------------------------------------------


class FinishedInInitialize(RequestHandler):
    def initialize(self, events: list[str]) -> None:
        self.events = events
        self.set_status(202)
        self.finish("answered by initialize")

    def get(self) -> None:
        self.events.append("get")
        self.write("answered by get")

    def on_finish(self) -> None:
        self.events.append("on_finish")


def test_a_handler_finished_before_its_method_is_not_run() -> None:
    events: list[str] = []
    app = App()
    app.add_route("/early", FinishedInInitialize, kwargs={"events": events})
    resp = TestApp(app).get("/early", status=202)
    assert resp.text == "answered by initialize"
    assert events == ["on_finish"]


class QuietGenerator(RequestHandler):
    def get(self) -> Iterator[str]:
        self.set_header("X-Kind", "quiet")
        self.write("written, ")
        if self.get_query_argument("fail", None):
            raise HTTPError(409, "Conflict Before Any Yield")
        self.write("never yielded")
        return
        yield  # a generator that ends before its first yield


def test_a_generator_that_ends_before_yielding_answers_as_one_body() -> None:
    app = App()
    app.add_route("/quiet", QuietGenerator)
    client = TestApp(app)
    resp = client.get("/quiet")
    assert resp.text == "written, never yielded"
    assert resp.headers["X-Kind"] == "quiet"
    assert resp.headers["Content-Length"] == str(len(resp.body))
    failed = client.get("/quiet?fail=1", status=409)
    assert "Conflict Before Any Yield" in failed.text
    assert "X-Kind" not in failed.headers


def test_the_runner_names_its_class() -> None:
    class Hello(RequestHandler):
        def get(self) -> None:
            self.write("hi")

    runner = HandlerRunner(Hello, {})
    assert repr(runner) == "HandlerRunner(Hello)"
    assert runner.methods["HEAD"] == "get"
    app = App()
    app.add_route("/hello", Hello)
    assert TestApp(app).get("/hello").text == "hi"


# -- nothing of the runner's lives on the handler ---------------------------------------

# The names through which the runner used to drive a handler (public methods of
# RequestHandler until the output moved to a HandlerOutput); a subclass's own now.
FORMER_RUNNER_NAMES = (
    "begin_request",
    "take_output",
    "stream_output",
    "finish_output",
    "output_response",
    "output_finished",
    "output_streamed",
)


class Base(RequestHandler):
    """Runs every hook, so that each road through the runner is taken."""

    def initialize(self, name: str, kind: str, events: list[str]) -> None:
        self.name, self.kind, self.events = name, kind, events

    def prepare(self) -> None:
        if self.kind == "attribute":
            setattr(self, self.name, lambda: f"own {self.name}")

    def own(self) -> str:
        value: str = getattr(self, self.name)()
        return value

    def on_finish(self) -> None:
        self.events.append("on_finish")


class Plain(Base):
    def get(self) -> None:
        self.write(self.own())


class Streaming(Base):
    def get(self) -> Iterator[str]:
        self.write(self.own())
        yield ""
        yield "!"


class Async(Base):
    async def get(self) -> None:
        await asyncio.sleep(0)
        self.write(self.own())


def own_method(name: str, events: list[str]) -> Callable[..., str]:
    def method(self: RequestHandler, *args: Any, **kwargs: Any) -> str:
        events.append(name)
        return f"own {name}"

    return method


@pytest.mark.parametrize("name", FORMER_RUNNER_NAMES)
@pytest.mark.parametrize("kind", ["method", "attribute"])
@pytest.mark.parametrize(("base", "tail"), [(Plain, ""), (Streaming, "!"), (Async, "")])
def test_a_subclass_may_use_the_names_the_runner_once_used(
    name: str, kind: str, base: type[Base], tail: str
) -> None:
    events: list[str] = []
    namespace = {name: own_method(name, events)} if kind == "method" else {}
    cls = type(f"Own{base.__name__}", (base,), namespace)
    app = App()
    app.add_route("/own", cls, kwargs={"name": name, "kind": kind, "events": events})
    client = TestApp(app)
    res = client.get("/own")
    assert res.text == f"own {name}{tail}"
    # the framework never called it: only the handler's own get did
    assert events == ([name] if kind == "method" else []) + ["on_finish"]
    assert client.head("/own").body == b""
