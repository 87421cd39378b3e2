"""The middleware chain: order, early answers, exceptions, streaming, opt-out, WSGI wrapping."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
import webob
from webtest import TestApp

from micro import (
    App,
    CallNext,
    ConfigError,
    HTTPError,
    Middleware,
    PluginError,
    Request,
    RequestHandler,
    Response,
    skip_middleware,
)


class Recorder:
    """Records what it sees on the way in and out, and tags the response."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    def __call__(self, request: Request, call_next: CallNext) -> Response:
        self.log.append(f"{self.name} in")
        response = call_next(request)
        self.log.append(f"{self.name} out {response.status}")
        response.headers.add("X-Seen-By", self.name)
        return response


def make_app(middleware: list[Middleware]) -> App:
    app = App(middleware=middleware)

    @app.route("/")
    def home(request: Request) -> str:
        return "home"

    @app.route("/boom")
    def boom(request: Request) -> str:
        raise KeyError("boom")

    @app.route("/hook", methods=["POST"])
    @skip_middleware("b")
    def hook(request: Request) -> str:
        return "hooked"

    return app


def test_first_added_sees_request_first_and_response_last() -> None:
    log: list[str] = []
    app = make_app([Recorder("a", log)])
    app.add_middleware(Recorder("b", log))
    res = TestApp(app).get("/")
    assert log == ["a in", "b in", "b out 200", "a out 200"]
    assert res.headers.getall("X-Seen-By") == ["b", "a"]
    assert [m.name for m in app.middleware] == ["a", "b"]


def test_middleware_sees_404_and_405_as_responses() -> None:
    log: list[str] = []
    app = make_app([Recorder("a", log)])
    t = TestApp(app)
    t.get("/missing", status=404)
    res = t.delete("/", status=405)
    assert log == ["a in", "a out 404", "a in", "a out 405"]
    assert res.headers["X-Seen-By"] == "a"


def test_early_answer_skips_inner_middleware_and_handler() -> None:
    log: list[str] = []

    class Gate:
        name = "gate"

        def __call__(self, request: Request, call_next: CallNext) -> Response:
            if request.headers.get("X-Key") != "ok":
                return Response("denied", 403, content_type="text/plain")
            return call_next(request)

    app = make_app([Recorder("outer", log), Gate(), Recorder("inner", log)])
    t = TestApp(app)
    assert t.get("/", status=403).text == "denied"
    assert log == ["outer in", "outer out 403"]
    log.clear()
    assert t.get("/", headers={"X-Key": "ok"}).text == "home"
    assert log == ["outer in", "inner in", "inner out 200", "outer out 200"]


def test_http_error_raised_by_middleware_becomes_its_response() -> None:
    class Forbid:
        name = "forbid"

        def __call__(self, request: Request, call_next: CallNext) -> Response:
            raise HTTPError(403, "No Entry")

    log: list[str] = []
    app = make_app([Forbid(), Recorder("inner", log)])
    res = TestApp(app).get("/", status=403)
    assert res.status == "403 No Entry"
    assert log == []


def test_middleware_can_catch_handler_exceptions() -> None:
    class Catch:
        name = "catch"

        def __call__(self, request: Request, call_next: CallNext) -> Response:
            try:
                return call_next(request)
            except KeyError as exc:
                return Response(f"caught {exc}", 503, content_type="text/plain")

    log: list[str] = []
    app = make_app([Catch(), Recorder("inner", log)])
    assert TestApp(app).get("/boom", status=503).text == "caught 'boom'"
    assert log == ["inner in"]  # the exception went through inner without a response


def test_uncaught_exception_is_500_after_passing_every_middleware() -> None:
    log: list[str] = []
    app = make_app([Recorder("a", log)])
    TestApp(app).get("/boom", status=500)
    assert log == ["a in"]


def test_streamed_body_transformed_chunk_by_chunk() -> None:
    class Upper:
        name = "upper"

        def __call__(self, request: Request, call_next: CallNext) -> Response:
            response = call_next(request)
            inner = response.body

            def upper() -> Iterator[bytes]:
                for chunk in inner:
                    yield chunk.upper()

            response.body = upper()
            response.headers.remove("Content-Length")
            return response

    app = App(middleware=[Upper()])

    @app.route("/s")
    def s(request: Request) -> Iterable[str]:
        yield "ab"
        yield "cd"

    environ = webob.Request.blank("/s").environ
    assert list(app(environ, lambda *a: None)) == [b"AB", b"CD"]
    assert TestApp(app).get("/s").body == b"ABCD"


def test_opt_out_by_decorator_and_handler_attribute() -> None:
    log: list[str] = []
    app = make_app([Recorder("a", log), Recorder("b", log)])

    class Webhook(RequestHandler):
        skip_middleware = frozenset({"a"})

        def post(self) -> None:
            self.write("wh")

    app.route("/webhook")(Webhook)
    t = TestApp(app)
    assert t.post("/hook").text == "hooked"
    assert log == ["a in", "a out 200"]
    log.clear()
    assert t.post("/webhook").text == "wh"
    assert log == ["b in", "b out 200"]


def test_each_route_chain_is_built_once() -> None:
    app = make_app([Recorder("a", [])])
    (route,) = [r for r in app.router.routes() if r.pattern == "/"]
    assert route.target.chain is None  # nothing is built before the first request
    t = TestApp(app)
    t.get("/")
    chain = route.target.chain
    t.get("/")
    assert route.target.chain is chain is not None
    with pytest.raises(ConfigError):
        app.add_middleware(Recorder("late", []))


def test_functions_partials_and_objects_all_serve_as_middleware() -> None:
    log: list[str] = []

    def tagged(request: Request, call_next: CallNext) -> Response:
        log.append("function")
        return call_next(request)

    tagged.name = "function"  # type: ignore[attr-defined]

    def with_label(label: str, request: Request, call_next: CallNext) -> Response:
        log.append(label)
        return call_next(request)

    partial = functools.partial(with_label, "partial")
    partial.name = "partial"  # type: ignore[attr-defined]

    class Subclassed(Recorder):
        pass

    app = make_app([tagged, partial, Subclassed("object", log)])  # type: ignore[list-item]
    assert TestApp(app).get("/").text == "home"
    assert log == ["function", "partial", "object in", "object out 200"]


def test_bad_middleware_definitions() -> None:
    with pytest.raises(ConfigError, match="two middleware are called 'a'"):
        App(middleware=[Recorder("a", []), Recorder("a", [])])
    with pytest.raises(ConfigError):
        skip_middleware("")


def test_a_duplicate_middleware_name_is_refused_when_added_not_at_every_request() -> None:
    app = make_app([Recorder("a", [])])
    with pytest.raises(ConfigError, match="two middleware are called 'a'"):
        app.add_middleware(Recorder("a", []))
    assert [m.name for m in app.middleware] == ["a"]
    TestApp(app).get("/", status=200)  # the app still serves
    with pytest.raises(PluginError, match="two middleware are called 'gzip'"):
        App(middleware=[Recorder("gzip", [])], plugins=["gzip"])


def test_plain_wsgi_middleware_wraps_the_app() -> None:
    app = make_app([])

    def add_header(inner: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            def sr(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
                return start_response(status, [*headers, ("X-Wsgi", "yes")], exc_info)

            environ["PATH_INFO"] = environ["PATH_INFO"].removeprefix("/prefix")
            return inner(environ, sr)

        return wrapped

    res = TestApp(add_header(app)).get("/prefix/")
    assert res.text == "home"
    assert res.headers["X-Wsgi"] == "yes"


def test_middleware_leaves_data_for_the_handler_on_request_state() -> None:
    class Tag:
        name = "tag"

        def __call__(self, request: Request, call_next: CallNext) -> Response:
            request.state.tag = "from-middleware"
            return call_next(request)

    app = App(middleware=[Tag()])

    @app.route("/")
    def home(request: Request) -> str:
        route = request.route
        return f"{request.state.tag} {route.pattern if route else None}"

    assert TestApp(app).get("/").text == "from-middleware /"
