"""RequestHandler (micro.web.handler): its output API, header checks, redirects, error
pages, the current user, and the names it keeps for itself.

How the runner drives a handler through a request (the order of the hooks, early
finishes, streaming, exceptions) is in test_runner.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import webob
from webtest import TestApp

from micro import App, HTTPError, MicroError, RequestHandler
from micro.web.handler import HandlerError
from micro.web.headers import InvalidHeader


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


def kinds_app() -> App:
    app = App()
    app.add_route("/kinds", Kinds)
    return app


@pytest.mark.parametrize(
    ("kind", "ctype", "body"),
    [
        ("dict", "application/json; charset=utf-8", b'{"ok":true}'),
        ("list", "application/json; charset=utf-8", b"[1,2]"),
        ("bytes", "application/octet-stream", b"\x00raw"),
    ],
)
def test_write_kinds(kind: str, ctype: str, body: bytes) -> None:
    res = TestApp(kinds_app()).get("/kinds", {"kind": kind})
    assert res.headers["Content-Type"] == ctype
    assert res.body == body


def test_set_status_with_reason_and_headers() -> None:
    t = TestApp(kinds_app())
    res = t.get("/kinds?kind=status", status=202)
    assert res.status == "202 Queued Up"
    res = t.get("/kinds?kind=headers")
    assert res.headers["X-One"] == "1"
    assert res.headers["X-Num"] == "5"
    assert res.headers.getall("X-Multi") == ["a", "b"]
    assert "X-Gone" not in res.headers


def test_supported_methods_drive_allow_and_405() -> None:
    t = TestApp(kinds_app())
    res = t.put("/kinds", status=405)
    assert res.headers["Allow"] == "DELETE, GET, HEAD, OPTIONS, POST"
    assert t.options("/kinds", status=204).headers["Allow"] == "DELETE, GET, HEAD, OPTIONS, POST"
    assert t.post("/kinds").text == "posted"
    res = t.delete("/kinds", status=204)
    assert "Content-Type" not in res.headers


def test_missing_argument_is_400() -> None:
    res = TestApp(kinds_app()).get("/kinds", status=400)
    assert "Missing argument kind" in res.text


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


# -- the names a handler keeps for itself ---------------------------------------------


@pytest.mark.parametrize(
    "namespace",
    [
        {"_micro_output": None},
        {"_micro_cache": lambda self: None},
        {"_micro_output": property(lambda self: None)},
    ],
    ids=["attribute", "method", "property"],
)
def test_a_subclass_defining_a_reserved_name_is_refused_when_made(
    namespace: dict[str, Any],
) -> None:
    (name,) = namespace
    with pytest.raises(TypeError, match=f"Mine defines '{name}'.*'_micro_'.*reserved"):
        type("Mine", (RequestHandler,), {"get": lambda self: None, **namespace})


def test_the_reserved_names_are_refused_down_the_hierarchy_and_kwargs_pass_through() -> None:
    class Tagged(RequestHandler):
        def __init_subclass__(cls, tag: str = "", **kwargs: Any) -> None:
            super().__init_subclass__(**kwargs)
            cls.tag = tag

    class Page(Tagged, tag="page"):
        def get(self) -> None:
            self.write(self.tag)

    with pytest.raises(TypeError, match="_micro_state"):

        class Broken(Page):
            _micro_state = 1

    app = App()
    app.add_route("/page", Page)
    assert TestApp(app).get("/page").text == "page"


# The private names RequestHandler kept its state in before that moved to a
# HandlerOutput: a subclass may use them for its own.
FORMER_STATE_NAMES = (
    "_status",
    "_reason",
    "_finished",
    "_committed",
    "_streaming",
    "_buffer",
    "_chunks",
    "_header_list",
    "_content_type",
    "_headers",
    "_check_open",
    "_header_value",
    "_initialize",
)


@pytest.mark.parametrize("name", FORMER_STATE_NAMES)
def test_a_subclass_may_use_the_private_names_that_once_held_the_state(name: str) -> None:
    class Mine(RequestHandler):
        def prepare(self) -> None:
            setattr(self, name, "mine")

        def get(self) -> None:
            self.set_header("X-Own", getattr(self, name))
            self.write({"own": getattr(self, name)})

    class Defined(RequestHandler):
        def get(self) -> None:
            self.set_status(201)
            self.write(getattr(self, name)())

    setattr(Defined, name, lambda self: "defined")
    app = App()
    app.add_route("/mine", Mine)
    app.add_route("/defined", Defined)
    client = TestApp(app)
    res = client.get("/mine")
    assert res.json == {"own": "mine"} and res.headers["X-Own"] == "mine"
    assert client.get("/defined", status=201).text == "defined"
