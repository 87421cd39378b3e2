"""Regex specs (micro/routing/_regex.py): groups as arguments, registration errors."""

from __future__ import annotations

import pytest

from micro.errors import RoutingError
from micro.routing import (
    Router,
)

from .conftest import router_with

# -------------------------------------------------------------------------- regex specs


def test_unnamed_groups_are_positional_named_are_keywords() -> None:
    router = router_with("/a/(\\d+)/(\\w+)", "/b/(?P<year>\\d{4})/(?P<slug>[a-z-]+)")
    assert router.match("/a/12/x", "GET")[1:] == (("12", "x"), {})
    assert router.match("/b/2024/hello-there", "GET")[1:] == (
        (),
        {"year": "2024", "slug": "hello-there"},
    )


def test_mixing_named_and_unnamed_groups_is_a_registration_error() -> None:
    with pytest.raises(RoutingError, match="mixes named and unnamed"):
        Router().add("/a/(?P<x>\\d+)/(\\d+)", None)


def test_optional_group_that_does_not_take_part_is_none() -> None:
    router = router_with("/opt/(\\d+)?")
    assert router.match("/opt/", "GET").args == (None,)


def test_invalid_regex_is_a_registration_error() -> None:
    with pytest.raises(RoutingError, match="not a valid regex"):
        Router().add("/a/(\\d+", None)


def test_regex_with_inline_flag_and_no_slash_prefix_still_matches() -> None:
    router = router_with("(?i)/shout/(\\w+)")
    assert router.match("/SHOUT/x", "GET").args == ("x",)
