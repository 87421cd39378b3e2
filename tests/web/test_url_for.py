"""url_for on the App, the Request and handlers (SCRIPT_NAME, hosts, query), and user
field types registered on the App, through WebTest."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest
from webtest import TestApp

from micro import App, Request, RequestHandler, RoutingError


@pytest.fixture
def app() -> App:
    app = App()
    app.add_route("/user/{id:d}", lambda request, id: request.url_for("user", id), name="user")

    @app.route("/links")
    def links(request: Request) -> dict[str, str]:
        return {
            "user": request.url_for("user", 7, _query={"tab": "posts", "q": "a b"}),
            "external": request.url_for("user", id=7, _external=True),
            "api": request.url_for("api", "v1"),
            "reverse": request.app.reverse_url("user", 7),
        }

    class Links(RequestHandler):
        def get(self) -> None:
            self.write(
                {
                    "user": self.url_for("user", 8, _query=[("x", "1"), ("x", "2")]),
                    "reverse": self.reverse_url("user", 8),
                }
            )

    app.add_route("/handler-links", Links)
    app.add_route("/{version}/", lambda request, version: "", name="api", host=r"api\.example\.com")
    return app


def test_request_url_for_honours_script_name_and_query(app: App) -> None:
    client = TestApp(app, extra_environ={"SCRIPT_NAME": "/app"})
    links = client.get("/links", headers={"Host": "www.example.com:8080"}).json
    path, _, query = links["user"].partition("?")
    assert path == "/app/user/7"
    assert parse_qsl(query) == [("tab", "posts"), ("q", "a b")]
    assert links["external"] == "http://www.example.com:8080/app/user/7"
    # a host route: absolute on its own host, with the request's port and script name
    assert links["api"] == "http://api.example.com:8080/app/v1/"
    # reverse_url stays the path only
    assert links["reverse"] == "/user/7"


def test_the_links_built_route_back(app: App) -> None:
    client = TestApp(app, extra_environ={"SCRIPT_NAME": "/app"})
    url = client.get("/links").json["user"]
    # The client reaches the app through /app: what it strips is what url_for added.
    path = urlsplit(url).path.removeprefix("/app")
    assert client.get(path).text == "/app/user/7"


def test_handler_url_for(app: App) -> None:
    client = TestApp(app, extra_environ={"SCRIPT_NAME": "/s"})
    assert client.get("/handler-links").json == {"user": "/s/user/8?x=1&x=2", "reverse": "/user/8"}


def test_non_ascii_script_name(app: App) -> None:
    raw = "/café".encode().decode("latin-1")  # as a WSGI server hands it over
    client = TestApp(app, extra_environ={"SCRIPT_NAME": raw})
    assert client.get("/user/3").text == "/caf%C3%A9/user/3"


def test_app_url_for_outside_a_request(app: App) -> None:
    assert app.url_for("user", 5, _query={"a": 1}) == "/user/5?a=1"
    assert app.url_for("api", "v2") == "http://api.example.com/v2/"
    with pytest.raises(RoutingError, match="no host"):
        app.url_for("user", 5, _external=True)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((-1,), {}),
        (("x",), {}),
        ((), {}),
        ((1,), {"_query": "a=b"}),
        ((1,), {"_query": {"a": None}}),
    ],
)
def test_values_that_would_not_match_back_are_refused(
    app: App, args: tuple[object, ...], kwargs: dict[str, object]
) -> None:
    with pytest.raises(RoutingError):
        app.url_for("user", *args, **kwargs)  # type: ignore[arg-type]


def test_a_url_for_error_in_a_handler_is_a_500_not_a_bad_link(app: App) -> None:
    app.add_route("/broken", lambda request: request.url_for("user", "seven"))
    TestApp(app).get("/broken", status=500)


def test_user_field_type_on_the_app() -> None:
    app = App()
    app.field_type(
        "hexcolor",
        regex=r"[0-9a-f]{6}",
        to_python=lambda text: int(text, 16),
        to_url=lambda value: f"{value:06x}",
    )

    @app.route("/color/{c:hexcolor}", name="color")
    def color(request: Request, c: int) -> dict[str, object]:
        return {"value": c, "url": request.url_for("color", c)}

    client = TestApp(app)
    assert client.get("/color/ff8000").json == {"value": 0xFF8000, "url": "/color/ff8000"}
    client.get("/color/FF8000", status=404)
    client.get("/color/ff80", status=404)


def test_a_user_type_whose_to_url_does_not_match_its_regex_is_refused() -> None:
    app = App()
    with pytest.raises(RoutingError, match="does not match"):
        app.field_type("upper", regex=r"[a-z]+", to_python=str, to_url=str.upper)


def test_f_fields_through_the_app() -> None:
    app = App()
    app.add_route("/price/{p:f}", lambda request, p: {"p": p, "type": type(p).__name__})
    client = TestApp(app)
    assert client.get("/price/9.5").json == {"p": 9.5, "type": "float"}
    client.get("/price/9.50", status=404)


def test_conflicts_name_both_handlers() -> None:
    app = App()

    def show(request: Request, id: int) -> str:
        return ""

    def other(request: Request, uid: int) -> str:
        return ""

    app.add_route("/u/{id:d}", show)
    with pytest.raises(RoutingError) as info:
        app.add_route("/u/{uid:d}", other)
    assert "show" in str(info.value) and "other" in str(info.value)
