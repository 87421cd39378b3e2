"""``@authenticated`` and ``current_user``: anonymous GET/HEAD go to the login page with
``?next=``, other methods get 403, a user passes, in function routes and handlers alike."""

from __future__ import annotations

from typing import Any

import pytest
from webtest import TestApp

from micro import App, ConfigError, Request, RequestHandler, authenticated


def make_app(**settings: Any) -> App:
    app = App(settings={"login_url": "/login", **settings})

    @app.user_loader
    def load(request: Request) -> str | None:
        return request.headers.get("X-User")

    @app.route("/fn", methods=["GET", "POST"])
    @authenticated
    def fn(request: Request) -> str:
        return f"fn for {request.current_user}"

    class Page(RequestHandler):
        @authenticated
        def get(self) -> None:
            self.write(f"page for {self.current_user}")

        @authenticated
        def delete(self) -> None:
            self.write("deleted")

    class Own(RequestHandler):
        def get_current_user(self) -> Any:
            return self.get_query_argument("who", None)

        @authenticated
        def get(self) -> None:
            self.write(f"own {self.current_user}")

    app.add_route("/page", Page)
    app.add_route("/own", Own)
    return app


@pytest.mark.parametrize("path", ["/fn", "/page"])
def test_an_anonymous_get_goes_to_the_login_page_with_next(path: str) -> None:
    client = TestApp(make_app())
    answer = client.get(path + "?a=1&b=two", status=302)
    assert answer.headers["Location"].endswith(
        f"/login?next={path.replace('/', '%2F')}%3Fa%3D1%26b%3Dtwo"
    )
    assert (
        client.head(path, status=302)
        .headers["Location"]
        .endswith("/login?next=" + path.replace("/", "%2F"))
    )


def test_a_login_url_with_a_query_gets_next_appended() -> None:
    client = TestApp(make_app(login_url="/auth?mode=form"))
    assert client.get("/fn", status=302).headers["Location"].endswith("/auth?mode=form&next=%2Ffn")


@pytest.mark.parametrize(("method", "path"), [("POST", "/fn"), ("DELETE", "/page")])
def test_other_methods_are_refused_without_a_redirect(method: str, path: str) -> None:
    answer = TestApp(make_app()).request(path, method=method, status=403)
    assert "Login required" in answer.text
    assert "Location" not in answer.headers


def test_a_user_passes() -> None:
    client = TestApp(make_app())
    assert client.get("/fn", headers={"X-User": "ann"}).text == "fn for ann"
    assert client.get("/page", headers={"X-User": "ann"}).text == "page for ann"
    assert client.post("/fn", headers={"X-User": "ann"}).text == "fn for ann"


def test_a_handler_may_find_its_user_itself() -> None:
    client = TestApp(make_app())
    assert client.get("/own?who=bob").text == "own bob"
    assert client.get("/own", status=302).headers["Location"].endswith("/login?next=%2Fown")


def test_without_a_user_loader_nobody_is_logged_in() -> None:
    app = App(settings={"login_url": "/login"})

    @app.route("/")
    @authenticated
    def home(request: Request) -> str:
        return "secret"

    assert TestApp(app).get("/", status=302).headers["Location"].endswith("/login?next=%2F")


def test_without_a_login_url_the_error_names_the_setting(caplog: pytest.LogCaptureFixture) -> None:
    TestApp(make_app(login_url=None)).get("/fn", status=500)
    errors = [r.exc_info[1] for r in caplog.records if r.exc_info]
    assert isinstance(errors[0], ConfigError)
    assert "set the 'login_url' setting" in str(errors[0])
