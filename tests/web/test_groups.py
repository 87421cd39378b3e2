"""Route groups (blueprints): prefix, host, namespaced names, middleware, skip, nesting."""

from __future__ import annotations

import pytest
from webtest import TestApp

from micro import App, ConfigError, Request, Response, RoutingError
from micro.web.middleware import CallNext


class Tag:
    """A middleware that records its name on the way in and stamps the answer."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, request: Request, call_next: CallNext) -> Response:
        request.state.__dict__.setdefault("seen", []).append(self.name)
        response = call_next(request)
        response.headers.add("X-Tag", self.name)
        return response


def seen(request: Request) -> list[str]:
    return list(getattr(request.state, "seen", []))


@pytest.fixture
def app() -> App:
    app = App(middleware=[Tag("app")])
    admin = app.group(prefix="/admin", name="admin", middleware=[Tag("auth")])

    @admin.route("/", name="index")
    def index(request: Request) -> dict[str, object]:
        return {"seen": seen(request), "url": request.url_for("admin.index")}

    @admin.route("/users/{id:d}", name="user")
    def user(request: Request, id: int) -> dict[str, object]:
        return {"id": id, "seen": seen(request)}

    admin.add_route(r"/log/(\d+)", lambda request, n: {"n": n, "seen": seen(request)}, name="log")

    reports = admin.group(prefix="/reports", name="reports", middleware=[Tag("audit")])
    reports.add_route(
        "/{year:d}", lambda request, year: {"y": year, "seen": seen(request)}, name="year"
    )

    public = admin.group(prefix="/public", name="public", skip_middleware=["auth"])
    public.add_route("/", lambda request: {"seen": seen(request)}, name="home")

    @app.route("/")
    def home(request: Request) -> dict[str, object]:
        return {"seen": seen(request)}

    return app


def test_group_routes_live_under_the_prefix_with_their_middleware(app: App) -> None:
    client = TestApp(app)
    res = client.get("/admin/")
    assert res.json == {"seen": ["app", "auth"], "url": "/admin/"}
    assert res.headers.getall("X-Tag") == ["auth", "app"]
    assert client.get("/admin/users/3").json == {"id": 3, "seen": ["app", "auth"]}
    assert client.get("/admin/log/12").json == {"n": "12", "seen": ["app", "auth"]}
    assert client.get("/").json == {"seen": ["app"]}  # outside the group: no auth
    client.get("/users/3", status=404)
    client.get("/admin/log/x", status=404)


def test_groups_nest_prefixes_names_and_middleware(app: App) -> None:
    client = TestApp(app)
    assert client.get("/admin/reports/2026").json == {"y": 2026, "seen": ["app", "auth", "audit"]}
    assert app.reverse_url("admin.reports.year", 2026) == "/admin/reports/2026"
    assert app.url_for("admin.user", 4) == "/admin/users/4"
    assert app.url_for("admin.log", 7) == "/admin/log/7"


def test_skip_middleware_per_group(app: App) -> None:
    assert TestApp(app).get("/admin/public/").json == {"seen": ["app"]}


def test_names_are_namespaced(app: App) -> None:
    with pytest.raises(RoutingError, match="no route is named"):
        app.reverse_url("index")
    names = {r.name for r in app.router.routes()}
    assert {"admin.index", "admin.user", "admin.reports.year", "admin.public.home"} <= names


def test_a_group_on_a_host() -> None:
    app = App()
    api = app.group(prefix="/v1", host=r"api\.example\.com", name="api")
    api.add_route("/items", lambda request: "api items", name="items")
    app.add_route("/v1/items", lambda request: "default items")
    client = TestApp(app)
    assert client.get("/v1/items", headers={"Host": "api.example.com"}).text == "api items"
    assert client.get("/v1/items", headers={"Host": "www.example.com"}).text == "default items"
    assert app.url_for("api.items") == "http://api.example.com/v1/items"
    with pytest.raises(RoutingError, match="host"):
        api.add_route("/x", lambda request: "", host=r"other\.test")
    with pytest.raises(RoutingError, match="host"):
        api.group(host=r"other\.test")


@pytest.mark.parametrize("prefix", ["admin", "/admin/", r"/a(\d+)", 5])
def test_bad_prefixes_are_refused(prefix: object) -> None:
    with pytest.raises(RoutingError, match="prefix"):
        App().group(prefix=prefix)  # type: ignore[arg-type]


def test_regex_routes_cannot_go_under_a_prefix_with_fields() -> None:
    users = App().group(prefix="/u/{user}")
    users.add_route("/posts/{id:d}", lambda request, user, id: "")
    with pytest.raises(RoutingError, match="has fields"):
        users.add_route(r"/x/(\d+)", lambda request, n: "")


def test_group_middleware_names_must_not_clash_with_the_apps() -> None:
    app = App(middleware=[Tag("auth")])
    group = app.group(prefix="/g", middleware=[Tag("auth")])
    with pytest.raises(ConfigError, match="two middleware"):
        group.add_route("/", lambda request: "")


def test_conflicts_inside_groups_name_both_handlers() -> None:
    app = App()
    g = app.group(prefix="/g")

    def first(request: Request) -> str:
        return ""

    def second(request: Request) -> str:
        return ""

    g.add_route("/x", first)
    with pytest.raises(RoutingError, match=r"second.*first"):
        app.add_route("/g/x", second)
