"""Dispatch never scans: the last of 10,000 regex routes, of 10,000 mixed-segment routes
and of 1,000 hosts costs what the first does.

Cost is counted, not timed: bytecodes run plus C functions called during one match
(deterministic, so the test does not flake on a loaded machine). The benchmarks in
benchmarks/bench_routing.py time the same cases beside other frameworks' routers.
"""

from __future__ import annotations

import pytest

from micro.routing import MethodNotAllowed, Router

from .conftest import work_done

KINDS = {
    # pattern for route i, path that hits route i, expected (args, kwargs), how many
    "typed": ("/r{i}/{{x:d}}", "/r{i}/5", ((), {"x": 5}), 1000),
    "regex": (r"/x{i}-(\d+)", "/x{i}-5", (("5",), {}), 10_000),
    "mixed": ("/p{i}-{{x:d}}", "/p{i}-5", ((), {"x": 5}), 10_000),
    "regex-named": (r"/n/y{i}/(?P<x>\d+)", "/n/y{i}/5", ((), {"x": "5"}), 1000),
    "mixed-tail": ("/t{i}.{{x:path}}", "/t{i}.a/b", ((), {"x": "a/b"}), 1000),
}


@pytest.fixture(scope="module")
def big_routers() -> dict[str, Router]:
    routers = {}
    for kind, (pattern, _, _, n) in KINDS.items():
        router = Router()
        for i in range(n):
            router.add(pattern.format(i=i), i, methods=["GET"])
        routers[kind] = router
    return routers


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_last_of_many_routes_costs_what_the_first_does(
    big_routers: dict[str, Router], kind: str
) -> None:
    router = big_routers[kind]
    _, path, (args, kwargs), n = KINDS[kind]
    first, last = path.format(i=0), path.format(i=n - 1)
    assert tuple(router.match(last, "GET")) == (router.routes()[-1], args, kwargs)
    assert router.match(first, "GET").route.target == 0
    work_first = work_done(lambda: router.match(first, "GET"))
    work_last = work_done(lambda: router.match(last, "GET"))
    assert work_last <= 1.5 * work_first, (work_first, work_last)


def _hosts(n: int) -> Router:
    router = Router()
    for h in range(n):
        for r in (0, 9):
            router.add(f"/r{r}/{{x:d}}", (h, r), host=rf"h{h}\.example\.com")
    router.add(r"/r9/{x:d}", "default")
    return router


def test_last_of_1000_hosts_costs_what_the_first_does() -> None:
    one, many = _hosts(1), _hosts(1000)
    assert many.match("/r9/1", "GET", "h999.example.com:8080").route.target == (999, 9)
    assert many.match("/r9/1", "GET", "H0.Example.COM.").route.target == (0, 9)
    assert many.match("/r9/1", "GET", "h1000.example.com").route.target == "default"
    work_one = work_done(lambda: one.match("/r9/1", "GET", "h0.example.com"))
    work_first = work_done(lambda: many.match("/r9/1", "GET", "h0.example.com"))
    work_last = work_done(lambda: many.match("/r9/1", "GET", "h999.example.com"))
    assert work_last <= 1.5 * work_first, (work_first, work_last)
    assert work_last <= 1.5 * work_one, (work_one, work_last)


def test_host_patterns_with_a_literal_end_are_indexed_others_always_tried() -> None:
    router = Router()
    for h in range(50):
        router.add("/", f"exact{h}", host=rf"h{h}\.test")
    router.add("/", "suffix", host=r"[a-z]+\.h7\.test")
    router.add("/", "no-literal-end", host=r"h\d+\.(test|example)")
    router.add("/", "default")
    assert router.match("/", "GET", "h7.test").route.target == "exact7"
    assert router.match("/", "GET", "www.h7.test").route.target == "suffix"
    assert router.match("/", "GET", "h7.example").route.target == "no-literal-end"
    assert router.match("/", "GET", "h77.test").route.target == "no-literal-end"
    assert router.match("/", "GET", "nope.test").route.target == "default"


def test_anchored_host_patterns_are_indexed_and_named_like_unanchored_ones() -> None:
    router = Router()
    for h in range(10):
        router.add("/", h, host=rf"^h{h}\.test$", name=f"r{h}")
    assert router.match("/", "GET", "h7.test").route.target == 7
    assert router.url_for("r7") == "http://h7.test/"
    one, many = Router(), Router()
    one.add("/", 0, host=r"h0\.test$")
    for h in range(1000):
        many.add("/", h, host=rf"h{h}\.test$")
    work_one = work_done(lambda: one.match("/", "GET", "h0.test"))
    work_last = work_done(lambda: many.match("/", "GET", "h999.test"))
    assert work_last <= 1.5 * work_one, (work_one, work_last)


def test_non_ascii_host_names_still_match_case_insensitively() -> None:
    # U+212A KELVIN SIGN matches 'k' when case is ignored; the index is ASCII only,
    # so such a name tries every host pattern as the rule says.
    router = Router()
    for h in range(10):
        router.add("/", h, host=rf"k{h}\.test")
    assert router.match("/", "GET", "\u212a3.test").route.target == 3


def test_many_mixed_segments_keep_registration_order() -> None:
    router = Router()
    router.add("/{a}-{b}", "first")  # registered first: wins over later ones
    for i in range(100):
        router.add(f"/p{i}-{{x:d}}", i)
    router.add("/p{x:d}-{y:d}", "late")
    assert router.match("/p5-1", "GET").route.target == "first"
    router2 = Router()
    for i in range(100):
        router2.add(f"/p{i}-{{x:d}}", i)
    router2.add("/p{x:d}-{y:d}", "late")
    assert router2.match("/p5-1", "GET").route.target == 5
    assert router2.match("/p500-1", "GET").route.target == "late"


def test_many_regexes_keep_registration_order_and_405() -> None:
    router = Router()
    for i in range(100):
        router.add(rf"/x{i}-(\d+)", i, methods=["POST"])
    router.add(r"/x(\d+)-(\d+)", "any-number", methods=["PUT"])
    router.add(r"/x1-(\d+)", "get", methods=["GET"])
    assert router.match("/x1-5", "GET").route.target == "get"
    assert router.match("/x1-5", "POST").route.target == 1
    assert router.match("/x1-5", "PUT").route.target == "any-number"
    with pytest.raises(MethodNotAllowed) as info:
        router.match("/x1-5", "DELETE")
    assert info.value.allowed == {"GET", "HEAD", "OPTIONS", "POST", "PUT"}
