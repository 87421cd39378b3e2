"""Dispatch is the documented ordered scan (Hypothesis), whatever indexes make it fast.

docs/routing.md ranks the routes of a host group: at each path segment a literal
segment, then typed segments in the order they were first registered at that point,
then ``path`` fields, then regex specs filed there, the first route that matches the
path and takes the method winning; host groups whose pattern matches are tried in the
order they were first added, then the default group. This test writes that rule down
as a plain scan over every route (each route matched on its own, with ``re`` for
regex specs) and checks, for random route sets and random requests, that the Router
answers exactly as the scan does: the same route and values, or the same 405 ``Allow``
set, or 404. The route pools share literal starts (``p1``, ``p12``, ``h1.test``) so that
nodes and hosts get more alternatives than the index's scan threshold.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from micro.errors import RoutingError
from micro.routing import MethodNotAllowed, NotFound, Route, Router

TYPED_SEGMENTS = ["a", "b", "p1", "p12", "{X}", "{X:d}", "{X:f}", "p{X:d}", "p{X}-{X}", "{X:slug}"]
TYPED_TAILS = ["{X:path}", "p{X:path}", "{X:path}/e"]
REGEX_SEGMENTS = ["a", "p1", "p12", r"p(\d+)", r"(\d+)", "[ab]", r"p\d+", "(a|p1)", r"p1-(\w+)"]
REGEX_TAILS = ["(.*)", r"p(.+)"]
HOSTS = [None, r"h1\.test", r"(www\.)?h1\.test", r"h\d\.test", r"h2\.test", r"h12\.test"]
HOSTS += [rf"h{i}\.test" for i in range(3, 9)]
METHODS = [None, ("GET",), ("POST",), ("GET", "POST"), ("HEAD",), ("PUT", "GET")]
PATH_SEGMENTS = ["a", "b", "p1", "p12", "p1-5", "p12-3", "p7", "1", "01", "1.5", "x", "p", ""]
REQUEST_HOSTS = ["h1.test", "www.h1.test", "H2.test:80", "h3.test", "h12.test", "other", ""]


@st.composite
def patterns(draw: st.DrawFn) -> str:
    n = draw(st.integers(0, 3))
    if draw(st.booleans()):  # typed
        parts = draw(st.lists(st.sampled_from(TYPED_SEGMENTS), min_size=n, max_size=n))
        if draw(st.booleans()) or not parts:
            parts.append(draw(st.sampled_from(TYPED_TAILS)))
        text = "/" + "/".join(parts)
        count = iter(range(100))
        return re.sub("X", lambda _: f"f{next(count)}", text)
    parts = draw(st.lists(st.sampled_from(REGEX_SEGMENTS), min_size=n, max_size=n))
    if draw(st.booleans()) or not parts:
        parts.append(draw(st.sampled_from(REGEX_TAILS)))
    return "/" + "/".join(parts)


@st.composite
def routers(draw: st.DrawFn) -> Router:
    router = Router()
    for i in range(draw(st.integers(1, 30))):
        pattern = draw(patterns())
        host = draw(st.sampled_from(HOSTS))
        methods = draw(st.sampled_from(METHODS))
        # A conflict with an earlier route is refused, as documented: skip it.
        with contextlib.suppress(RoutingError):
            router.add(pattern, i, methods=methods, host=host)
    return router


def _strip(pattern: str) -> str:
    return pattern.removeprefix("^").removesuffix("$")


def _ranks(routes: list[Route]) -> dict[int, list[tuple[int, Any]]]:
    """Each route's rank: per segment, (0, literal) < (1, typed) < (2, path) < (3, regex),
    typed segments, path fields and regexes numbered by first registration there."""
    seen: dict[tuple[Any, ...], list[str]] = {}

    def order(at: tuple[str, ...], kind: str, text: str) -> int:
        known = seen.setdefault((at, kind), [])
        if text not in known:
            known.append(text)
        return known.index(text)

    ranks: dict[int, list[tuple[int, Any]]] = {}
    for route in routes:
        at: tuple[str, ...] = ()
        rank: list[tuple[int, Any]] = []
        if route.kind == "typed":
            for part in route.spec.parts:  # type: ignore[union-attr]
                if isinstance(part, str):
                    rank.append((0, part))
                    at += (part,)
                else:
                    kind = 2 if part.spans else 1
                    rank.append((kind, order(at, str(kind), part.text)))
                    at += (part.text,)
        else:
            for seg in route.spec.prefix:  # type: ignore[union-attr]
                rank.append((0, seg))
                at += (seg,)
            rank.append((3, order(at, "re", _strip(route.pattern))))
        ranks[id(route)] = rank
    return ranks


def _match_one(route: Route, path: str) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
    if route.kind == "regex":
        m = re.fullmatch(_strip(route.pattern), path)
        if m is None:
            return None
        return ((), m.groupdict()) if m.re.groupindex else (m.groups(), {})
    segs = path[1:].split("/")
    values: dict[str, Any] = {}
    parts = route.spec.parts  # type: ignore[union-attr]
    for i, part in enumerate(parts):
        if i >= len(segs):
            return None
        if isinstance(part, str):
            if segs[i] != part:
                return None
            continue
        text = "/".join(segs[i:]) if part.spans else segs[i]
        got = part.match(text)
        if got is None:
            return None
        values.update(got)
        if part.spans:
            return (), values
    return ((), values) if len(parts) == len(segs) else None


def _takes(route: Route, method: str, group: list[Route]) -> bool:
    if route.methods is None or method in route.methods:
        return True
    if method != "HEAD" or "GET" not in route.methods:
        return False
    same = [r for r in group if _strip(r.pattern) == _strip(route.pattern)]
    return not any(r.methods and "HEAD" in r.methods for r in same)


def scan(router: Router, path: str, method: str, host: str) -> Any:
    """The documented order, as a scan: ('ok', target, args, kwargs) | ('405', set) | '404'."""
    routes = router.routes()
    name = host.rpartition(":")[0] if ":" in host else host
    name = name.lower()
    hosts: list[str] = []
    for route in routes:
        if route.host is not None and route.host not in hosts:
            hosts.append(route.host)
    order = [h for h in hosts if re.fullmatch(h, name, re.IGNORECASE)] + [None]
    allowed: set[str] = set()
    for h in order:
        group = [r for r in routes if r.host == h]
        ranks = _ranks(group)
        for route in sorted(group, key=lambda r: ranks[id(r)]):
            found = _match_one(route, path) if path.startswith("/") else None
            if found is None:
                continue
            if _takes(route, method, group):
                return ("ok", route.target, *found)
            allowed |= set(route.methods or ())
    if allowed:
        allowed.add("OPTIONS")
        if "GET" in allowed:
            allowed.add("HEAD")
        return ("405", allowed)
    return "404"


def dispatch(router: Router, path: str, method: str, host: str) -> Any:
    try:
        match = router.match(path, method, host)
    except MethodNotAllowed as exc:
        return ("405", set(exc.allowed))
    except NotFound:
        return "404"
    return ("ok", match.route.target, match.args, match.kwargs)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    routers(),
    st.lists(
        st.tuples(
            st.lists(st.sampled_from(PATH_SEGMENTS), min_size=1, max_size=4).map("/".join),
            st.sampled_from(["GET", "HEAD", "POST", "DELETE"]),
            st.sampled_from(REQUEST_HOSTS),
        ),
        min_size=1,
        max_size=10,
    ),
)
def test_dispatch_answers_as_the_documented_ordered_scan(
    router: Router, requests: list[tuple[str, str, str]]
) -> None:
    for path, method, host in requests:
        assert dispatch(router, "/" + path, method, host) == scan(router, "/" + path, method, host)


def test_the_scan_sees_what_the_index_skips() -> None:
    """A sanity check of the reference itself on a case with a known answer."""
    router = Router()
    for i in range(10):
        router.add(f"/p{i}-{{x:d}}", i)
    router.add(r"/p(\d+)-(\d+)", "regex")
    router.add("/{a}-{b}", "any")
    assert scan(router, "/p7-5", "GET", "") == ("ok", 7, (), {"x": 5})
    assert dispatch(router, "/p7-5", "GET", "") == ("ok", 7, (), {"x": 5})
    assert scan(router, "/p77-5", "GET", "") == ("ok", "any", (), {"a": "p77", "b": "5"})
    assert dispatch(router, "/p77-5", "GET", "") == ("ok", "any", (), {"a": "p77", "b": "5"})
