"""Routing patterns (micro/routing/_patterns.py): the typed/regex rule and typed fields."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from micro.errors import RoutingError
from micro.routing import (
    NotFound,
    Router,
    classify,
)

from .conftest import router_with, target

# ----------------------------------------------------------------------------- the rule


@pytest.mark.parametrize(
    ("pattern", "kind"),
    [
        ("/", "typed"),
        ("/robots.txt", "typed"),
        ("/user/{id:d}", "typed"),
        ("/files/{path:path}", "typed"),
        ("/v{major:d}.{minor:d}", "typed"),
        ("/caf\u00e9 au lait/{x}", "typed"),
        ("/index/(\\d+)", "regex"),
        ("/a/\\d{3}", "regex"),
        ("/a{2,}", "regex"),
        ("/a|/b", "regex"),
        ("/[abc]", "regex"),
        ("/a*", "regex"),
        ("/a+", "regex"),
        ("/a?", "regex"),
    ],
)
def test_one_rule_tells_typed_from_regex(pattern: str, kind: str) -> None:
    assert classify(pattern) == kind
    assert Router().add(pattern, None).kind == kind


@pytest.mark.parametrize(
    "pattern", ["/a/{}", "/a/{:d}", "/a/{id:3d}", "/a/{_x}", "/a/{1x}", "/(\\d+)/{id:d}"]
)
def test_braces_that_are_neither_field_nor_quantifier_are_errors(pattern: str) -> None:
    with pytest.raises(RoutingError, match=r"brace|mixes"):
        Router().add(pattern, None)


def test_dot_is_literal_in_typed_patterns_and_any_char_in_regex() -> None:
    router = router_with("/robots.txt", "/x/a.(b)")
    assert target(router, "/robots.txt") == "/robots.txt"
    with pytest.raises(NotFound):
        router.match("/robotsXtxt", "GET")
    assert target(router, "/x/aZb") == "/x/a.(b)"


def test_anchors_are_optional_and_implied() -> None:
    router = router_with("^/index/(\\d+)$", "/plain/(\\d+)")
    assert router.match("/index/12", "GET").args == ("12",)
    for path in ("/index/12x", "/x/index/12", "/plain/1/", "/plain/1x", "/a/plain/1"):
        with pytest.raises(NotFound):
            router.match(path, "GET")


def test_anchored_literal_regex_is_the_same_route_as_the_literal() -> None:
    router = router_with("/about")
    with pytest.raises(RoutingError, match="conflicts"):
        router.add("^/about$", None, methods=["GET"])


# ------------------------------------------------------------------------- typed fields


@pytest.mark.parametrize(("text", "value"), [("0", 0), ("5", 5), ("1234567890", 1234567890)])
def test_d_field_takes_canonical_ascii_digits_as_int(text: str, value: int) -> None:
    match = router_with("/user/{id:d}").match("/user/" + text, "GET")
    assert match.kwargs == {"id": value}
    assert type(match.kwargs["id"]) is int


@pytest.mark.parametrize(
    "text",
    [
        "+5",
        "-5",
        "0x1f",
        " 12",
        "12 ",
        "007",
        "00",
        "1_000",
        "1.0",
        "\u0661\u0662",  # Arabic-Indic digits
        "\uff11",  # fullwidth one
        "",
        "1" * 5000,  # longer than int() accepts: no match, not a crash
    ],
)
def test_d_field_refuses_non_canonical_spellings(text: str) -> None:
    with pytest.raises(NotFound):
        router_with("/user/{id:d}").match("/user/" + text, "GET")


def test_typed_segment_matches_one_segment_only() -> None:
    router = router_with("/user/{name}")
    assert router.match("/user/a b%", "GET").kwargs == {"name": "a b%"}
    for path in ("/user/a/b", "/user/", "/user"):
        with pytest.raises(NotFound):
            router.match(path, "GET")


def test_typed_patterns_are_case_sensitive() -> None:
    router = router_with("/user/{id:d}", "/tag/{t:slug}")
    assert target(router, "/tag/a-b") == "/tag/{t:slug}"
    for path in ("/User/5", "/USER/5", "/tag/A-b"):
        with pytest.raises(NotFound):
            router.match(path, "GET")


@pytest.mark.parametrize(
    ("pattern", "path", "kwargs"),
    [
        ("/w/{x:w}", "/w/\u00e9t\u00e9_2", {"x": "\u00e9t\u00e9_2"}),
        ("/s/{x:slug}", "/s/hello-world-2", {"x": "hello-world-2"}),
        (
            "/u/{x:uuid}",
            "/u/12345678-1234-5678-1234-567812345678",
            {"x": uuid.UUID("12345678-1234-5678-1234-567812345678")},
        ),
        ("/f/{p:path}", "/f/a/b/c.txt", {"p": "a/b/c.txt"}),
        ("/f/{p:path}/edit", "/f/a/b/edit", {"p": "a/b"}),
        ("/v{major:d}.{minor:d}/api", "/v1.20/api", {"major": 1, "minor": 20}),
        ("/n/{name}.txt", "/n/a.b.txt", {"name": "a.b"}),
    ],
)
def test_field_types_convert(pattern: str, path: str, kwargs: dict[str, Any]) -> None:
    assert router_with(pattern).match(path, "GET").kwargs == kwargs


@pytest.mark.parametrize(
    ("pattern", "path"),
    [
        ("/w/{x:w}", "/w/a-b"),
        ("/s/{x:slug}", "/s/a--b"),
        ("/s/{x:slug}", "/s/-a"),
        ("/u/{x:uuid}", "/u/12345678-1234-5678-1234-56781234567G"),
        ("/u/{x:uuid}", "/u/12345678-1234-5678-1234-56781234567A"),  # upper case
        ("/u/{x:uuid}", "/u/12345678123456781234567812345678"),
        ("/f/{p:path}", "/f/"),
        ("/f/{p:path}", "/f//etc/passwd"),
        ("/f/{p:path}", "/f/a//b"),
        ("/f/{p:path}", "/f/a/../b"),
        ("/f/{p:path}", "/f/./a"),
        ("/f/{p:path}", "/f/a/"),
        ("/v{major:d}.{minor:d}/api", "/v1.02/api"),
    ],
)
def test_field_types_refuse(pattern: str, path: str) -> None:
    with pytest.raises(NotFound):
        router_with(pattern).match(path, "GET")


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("/a/{id:x}", "unknown type 'x'"),
        ("/a/{id:d}/{id}", "used twice"),
        ("/a/{x}{y}", "literal text between"),
        ("/a/{p:path}/{q:path}", "one 'path' field"),
        ("user/{id:d}", "must start with '/'"),
    ],
)
def test_bad_typed_patterns_are_registration_errors(pattern: str, message: str) -> None:
    with pytest.raises(RoutingError, match=message):
        Router().add(pattern, None)
