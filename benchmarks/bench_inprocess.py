"""In-process framework benchmark: micro.App, Falcon, Bottle and Flask called as WSGI apps.

    python benchmarks/bench_inprocess.py [--rounds 7] [--block 0.2] [--markdown FILE]

No server and no sockets: each framework's WSGI callable is called in a loop with a
prebuilt environ (copied per call, as a server would build a fresh one), its body is
consumed and closed. Three cases per framework, each checked for the right status and
body before it is timed:

- hello:  an app with one literal route `/hello` answering "Hello, World!";
- 1 route: an app with one typed route `/r0/<int>`, requested as /r0/42;
- 1000 routes: `/r0/<int>` ... `/r999/<int>` in each framework's own syntax (micro
  `/r{i}/{n:d}`, Falcon `/r{i}/{n:int}`, Bottle `/r{i}/<n:int>`, Flask
  `/r{i}/<int:n>`), requested as /r999/42, the last one registered.

The two typed cases differ only in the number of routes, so their ratio is the cost of
growth. Blocks run interleaved (micro, Falcon, Bottle, Flask, micro, ...) for every case
in each round, so noise from other work falls on all alike; the clock is the thread's CPU
time, so time the process spends descheduled does not count. The table gives the median
CPU microseconds per call, the ratio to Falcon, and each framework's 1000-route/1-route
ratio.
With Tornado installed, a second table times the routers alone (micro's Router.match and
Tornado's Application.find_handler, which is not WSGI) for the same growth.

A third table prices micro's own parts on the hello case, each in the same round as the
plain function route: the same answer from a RequestHandler class (``self.write``), and
the hello app with one first-party plugin enabled (gzip, xsrf, static) that has nothing
to do for it (a 13-byte body under gzip's minimum length; a GET that shows no XSRF token;
a path outside the static prefix). The request carries ``Accept-Encoding: gzip, deflate,
br`` as browsers send it. A plugin's cost is the median over rounds of its time minus the
plain app's time in that round.
"""

from __future__ import annotations

import argparse
import gc
import io
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import BenchError, environment, fmt, median, table, write_markdown

ROUTES = 1000
HELLO = b"Hello, World!"
CASES = ("hello", "1 route", f"{ROUTES} routes")
FRAMEWORKS = ("micro", "falcon", "bottle", "flask")
DISTS = {"micro": "micro-web", "falcon": "falcon", "bottle": "bottle", "flask": "flask"}
REFERENCE = "falcon"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass(frozen=True)
class Case:
    app: WSGIApp
    path: str
    body: bytes


def typed_paths(count: int) -> tuple[str, bytes]:
    """The path that hits the last of `count` typed routes, and the body it must give."""
    last = count - 1
    return f"/r{last}/42", f"r{last}:42".encode()


# --- one builder per framework: (routes) -> WSGI app --------------------------------------


def micro_app(routes: int | None) -> WSGIApp:
    try:
        from micro import App  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        from micro.web import App  # type: ignore[import-not-found,unused-ignore]

    app = App()
    if routes is None:

        def hello(request: Any) -> str:
            return HELLO.decode()

        app.route("/hello")(hello)
        return app  # type: ignore[no-any-return,unused-ignore]

    def make(i: int) -> Callable[..., str]:
        def handler(request: Any, n: int) -> str:
            return f"r{i}:{n:d}"  # :d proves the argument arrived as an int

        return handler

    for i in range(routes):
        app.route(f"/r{i}/{{n:d}}")(make(i))
    return app  # type: ignore[no-any-return,unused-ignore]


def falcon_app(routes: int | None) -> WSGIApp:
    import falcon

    app = falcon.App()

    class Hello:
        def on_get(self, req: Any, resp: Any) -> None:
            resp.content_type = falcon.MEDIA_TEXT
            resp.text = HELLO.decode()

    class Numbered:
        def __init__(self, i: int) -> None:
            self.i = i

        def on_get(self, req: Any, resp: Any, n: int) -> None:
            resp.content_type = falcon.MEDIA_TEXT
            resp.text = f"r{self.i}:{n:d}"

    if routes is None:
        app.add_route("/hello", Hello())
    else:
        for i in range(routes):
            app.add_route(f"/r{i}/{{n:int}}", Numbered(i))
    return app  # type: ignore[no-any-return]


def bottle_app(routes: int | None) -> WSGIApp:
    import bottle

    app = bottle.Bottle()
    if routes is None:
        app.route("/hello", "GET", lambda: HELLO.decode())
        return app

    def make(i: int) -> Callable[[int], str]:
        return lambda n: f"r{i}:{n:d}"

    for i in range(routes):
        app.route(f"/r{i}/<n:int>", "GET", make(i))
    return app


def flask_app(routes: int | None) -> WSGIApp:
    import flask

    app = flask.Flask("bench_inprocess")
    if routes is None:
        app.add_url_rule("/hello", "hello", lambda: HELLO.decode())
        return app

    def make(i: int) -> Callable[[int], str]:
        return lambda n: f"r{i}:{n:d}"

    for i in range(routes):
        app.add_url_rule(f"/r{i}/<int:n>", f"r{i}", make(i))
    return app


# --- micro's parts: a handler class and idle plugins on the hello case -------------------

PARTS = ("function route", "class route", "+ gzip", "+ xsrf", "+ static")
PART_TARGETS = {"class route": ("x", 1.3), "+ gzip": ("us", 2.0), "+ xsrf": ("us", 1.0),
                "+ static": ("us", 1.0)}  # fmt: skip


def micro_part(part: str, static_root: Path) -> WSGIApp:
    """The hello app as `part` says: a class route, or a function route with one plugin."""
    try:
        from micro import App, RequestHandler  # type: ignore[attr-defined,unused-ignore]
    except ImportError:  # pragma: no cover - an older layout
        from micro.handler import RequestHandler  # type: ignore[import-not-found,unused-ignore]

        from micro.web import App  # type: ignore[import-not-found,unused-ignore]

    plugin = part.removeprefix("+ ") if part.startswith("+ ") else None
    settings = {"static_path": str(static_root), "cookie_secret": "bench-secret-" * 4}
    app = App(plugins=[plugin] if plugin else [], settings=settings)
    if part == "class route":

        class Hello(RequestHandler):  # type: ignore[misc,unused-ignore]
            def get(self) -> None:
                self.write(HELLO.decode())

        app.route("/hello")(Hello)
    else:

        def hello(request: Any) -> str:
            return HELLO.decode()

        app.route("/hello")(hello)
    return app  # type: ignore[no-any-return,unused-ignore]


BUILDERS: dict[str, Callable[[int | None], WSGIApp]] = {
    "micro": micro_app,
    "falcon": falcon_app,
    "bottle": bottle_app,
    "flask": flask_app,
}


# --- calling and timing --------------------------------------------------------------------


def base_environ(path: str) -> dict[str, Any]:
    """What a server would hand over for `GET path` from a typical client."""
    return {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "50000",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": "bench_inprocess",
        "HTTP_ACCEPT": "*/*",
        "HTTP_ACCEPT_ENCODING": "gzip, deflate, br",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }


def _write(data: bytes) -> None:
    raise BenchError("an app used the legacy write() callable")


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
    return _write


def check(name: str, case: Case) -> None:
    """One call outside the clock: the status must be 200 and the body exact."""
    seen: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen.append(status)
        return _write

    result = case.app(base_environ(case.path), start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    if not seen or not seen[0].startswith("200") or body != case.body:
        raise BenchError(f"{name} GET {case.path}: {seen[:1]} {body[:80]!r}, want {case.body!r}")


def time_block(case: Case, calls: int) -> float:
    """CPU microseconds per call over `calls` calls.

    The clock is this thread's CPU time, not the wall clock: on a shared machine the
    process is often descheduled while other work runs, and that time is no part of
    what a call costs.
    """
    app, env, start_response = case.app, base_environ(case.path), _start_response
    gc.collect()
    t0 = time.thread_time_ns()
    for _ in range(calls):
        result = app(env.copy(), start_response)
        for _chunk in result:
            pass
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return (time.thread_time_ns() - t0) / calls / 1000.0


def calibrate(case: Case, seconds: float) -> int:
    """A call count that makes one block last about `seconds`."""
    per_call = min(time_block(case, 200), time_block(case, 200)) / 1e6
    return max(200, int(seconds / per_call))


def build_cases(names: Sequence[str]) -> tuple[dict[str, dict[str, Case]], list[str]]:
    cases: dict[str, dict[str, Case]] = {}
    skipped: list[str] = []
    one_path, one_body = typed_paths(1)
    many_path, many_body = typed_paths(ROUTES)
    for name in names:
        try:
            built = {
                "hello": Case(BUILDERS[name](None), "/hello", HELLO),
                "1 route": Case(BUILDERS[name](1), one_path, one_body),
                f"{ROUTES} routes": Case(BUILDERS[name](ROUTES), many_path, many_body),
            }
        except ImportError as err:
            skipped.append(f"{name}: not measured ({err})")
            continue
        for case in built.values():
            check(name, case)
        cases[name] = built
    return cases, skipped


# --- routers alone (Tornado's Application is not WSGI) ------------------------------------


def router_cases() -> tuple[dict[str, dict[str, Callable[[], object]]], list[str]]:
    """Zero-argument callables that each do one route lookup, checked once."""
    out: dict[str, dict[str, Callable[[], object]]] = {}
    skipped: list[str] = []
    try:
        out["micro Router.match"] = {
            label: micro_router_lookup(count) for label, count in (("1", 1), ("1000", ROUTES))
        }
    except (ImportError, AttributeError, TypeError) as err:
        skipped.append(f"micro router: not measured ({err})")
    try:
        out["tornado find_handler"] = {
            label: tornado_lookup(count) for label, count in (("1", 1), ("1000", ROUTES))
        }
    except ImportError as err:
        skipped.append(f"tornado router: not measured ({err})")
    return out, skipped


def micro_router_lookup(count: int) -> Callable[[], object]:
    app: Any = micro_app(count)
    path, _ = typed_paths(count)
    router = app.router
    match = router.match(path, "GET", "127.0.0.1")
    if tuple(match.args) + tuple(match.kwargs.values()) != (42,):
        raise BenchError(f"micro router matched {path} with {match}")
    return lambda: router.match(path, "GET", "127.0.0.1")


def tornado_lookup(count: int) -> Callable[[], object]:
    import tornado.httputil
    import tornado.web

    def make(i: int) -> type[tornado.web.RequestHandler]:
        return type(f"R{i}", (tornado.web.RequestHandler,), {})

    handlers = [(rf"/r{i}/([0-9]+)", make(i)) for i in range(count)]
    app = tornado.web.Application(handlers)
    path, _ = typed_paths(count)
    headers = tornado.httputil.HTTPHeaders({"Host": "127.0.0.1:8000"})
    start_line = tornado.httputil.RequestStartLine("GET", path, "HTTP/1.1")
    # Built once: find_handler only reads it, and building it is not the router's cost.
    request = tornado.httputil.HTTPServerRequest(start_line=start_line, headers=headers)

    def lookup() -> object:
        return app.find_handler(request)

    found: Any = lookup()
    if found.handler_class.__name__ != f"R{count - 1}" or list(found.path_args) != [b"42"]:
        raise BenchError(f"tornado routed {path} to {found.handler_class} {found.path_args}")
    return lookup


def time_lookup(fn: Callable[[], object], calls: int) -> float:
    gc.collect()
    t0 = time.thread_time_ns()  # CPU time, as in time_block
    for _ in range(calls):
        fn()
    return (time.thread_time_ns() - t0) / calls / 1000.0


# --- report -----------------------------------------------------------------------------


def report(times: dict[str, dict[str, list[float]]], *, markdown: bool) -> str:
    headers = ["framework"]
    for case in CASES:
        headers += [f"{case} µs", "vs falcon"]
    headers.append(f"{ROUTES}/1 routes")
    ref = times.get(REFERENCE)
    rows = []
    for name, by_case in times.items():
        row = [name]
        for case in CASES:
            us = median(by_case[case])
            row.append(fmt(us, 2))
            row.append(f"{us / median(ref[case]):.2f}x" if ref else "-")
        row.append(f"{median(by_case[CASES[2]]) / median(by_case[CASES[1]]):.2f}x")
        rows.append(row)
    return table(headers, rows, markdown=markdown)


def router_report(times: dict[str, dict[str, list[float]]], *, markdown: bool) -> str:
    headers = ["router", "1 route µs", f"{ROUTES} routes µs", f"{ROUTES}/1"]
    rows = [
        [
            name,
            fmt(median(t["1"]), 2),
            fmt(median(t["1000"]), 2),
            f"{median(t['1000']) / median(t['1']):.2f}x",
        ]
        for name, t in times.items()
    ]
    return table(headers, rows, markdown=markdown)


def parts_report(times: dict[str, list[float]], *, markdown: bool) -> tuple[str, list[str]]:
    """micro's parts: µs per call, the cost over the plain function route, the targets."""
    base = times[PARTS[0]]
    headers = ["micro hello", "µs per call", "cost over the function route", "target", "verdict"]
    rows = []
    lines = []
    for part in PARTS:
        us = median(times[part])
        # Per round, so that a noisy round moves both sides of the difference alike.
        extra = median([t - b for t, b in zip(times[part], base, strict=True)])
        ratio = median([t / b for t, b in zip(times[part], base, strict=True)])
        cost = "-" if part == PARTS[0] else f"+{extra:.2f} µs ({ratio:.2f}x)"
        target = PART_TARGETS.get(part)
        if target is None:
            rows.append([part, fmt(us, 2), cost, "-", "-"])
            continue
        kind, limit = target
        if kind == "x":
            ok = ratio <= limit
            goal = f"<= {limit}x"
        else:
            ok = extra <= limit
            goal = f"<= {limit:g} µs"
        verdict_text = "met" if ok else "MISSED"
        rows.append([part, fmt(us, 2), cost, goal, verdict_text])
        lines.append(f"- {part}: {cost} over the function route (target {goal}: {verdict_text})")
    return table(headers, rows, markdown=markdown), lines


def verdict(times: dict[str, dict[str, list[float]]]) -> list[str]:
    if "micro" not in times or REFERENCE not in times:
        return []
    micro, ref = times["micro"], times[REFERENCE]
    lines = []
    for case in CASES:
        ratio = median(micro[case]) / median(ref[case])
        ok = "met" if ratio <= 1.0 else "MISSED"
        lines.append(f"- {case}: micro costs {ratio:.2f}x Falcon per call (target <= 1x: {ok})")
    growth = median(micro[CASES[2]]) / median(micro[CASES[1]])
    ok = "met" if growth <= 1.2 else "MISSED"
    lines.append(
        f"- growth: micro {ROUTES} routes / 1 route = {growth:.2f}x (target <= 1.2x: {ok})"
    )
    return lines


def build_parts(static_root: Path) -> dict[str, Case]:
    parts = {p: Case(micro_part(p, static_root), "/hello", HELLO) for p in PARTS}
    for part, case in parts.items():
        check(f"micro ({part})", case)
    return parts


def run_rounds(
    rounds: int,
    cases: dict[str, dict[str, Case]],
    calls: dict[str, dict[str, int]],
    times: dict[str, dict[str, list[float]]],
    lookups: dict[str, dict[str, Callable[[], object]]],
    lookup_calls: dict[str, dict[str, int]],
    router_times: dict[str, dict[str, list[float]]],
    parts: dict[str, Case],
    part_calls: dict[str, int],
    part_times: dict[str, list[float]],
) -> None:
    """Every block of every table once per round, interleaved."""
    for rnd in range(1, rounds + 1):
        for case in CASES:
            for name, by_case in cases.items():
                times[name][case].append(time_block(by_case[case], calls[name][case]))
        for label in ("1", "1000"):
            for name, by_label in lookups.items():
                us = time_lookup(by_label[label], lookup_calls[name][label])
                router_times[name][label].append(us)
        for part, case in parts.items():
            part_times[part].append(time_block(case, part_calls[part]))
        done = ", ".join(f"{n} {times[n][CASES[2]][-1]:.1f}" for n in cases)
        print(f"round {rnd}/{rounds}: {ROUTES}-route µs/call {done}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (15)")
    parser.add_argument("--block", type=float, default=0.1, help="seconds per timed block (0.1)")
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS), help="subset to run")
    parser.add_argument("--no-routers", action="store_true", help="skip the router-only table")
    parser.add_argument("--no-parts", action="store_true", help="skip micro's parts table")
    parser.add_argument("--markdown", type=Path, help="also write the report as markdown here")
    args = parser.parse_args(argv)

    names = [n.strip() for n in args.frameworks.split(",") if n.strip()]
    for name in names:
        if name not in BUILDERS:
            raise BenchError(f"unknown framework {name!r}; choose from {', '.join(FRAMEWORKS)}")
    cases, skipped = build_cases(names)
    if not cases:
        raise BenchError("no framework could be built:\n" + "\n".join(skipped))
    calls = {
        n: {c: calibrate(case, args.block) for c, case in by.items()} for n, by in cases.items()
    }
    times: dict[str, dict[str, list[float]]] = {n: {c: [] for c in CASES} for n in cases}
    lookups, router_skipped = ({}, []) if args.no_routers else router_cases()
    lookup_calls = {
        n: {c: max(200, int(args.block / (time_lookup(fn, 200) / 1e6))) for c, fn in by.items()}
        for n, by in lookups.items()
    }
    router_times: dict[str, dict[str, list[float]]] = {n: {"1": [], "1000": []} for n in lookups}
    with tempfile.TemporaryDirectory(prefix="micro-bench-static-") as static_root:
        parts = {} if args.no_parts else build_parts(Path(static_root))
        part_calls = {p: calibrate(case, args.block) for p, case in parts.items()}
        part_times: dict[str, list[float]] = {p: [] for p in parts}
        run_rounds(args.rounds, cases, calls, times, lookups, lookup_calls, router_times,
                   parts, part_calls, part_times)  # fmt: skip

    print()
    print(report(times, markdown=False))
    if router_times:
        print()
        print(router_report(router_times, markdown=False))
    lines = verdict(times)
    if part_times:
        parts_text, part_lines = parts_report(part_times, markdown=False)
        print()
        print(parts_text)
        lines += part_lines
    notes = skipped + router_skipped
    print("\n".join(lines + notes))
    body = report(times, markdown=True)
    if router_times:
        body += "\n\nRouters alone (one lookup, no WSGI):\n\n" + router_report(
            router_times, markdown=True
        )
    if part_times:
        body += "\n\nmicro's parts on the hello case (cost = median of per-round differences):"
        body += "\n\n" + parts_report(part_times, markdown=True)[0]
    if lines:
        body += "\n\n" + "\n".join(lines)
    env = environment([DISTS[n] for n in names if n != "micro"] + ["tornado"], {})
    env.append(
        f"- settings: {args.rounds} interleaved rounds of ~{args.block:g} s blocks per "
        "framework and case; medians over rounds of CPU time per call (thread CPU clock); "
        "environ copied per call"
    )
    write_markdown(
        args.markdown,
        "In-process: micro.App, Falcon, Bottle, Flask (WSGI call, no server)",
        env,
        body,
        notes,
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as err:
        sys.exit(f"bench_inprocess: {err}")
