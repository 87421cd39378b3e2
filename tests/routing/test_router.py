"""The router (micro/routing/_router.py, _trie.py): dispatch, conflicts, 404/405, hosts,
trailing slash, reverse."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from micro.errors import MicroError, RoutingError
from micro.routing import (
    Match,
    MethodNotAllowed,
    NotFound,
    Route,
    Router,
    TrailingSlashRedirect,
)

from .conftest import router_with, target, work_done

# ----------------------------------------------------------------------------- dispatch


def test_more_specific_wins_whatever_the_registration_order() -> None:
    router = router_with("/a/(.*)", "/a/{p:path}", "/a/{x}", "/a/{x:d}", "/a/me")
    assert target(router, "/a/me") == "/a/me"
    assert target(router, "/a/5") == "/a/{x}"  # typed segments: registration order
    assert target(router, "/a/b/c") == "/a/{p:path}"
    assert target(router, "/a/") == "/a/(.*)"


def test_walk_backtracks_when_a_deeper_segment_fails() -> None:
    router = router_with("/a/{x:d}/b", "/a/{y}/c", "/a/(\\d+)/d")
    assert router.match("/a/5/c", "GET").kwargs == {"y": "5"}
    assert router.match("/a/5/b", "GET").kwargs == {"x": 5}
    assert router.match("/a/5/d", "GET").args == ("5",)


def test_typed_values_of_a_failed_branch_do_not_leak() -> None:
    router = router_with("/a/{x:d}/b", "/a/{y}/c")
    assert router.match("/a/5/c", "GET").kwargs == {"y": "5"}


def many_routes(n: int) -> Router:
    router = Router()
    for i in range(n):
        router.add(f"/r{i}/{{n:d}}", i, methods=["GET"])
        router.add(f"/q{i}/(\\d+)", -i, methods=["GET"])
        router.add(f"/s{i}", i, methods=["GET"])
        router.add(f"/t/{{x:d}}/{i}", i, methods=["GET"])
    return router


@pytest.mark.parametrize("path", ["/r{last}/5", "/q{last}/5", "/s{last}", "/t/5/{last}"])
def test_dispatch_work_does_not_grow_with_the_number_of_routes(path: str) -> None:
    one, thousand = many_routes(1), many_routes(1000)
    work_one = work_done(lambda: one.match(path.format(last=0), "GET"))
    work_thousand = work_done(lambda: thousand.match(path.format(last=999), "GET"))
    assert work_thousand == work_one


def test_regex_specs_are_only_tried_under_their_literal_prefix() -> None:
    router = Router()
    # (a+)+b backtracks catastrophically on "aaaa...c": it must never see /fast paths.
    router.add("/slow/(a+)+b", "slow")
    router.add("/fast/(\\w+)", "fast")
    assert router.match("/fast/" + "a" * 40 + "c", "GET").route.target == "fast"


def test_regex_prefix_stops_before_a_quantified_character() -> None:
    router = router_with("/a/?b/(\\d+)", "/items/s?/(\\d+)")
    assert router.match("/ab/1", "GET").args == ("1",)
    assert router.match("/a/b/1", "GET").args == ("1",)
    assert router.match("/items//2", "GET").args == ("2",)
    assert router.match("/items/s/2", "GET").args == ("2",)


def test_lookbehind_sees_the_literal_prefix() -> None:
    router = router_with("/a/(?<=/a/)(\\d+)")
    assert router.match("/a/7", "GET").args == ("7",)


def test_top_level_alternation_has_no_prefix() -> None:
    router = router_with("/x/(\\d+)|/y/(\\d+)")
    assert router.match("/y/3", "GET").args == (None, "3")


def test_match_result_shape() -> None:
    router = Router()
    route = router.add("/user/{id:d}", "t", methods=["GET"], name="user")
    match = router.match("/user/7", "GET")
    assert isinstance(match, Match)
    assert (match.route, match.args, match.kwargs) == (route, (), {"id": 7})
    assert isinstance(route, Route)
    assert route != Route(
        "/user/{id:d}", "t", frozenset({"GET"}), "user", None, "typed", route.spec
    )


def test_path_without_leading_slash_is_not_found() -> None:
    router = router_with("/", "(.*)")
    for path in ("", "*", "a"):
        with pytest.raises(NotFound):
            router.match(path, "GET")


# ------------------------------------------------------------------------ conflicts


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("/a", "/a"),
        ("/u/{id:d}", "/u/{uid:d}"),
        ("/u/(\\d+)", "^/u/(\\d+)$"),
        ("/f/{p:path}", "/f/{q:path}"),
    ],
)
def test_conflicting_routes_raise_at_registration(first: str, second: str) -> None:
    router = Router()
    router.add(first, 1, methods=["GET", "POST"])
    with pytest.raises(RoutingError, match="conflicts with"):
        router.add(second, 2, methods=["POST"])
    with pytest.raises(RoutingError, match="conflicts with"):
        router.add(second, 2)  # every method overlaps
    assert [r.target for r in router.routes()] == [1]


def test_same_pattern_with_other_methods_or_host_is_fine() -> None:
    router = Router()
    router.add("/a", "get", methods=["GET"])
    router.add("/a", "post", methods=["POST"])
    router.add("/a", "other-host", methods=["GET"], host="example\\.com")
    assert target(router, "/a", "POST") == "post"
    assert target(router, "/a", "GET", "example.com") == "other-host"


def test_duplicate_names_raise() -> None:
    router = Router()
    router.add("/a", None, name="x")
    with pytest.raises(RoutingError, match="taken"):
        router.add("/b", None, name="x")


@pytest.mark.parametrize("methods", ["GET", ["get"], [], ["GET", "BAD METHOD"]])
def test_bad_methods_are_registration_errors(methods: Any) -> None:
    with pytest.raises(RoutingError, match="methods"):
        Router().add("/a", None, methods=methods)


# ---------------------------------------------------------------------------- 404/405


def test_405_lists_every_method_of_every_route_on_the_path() -> None:
    router = Router()
    router.add("/u/{id:d}", 1, methods=["GET"])
    router.add("/u/{name}", 2, methods=["POST", "DELETE"])
    router.add("/u/(\\d+)", 3, methods=["PUT"])
    router.add("/u/5", 4, methods=["PATCH"])
    router.add("/u/{id:d}/x", 5, methods=["TRACE"])  # another path
    with pytest.raises(MethodNotAllowed) as info:
        router.match("/u/5", "BREW")
    assert info.value.allowed == frozenset(
        {"GET", "HEAD", "POST", "DELETE", "PUT", "PATCH", "OPTIONS"}
    )
    with pytest.raises(MethodNotAllowed) as info:
        router.match("/u/abc", "GET")
    assert info.value.allowed == frozenset({"POST", "DELETE", "OPTIONS"})


def test_first_route_that_takes_the_method_wins_across_patterns() -> None:
    router = Router()
    router.add("/u/{id:d}", "by-id", methods=["GET"])
    router.add("/u/{name}", "by-name", methods=["POST"])
    assert target(router, "/u/5", "POST") == "by-name"
    assert router.match("/u/5", "GET").kwargs == {"id": 5}


def test_literal_route_with_other_methods_lets_typed_routes_answer() -> None:
    router = Router()
    router.add("/u/me", "me", methods=["GET"])
    router.add("/u/{name}", "name", methods=["POST"])
    assert target(router, "/u/me", "GET") == "me"
    assert target(router, "/u/me", "POST") == "name"
    assert target(router, "/u/me", "HEAD") == "me"


def test_head_goes_to_get_unless_there_is_a_head_route() -> None:
    router = Router()
    router.add("/a", "get", methods=["GET"])
    router.add("/b", "get", methods=["GET"])
    router.add("/b", "head", methods=["HEAD"])
    assert target(router, "/a", "HEAD") == "get"
    assert target(router, "/b", "HEAD") == "head"


def test_options_without_a_route_reports_the_allowed_set() -> None:
    router = Router()
    router.add("/a", "get", methods=["GET", "POST"])
    with pytest.raises(MethodNotAllowed) as info:
        router.match("/a", "OPTIONS")
    assert info.value.allowed == frozenset({"GET", "HEAD", "POST", "OPTIONS"})
    router.add("/a", "options", methods=["OPTIONS"])
    assert target(router, "/a", "OPTIONS") == "options"


def test_route_for_every_method_never_gives_405() -> None:
    router = Router()
    router.add("/a", "any")
    assert target(router, "/a", "WHATEVER") == "any"


def test_unmatched_path_is_404_not_405() -> None:
    router = router_with("/a")
    with pytest.raises(NotFound):
        router.match("/b", "POST")


def test_match_errors_are_micro_errors() -> None:
    for cls in (NotFound, MethodNotAllowed, TrailingSlashRedirect, RoutingError):
        assert issubclass(cls, MicroError)


# ------------------------------------------------------------------------------ hosts


def hosts_router() -> Router:
    router = Router()
    router.add("/", "api-root", methods=["GET"], host="api\\.example\\.com")
    router.add("/only-api", "api", methods=["GET"], host="api\\.example\\.com")
    router.add("/", "wild", methods=["GET"], host=".*\\.example\\.com")
    router.add("/shared", "wild-post", methods=["POST"], host=".*\\.example\\.com")
    router.add("/", "default", methods=["GET"])
    router.add("/shared", "default-get", methods=["GET"])
    return router


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("api.example.com", "api-root"),
        ("API.Example.COM", "api-root"),
        ("api.example.com:8080", "api-root"),
        ("api.example.com.", "api-root"),
        ("www.example.com", "wild"),
        ("example.com", "default"),
        ("api.example.com.evil.org", "default"),  # anchored at the end
        ("evil-api.example.com", "wild"),  # anchored at the start
        ("unknown.org", "default"),
        ("", "default"),
        ("[::1]:8080", "default"),
    ],
)
def test_host_groups_in_order_then_default(host: str, expected: str) -> None:
    assert target(hosts_router(), "/", host=host) == expected


def test_a_path_falls_through_host_groups_to_the_default_group() -> None:
    router = hosts_router()
    assert target(router, "/shared", "GET", "api.example.com") == "default-get"
    assert target(router, "/shared", "POST", "api.example.com") == "wild-post"
    with pytest.raises(NotFound):
        router.match("/only-api", "GET", "www.example.com")  # 404, no redirect


def test_405_merges_routes_of_every_matching_host_group() -> None:
    with pytest.raises(MethodNotAllowed) as info:
        hosts_router().match("/shared", "PUT", "www.example.com")
    assert info.value.allowed == frozenset({"GET", "HEAD", "POST", "OPTIONS"})


def test_ipv6_host_pattern() -> None:
    router = Router()
    router.add("/", "v6", host="\\[::1\\]")
    assert target(router, "/", host="[::1]:8080") == "v6"


def test_bad_host_regex_is_a_registration_error() -> None:
    with pytest.raises(RoutingError, match="host pattern"):
        Router().add("/", None, host="(")


# ---------------------------------------------------------------------- trailing slash


def test_trailing_slash_is_strict_by_default() -> None:
    router = router_with("/a", "/b/")
    for path in ("/a/", "/b"):
        with pytest.raises(NotFound):
            router.match(path, "GET")


@pytest.mark.parametrize(
    ("path", "method", "location", "status"),
    [
        ("/a/", "GET", "/a", 301),
        ("/a/", "HEAD", "/a", 301),
        ("/b", "GET", "/b/", 301),
        ("/a/", "POST", "/a", 308),
        ("/caf\u00e9 x%/", "GET", "/caf%C3%A9%20x%25", 301),
    ],
)
def test_trailing_slash_redirect_when_enabled(
    path: str, method: str, location: str, status: int
) -> None:
    router = Router(redirect_trailing_slash=True)
    router.add("/a", None, methods=["GET", "POST"])
    router.add("/b/", None, methods=["GET"])
    router.add("/caf\u00e9 x%", None, methods=["GET"])
    with pytest.raises(TrailingSlashRedirect) as info:
        router.match(path, method)
    assert (info.value.location, info.value.status) == (location, status)


def test_no_redirect_when_the_other_path_lacks_the_method_or_leaves_the_site() -> None:
    router = Router(redirect_trailing_slash=True)
    router.add("/b/", None, methods=["GET"])
    router.add("//evil\\.example", None, methods=["GET"])
    with pytest.raises(NotFound):
        router.match("/b", "POST")
    with pytest.raises(NotFound):  # '//evil.example' as a Location would leave the site
        router.match("//evil.example/", "GET")


def test_existing_route_wins_over_redirect() -> None:
    router = Router(redirect_trailing_slash=True)
    router.add("/a", "a", methods=["GET"])
    router.add("/a/", "a/", methods=["GET"])
    assert target(router, "/a/") == "a/"
    with pytest.raises(MethodNotAllowed):
        router.match("/a/", "POST")


# ---------------------------------------------------------------------------- reverse


def reverse_router() -> Router:
    router = Router()
    router.add("/user/{id:d}", None, name="user")
    router.add("/post/{year:d}/{slug:slug}", None, name="post")
    router.add("/n/{name}", None, name="name")
    router.add("/files/{p:path}", None, name="files")
    router.add("/v{major:d}.{minor:d}", None, name="version")
    router.add("/pair/{a}-{b}", None, name="pair")
    router.add("/u/{x:uuid}", None, name="uuid")
    router.add("/index/(\\d+)/(\\w+)", None, name="index")
    router.add("/named/(?P<year>\\d{4})/(?P<rest>.+)", None, name="named")
    router.add("/esc/\\.(\\d+)\\-x", None, name="escaped")
    router.add("/caf\u00e9/{x}", None, name="cafe")
    router.add("/", None, name="root")
    return router


@pytest.mark.parametrize(
    ("name", "args", "kwargs", "url"),
    [
        ("root", (), {}, "/"),
        ("user", (5,), {}, "/user/5"),
        ("user", (), {"id": 0}, "/user/0"),
        ("user", ("12",), {}, "/user/12"),
        ("post", (2024,), {"slug": "hi-there"}, "/post/2024/hi-there"),
        ("name", ("a b?c#d%e&f=g",), {}, "/n/a%20b%3Fc%23d%25e&f=g"),
        ("name", ("\u00fc\u20ac\U0001f600",), {}, "/n/%C3%BC%E2%82%AC%F0%9F%98%80"),
        ("files", ("a b/c?.txt",), {}, "/files/a%20b/c%3F.txt"),
        ("version", (1, 2), {}, "/v1.2"),
        ("pair", ("x", "y"), {}, "/pair/x-y"),
        ("uuid", (uuid.UUID(int=1),), {}, "/u/00000000-0000-0000-0000-000000000001"),
        ("index", (12, "ab"), {}, "/index/12/ab"),
        ("named", (), {"year": "2024", "rest": "a/b c"}, "/named/2024/a/b%20c"),
        ("named", ("2024",), {"rest": "x"}, "/named/2024/x"),
        ("escaped", ("7",), {}, "/esc/.7-x"),
        ("cafe", ("\u00e9",), {}, "/caf%C3%A9/%C3%A9"),
    ],
)
def test_reverse_builds_quoted_urls(
    name: str, args: tuple[Any, ...], kwargs: dict[str, Any], url: str
) -> None:
    assert reverse_router().reverse(name, *args, **kwargs) == url


@pytest.mark.parametrize(
    ("name", "args", "kwargs", "message"),
    [
        ("nope", (), {}, "no route is named 'nope'"),
        ("user", (), {}, "missing values"),
        ("user", (1, 2), {}, "takes 1 values"),
        ("user", (1,), {"id": 1}, "given twice"),
        ("user", (), {"uid": 1}, "no field 'uid'"),
        ("user", (-1,), {}, "not a canonical value"),
        ("user", ("007",), {}, "not a canonical value"),
        ("user", (True,), {}, "cannot hold True"),
        ("user", (1.5,), {}, "cannot hold 1.5"),
        ("name", ("a/b",), {}, "one path segment"),
        ("name", ("",), {}, "not a canonical value"),
        ("name", (5,), {}, "cannot hold 5"),
        ("name", ("\ud800",), {}, "UTF-8"),
        ("files", ("../etc",), {}, "cannot hold .../etc.: dot segment"),
        ("files", ("/etc",), {}, "not a canonical value"),
        ("post", (2024, "Not A Slug"), {}, "not a canonical value"),
        ("uuid", ("0000000-0000",), {}, "not a canonical value"),
        ("pair", ("x", "y-z"), {}, "does not match back"),
        ("index", (12,), {}, "needs 2 values"),
        ("index", (12, "a b"), {}, "does not match back"),
        ("index", (), {"x": 1}, "positional groups"),
        ("named", ("24", "x"), {}, "does not match back"),
        ("named", (None, "x"), {}, "str or int"),
    ],
)
def test_reverse_refuses_values_that_would_not_route_back(
    name: str, args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(RoutingError, match=message):
        reverse_router().reverse(name, *args, **kwargs)


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("/a/(\\d+)?", "optional or repeated"),
        ("/a/(\\d+)*", "optional or repeated"),
        ("/a/((\\d+)-(\\d+))", "nested groups"),
        ("/a/\\d+/(\\d+)", "regex syntax outside a group"),
        ("/a/(?:x|y)/(\\d+)", "not a capturing group"),
        ("/a|/b", "regex syntax outside a group"),
        ("/a/[xy]", "regex syntax outside a group"),
        ("/a/(?=x)x", "not a capturing group"),
    ],
)
def test_named_routes_that_cannot_be_reversed_are_refused(pattern: str, why: str) -> None:
    router = Router()
    with pytest.raises(RoutingError, match=f"cannot be reversed: .*{why}"):
        router.add(pattern, None, name="r")
    assert router.routes() == []
    router.add(pattern, None)  # unnamed: nobody can ask for its URL


def test_routes_lists_every_route_in_order() -> None:
    router = Router()
    a = router.add("/a", 1, methods=["GET"], name="a")
    b = router.add("/b/(\\d+)", 2, host="h\\.com")
    assert router.routes() == [a, b]
    assert (b.pattern, b.target, b.methods, b.name, b.host, b.kind) == (
        "/b/(\\d+)",
        2,
        None,
        None,
        "h\\.com",
        "regex",
    )
    router.routes().clear()
    assert len(router.routes()) == 2


def test_route_reverse_works_without_a_name() -> None:
    route = Router().add("/x/{id:d}", None)
    assert route.reverse(id=3) == "/x/3"


def test_a_pattern_must_be_a_str() -> None:
    with pytest.raises(RoutingError, match="a pattern is a str"):
        Router().add(b"/a", None)  # type: ignore[arg-type]


def test_path_fields_and_mixed_segments_take_part_in_405() -> None:
    router = Router()
    router.add("/f/{p:path}", None, methods=["GET"])
    router.add("/v{major:d}.{minor:d}", None, methods=["PUT"])
    with pytest.raises(MethodNotAllowed) as info:
        router.match("/f/a/b", "POST")
    assert info.value.allowed == frozenset({"GET", "HEAD", "OPTIONS"})
    with pytest.raises(MethodNotAllowed) as info:
        router.match("/v1.2", "GET")
    assert info.value.allowed == frozenset({"PUT", "OPTIONS"})


def test_trailing_slash_redirect_follows_host_groups() -> None:
    router = Router(redirect_trailing_slash=True)
    router.add("/docs/", None, methods=["GET"], host="docs\\.example\\.com")
    with pytest.raises(TrailingSlashRedirect) as info:
        router.match("/docs", "GET", "docs.example.com")
    assert info.value.location == "/docs/"
    with pytest.raises(NotFound):
        router.match("/docs", "GET", "www.example.com")
