"""Static files and gzip: micro against nginx and Tornado, side by side under wrk.

    python benchmarks/bench_static.py [--rounds 5] [--duration 5] [--pairs 1m=64,100k=16,1k=16]
        [--control] [--pin] [--server-cpus CORES] [--servers LIST]
        [--markdown FILE]

Five servers, each its own process on 127.0.0.1, started and stopped by this script:

- micro: `App(plugins=["static", "gzip"])` under micro's own server (4 threads), files
  under /static/ through the static plugin, and a route /json that returns a ~20 KB dict;
  the gzip middleware sees every file's answer too (and lets it pass), a cost WhiteNoise
  does not pay here;
- micro-wsgi (files only): a bare WSGI function under micro's server (4 threads) that
  hands the file to `wsgi.file_wrapper`, no App and no plugins: the server's share of
  micro's cost, so the table shows how much the framework layer adds;
- whitenoise (files only): WhiteNoise 6 (`WhiteNoise(app, root=..., prefix="static/")`,
  its documented WSGI use, with `autorefresh=False`, its production setting: files
  indexed at start-up) under micro's own server (4 threads): the same server as micro,
  so the table compares the two static layers;
- Tornado: one process, `StaticFileHandler` on /static/ and a handler writing the same
  dict to /json, with `compress_response=True`;
- nginx (files only): a foreground master (`daemon off`) from a config written into a
  temporary directory, `worker_processes auto` (2 here, Debian's default), sendfile on,
  no access log; stopped by its PID.

Cases: a 1 MB, a 100 KB and a 1 KB file (random bytes) with keep-alive, and the 20 KB
JSON answer with `Accept-Encoding: gzip`. Every server serves the same files from one
directory, modified a minute before the run as deployed files are (the static plugin
reads a file modified in the last two seconds on every request). Each server's own
defaults decide what it keeps between requests: micro's static plugin a small file's
bytes and a big file's open descriptor, WhiteNoise its index (it opens the file per
request), nginx nothing (`open_file_cache` off). Every server must first answer each case right
(status 200, the exact file bytes; a gzip-encoded body that decodes to the same JSON).
Rounds are interleaved (nginx, Tornado, micro, nginx, ...). The table gives median
requests and megabytes per second, median p99 latency, requests per server CPU-second
(the CPU time of the server's processes, read from /proc around each wrk run), and the
ratios to nginx, WhiteNoise (files) and Tornado, each the median of the ratios measured
in the same round; for micro against WhiteNoise the lines under the table also give the
range of those ratios over the rounds, for req/s and for req/CPU-s.

micro against WhiteNoise is decided by a few percent, and this machine's speed moves by
more than that within the seconds between two runs of one round. So after the rounds,
for each file case, the two run back to back in pairs of short runs (`--pair-duration`,
2 s), micro first in odd pairs and WhiteNoise first in even ones (ABBA: a drift during
a pair favours neither); each pair gives one ratio. The verdict on "ahead of
WhiteNoise" comes from these pairs: met when micro is ahead in so many of them that a
one-sided sign test gives p < 0.05 (12 of 16 pairs, 40 of 64), missed when WhiteNoise
is ahead that often, "level" otherwise: a difference the pairs cannot tell from chance
is not a lead either way. The sign test assumes nothing of how the ratios are spread,
only that the pairs are independent; the median pair ratio says by how much. They are
independent only if each pair has server processes of its own: two processes of the
very same server can differ by a few percent for as long as they live (memory layout,
hash seed), and an A/A run on one long-lived pair of micro processes had one "ahead"
in 12 of 16 pairs (p = 0.04). So each pair starts both servers afresh and stops them
after it. `--control` runs the same pairs once more with micro against a second micro
process: its verdicts should all be level. The pinned pairs are the tighter on a
2-core machine (RESULTS.md).

How many pairs (`--pairs`, per case) is set by how small a lead must be seen. At
1 KB and 100 KB micro wins nearly every pair and 16 are plenty. At 1 MB the kernel's
sendfile is most of every request's CPU, so the two static layers differ by a few
percent while pairs spread by ten; micro won about two pairs in three over five runs
of 16 (54 of 80). A sign test over 16 pairs finds a side that wins two in three only
about one time in three (it needs 12 of 16); over 64 pairs (40 needed) about five
times in six. So 1 MB runs 64 pairs, and the control as many: at any count, a
server level with itself is called ahead at most one time in twenty.

Who sets the pace: every row also gives `wrk cores`, the CPU wrk itself used over the
run (1.00: one core busy throughout). Receiving a 1 MB answer costs wrk more than
sending it costs the server (sendfile copies nothing; wrk copies every byte), so at
1 MB wrk can fill its share of the 2 cores first (with `--pin`, its one core), and
then req/s mostly measures wrk: two servers that both nearly keep up with it come out
close however much less CPU one of them needs, a difference that req/CPU-s shows.
`--server-cpus CORES` (Linux, a writable cgroup
`cpu` controller) runs the Python servers under a CPU quota, as in a container with a
CPU limit, so that the server sets the pace again (the servers share one group and
only one is under load at a time); p99 then mostly shows the quota's pauses, and
nginx, which it cannot limit, is left out.

With `--pin` (Linux) the Python servers run on the last CPU and wrk on the others, so
that the scheduler does not move them onto one core in some rounds and apart in
others (on 2 cores that is what spreads the rounds most); nginx keeps every CPU.
Needs wrk and nginx (`apt-get install wrk nginx`) and the peers (`python -m pip
install -r benchmarks/requirements.txt`).

`python benchmarks/bench_static.py --serve micro|micro-wsgi|tornado --root DIR --port N` runs one of
the Python servers in the foreground; the bench uses it to start them.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import (
    HERE,
    HOST,
    BenchError,
    Run,
    ServerProcess,
    WrkOptions,
    child_env,
    cpu_limit,
    environment,
    fmt,
    free_port,
    http_get,
    join_cgroup,
    median,
    nginx_process,
    per_round_ratio,
    require_module,
    require_tool,
    run_wrk,
    svg_bar_chart,
    table,
    temp_dir,
    terminate_on_signals,
    write_markdown,
    write_svg,
)

FILES = {"1m.bin": 1024 * 1024, "100k.bin": 100 * 1024, "1k.bin": 1024}
PREFIX = "/static/"
SERVERS = ("nginx", "tornado", "micro", "micro-wsgi", "whitenoise")
FILE_SERVERS = SERVERS
PYTHON_SERVERS = ("micro", "micro-wsgi", "whitenoise", "tornado")


def _payload() -> dict[str, Any]:
    """A deterministic JSON document of about 20 KB, as compressible as real API output."""
    items: list[dict[str, Any]] = []
    while len(json.dumps({"items": items})) < 20 * 1024:
        i = len(items)
        items.append(
            {
                "id": i,
                "name": f"item-{i:04d}",
                "price": round(i * 1.25, 2),
                "tags": ["alpha", "beta"] if i % 2 else ["gamma"],
                "active": i % 3 == 0,
            }
        )
    return {"items": items}


PAYLOAD = _payload()


@dataclass(frozen=True)
class Case:
    key: str  # what --cases names
    label: str
    path: str
    headers: dict[str, str]
    servers: tuple[str, ...]


CASES = (
    Case("1m", "1 MB file", PREFIX + "1m.bin", {}, FILE_SERVERS),
    Case("100k", "100 KB file", PREFIX + "100k.bin", {}, FILE_SERVERS),
    Case("1k", "1 KB file", PREFIX + "1k.bin", {}, FILE_SERVERS),
    Case("json", "20 KB JSON, gzip", "/json", {"Accept-Encoding": "gzip"}, ("tornado", "micro")),
)


# --- the Python servers (run by this script in a child process) -----------------------


def micro_app(root: Path) -> Any:
    from micro.web import App  # type: ignore[import-not-found,unused-ignore]

    app = App(
        plugins=["static", "gzip"],
        settings={"static_path": str(root), "static_url_prefix": PREFIX},
    )

    def json_route(request: Any) -> dict[str, Any]:
        return PAYLOAD

    app.route("/json")(json_route)
    return app


def __getattr__(name: str) -> Any:
    """`bench_static:app` for `micro serve`: the micro app over $BENCH_STATIC_ROOT."""
    if name == "app":
        return micro_app(Path(os.environ["BENCH_STATIC_ROOT"]))
    raise AttributeError(name)


def wsgi_files(root: Path) -> Any:
    """The files of FILES through wsgi.file_wrapper, with no framework in between."""

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        name = environ["PATH_INFO"].removeprefix(PREFIX)
        if name not in FILES:  # only the bench's own files: nothing to traverse
            start_response("404 Not Found", [("Content-Length", "0")])
            return []
        fileobj = open(root / name, "rb")  # noqa: SIM115  # closed by the server
        size = os.fstat(fileobj.fileno()).st_size
        headers = [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))]
        start_response("200 OK", headers)
        return environ["wsgi.file_wrapper"](fileobj, 64 * 1024)

    return app


def whitenoise_files(root: Path) -> Any:
    """WhiteNoise in front of a WSGI app that has nothing else: every other path is 404."""
    from whitenoise import WhiteNoise

    def not_found(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("404 Not Found", [("Content-Length", "0")])
        return []

    return WhiteNoise(not_found, root=str(root), prefix=PREFIX.strip("/") + "/", autorefresh=False)


def serve_micro(root: Path, port: int, threads: int, kind: str = "micro") -> None:
    from micro.server import serve  # type: ignore[import-not-found,unused-ignore]

    apps = {"micro": micro_app, "micro-wsgi": wsgi_files, "whitenoise": whitenoise_files}
    serve(apps[kind](root), host=HOST, port=port, threads=threads)


def serve_tornado(root: Path, port: int) -> None:
    import asyncio

    import tornado.web

    class JSONHandler(tornado.web.RequestHandler):
        def get(self) -> None:
            self.write(PAYLOAD)

    async def run() -> None:
        app = tornado.web.Application(
            [
                (PREFIX + "(.*)", tornado.web.StaticFileHandler, {"path": str(root)}),
                ("/json", JSONHandler),
            ],
            compress_response=True,
        )
        app.listen(port, address=HOST)
        await asyncio.Event().wait()

    asyncio.run(run())


# --- checks and the run -------------------------------------------------------------------


def make_files(root: Path) -> dict[str, bytes]:
    root.mkdir(parents=True)
    contents = {}
    deployed = time.time() - 60  # settled, as files deployed before a server starts are
    for name, size in FILES.items():
        data = os.urandom(size)
        (root / name).write_bytes(data)
        (root / name).chmod(0o644)
        os.utime(root / name, (deployed, deployed))
        contents[name] = data
    return contents


def checker(server: str, contents: dict[str, bytes]) -> Any:
    def check(port: int) -> None:
        for case in CASES:
            if server not in case.servers:
                continue
            reply = http_get(port, case.path, case.headers)
            if reply.status != 200:
                raise BenchError(f"{server} GET {case.path}: status {reply.status}")
            if case.path.startswith(PREFIX):
                if reply.body != contents[case.path.removeprefix(PREFIX)]:
                    raise BenchError(f"{server} GET {case.path}: wrong body")
                continue
            if reply.headers.get("content-encoding") != "gzip":
                raise BenchError(f"{server} GET /json was not gzip-encoded: {reply.headers}")
            if json.loads(gzip.decompress(reply.body)) != PAYLOAD:
                raise BenchError(f"{server} GET /json: the decoded body is not the payload")

    return check


Results = dict[str, dict[str, list[Run]]]  # case label -> server -> one Run per round


@dataclass
class Pair:
    """micro and WhiteNoise on one case, run back to back."""

    micro: Run
    whitenoise: Run


Pairs = dict[str, list[Pair]]  # case label -> its pairs, in the order they ran
PAIRED = ("micro", "whitenoise")


def _ratio(by: dict[str, list[Run]], server: str, reference: str) -> float:
    if reference not in by:
        return float("nan")
    return per_round_ratio([r.wrk.rps for r in by[server]], [r.wrk.rps for r in by[reference]])


def _spread(by: dict[str, list[Run]], server: str, reference: str) -> str:
    """The same-round ratios of req/s and of req/CPU-s, each as median and range.

    A target decided by a few percent is only as sure as the rounds agree: the range
    says how far apart they were (another process on the 2 cores moves one round).
    """
    out = []
    for label, value in (("req/s", lambda r: r.wrk.rps), ("req/CPU-s", lambda r: r.per_cpu_s)):
        pairs = [
            value(a) / value(b)
            for a, b in zip(by[server], by[reference], strict=False)
            if value(b) and value(a) == value(a)
        ]
        if pairs:
            out.append(f"{label} {median(pairs):.2f}x, rounds {min(pairs):.2f}-{max(pairs):.2f}x")
    return "; ".join(out)


def _x(value: float) -> str:
    return "-" if value != value else f"{value:.2f}x"


def _app_cost(by: dict[str, list[Run]]) -> str:
    """What the App and plugins cost against the bare WSGI app, said as the rounds allow.

    micro can come out ahead of micro-wsgi (the static plugin does less file work per
    request than the bare app's open and fstat), and the rounds can disagree: a
    ratio above 1 is not a negative cost, and one within the rounds' spread is noise.
    """
    pairs = [
        m.wrk.rps / b.wrk.rps
        for m, b in zip(by["micro"], by["micro-wsgi"], strict=False)
        if b.wrk.rps
    ]
    if not pairs:
        return "no round to compare micro with micro-wsgi"
    ratio, low, high = median(pairs), min(pairs), max(pairs)
    spread = f"rounds {low:.2f}-{high:.2f}x"
    if high < 1:
        return f"the App and plugins cost {1 - ratio:.0%} of its throughput ({spread})"
    if low > 1:
        return (
            f"micro is {ratio:.2f}x micro-wsgi in every round ({spread}): the App and "
            "plugins cost less than the file work they save the bare app"
        )
    return f"micro is {ratio:.2f}x micro-wsgi ({spread}): no App and plugins cost above the noise"


def _ahead(ratio: float, need: float) -> str:
    """The verdict on "ahead of": met only when the ratio as printed (two decimals) is
    above ``need``; a ratio that prints as ``need`` is level, not ahead."""
    shown = round(ratio, 2)
    if shown > need:
        return "met"
    return "MISSED (level)" if shown == need else "MISSED"


DEFAULT_PAIRS = "1m=64,100k=16,1k=16"


def pair_counts(text: str) -> dict[str, int]:
    """``--pairs``: how many pairs each file case runs, from "N" (every file case) or
    "CASE=N,..." (the cases named; the others none)."""
    files = [c.key for c in CASES if c.path.startswith(PREFIX)]
    text = text.strip()
    if "=" not in text:
        return dict.fromkeys(files, _count(text))
    counts: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in files:
            raise BenchError(f"--pairs: {item!r} is not CASE=N with CASE one of {', '.join(files)}")
        if key in counts:
            raise BenchError(f"--pairs names {key} twice")
        counts[key] = _count(value)
    return counts


def _count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise BenchError(f"--pairs: {text.strip()!r} is not a whole number") from None
    if count < 0:
        raise BenchError(f"--pairs: {count} is negative")
    return count


def sign_test(wins: int, trials: int) -> float:
    """One-sided sign test: the chance of ``wins`` or more heads in ``trials`` fair tosses."""
    if trials <= 0:
        return 1.0
    return sum(math.comb(trials, k) for k in range(wins, trials + 1)) / 2**trials


@dataclass(frozen=True)
class PairedRatio:
    """micro / WhiteNoise over the pairs of one case, for one measure."""

    ratios: tuple[float, ...]

    @property
    def ahead(self) -> int:
        return sum(r > 1 for r in self.ratios)

    @property
    def behind(self) -> int:
        return sum(r < 1 for r in self.ratios)

    @property
    def p_ahead(self) -> float:
        """How likely micro would be ahead this often if the two were level (ties dropped)."""
        return sign_test(self.ahead, self.ahead + self.behind)

    @property
    def p_behind(self) -> float:
        return sign_test(self.behind, self.ahead + self.behind)

    def verdict(self) -> str:
        """met / MISSED / MISSED (level): a lead the sign test cannot tell from chance
        is no lead."""
        if self.p_ahead < 0.05:
            return "met"
        return "MISSED" if self.p_behind < 0.05 else "MISSED (level)"

    def summary(self) -> str:
        return (
            f"{median(self.ratios):.2f}x, ahead in {self.ahead} of {len(self.ratios)} pairs "
            f"(sign test p {_p(self.p_ahead)})"
        )


def _p(value: float) -> str:
    """A sign test's p as printed: "= 0.011", or "< 0.001" rather than "= 0.000"."""
    return "< 0.001" if value < 0.001 else f"= {value:.3f}"


def paired(pairs: list[Pair]) -> tuple[PairedRatio, PairedRatio]:
    """The req/s and req/CPU-s ratios of micro to WhiteNoise, one per pair."""
    rps = tuple(p.micro.wrk.rps / p.whitenoise.wrk.rps for p in pairs if p.whitenoise.wrk.rps)
    cpu = tuple(
        p.micro.per_cpu_s / p.whitenoise.per_cpu_s
        for p in pairs
        if p.whitenoise.per_cpu_s and p.micro.per_cpu_s == p.micro.per_cpu_s
    )
    return PairedRatio(rps), PairedRatio(cpu)


def pairs_report(pairs: Pairs, *, markdown: bool, other: str = "whitenoise") -> str:
    """The pairs' table; ``other``: what micro ran against (the control: micro)."""
    headers = ["case", "pairs", f"req/s micro / {other}", "pair range", "micro ahead",
               "sign test p", f"req/CPU-s micro / {other}", "ahead (CPU)",
               f"wrk cores, micro / {other}", "verdict"]  # fmt: skip
    rows = []
    for case in CASES:
        got = pairs.get(case.label)
        if not got:
            continue
        rps, cpu = paired(got)
        rows.append([
            case.label, str(len(got)), _x(median(rps.ratios)),
            f"{min(rps.ratios):.2f}-{max(rps.ratios):.2f}x" if rps.ratios else "-",
            f"{rps.ahead} of {len(rps.ratios)}", _p(rps.p_ahead).removeprefix("= "),
            _x(median(cpu.ratios)), f"{cpu.ahead} of {len(cpu.ratios)}",
            f"{fmt(median([p.micro.client_cores for p in got]), 2)} / "
            f"{fmt(median([p.whitenoise.client_cores for p in got]), 2)}",
            rps.verdict(),
        ])  # fmt: skip
    return table(headers, rows, markdown=markdown)


def report(
    results: Results, pairs: Pairs | None = None, *, markdown: bool
) -> tuple[str, list[str]]:
    headers = ["case", "server", "req/s", "MB/s", "vs nginx", "vs whitenoise", "vs tornado",
               "p99 ms", "req/CPU-s", "wrk cores", "errors"]  # fmt: skip
    rows = []
    lines = []
    for case in CASES:
        by = results.get(case.label)
        if by is None:  # no server of this run serves the case
            continue
        for server, runs in by.items():
            rows.append([
                case.label, server, fmt(median([r.wrk.rps for r in runs])),
                fmt(median([r.wrk.transfer_bps for r in runs]) / 1e6, 1),
                _x(_ratio(by, server, "nginx")), _x(_ratio(by, server, "whitenoise")),
                _x(_ratio(by, server, "tornado")),
                fmt(median([r.wrk.p99_ms for r in runs]), 2),
                fmt(median([r.per_cpu_s for r in runs])),
                fmt(median([r.client_cores for r in runs]), 2),
                str(sum(r.wrk.errors for r in runs)),
            ])  # fmt: skip
        if "micro" not in by:
            continue
        got = (pairs or {}).get(case.label)
        if got:
            rps, cpu = paired(got)
            lines.append(
                f"- {case.label}: micro {rps.summary()} against whitenoise in paired runs "
                f"(target > 1x: {rps.verdict()})"
            )
            lines.append(f"  (req/CPU-s in the same pairs: {cpu.summary()})")
        for reference, need in (("whitenoise", 1.0), ("tornado", 1.0)):
            ratio = _ratio(by, "micro", reference)
            if got and reference == "whitenoise":
                lines.append(
                    f"- {case.label}: micro {ratio:.2f}x whitenoise over the rounds "
                    f"({_spread(by, 'micro', reference)}; the pairs above decide)"
                )
            elif ratio == ratio:
                ok = _ahead(ratio, need)
                lines.append(f"- {case.label}: micro {ratio:.2f}x {reference} (target > 1x: {ok})")
                if reference == "whitenoise":
                    lines.append(f"  (same-round ratios: {_spread(by, 'micro', reference)})")
        if case.label == "1 MB file" and "nginx" in by:
            ratio = _ratio(by, "micro", "nginx")
            ok = "met" if ratio >= 0.7 else "MISSED"
            lines.append(f"- 1 MB file: micro {ratio:.2f}x nginx (target >= 0.7x: {ok})")
            if "micro-wsgi" in by:
                bare = _ratio(by, "micro-wsgi", "nginx")
                lines.append(
                    f"  (micro's server alone, micro-wsgi: {bare:.2f}x nginx; {_app_cost(by)})"
                )
    return table(headers, rows, markdown=markdown), lines


def chart(results: Results, servers: Sequence[str]) -> str:
    cases = [c.label for c in CASES if c.label in results]
    groups = []
    for case in cases:
        by = results[case]
        for server in servers:
            if server not in by:
                continue
            nginx = _ratio(by, server, "nginx")
            note = "" if nginx != nginx else f"{nginx:.2f}x nginx"
            groups.append((f"{case}: {server}", [(_ratio(by, server, "micro"), note)]))
    return svg_bar_chart(
        "Static files and gzip: requests per second relative to micro (same round)",
        "x micro",
        groups,
        ["req/s / micro's req/s (median of same-round ratios)"],
        note="each case on its own scale: micro = 1; labels give the ratio to nginx",
    )


def measure(procs: dict[str, ServerProcess], cases: Sequence[Case], rounds: int,
            options: WrkOptions, results: Results) -> None:  # fmt: skip
    warm = WrkOptions(1.0, options.connections, options.threads)
    for case in cases:
        for name in results[case.label]:
            run_wrk(f"http://{HOST}:{procs[name].port}{case.path}", warm, case.headers)
    for rnd in range(rounds):
        for case in cases:
            names = list(results[case.label])
            order = names[rnd % len(names) :] + names[: rnd % len(names)]
            for name in order:
                run = run_once(procs[name], case, options, f"round {rnd + 1}/{rounds}")
                results[case.label][name].append(run)


def measure_pairs(
    start: Callable[[str], AbstractContextManager[ServerProcess]],
    cases: Sequence[Case],
    counts: dict[str, int],
    options: WrkOptions,
    pairs: Pairs,
    other: str = "whitenoise",
) -> None:
    """micro and ``other`` back to back, ``counts[case.key]`` times per file case, ABBA order.

    Each pair runs on two server processes started for it (``start``) and stopped
    after it: one process of a server can run a few percent faster or slower than
    another of the same server for as long as it lives (its memory layout, its hash
    seed), and a pair of long-lived processes would carry that into every pair.
    ``other="micro"`` is the control: micro against a second micro process.
    """
    for case in cases:
        if case.label not in pairs:
            continue
        count = counts.get(case.key, 0)
        for i in range(count):
            first, second = ("micro", other) if i % 2 == 0 else (other, "micro")
            with ExitStack() as stack:
                procs = [stack.enter_context(start(name)) for name in (first, second)]
                what = f"{'control ' if other == 'micro' else ''}pair {i + 1}/{count}"
                runs = [run_once(proc, case, options, what) for proc in procs]
            # By the pair's order, not by name: in the control both are "micro".
            mine, theirs = runs if i % 2 == 0 else runs[::-1]
            pairs[case.label].append(Pair(mine, theirs))


def run_once(proc: ServerProcess, case: Case, options: WrkOptions, what: str) -> Run:
    """One wrk run of ``case`` against ``proc``, with the server's CPU time over it."""
    before = proc.cpu_seconds()
    res = run_wrk(f"http://{HOST}:{proc.port}{case.path}", options, case.headers)
    run = Run(res, proc.cpu_seconds() - before)
    if not proc.alive():
        raise BenchError(f"{proc.name} died during the run:\n{proc.log_tail()}")
    print(f"{what} {case.label:17} {proc.name:10} "
          f"{res.rps:9,.0f} req/s {res.transfer_bps / 1e6:8.1f} MB/s "
          f"p99 {res.p99_ms:8.2f} ms {run.per_cpu_s:8,.0f} req/CPU-s "
          f"wrk {run.client_cores:4.2f} cores errors {res.errors}", flush=True)  # fmt: skip
    return run


def bench(args: argparse.Namespace) -> int:
    terminate_on_signals()
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    for name in servers:
        if name not in SERVERS:
            raise BenchError(f"unknown server {name!r}; choose from {', '.join(SERVERS)}")
    require_tool("wrk")
    if "nginx" in servers:
        require_tool("nginx")
    if "tornado" in servers:
        require_module("tornado", "tornado")
    if "whitenoise" in servers:
        require_module("whitenoise", "whitenoise")
    options = WrkOptions(args.duration, args.connections, args.wrk_threads)
    keys = [k.strip() for k in args.cases.split(",") if k.strip()]
    unknown = set(keys) - {c.key for c in CASES}
    if unknown:
        raise BenchError(f"unknown case(s) {sorted(unknown)}; choose from "
                         f"{', '.join(c.key for c in CASES)}")  # fmt: skip
    cases = [c for c in CASES if c.key in keys and any(s in servers for s in c.servers)]
    results: Results = {c.label: {s: [] for s in c.servers if s in servers} for c in cases}
    counts = pair_counts(args.pairs)
    both = all(name in servers for name in PAIRED)
    pairs: Pairs = {
        c.label: [] for c in cases if both and c.path.startswith(PREFIX) and counts.get(c.key)
    }
    controls: Pairs = {label: [] for label in pairs} if args.control else {}
    load_before = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    server_cpu, wrk_cpus = _pinning() if args.pin else (None, None)
    if args.server_cpus is not None and "nginx" in servers:
        raise BenchError("--server-cpus limits the Python servers only: leave out nginx")

    with temp_dir("micro-bench-static-") as tmp, ExitStack() as stack:
        limit = (
            None if args.server_cpus is None else stack.enter_context(cpu_limit(args.server_cpus))
        )
        tmp.chmod(0o755)  # nginx workers run as an unprivileged user and must read the files
        root = tmp / "root"
        contents = make_files(root)
        root.chmod(0o755)

        @contextmanager
        def start(name: str) -> Iterator[ServerProcess]:
            """A server of ``name`` started, answering every case right, and stopped after."""
            port = free_port()
            if name == "nginx":
                location = f"location {PREFIX} {{ alias {root}/; }}"
                proc = nginx_process(tmp, port, args.nginx_workers, location, tmp)
            else:
                argv = [sys.executable, str(HERE / "bench_static.py"), "--serve", name,
                        "--root", str(root), "--port", str(port),
                        "--threads", str(args.threads)]  # fmt: skip
                if server_cpu is not None:
                    argv += ["--cpu", str(server_cpu)]
                if limit is not None:
                    argv += ["--cgroup-procs", str(limit)]
                proc = ServerProcess(name, argv, port, env=child_env(), log_dir=tmp)
            with proc:
                proc.wait_ready(checker(name, contents))
                yield proc
                checker(name, contents)(proc.port)  # still answering right after the load

        procs: dict[str, ServerProcess] = {}
        for name in servers:
            procs[name] = stack.enter_context(start(name))
            print(f"{name}: ready on {HOST}:{procs[name].port}", flush=True)
        if wrk_cpus is not None:  # wrk, a child of this process, runs where it does
            os.sched_setaffinity(0, wrk_cpus)
        measure(procs, cases, args.rounds, options, results)
        pair_options = WrkOptions(args.pair_duration, options.connections, options.threads)
        measure_pairs(start, cases, counts, pair_options, pairs)
        if args.control:
            measure_pairs(start, cases, counts, pair_options, controls, other="micro")

    text, lines = report(results, pairs, markdown=False)
    print()
    print(text)
    if pairs:
        print()
        print(pairs_report(pairs, markdown=False))
    if controls:
        print("\ncontrol, micro against a second micro process:")
        print(pairs_report(controls, markdown=False, other="micro"))
    print("\n".join(lines))
    env = environment(
        ["tornado", "whitenoise"],
        {"wrk": ["wrk", "--version"], "nginx": [require_tool("nginx"), "-v"]},
    )
    env.append(f"- load average before the run (1, 5, 15 min): {load_before}")
    if server_cpu is not None:
        env.append(
            f"- pinned (--pin): the Python servers on CPU {server_cpu}, wrk on CPU(s) "
            f"{', '.join(map(str, sorted(wrk_cpus or ())))}, nginx on every CPU"
        )
    if args.server_cpus is not None:
        env.append(
            f"- CPU limit (--server-cpus): the Python servers run in one cgroup with a quota "
            f"of {args.server_cpus:g} cores (as a container's CPU limit); one is under load at "
            "a time and has the quota to itself, so that the server and not wrk sets the "
            "pace; p99 then mostly shows the quota's pauses"
        )
    env.append(
        f"- settings: micro, micro-wsgi and whitenoise on micro's server, {args.threads} "
        f"threads; Tornado one process; nginx worker_processes {args.nginx_workers}, sendfile "
        f"on; wrk {options.threads} threads, {options.connections} connections, "
        f"{options.duration:g} s per run, {args.rounds} interleaved rounds (order rotated each "
        "round), keep-alive; medians over rounds, ratios the medians of same-round ratios; "
        "gzip level 6 and minimum length 1024 on both micro (gzip plugin defaults) and "
        "Tornado (fixed)"
    )
    if pairs:
        per_case = ", ".join(f"{c.label} {counts[c.key]}" for c in cases if c.label in pairs)
        env.append(
            f"- micro against WhiteNoise: pairs of back-to-back {args.pair_duration:g} s "
            f"runs after the rounds ({per_case} pairs), micro first in "
            "odd pairs, each pair on two server processes started for it; the verdict is a "
            "one-sided sign test over the pairs (met: p < 0.05)"
        )
    if controls:
        env.append(
            "- control (--control): the same pairs with micro against a second micro "
            "process, where every verdict should be level"
        )
    md, _ = report(results, pairs, markdown=True)
    if pairs:
        md += "\n\nmicro against WhiteNoise, paired runs:\n\n" + pairs_report(pairs, markdown=True)
    if controls:
        md += "\n\nThe control, micro against a second micro process, paired runs:\n\n"
        md += pairs_report(controls, markdown=True, other="micro")
    write_markdown(
        args.markdown,
        "Static files and gzip: micro, WhiteNoise, Tornado, nginx",
        env,
        md + ("\n\n" + "\n".join(lines) if lines else ""),
        [],
    )
    write_svg(args.svg, chart(results, servers))
    return 0


def _pinning() -> tuple[int, set[int]]:
    """--pin: the CPU for the Python servers (the last one this process may use) and
    the CPUs left for wrk."""
    if not hasattr(os, "sched_setaffinity"):
        raise BenchError("--pin needs os.sched_setaffinity (Linux)")
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise BenchError("--pin needs two CPUs at least (one for the servers, one for wrk)")
    return cpus[-1], set(cpus[:-1])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (5)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run (5)")
    parser.add_argument(
        "--pairs",
        default=DEFAULT_PAIRS,
        help="back-to-back micro/WhiteNoise pairs after the rounds: N for every file case, "
        f"or CASE=N,... per case ({DEFAULT_PAIRS}; 0: none)",
    )
    parser.add_argument(
        "--pair-duration", type=float, default=2.0, help="seconds per paired wrk run (2)"
    )
    parser.add_argument(
        "--control",
        action="store_true",
        help="also run the pairs with micro against a second micro process (an A/A "
        "control: its verdicts should be level)",
    )
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--threads", type=int, default=4, help="micro's worker threads (4)")
    parser.add_argument("--nginx-workers", default="auto", help="nginx worker_processes (auto)")
    parser.add_argument(
        "--servers", default=",".join(SERVERS), help=f"subset of {','.join(SERVERS)}"
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="Linux: run the Python servers on the last CPU and wrk on the others, so "
        "that rounds agree better (nginx keeps every CPU)",
    )
    parser.add_argument(
        "--server-cpus",
        type=float,
        metavar="CORES",
        help="Linux: run the Python servers under a CPU limit of CORES (a cgroup quota, "
        "as in a container), so that the server, not wrk, sets the pace; not with nginx",
    )
    parser.add_argument("--markdown", type=Path, help="also write the report as markdown here")
    parser.add_argument("--svg", type=Path, help="also draw the table as an SVG chart here")
    parser.add_argument(
        "--cases",
        default=",".join(c.key for c in CASES),
        help=f"subset of {','.join(c.key for c in CASES)}",
    )
    parser.add_argument("--serve", choices=PYTHON_SERVERS, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cgroup-procs", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve is None:
        return bench(args)
    if args.root is None or args.port is None:
        parser.error("--serve needs --root and --port")
    if args.cgroup_procs is not None:  # before any thread starts, as the CPU below
        join_cgroup(args.cgroup_procs)
    if args.cpu is not None:  # before any thread starts: they all inherit it
        os.sched_setaffinity(0, {args.cpu})
    if args.serve in ("micro", "micro-wsgi", "whitenoise"):
        serve_micro(args.root, args.port, args.threads, args.serve)
    else:
        serve_tornado(args.root, args.port)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as err:
        sys.exit(f"bench_static: {err}")
    except KeyboardInterrupt:
        sys.exit(130)
