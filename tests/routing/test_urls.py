"""Router.url_for: a route's URL under a script name, with a query, on its host."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from micro.errors import RoutingError
from micro.routing import Router


@pytest.fixture
def router() -> Router:
    router = Router()
    router.add("/user/{id:d}", None, name="user")
    router.add("/wiki/{page:path}", None, name="wiki")
    router.add("/", None, name="api-root", host=r"api\.example\.com")
    router.add("/", None, name="www-root", host=r"(www\.)?example\.com")
    return router


def test_url_for_is_reverse_when_given_nothing_more(router: Router) -> None:
    assert router.url_for("user", 7) == router.reverse("user", 7) == "/user/7"


@pytest.mark.parametrize(
    ("script_name", "url"),
    [
        ("", "/user/7"),
        ("/app", "/app/user/7"),
        ("/app/", "/app/user/7"),
        ("/my app/é", "/my%20app/%C3%A9/user/7"),
    ],
)
def test_script_name_goes_first(router: Router, script_name: str, url: str) -> None:
    assert router.url_for("user", id=7, _script_name=script_name) == url


@pytest.mark.parametrize(
    "query",
    [
        {"q": "a b&c", "n": 2},
        [("tag", "x"), ("tag", "y/z"), ("é", "€")],
        {"tag": ["x", "y"], "f": 1.5},
    ],
)
def test_query_mapping_or_pairs_round_trips(router: Router, query: Any) -> None:
    url = router.url_for("user", 7, _query=query)
    path, _, qs = url.partition("?")
    assert path == "/user/7"
    pairs = query.items() if isinstance(query, dict) else query
    want = []
    for key, value in pairs:
        for v in value if isinstance(value, list) else [value]:
            want.append((key, str(v)))
    assert parse_qsl(qs, keep_blank_values=True) == want
    assert " " not in url and "&c" not in qs.replace("&n=", "").replace("&tag=", "")


def test_empty_query_adds_nothing(router: Router) -> None:
    assert router.url_for("user", 7, _query={}) == "/user/7"


@pytest.mark.parametrize(
    "query", ["a=b", {"a": None}, {"a": object()}, [("a",)], {1: "x"}, {"a": True}, {"a": "\ud800"}]
)
def test_bad_queries_are_refused(router: Router, query: Any) -> None:
    with pytest.raises(RoutingError):
        router.url_for("user", 7, _query=query)


def test_host_routes_give_absolute_urls(router: Router) -> None:
    # the request's own host when the pattern matches it, port and all
    assert (
        router.url_for("www-root", _host="www.example.com:8080") == "http://www.example.com:8080/"
    )
    assert router.url_for("api-root", _host="api.example.com", _scheme="https") == (
        "https://api.example.com/"
    )
    # else the one host a literal pattern names, with the request's port
    assert router.url_for("api-root", _host="www.example.com:8080", _script_name="/s") == (
        "http://api.example.com:8080/s/"
    )
    assert router.url_for("api-root") == "http://api.example.com/"
    with pytest.raises(RoutingError, match="names no one host"):
        router.url_for("www-root", _host="api.example.com")


def test_external_makes_any_url_absolute(router: Router) -> None:
    url = router.url_for(
        "wiki", "a b/c", _external=True, _host="h.test:81", _scheme="https", _query={"v": 1}
    )
    assert url == "https://h.test:81/wiki/a%20b/c?v=1"
    assert urlsplit(url).netloc == "h.test:81"
    with pytest.raises(RoutingError, match="no host"):
        router.url_for("wiki", "x", _external=True)
    with pytest.raises(RoutingError, match="absolute URL"):
        router.url_for("wiki", "x", _external=True, _host="evil.test/x?")


def test_values_that_would_not_match_back_are_refused(router: Router) -> None:
    for args, kwargs in [((-1,), {}), (("7x",), {}), ((), {}), ((1, 2), {}), ((), {"nope": 1})]:
        with pytest.raises(RoutingError):
            router.url_for("user", *args, **kwargs)
    with pytest.raises(RoutingError, match="no route is named"):
        router.url_for("nobody")


def test_conflicts_name_both_handlers() -> None:
    def show_user() -> None: ...

    def other_user() -> None: ...

    router = Router()
    router.add("/u/{id:d}", show_user, methods=["GET", "POST"])
    with pytest.raises(RoutingError) as info:
        router.add("/u/{uid:d}", other_user, methods=["POST", "PUT"])
    message = str(info.value)
    assert "show_user" in message and "other_user" in message
    assert "'/u/{id:d}'" in message and "'/u/{uid:d}'" in message
    assert "both take POST" in message
