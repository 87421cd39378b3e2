"""Field types: the canonical float ``f``, and user types checked when they are added."""

from __future__ import annotations

import re
from typing import Any

import pytest

from micro.errors import RoutingError
from micro.routing import NotFound, Router


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0.0", 0.0),
        ("1.5", 1.5),
        ("0.1", 0.1),
        ("2.0", 2.0),
        ("10000000000000000.0", 1e16),
        ("0.0001", 0.0001),
    ],
)
def test_f_takes_canonical_floats(text: str, value: float) -> None:
    router = Router()
    router.add("/price/{p:f}", None, name="price")
    assert router.match(f"/price/{text}", "GET").kwargs == {"p": value}
    assert router.reverse("price", value) == f"/price/{text}"


@pytest.mark.parametrize(
    "text",
    [
        "1",
        "1.",
        ".5",
        "1.50",
        "01.5",
        "+1.5",
        "-1.5",
        "1e3",
        "1.5e3",
        "inf",
        "nan",
        "1.0000000000000001",
        " 1.5",
        "1_0.5",
        "\u0661.5",
        "1" + "0" * 400 + ".0",
    ],
)
def test_f_refuses_other_spellings(text: str) -> None:
    router = Router()
    router.add("/price/{p:f}", None)
    with pytest.raises(NotFound):
        router.match(f"/price/{text}", "GET")


@pytest.mark.parametrize("value", [-1.5, float("inf"), float("nan"), -0.0, "x", True, None])
def test_f_reverse_refuses_values_without_a_spelling(value: Any) -> None:
    router = Router()
    router.add("/price/{p:f}", None, name="price")
    with pytest.raises(RoutingError):
        router.reverse("price", value)


def test_f_in_a_mixed_segment() -> None:
    router = Router()
    router.add("/at/{lat:f},{lon:f}", None, name="at")
    assert router.match("/at/51.5,0.12", "GET").kwargs == {"lat": 51.5, "lon": 0.12}
    assert router.reverse("at", 51.5, 0.12) == "/at/51.5,0.12"


class Year:
    regex = r"[0-9]{4}"
    examples = ["2026"]

    def to_python(self, text: str) -> int:
        return int(text)

    def to_url(self, value: int) -> str:
        return f"{value:04d}"


def test_user_type_by_keywords_converts_and_reverses() -> None:
    router = Router()
    router.field_type(
        "color",
        regex=r"[0-9a-f]{6}",
        to_python=lambda text: tuple(bytes.fromhex(text)),
        to_url=lambda rgb: bytes(rgb).hex(),
    )
    router.add("/c/{c:color}", None, name="c")
    assert router.match("/c/ff8000", "GET").kwargs == {"c": (255, 128, 0)}
    assert router.reverse("c", (255, 128, 0)) == "/c/ff8000"
    with pytest.raises(NotFound):
        router.match("/c/FF8000", "GET")
    with pytest.raises(RoutingError, match=r"cannot hold|not a canonical"):
        router.reverse("c", "FF8000")


def test_user_type_as_an_object_like_werkzeug_converters() -> None:
    router = Router()
    router.field_type("year", Year())
    router.add("/y/{y:year}/{m:d}", None, name="ym")
    router.add("/v{y:year}.{n:d}", None, name="mixed")
    assert router.match("/y/0999/3", "GET").kwargs == {"y": 999, "m": 3}
    assert router.reverse("ym", 999, 3) == "/y/0999/3"
    assert router.match("/v2026.1", "GET").kwargs == {"y": 2026, "n": 1}


def test_user_type_to_python_value_error_is_no_match() -> None:
    def month(text: str) -> int:
        if not 1 <= int(text) <= 12:
            raise ValueError("no such month")
        return int(text)

    router = Router()
    router.field_type(
        "month",
        regex=r"[0-9]{2}",
        to_python=month,
        to_url=lambda m: f"{m:02d}",
        examples=["01", "12"],
    )
    router.add("/m/{m:month}", "month")
    router.add("/m/{other}", "other")
    assert router.match("/m/07", "GET").kwargs == {"m": 7}
    assert router.match("/m/13", "GET").route.target == "other"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        # to_url gives text its own regex does not match: the URLs would not route back
        (dict(regex=r"[a-z]+", to_python=str, to_url=str.upper), "does not match"),
        (
            dict(regex=r"[1-9][0-9]*", to_python=int, to_url=lambda v: f"{v:05d}", examples=["7"]),
            "does not match",
        ),
        # converts back to another value
        (
            dict(regex=r"[0-9]+", to_python=lambda t: int(t) // 2, to_url=str, examples=["4"]),
            "not the value back",
        ),
        (dict(regex=r"(a|b)", to_python=str, to_url=str), "capturing groups"),
        (dict(regex=r"[a-", to_python=str, to_url=str), "not a valid regex"),
        (dict(regex=r"[a-z]+", to_python=str, to_url=str, examples=["A"]), "is not text its regex"),
        (dict(regex=r"[a-z/]+", to_python=str, to_url=str, examples=["a/b"]), "spans=True"),
        (dict(regex=r"(?P<x>a)(?P=x)", to_python=str, to_url=str), "capturing groups"),
        (dict(regex=r"(?:a)\1", to_python=str, to_url=str), "not a valid regex"),
        (dict(regex=r"[a-z]+", to_python=str, to_url=None), "callables"),
        (dict(regex=r"(?i)[a-z]+", to_python=str, to_url=str), "global flags"),
        (dict(regex=r"\w+(?<=\d)x", to_python=str, to_url=str), "examples="),
        (
            dict(regex=r"[0-9]+", to_python=int, to_url=lambda v: v, examples=["1"]),
            "does not match",
        ),
    ],
)
def test_bad_user_types_are_refused_with_the_reason(kwargs: dict[str, Any], message: str) -> None:
    router = Router()
    with pytest.raises(RoutingError, match=re.escape(message)):
        router.field_type("t", **kwargs)
    with pytest.raises(RoutingError, match="unknown type 't'"):
        router.add("/{x:t}", None)


@pytest.mark.parametrize("name", ["d", "f", "path", "", "1x", "a-b", None])
def test_type_names_must_be_new_and_well_formed(name: Any) -> None:
    with pytest.raises(RoutingError, match="field type"):
        Router().field_type(name, regex="x", to_python=str, to_url=str)


def test_user_types_belong_to_their_router() -> None:
    one, two = Router(), Router()
    one.field_type("year", Year())
    one.add("/{y:year}", None)
    with pytest.raises(RoutingError, match="unknown type 'year'"):
        two.add("/{y:year}", None)


def test_scoped_flags_work_in_mixed_segments() -> None:
    router = Router()
    router.field_type("word", regex=r"(?i:[a-z]+)", to_python=str.lower, to_url=str)
    router.add("/w/x{a:word}-{b:d}", None, name="w")
    assert router.match("/w/xAbC-3", "GET").kwargs == {"a": "abc", "b": 3}
    assert router.reverse("w", "abc", 3) == "/w/xabc-3"


def test_spanning_user_type() -> None:
    router = Router()
    router.field_type(
        "dotted",
        regex=r"[a-z]+(?:/[a-z]+)*",
        to_python=lambda t: t.split("/"),
        to_url="/".join,
        spans=True,
    )
    router.add("/d/{parts:dotted}/end", None, name="d")
    assert router.match("/d/a/b/c/end", "GET").kwargs == {"parts": ["a", "b", "c"]}
    assert router.reverse("d", ["a", "b"]) == "/d/a/b/end"
