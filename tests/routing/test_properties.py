"""Router properties (Hypothesis): reverse and match are inverses.

1. For generated routers (typed and regex routes, several per router, on a host group
   or the default one) and generated values (non-ASCII, URL-reserved characters, text
   that looks like percent-escapes, huge ints), every route's reverse URL,
   percent-decoded as the App hands it to the router, routes back to that route with
   the same arguments.
2. Typed fields accept canonical spellings only: whatever text a field matches, reversing
   the values it produced spells that very text again.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from micro.routing import NotFound, Router

# Characters a typed pattern's literal text may hold: no '/', no regex characters.
LITERAL_CHARS = st.characters(exclude_categories=["Cs"], exclude_characters="/\\^$*+?()[]{}|")
# Any character of a decoded path segment: reserved, '%', spaces, controls, non-ASCII.
SEGMENT_CHARS = st.one_of(
    st.sampled_from("%?#&=+;:@!$'()*,~ .-_\t\x00é€😀"),
    st.characters(exclude_categories=["Cs"], exclude_characters="/"),
)
# Fragments that look like escapes or URL syntax once they reach a URL unquoted.
TRICKY = st.sampled_from(["%41", "%2F", "%2f", "%25", "%", "%%", "?a=b", "#x", "%E2%82%AC", "+"])
segment_text = st.lists(st.one_of(SEGMENT_CHARS, TRICKY), min_size=1, max_size=6).map("".join)
literal = st.text(LITERAL_CHARS, max_size=5)
# Escaped regex literals may hold regex characters too ("\\?", "\\.", "\\{").
regex_literal = st.text(st.one_of(LITERAL_CHARS, st.sampled_from("\\^$*+?()[]{}|.")), max_size=5)
word = st.text(
    st.characters(categories=("Lu", "Ll", "Lo", "Nd"), include_characters="_"),
    min_size=1,
    max_size=8,
).filter(lambda s: re.fullmatch(r"\w+", s) is not None)

TYPED_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "": segment_text,
    "d": st.integers(min_value=0, max_value=10**40),
    "w": word,
    "slug": st.from_regex(r"[a-z0-9]{1,4}(?:-[a-z0-9]{1,4}){0,2}", fullmatch=True),
    "uuid": st.uuids(),
}
path_value = st.lists(segment_text.filter(lambda s: s not in {".", ".."}), min_size=1, max_size=4)
# Regex groups, each with a strategy for values it matches (one group per segment).
REGEX_GROUPS: dict[str, st.SearchStrategy[str]] = {
    r"(\d+)": st.text(string.digits, min_size=1, max_size=6),
    r"([^/]+)": segment_text,
    r"([a-z]+)": st.text(string.ascii_lowercase, min_size=1, max_size=6),
}


@dataclass
class Generated:
    pattern: str
    fields: list[tuple[str, st.SearchStrategy[Any]]]  # names (or "" for positional)
    named: bool
    host: str | None = None


@st.composite
def typed_route(draw: st.DrawFn, first: str) -> Generated:
    parts = [first]
    fields: list[tuple[str, st.SearchStrategy[Any]]] = []
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):
            parts.append(draw(literal))
            continue
        kind = draw(st.sampled_from(sorted(TYPED_VALUES)))
        name = f"f{len(fields)}"
        spec = f"{{{name}:{kind}}}" if kind else f"{{{name}}}"
        parts.append(draw(literal) + spec + draw(literal))
        fields.append((name, TYPED_VALUES[kind]))
    if draw(st.booleans()):
        name = f"f{len(fields)}"
        parts.append(f"{{{name}:path}}")
        parts.extend(draw(st.lists(literal.filter(bool), max_size=2)))
        fields.append((name, path_value.map("/".join)))
    return Generated("/" + "/".join(parts), fields, True)


@st.composite
def regex_route(draw: st.DrawFn, first: str) -> Generated:
    named = draw(st.booleans())
    parts = [re.escape(first)]
    fields: list[tuple[str, st.SearchStrategy[Any]]] = []
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):
            parts.append(re.escape(draw(regex_literal)))
            continue
        group = draw(st.sampled_from(sorted(REGEX_GROUPS)))
        name = f"g{len(fields)}"
        text = group.replace("(", f"(?P<{name}>", 1) if named else group
        parts.append(re.escape(draw(regex_literal)) + text + re.escape(draw(regex_literal)))
        fields.append((name, REGEX_GROUPS[group]))
    if draw(st.booleans()):  # a last group that may span segments
        name = f"g{len(fields)}"
        parts.append(f"(?P<{name}>.+)" if named else "(.+)")
        fields.append(
            (
                name,
                st.text(SEGMENT_CHARS | st.just("/"), min_size=1).filter(lambda s: "\n" not in s),
            )
        )
    return Generated("/" + "/".join(parts), fields, named)


HOSTS = {None: "elsewhere.example", "api\\.example\\.com": "API.example.com:8080"}


@st.composite
def routers(draw: st.DrawFn) -> tuple[Router, list[Generated]]:
    router = Router()
    generated = []
    for i in range(draw(st.integers(1, 5))):
        first = f"r{i}"  # a distinct first segment: no route shadows another
        maker = typed_route if draw(st.booleans()) else regex_route
        spec = draw(maker(first))
        spec.host = draw(st.sampled_from(sorted(HOSTS, key=str)))
        router.add(spec.pattern, i, methods=["GET"], name=f"route{i}", host=spec.host)
        generated.append(spec)
    return router, generated


def decoded(url: str) -> str:
    """What PATH_INFO holds for ``url`` once the App decodes it as UTF-8."""
    assert url.isascii()
    assert not set(url) & set(" ?#\x00\t")
    return unquote(url, errors="strict")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(routers(), st.data())
def test_every_reverse_url_routes_back_with_the_same_arguments(
    built: tuple[Router, list[Generated]], data: st.DataObject
) -> None:
    router, generated = built
    for i, spec in enumerate(generated):
        values = [
            data.draw(strategy, label=f"{spec.pattern} {name}") for name, strategy in spec.fields
        ]
        if spec.named:
            url = router.reverse(
                f"route{i}", **dict(zip([n for n, _ in spec.fields], values, strict=True))
            )
        else:
            url = router.reverse(f"route{i}", *values)
        match = router.match(decoded(url), "GET", HOSTS[spec.host])
        assert match.route.target == i
        if spec.named:
            assert match.args == ()
            assert match.kwargs == dict(zip([n for n, _ in spec.fields], values, strict=True))
        else:
            assert match.args == tuple(values)
            assert match.kwargs == {}


# Per type: texts near the edge of what the type takes (signs, case, separators, dots).
CANDIDATES: dict[str, st.SearchStrategy[str]] = {
    "": st.text(SEGMENT_CHARS | st.just("/"), max_size=10),
    "d": st.tuples(
        st.sampled_from(["", "+", "-", " ", "0", "0x", "00"]),
        st.text(string.digits + "abcdef_.\u0661\uff11", min_size=1, max_size=5),
        st.sampled_from(["", " ", "\n"]),
    ).map("".join),
    "w": st.text(string.ascii_letters + string.digits + "_-. \u00e9\u0663\u0301", max_size=6),
    "slug": st.text("ab09-_A", max_size=8),
    "uuid": st.uuids()
    .map(str)
    .flatmap(lambda u: st.sampled_from([u, u.upper(), u.replace("-", ""), "{" + u + "}"])),
    "path": st.lists(st.sampled_from(["a", "b c", "", ".", "..", "...", "%2F"]), max_size=4).map(
        "/".join
    ),
}


@pytest.mark.parametrize("kind", sorted(CANDIDATES))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_typed_fields_match_only_canonical_spellings(kind: str, data: st.DataObject) -> None:
    text = data.draw(CANDIDATES[kind], label="text")
    router = Router()
    router.add(f"/x/{{v:{kind}}}" if kind else "/x/{v}", None, name="r")
    path = "/x/" + text
    try:
        match = router.match(path, "GET")
    except NotFound:
        return
    assert decoded(router.reverse("r", **match.kwargs)) == path
