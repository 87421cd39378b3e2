"""app.mount: any WSGI app under a prefix (PEP 3333 SCRIPT_NAME/PATH_INFO split): a Flask
app serving a form post, another micro App keeping its middleware and building its URLs
under the prefix, a bare WSGI function; and ``micro routes`` listing mounts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import flask
import pytest
from webtest import TestApp

from micro import App, Request, Response, RoutingError
from micro.cli import main
from micro.web.middleware import CallNext


def flask_app() -> flask.Flask:
    legacy = flask.Flask("legacy")

    @legacy.get("/form")
    def form() -> str:
        action = flask.url_for("submit")
        return f'<form method="post" action="{action}"><input name="title"></form>'

    @legacy.post("/submit")
    def submit() -> Any:
        title = flask.request.form["title"]
        return flask.redirect(flask.url_for("done", title=title))

    @legacy.get("/done/<title>")
    def done(title: str) -> str:
        return f"saved {title} at {flask.request.script_root}{flask.request.path}"

    return legacy


class Stamp:
    name = "stamp"

    def __init__(self, value: str) -> None:
        self.value = value

    def __call__(self, request: Request, call_next: CallNext) -> Response:
        response = call_next(request)
        response.headers.add("X-Stamp", self.value)
        return response


def environ_echo(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{environ['SCRIPT_NAME']}|{environ['PATH_INFO']}".encode("latin-1")]


@pytest.fixture
def app() -> App:
    app = App(middleware=[Stamp("outer")])
    app.add_route("/", lambda request: "home")
    app.add_route("/flaskish", lambda request: "not the mount")  # shares no segment
    app.mount("/flask", flask_app())
    inner = App(middleware=[Stamp("inner")], settings={"redirect_trailing_slash": True})
    inner.add_route("/items/{id:d}", lambda request, id: request.url_for("item", id), name="item")
    inner.add_route("/docs/", lambda request: "docs")
    app.mount("/inner", inner)
    app.mount("/raw", environ_echo)
    app.mount("/raw/deeper", environ_echo)
    app.mount("/café", environ_echo)
    return app


def test_a_flask_app_serves_a_form_post_under_the_prefix(app: App) -> None:
    client = TestApp(app)
    page = client.get("/flask/form")
    assert 'action="/flask/submit"' in page.text
    form = page.forms[0]
    form["title"] = "héllo wörld"
    res = form.submit()
    assert res.status_int == 302
    assert res.headers["Location"].endswith("/flask/done/h%C3%A9llo%20w%C3%B6rld")
    assert "X-Stamp" not in res.headers  # the mounted app runs outside the App's middleware
    done = res.follow()
    assert done.text == "saved héllo wörld at /flask/done/héllo wörld"


def test_a_mounted_micro_app_keeps_its_middleware_and_builds_urls_under_the_prefix(
    app: App,
) -> None:
    client = TestApp(app)
    res = client.get("/inner/items/4")
    assert res.text == "/inner/items/4"
    assert res.headers.getall("X-Stamp") == ["inner"]
    redirect = client.get("/inner/docs", status=301)
    assert redirect.headers["Location"].endswith("/inner/docs/")
    assert client.get("/inner/docs/").text == "docs"
    inner = app.mounts[1].app
    assert inner.url_for("item", 9) == "/inner/items/9"
    client.get("/inner/nowhere", status=404)


@pytest.mark.parametrize(
    ("path", "seen"),
    [
        ("/raw", "/raw|"),
        ("/raw/", "/raw|/"),
        ("/raw/a/b", "/raw|/a/b"),
        ("/raw/deeper/x", "/raw/deeper|/x"),
        ("/raw/deeperx", "/raw|/deeperx"),
        ("/caf%C3%A9/x%20y", "/caf\u00c3\u00a9|/x y"),  # WSGI's latin-1 view of the bytes
    ],
)
def test_pep3333_split(app: App, path: str, seen: str) -> None:
    res = TestApp(app, extra_environ={"SCRIPT_NAME": ""}).get(path)
    assert res.body.decode("latin-1") == seen


def test_the_split_adds_to_an_outer_script_name(app: App) -> None:
    res = TestApp(app, extra_environ={"SCRIPT_NAME": "/site"}).get("/raw/a")
    assert res.text == "/site/raw|/a"
    res = TestApp(app, extra_environ={"SCRIPT_NAME": "/site"}).get("/inner/items/1")
    assert res.text == "/site/inner/items/1"


def test_paths_outside_mounts_are_the_apps(app: App) -> None:
    client = TestApp(app)
    assert client.get("/").text == "home"
    assert client.get("/flaskish").text == "not the mount"
    assert client.get("/").headers["X-Stamp"] == "outer"
    client.get("/rawx", status=404)


@pytest.mark.parametrize("prefix", ["legacy", "/legacy/", "/", "/{x}", r"/a(\d)", ""])
def test_bad_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(RoutingError, match="mount prefix"):
        App().mount(prefix, environ_echo)


def test_taken_prefix_and_non_apps_are_refused() -> None:
    app = App()
    app.mount("/a", environ_echo)
    with pytest.raises(RoutingError, match="taken"):
        app.mount("/a", environ_echo)
    with pytest.raises(RoutingError, match="not a WSGI app"):
        app.mount("/b", "nope")
    with pytest.raises(RoutingError, match="itself"):
        app.mount("/c", app)


MOUNTED = """
import flask
from micro import App

inner = App()
inner.add_route("/items/{id:d}", lambda request, id: "", name="item")
app = App()
app.add_route("/", lambda request: "home")
app.add_route("/legacy/old", lambda request: "shadowed by the mount")
app.mount("/legacy", flask.Flask("legacy"))
app.mount("/inner", inner)
"""


def test_micro_routes_lists_mounts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "mounted.py"
    source.write_text(MOUNTED)
    assert main(["routes", "--strict", str(source)]) == 1
    out = capsys.readouterr().out
    rows = [line[1:].split() for line in out.partition("\n\n")[0].splitlines()]
    assert ["*", "/legacy/...", "-", "*", "flask.app.Flask", "mount"] in rows
    assert ["*", "/inner/...", "-", "*", "micro.web.app.App", "mount"] in rows
    assert [
        "*",
        "/inner/items/{id:d}",
        "item",
        "GET",
        "mounted.<lambda>",
        "mount",
        "/inner",
    ] in rows
    assert "/legacy/old is answered by the app mounted at '/legacy'" in out
