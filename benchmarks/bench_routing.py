"""Routing benchmark: micro's Router beside the routers of Flask (werkzeug), Falcon, Bottle
and Tornado, for every pattern kind and for many hosts, in one run.

    python benchmarks/bench_routing.py [--rounds 5] [--block 0.05] [--markdown FILE]

Each framework's router is used alone, the way its framework calls it for one request
(no WSGI app around it), and hit on the LAST route registered, which is where a router
that scans pays most:

- typed:  ``/r{i}/<int>``: a literal segment then an int field;
- regex:  ``/x{i}-(\\d+)``: a regex route (werkzeug has no regex rules: a converter with
  that regex; Falcon has none: not measured);
- mixed:  ``/p{i}-<int>``: literal text and a field in one segment (Tornado: its regex);
- hosts:  N host patterns ``h{i}.example.com`` x 10 typed routes each, hit on the last
  route of the last host (Falcon and Bottle route no hosts: not measured).

at 1 / 100 / 1,000 / 10,000 routes (hosts: 1 / 100 / 1,000). micro's first route is
timed too, on the largest table, for the flatness ratio (last / first, target <= 1.5x).
Lookups per framework: micro ``Router.match(path, method, host)``; werkzeug
``Map.bind(host, path_info=...).match()`` (Flask binds a Map once per request);
Falcon ``CompiledRouter.find(path)``; Bottle ``Router.match(environ)``; Tornado
``Application.find_handler(request)`` (on a prebuilt request). Each lookup's answer is
checked before it is timed. Registration time is the CPU time to build the largest table
measured (and for werkzeug and Falcon, the compile their first lookup triggers); a
router whose registration would take longer than ``--max-build`` seconds at the next
size (predicted from the last size as if it grew quadratically, which Falcon's and
Bottle's do) is not measured there, and a note says so.

Blocks of ~``--block`` seconds run interleaved over every case and framework in each
round, timed with the thread's CPU clock; the table gives the median over rounds of
microseconds per lookup.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import BenchError, environment, fmt, median, table, write_markdown

FRAMEWORKS = ("micro", "werkzeug", "falcon", "bottle", "tornado")
DISTS = {"werkzeug": "werkzeug", "falcon": "falcon", "bottle": "bottle", "tornado": "tornado"}
SIZES = {"typed": (1, 100, 1000, 10000), "regex": (1, 100, 1000, 10000)}
SIZES["mixed"] = SIZES["typed"]
SIZES["hosts"] = (1, 100, 1000)
PER_HOST = 10

Lookup = Callable[[], object]
Built = tuple[Lookup, Lookup | None, float]  # last-route lookup, first-route lookup, build s


def target(kind: str, n: int, which: str) -> tuple[str, str, str]:
    """(path, host, expected label) of the last (or first) route of a table."""
    i = n - 1 if which == "last" else 0
    if kind == "hosts":
        r = PER_HOST - 1 if which == "last" else 0
        return f"/r{r}/42", f"h{i}.example.com", f"{i}:{r}"
    path = {"typed": f"/r{i}/42", "regex": f"/x{i}-42", "mixed": f"/p{i}-42"}[kind]
    return path, "127.0.0.1", str(i)


def _timed_build(build: Callable[[], Any]) -> tuple[Any, float]:
    gc.collect()
    t0 = time.thread_time_ns()
    built = build()
    return built, (time.thread_time_ns() - t0) / 1e9


# --- one builder per framework: (kind, n) -> Built -----------------------------------------


def micro_build(kind: str, n: int) -> Built:
    from micro.routing import Router

    def build() -> Router:
        router = Router()
        if kind == "hosts":
            for h in range(n):
                for r in range(PER_HOST):
                    router.add(f"/r{r}/{{x:d}}", f"{h}:{r}", host=rf"h{h}\.example\.com")
            return router
        pattern = {"typed": "/r{i}/{{x:d}}", "regex": r"/x{i}-(\d+)", "mixed": "/p{i}-{{x:d}}"}
        for i in range(n):
            router.add(pattern[kind].format(i=i), str(i))
        return router

    router, seconds = _timed_build(build)

    def lookup(which: str) -> Lookup:
        path, host, label = target(kind, n, which)

        def call() -> object:
            return router.match(path, "GET", host)

        match: Any = call()
        values = list(match.args) + list(match.kwargs.values())
        if match.route.target != label or str(values[0]) != "42":
            raise BenchError(f"micro matched {path} to {match}")
        return call

    return lookup("last"), lookup("first"), seconds


def werkzeug_build(kind: str, n: int) -> Built:
    from werkzeug.routing import BaseConverter, Map, Rule

    class Digits(BaseConverter):
        regex = r"\d+"

    def build() -> Map:
        if kind == "hosts":
            rules = [
                Rule(f"/r{r}/<int:x>", endpoint=f"{h}:{r}", host=f"h{h}.example.com")
                for h in range(n)
                for r in range(PER_HOST)
            ]
            url_map = Map(rules, host_matching=True)
        else:
            pattern = {"typed": "/r{i}/<int:x>", "regex": "/x{i}-<digits:x>"}
            pattern["mixed"] = "/p{i}-<int:x>"
            rules = [Rule(pattern[kind].format(i=i), endpoint=str(i)) for i in range(n)]
            url_map = Map(rules, converters={"digits": Digits})
        url_map.update()  # compiles the state machine, as the first match would
        return url_map

    url_map, seconds = _timed_build(build)
    path, host, label = target(kind, n, "last")

    def call() -> object:
        return url_map.bind(host, path_info=path).match(method="GET")

    endpoint, args = call()  # type: ignore[misc]
    if endpoint != label or str(args["x"]) != "42":
        raise BenchError(f"werkzeug matched {path} to {endpoint} {args}")
    return call, None, seconds


def falcon_build(kind: str, n: int) -> Built:
    if kind in {"regex", "hosts"}:
        raise NotImplementedError(f"falcon has no {kind} routes")
    from falcon.routing import CompiledRouter

    class Resource:
        def __init__(self, label: str) -> None:
            self.label = label

        def on_get(self, req: Any, resp: Any, x: int) -> None: ...

    def build() -> CompiledRouter:
        router = CompiledRouter()
        pattern = {"typed": "/r{i}/{{x:int}}", "mixed": "/p{i}-{{x:int}}"}[kind]
        for i in range(n):
            router.add_route(pattern.format(i=i), Resource(str(i)))
        router.find("/nowhere")  # compiles
        return router

    router, seconds = _timed_build(build)
    path, _, label = target(kind, n, "last")

    def call() -> object:
        return router.find(path)

    found: Any = call()
    if found is None or found[0].label != label or str(found[2]["x"]) != "42":
        raise BenchError(f"falcon matched {path} to {found}")
    return call, None, seconds


def bottle_build(kind: str, n: int) -> Built:
    if kind == "hosts":
        raise NotImplementedError("bottle routes no hosts")
    import bottle

    def build() -> bottle.Router:
        router = bottle.Router()
        pattern = {"typed": "/r{i}/<x:int>", "regex": r"/x{i}-<x:re:\d+>"}
        pattern["mixed"] = "/p{i}-<x:int>"
        for i in range(n):
            router.add(pattern[kind].format(i=i), "GET", str(i))
        return router

    router, seconds = _timed_build(build)
    path, _, label = target(kind, n, "last")
    environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET"}

    def call() -> object:
        return router.match(environ)

    found: Any = call()
    if found[0] != label or str(found[1]["x"]) != "42":
        raise BenchError(f"bottle matched {path} to {found}")
    return call, None, seconds


def tornado_build(kind: str, n: int) -> Built:
    import tornado.httputil
    import tornado.web

    class Handler(tornado.web.RequestHandler):
        def initialize(self, label: str) -> None: ...

    def build() -> tornado.web.Application:
        app = tornado.web.Application()
        if kind == "hosts":
            for h in range(n):
                specs = [
                    (rf"/r{r}/([0-9]+)", Handler, {"label": f"{h}:{r}"}) for r in range(PER_HOST)
                ]
                app.add_handlers(rf"h{h}\.example\.com", specs)
            return app
        pattern = {"typed": r"/r{i}/([0-9]+)", "regex": r"/x{i}-(\d+)", "mixed": r"/p{i}-(\d+)"}
        specs = [(pattern[kind].format(i=i), Handler, {"label": str(i)}) for i in range(n)]
        app.add_handlers(".*$", specs)
        return app

    app, seconds = _timed_build(build)
    path, host, label = target(kind, n, "last")
    headers = tornado.httputil.HTTPHeaders({"Host": host})
    start_line = tornado.httputil.RequestStartLine("GET", path, "HTTP/1.1")
    # Built once: find_handler only reads it, and building it is not the router's cost.
    request = tornado.httputil.HTTPServerRequest(start_line=start_line, headers=headers)

    def call() -> object:
        return app.find_handler(request)

    found: Any = call()
    if found.handler_kwargs.get("label") != label or list(found.path_args) != [b"42"]:
        raise BenchError(f"tornado routed {path} to {found.handler_kwargs} {found.path_args}")
    return call, None, seconds


BUILDERS = {
    "micro": micro_build,
    "werkzeug": werkzeug_build,
    "falcon": falcon_build,
    "bottle": bottle_build,
    "tornado": tornado_build,
}


# --- timing --------------------------------------------------------------------------------


def time_block(fn: Lookup, calls: int) -> float:
    t0 = time.thread_time_ns()
    for _ in range(calls):
        fn()
    return (time.thread_time_ns() - t0) / calls / 1000.0


def calibrate(fn: Lookup, seconds: float) -> int:
    calls = 1
    while True:
        t0 = time.thread_time()
        for _ in range(calls):
            fn()
        spent = time.thread_time() - t0
        if spent >= seconds / 10 or calls >= 1 << 20:
            return max(1, int(calls * seconds / max(spent, 1e-9)))
        calls *= 4


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--block", type=float, default=0.05, help="seconds per timed block")
    parser.add_argument("--markdown", type=Path, help="write the report as markdown here")
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    parser.add_argument("--kinds", default=",".join(SIZES))
    parser.add_argument(
        "--max-build",
        type=float,
        default=60.0,
        help="skip a size whose registration would take longer (CPU seconds, predicted)",
    )
    args = parser.parse_args(argv)
    frameworks = [f for f in args.frameworks.split(",") if f]
    kinds = [k for k in args.kinds.split(",") if k]

    cases: dict[tuple[str, int, str], tuple[Lookup, int]] = {}
    build_s: dict[tuple[str, str], float] = {}
    build_n: dict[tuple[str, str], int] = {}
    notes: list[str] = []
    for kind in kinds:
        previous: dict[str, tuple[int, float]] = {}
        for n in SIZES[kind]:
            for fw in frameworks:
                if fw in previous and previous[fw][0] >= 100:  # tiny tables predict nothing
                    # A router whose registration grows quadratically would take hours
                    # at the next size: predict from the last one (as if quadratic)
                    # and say so rather than wait.
                    n0, s0 = previous[fw]
                    predicted = s0 * (n / n0) ** 2
                    if predicted > args.max_build:
                        notes.append(
                            f"- {fw}, {kind} x {n:,}: not measured: registering {n0:,} took"
                            f" {s0:.1f} s CPU; at that growth {n:,} would take up to"
                            f" ~{predicted:,.0f} s (over --max-build {args.max_build:g} s)"
                        )
                        continue
                try:
                    last, first, seconds = BUILDERS[fw](kind, n)
                except NotImplementedError as exc:
                    if n == SIZES[kind][0]:
                        notes.append(f"- {fw}, {kind}: not measured ({exc})")
                    continue
                except ImportError as exc:
                    print(
                        f"{fw}: not installed ({exc}); pip install -r benchmarks/requirements.txt"
                    )
                    return 2
                previous[fw] = (n, seconds)
                cases[(kind, n, fw)] = (last, calibrate(last, args.block))
                if first is not None and n == SIZES[kind][-1]:
                    cases[(kind, n, fw + " first")] = (first, calibrate(first, args.block))
                build_s[(kind, fw)] = seconds  # the largest size measured
                build_n[(kind, fw)] = n
            print(f"built {kind} x {n}", file=sys.stderr)

    times: dict[tuple[str, int, str], list[float]] = {key: [] for key in cases}
    for r in range(args.rounds):
        for key, (fn, calls) in cases.items():
            gc.collect()
            times[key].append(time_block(fn, calls))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    md = args.markdown is not None
    sections = []
    for kind in kinds:
        headers = ["routes" if kind != "hosts" else f"hosts x {PER_HOST}"]
        headers += [f"{fw} µs" for fw in frameworks]
        rows = []
        for n in SIZES[kind]:
            row = [f"{n:,}"]
            for fw in frameworks:
                values = times.get((kind, n, fw))
                row.append(fmt(median(values), 1) if values else "-")
            rows.append(row)
        largest = SIZES[kind][-1]
        reg = ["registration, largest table measured (CPU s)"]
        reg += [
            f"{build_s[(kind, fw)]:.2f} ({build_n[(kind, fw)]:,})" if (kind, fw) in build_s else "-"
            for fw in frameworks
        ]
        rows.append(reg)
        label = {"typed": "typed `/r{i}/{x:d}`", "regex": r"regex `/x{i}-(\d+)`"}.get(kind, kind)
        label = {"mixed": "mixed segment `/p{i}-{x:d}`", "hosts": "hosts"}.get(kind, label)
        text = f"### {label}: last route hit, µs per lookup (median of {args.rounds} rounds)\n\n"
        text += table(headers, rows, markdown=md)
        first = times.get((kind, largest, "micro first"))
        last = times.get((kind, largest, "micro"))
        if first and last:
            ratio = median([a / b for a, b in zip(last, first, strict=True)])
            text += (
                f"\n\nmicro, {largest:,} {'hosts' if kind == 'hosts' else 'routes'}: last "
                f"{fmt(median(last), 1)} µs, first {fmt(median(first), 1)} µs, last/first "
                f"{ratio:.2f}x (target <= 1.5x: {'met' if ratio <= 1.5 else 'missed'})"
            )
        sections.append(text)
    body = "\n\n".join(sections)
    print(body)
    env = environment([DISTS[f] for f in frameworks if f in DISTS], {})
    write_markdown(
        args.markdown,
        "Routing: micro's Router beside werkzeug, Falcon, Bottle, Tornado",
        env,
        body,
        notes,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
