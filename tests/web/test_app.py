"""micro.App with function routes: return types, 404/405/OPTIONS/HEAD, redirects, hosts."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
import webob
from webtest import TestApp

from micro import App, HTTPError, Request, Response, RoutingError
from micro.web.response import FileBody


@pytest.fixture
def app() -> App:
    app = App()

    @app.route("/text")
    def text(request: Request) -> str:
        return "héllo"

    @app.route("/bytes")
    def raw(request: Request) -> bytes:
        return b"\x00\x01"

    @app.route("/dict")
    def as_dict(request: Request) -> dict[str, object]:
        return {"a": 1, "html": "</script>"}

    @app.route("/list")
    def as_list(request: Request) -> list[int]:
        return [1, 2, 3]

    @app.route("/response")
    def response(request: Request) -> Response:
        r = Response("made", 201, content_type="text/plain; charset=utf-8")
        r.headers.set("X-Made", "yes")
        return r

    @app.route("/none", methods=["POST"])
    def nothing(request: Request) -> None:
        return None

    @app.route("/stream")
    def stream(request: Request) -> Iterator[str | bytes]:
        yield "one,"
        yield b"two"

    @app.route("/index/(\\d+)", name="index")
    def index(request: Request, n: str) -> str:
        return f"index {n!r}"

    @app.route("/named/(?P<slug>[a-z]+)")
    def named(request: Request, slug: str) -> str:
        return f"slug {slug}"

    @app.route("/user/{id:d}", name="user")
    def user(request: Request, id: int) -> dict[str, object]:
        return {"id": id, "type": type(id).__name__}

    @app.route("/thing/{key:uuid}")
    def thing(request: Request, key: uuid.UUID) -> str:
        return type(key).__name__ + ":" + str(key)

    @app.route("/items", methods=["GET"])
    def list_items(request: Request) -> str:
        return "list"

    @app.route("/items", methods=["POST", "PUT"])
    def change_items(request: Request) -> str:
        return "changed " + request.method

    return app


def test_str_is_utf8_html(app: App) -> None:
    res = TestApp(app).get("/text")
    assert res.status_int == 200
    assert res.headers["Content-Type"] == "text/html; charset=utf-8"
    assert res.body == "héllo".encode()
    assert res.headers["Content-Length"] == str(len("héllo".encode()))


def test_bytes_dict_list_response_none(app: App) -> None:
    t = TestApp(app)
    assert t.get("/bytes").body == b"\x00\x01"
    res = t.get("/dict")
    assert res.headers["Content-Type"] == "application/json; charset=utf-8"
    assert res.json == {"a": 1, "html": "</script>"}
    assert b"<\\/script>" in res.body  # safe to embed in HTML
    assert t.get("/list").json == [1, 2, 3]
    res = t.get("/response", status=201)
    assert (res.text, res.headers["X-Made"]) == ("made", "yes")
    res = t.post("/none", status=204)
    assert res.body == b"" and "Content-Type" not in res.headers


def test_iterable_is_streamed_chunk_by_chunk_without_content_length(app: App) -> None:
    assert TestApp(app).get("/stream").body == b"one,two"
    seen: list[tuple[str, list[tuple[str, str]]]] = []
    environ = webob.Request.blank("/stream").environ
    body = app(environ, lambda status, headers, exc_info=None: seen.append((status, headers)))
    assert list(body) == [b"one,", b"two"]
    assert seen[0][0] == "200 OK"
    assert "content-length" not in {k.lower() for k, _ in seen[0][1]}


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_returned_iterable_is_closed_even_if_never_iterated(method: str) -> None:
    # PEP 3333: the server calls close() on the body, read or not (a client gone;
    # the App itself for HEAD); the iterable the route returned must see it.
    class Rows:
        closed = False

        def __iter__(self) -> Iterator[str]:
            yield "row"

        def close(self) -> None:
            self.closed = True

    rows = Rows()
    app = App()
    app.route("/rows", methods=["GET", "HEAD"])(lambda request: rows)
    environ = webob.Request.blank("/rows", method=method).environ
    body = app(environ, lambda status, headers: None)
    close = getattr(body, "close", None)
    if close is not None:
        close()
    assert rows.closed


def test_regex_and_typed_arguments_arrive_typed(app: App) -> None:
    t = TestApp(app)
    assert t.get("/index/42").text == "index '42'"
    assert t.get("/named/abc").text == "slug abc"
    assert t.get("/user/7").json == {"id": 7, "type": "int"}
    key = uuid.uuid4()
    assert t.get(f"/thing/{key}").text == f"UUID:{key}"
    for bad in ("/user/+5", "/user/0x1f", "/user/%2012", "/user/%D9%A1"):
        t.get(bad, status=404)


def test_reverse_url(app: App) -> None:
    assert app.reverse_url("user", 12) == "/user/12"
    assert app.reverse_url("index", 3) == "/index/3"
    with pytest.raises(RoutingError):
        app.reverse_url("nope")


def test_404_and_405_with_exact_allow(app: App) -> None:
    t = TestApp(app)
    res = t.get("/missing", status=404)
    assert "404" in res.text
    res = t.delete("/items", status=405)
    assert res.headers["Allow"] == "GET, HEAD, OPTIONS, POST, PUT"
    res = t.patch("/text", status=405)
    assert res.headers["Allow"] == "GET, HEAD, OPTIONS"


def test_automatic_options(app: App) -> None:
    res = TestApp(app).options("/items", status=204)
    assert res.headers["Allow"] == "GET, HEAD, OPTIONS, POST, PUT"
    assert res.body == b""


def test_head_wherever_get_same_headers_no_body(app: App) -> None:
    t = TestApp(app)
    get = t.get("/dict")
    head = t.head("/dict")
    assert head.status_int == 200
    assert head.body == b""
    assert head.headers["Content-Length"] == get.headers["Content-Length"]
    assert head.headers["Content-Type"] == get.headers["Content-Type"]
    assert t.head("/stream").body == b""


def test_a_head_answered_without_a_body_gets_no_made_up_length() -> None:
    app = App()

    @app.route("/feed", methods=["GET", "HEAD"])
    def feed(request: Request) -> Response:
        if request.method == "HEAD":
            return Response(b"", content_type="text/plain")
        return Response(b"news", content_type="text/plain")

    t = TestApp(app)
    assert t.get("/feed").headers["Content-Length"] == "4"
    head = t.head("/feed")
    assert "Content-Length" not in head.headers  # not 0: GET's length is unknown here
    assert head.headers["Content-Type"] == "text/plain"


def test_methods_run_each_route(app: App) -> None:
    t = TestApp(app)
    assert t.get("/items").text == "list"
    assert t.post("/items").text == "changed POST"
    assert t.put("/items").text == "changed PUT"


def test_trailing_slash_is_strict_by_default(app: App) -> None:
    TestApp(app).get("/text/", status=404)


def test_trailing_slash_redirect_when_enabled() -> None:
    app = App(settings={"redirect_trailing_slash": True})

    @app.route("/docs/", methods=["GET", "POST"])
    def docs(request: Request) -> str:
        return "docs"

    t = TestApp(app)
    res = t.get("/docs?page=2", status=301)
    assert res.headers["Location"].endswith("/docs/?page=2")
    res = t.post("/docs", status=308)
    assert res.headers["Location"].endswith("/docs/")


def test_host_routing_with_add_handlers_and_host_argument() -> None:
    app = App()

    @app.route("/", host=r"api\.example\.com")
    def api(request: Request) -> str:
        return "api"

    @app.route("/")
    def default(request: Request) -> str:
        return "default"

    t = TestApp(app)
    assert t.get("/", headers={"Host": "API.example.com:8080"}).text == "api"
    assert t.get("/", headers={"Host": "www.example.com"}).text == "default"


def test_unknown_host_gets_404_not_a_redirect() -> None:
    app = App()

    @app.route("/only", host=r"a\.test")
    def only(request: Request) -> str:
        return "a"

    t = TestApp(app)
    assert t.get("/only", headers={"Host": "a.test"}).text == "a"
    res = t.get("/only", headers={"Host": "b.test"}, status=404)
    assert "Location" not in res.headers


def test_http_error_in_a_function_route() -> None:
    app = App()

    @app.route("/teapot")
    def teapot(request: Request) -> str:
        raise HTTPError(418, "I'm a teapot", headers={"X-Why": "tea"})

    res = TestApp(app).get("/teapot", status=418)
    assert res.status == "418 I'm a teapot"
    assert res.headers["X-Why"] == "tea"


def test_bad_registrations_raise() -> None:
    app = App()
    with pytest.raises(RoutingError, match="RequestHandler"):
        app.add_route("/b", lambda r: "x", kwargs={"a": 1})
    with pytest.raises(RoutingError):
        app.add_route("/c", 42)
    app.add_route("/d", lambda r: "x")
    with pytest.raises(RoutingError):
        app.add_route("/d", lambda r: "y")


def test_unsupported_return_type_is_a_500() -> None:
    app = App()

    @app.route("/num")
    def num(request: Request) -> int:
        return 42

    TestApp(app).get("/num", status=500)


def test_file_body_uses_wsgi_file_wrapper(tmp_path: object) -> None:
    import pathlib

    path = pathlib.Path(str(tmp_path)) / "f.bin"
    path.write_bytes(b"x" * 5000)
    app = App()

    @app.route("/file")
    def file(request: Request) -> Response:
        return Response.from_file(path.open("rb"), content_type="application/octet-stream")

    used: list[object] = []

    def wrapper(f: object, block: int) -> object:
        used.append(f)
        return FileBody(f, block)  # type: ignore[arg-type]

    res = TestApp(app, extra_environ={"wsgi.file_wrapper": wrapper}).get("/file")
    assert res.body == b"x" * 5000
    assert res.headers["Content-Length"] == "5000"
    assert used
    res = TestApp(app).get("/file")
    assert res.body == b"x" * 5000


def test_non_utf8_path_is_400() -> None:
    app = App()
    environ = {"PATH_INFO": "/\xff"}
    res = TestApp(app).get("/", extra_environ=environ, status=400)
    assert res.status_int == 400


def test_subclasses_of_str_and_dict_keep_their_meaning() -> None:
    from collections import OrderedDict

    class Markup(str):
        pass

    app = App()

    @app.route("/markup")
    def markup(request: Request) -> str:
        return Markup("<b>bold</b>")

    @app.route("/ordered")
    def ordered(request: Request) -> dict[str, int]:
        return OrderedDict([("z", 1), ("a", 2)])

    t = TestApp(app)
    assert t.get("/markup").text == "<b>bold</b>"
    res = t.get("/ordered")
    assert res.content_type == "application/json"
    assert res.body == b'{"z":1,"a":2}'


def test_routes_added_to_the_router_directly_still_work() -> None:
    app = App()
    app.router.add("/direct", lambda request: "direct", methods=["GET"])
    assert TestApp(app).get("/direct").text == "direct"


def test_a_path_that_was_404_is_routed_once_a_route_for_it_is_added() -> None:
    # The App remembers a 404 (static files ask for the same missing route over and
    # over); a route added later, either way, must still win at once.
    app = App()
    t = TestApp(app)
    for _ in range(2):
        t.get("/later", status=404)
        t.get("/direct", status=404)
    app.add_route("/later", lambda request: "later")
    assert t.get("/later").text == "later"
    app.router.add("/direct", lambda request: "direct", methods=["GET"])
    assert t.get("/direct").text == "direct"


def test_a_remembered_404_is_per_method_and_per_host() -> None:
    app = App()

    @app.route("/only", host=r"a\.test")
    def only(request: Request) -> str:
        return "a"

    @app.route("/post", methods=["POST"])
    def post(request: Request) -> str:
        return "posted"

    t = TestApp(app)
    for _ in range(2):
        t.get("/only", headers={"Host": "b.test"}, status=404)
        assert t.get("/only", headers={"Host": "a.test"}).text == "a"
        t.get("/nowhere", status=404)
        assert t.post("/nowhere", status=404).status_int == 404
        res = t.get("/post", status=405)  # a 405 is not a 404: never taken for one
        assert res.headers["Allow"] == "OPTIONS, POST"
        assert t.post("/post").text == "posted"


def test_a_remembered_404_still_goes_through_middleware_and_the_404_handler() -> None:
    seen: list[str] = []

    class Tag:
        name = "tag"

        def __call__(self, request: Request, call_next: Callable[[Request], Response]) -> Response:
            seen.append(request.path)
            response = call_next(request)
            response.headers.set("X-Tag", "yes")
            return response

    app = App(middleware=[Tag()])
    app.error_handler(404)(lambda request, error: Response("nothing here", 404))
    t = TestApp(app)
    for _ in range(3):
        res = t.get("/missing", status=404)
        assert (res.text, res.headers["X-Tag"]) == ("nothing here", "yes")
    assert seen == ["/missing"] * 3
