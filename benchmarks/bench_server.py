"""Server benchmark: micro and its peers serve hello world, beside two reference ceilings.

    python benchmarks/bench_server.py [--rounds 3] [--duration 5] [--markdown FILE] [--svg FILE]

Every server runs in its own process group on 127.0.0.1 and answers `GET /` with the
same 13-byte body; wrk drives them in interleaved rounds (the order rotates every
round) with the same settings for all, once with keep-alive and once with
`Connection: close`, so that noise from other work on the machine falls on all of
them alike; a third mode, `post-1m`, sends keep-alive POSTs of a 1 MiB body that the
app reads whole, and a fourth, `wait-2ms`, keep-alive GETs of a page for which the app
sleeps 2 ms, the way an app waits on its database (the ceilings run no app and sit
both out).

- micro: `micro serve apps:hello` with micro's default settings (1 process, its
  default thread count), `micro-auto`: the same with `--processes auto` (one
  process per core), and `micro-workers`: the same with `--inline-budget 0`, where
  every request goes through the worker queue instead of being served by the I/O
  loop's thread (what that saves, and what it must not cost an app that waits).
- Peers at their best setting: waitress with `threads=8` (its `--threads` raised from
  the default 4: its best on this machine, about 3x the default's throughput), gunicorn
  with (2 x cores) + 1 sync workers (its documented recommendation; the sync worker has
  no keep-alive, so it closes after every answer even in the keep-alive rows, marked
  "closes").
- Reference ceilings, not peers: `asyncio`, a bare fixed-response asyncio server
  (`apps.py`: no parsing beyond the end of the head, no WSGI), the most pure Python
  allows here; and nginx (`return 200`, `worker_processes auto`).

Each row gives the median over rounds of requests per second, the median over rounds
of the ratio to the asyncio server and to waitress measured in the same round, the
median p99 latency, and requests per server CPU-second: the CPU time (user + system)
of every process of the server's group, read from /proc before and after each wrk run,
so a server that burns more CPU for the same answers shows it even when wrk is the
bottleneck. Needs Linux, wrk and nginx (`apt-get install wrk nginx`) and the peers
(`python -m pip install -r benchmarks/requirements.txt`).
"""

from __future__ import annotations

import argparse
import http.client
import os
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import apps
from harness import (
    HOST,
    BenchError,
    Run,
    ServerProcess,
    WrkOptions,
    environment,
    fmt,
    free_port,
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

MODES = {"keep-alive": {}, "close": {"Connection": "close"}, "post-1m": {}, "wait-2ms": {}}
# wait-2ms: keep-alive GETs of /wait, where the app sleeps 2 ms as if it waited on a
# database: what matters there is serving requests side by side.
PATHS = {"wait-2ms": "/wait"}
# post-1m: keep-alive POSTs of a 1 MiB body that the app reads whole (wrk's Lua script);
# the ceilings read no bodies, so they sit that mode out.
POST_MODE = "post-1m"
POST_LUA = 'wrk.method = "POST"\nwrk.body = string.rep("x", 1048576)\n'
NO_BODIES = ("asyncio", "nginx")  # they sit out post-1m and wait-2ms
APP_MODES = (POST_MODE, "wait-2ms")
CEILING = "asyncio"
PEER = "waitress"
ALL_SERVERS = (
    "asyncio", "nginx", "micro", "micro-auto", "micro-workers", "waitress", "gunicorn"
)  # fmt: skip
LABELS = {
    "asyncio": "asyncio (ceiling)",
    "nginx": "nginx (ceiling)",
    "micro-auto": "micro --processes auto",
    "micro-workers": "micro --inline-budget 0",
}
PEER_DISTS = ("waitress", "gunicorn")


@dataclass(frozen=True)
class Settings:
    micro_threads: int | None  # None: micro's own default
    waitress_threads: int
    gunicorn_workers: int
    nginx_workers: str


def server_argv(name: str, port: int, settings: Settings) -> list[str]:
    py = sys.executable
    if name in ("micro", "micro-auto", "micro-workers"):
        argv = [py, "-m", "micro", "serve", "apps:hello", "--bind", f"{HOST}:{port}"]
        if settings.micro_threads is not None:
            argv += ["--threads", str(settings.micro_threads)]
        if name == "micro-auto":
            argv += ["--processes", "auto"]
        if name == "micro-workers":
            argv += ["--inline-budget", "0"]
        return argv
    if name == "waitress":
        return [py, "-m", "waitress", f"--listen={HOST}:{port}",
                f"--threads={settings.waitress_threads}", "apps:hello"]  # fmt: skip
    if name == "gunicorn":
        return [py, "-m", "gunicorn", "--bind", f"{HOST}:{port}", "--worker-class", "sync",
                "--workers", str(settings.gunicorn_workers), "--log-level", "warning",
                "apps:hello"]  # fmt: skip
    if name == "asyncio":
        return [py, "apps.py", "asyncio", str(port)]
    raise BenchError(f"unknown server {name!r}; choose from {', '.join(ALL_SERVERS)}")


def start(name: str, settings: Settings, tmp: Path) -> ServerProcess:
    port = free_port()
    if name == "nginx":
        body = apps.BODY.decode()
        location = f'location / {{ default_type {apps.CONTENT_TYPE}; return 200 "{body}"; }}'
        prefix = tmp / "nginx"
        prefix.mkdir()
        return nginx_process(prefix, port, settings.nginx_workers, location, tmp)
    return ServerProcess(name, server_argv(name, port, settings), port, log_dir=tmp)


def check_hello(port: int) -> None:
    """The server answers GET / with 200 and the hello body, or the bench stops."""
    conn = http.client.HTTPConnection(HOST, port, timeout=5.0)
    try:
        conn.request("GET", "/")
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    if resp.status != 200 or body != apps.BODY:
        raise BenchError(f"port {port}: GET / gave {resp.status} {body[:80]!r}")


def keeps_alive(port: int) -> bool:
    """Whether the server left the connection open after a plain HTTP/1.1 GET."""
    conn = http.client.HTTPConnection(HOST, port, timeout=5.0)
    try:
        conn.request("GET", "/")
        resp = conn.getresponse()
        resp.read()
        return not resp.will_close
    finally:
        conn.close()


Results = dict[str, dict[str, list[Run]]]  # mode -> server -> one Run per round


def label(name: str, mode: str, alive: dict[str, bool]) -> str:
    text = LABELS.get(name, name)
    if mode == "keep-alive" and not alive.get(name, True):
        text += " (closes)"
    return text


def ratio_text(value: float) -> str:
    return "-" if value != value else f"{value:.2f}x"


def report(
    results: Results, servers: Sequence[str], alive: dict[str, bool], *, markdown: bool
) -> str:
    headers = ["mode", "server", "req/s", "req/s min-max", "vs asyncio", "vs waitress",
               "p99 ms", "p99 vs waitress", "req/CPU-s", "wrk cores", "errors"]  # fmt: skip
    rows: list[list[str]] = []
    for mode, by_server in results.items():
        ceiling = [r.wrk.rps for r in by_server.get(CEILING, [])]
        peer = [r.wrk.rps for r in by_server.get(PEER, [])]
        peer_p99 = [r.wrk.p99_ms for r in by_server.get(PEER, [])]
        for name in servers:
            runs = by_server[name]
            if not runs:
                continue  # a ceiling in the POST mode
            rps = [r.wrk.rps for r in runs]
            p99 = [r.wrk.p99_ms for r in runs]
            rows.append([
                mode, label(name, mode, alive), fmt(median(rps)),
                f"{fmt(min(rps))}-{fmt(max(rps))}",
                ratio_text(per_round_ratio(rps, ceiling)),
                ratio_text(per_round_ratio(rps, peer)),
                fmt(median(p99), 2), ratio_text(per_round_ratio(p99, peer_p99)),
                fmt(median([r.per_cpu_s for r in runs])),
                fmt(median([r.client_cores for r in runs]), 2),
                str(sum(r.wrk.errors for r in runs)),
            ])  # fmt: skip
    return table(headers, rows, markdown=markdown)


def verdict(results: Results) -> list[str]:
    """micro against issue 16's targets, one line each."""
    lines: list[str] = []

    def rps(mode: str, name: str) -> list[float]:
        return [r.wrk.rps for r in results.get(mode, {}).get(name, [])]

    def p99(mode: str, name: str) -> list[float]:
        return [r.wrk.p99_ms for r in results.get(mode, {}).get(name, [])]

    def line(what: str, value: float, need: str, ok: bool) -> None:
        if value == value:
            lines.append(f"- {what}: {value:.2f}x (target {need}: {'met' if ok else 'MISSED'})")

    ka = per_round_ratio(rps("keep-alive", "micro"), rps("keep-alive", CEILING))
    line("keep-alive, micro default / asyncio", ka, ">= 0.35x", ka >= 0.35)
    for mode in MODES:
        value = per_round_ratio(p99(mode, "micro"), p99(mode, PEER))
        line(f"{mode} p99, micro default / waitress", value, "<= 1x", value <= 1.0)
    close = per_round_ratio(rps("close", "micro"), rps("close", CEILING))
    line("close, micro default / asyncio", close, ">= 1.5x", close >= 1.5)
    auto = per_round_ratio(rps("keep-alive", "micro-auto"), rps("keep-alive", CEILING))
    line("keep-alive, micro --processes auto / asyncio", auto, ">= 0.8x", auto >= 0.8)
    return lines


def chart(results: Results, servers: Sequence[str], alive: dict[str, bool], title: str) -> str:
    modes = [m for m in results if m not in APP_MODES]  # the chart compares with the ceilings
    groups = []
    for name in servers:
        bars = []
        for mode in modes:
            runs = results[mode][name]
            rps = [r.wrk.rps for r in runs]
            vs = per_round_ratio(rps, [r.wrk.rps for r in results[mode].get(CEILING, [])])
            note = f"{median(rps):,.0f}" + ("" if vs != vs else f"  ({vs:.2f}x asyncio)")
            bars.append((median(rps), note))
        groups.append((label(name, "keep-alive", alive), bars))
    return svg_bar_chart(
        title,
        "req/s",
        groups,
        modes,
        note="median requests per second over interleaved rounds; "
        "ratios are medians of same-round ratios",
    )


def measure(
    procs: dict[str, ServerProcess],
    modes: Sequence[str],
    rounds: int,
    options: WrkOptions,
    post_script: Path,
) -> Results:
    results: Results = {m: {s: [] for s in procs} for m in modes}
    warm = WrkOptions(1.0, options.connections, options.threads)
    for proc in procs.values():
        run_wrk(f"http://{HOST}:{proc.port}/", warm)
    names = list(procs)
    for rnd in range(rounds):
        order = names[rnd % len(names) :] + names[: rnd % len(names)]
        for mode in modes:
            for name in order:
                if mode in APP_MODES and name in NO_BODIES:
                    continue
                proc = procs[name]
                before = proc.cpu_seconds()
                script = post_script if mode == POST_MODE else None
                url = f"http://{HOST}:{proc.port}{PATHS.get(mode, '/')}"
                res = run_wrk(url, options, MODES[mode], script)
                cpu = proc.cpu_seconds() - before
                if not proc.alive():
                    raise BenchError(f"{name} died during the run:\n{proc.log_tail()}")
                run = Run(res, cpu)
                results[mode][name].append(run)
                print(f"round {rnd + 1}/{rounds} {mode:10} {name:10} "
                      f"{res.rps:10,.0f} req/s  p99 {res.p99_ms:8.2f} ms  "
                      f"{run.per_cpu_s:8,.0f} req/CPU-s  wrk {run.client_cores:4.2f} cores  "
                      f"errors {res.errors}",
                      flush=True)  # fmt: skip
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run (5)")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections (50)")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (1)")
    parser.add_argument(
        "--micro-threads", type=int, default=None, help="micro's threads (default: micro's own)"
    )
    parser.add_argument("--waitress-threads", type=int, default=8, help="waitress threads (8)")
    default_workers = 2 * (os.cpu_count() or 1) + 1
    parser.add_argument(
        "--gunicorn-workers",
        type=int,
        default=default_workers,
        help=f"gunicorn sync workers ((2 x cores) + 1 = {default_workers})",
    )
    parser.add_argument("--nginx-workers", default="auto", help="nginx worker_processes (auto)")
    parser.add_argument(
        "--servers",
        default=",".join(ALL_SERVERS),
        help=f"comma-separated subset of {','.join(ALL_SERVERS)}",
    )
    parser.add_argument("--modes", default=",".join(MODES), help=",".join(MODES))
    parser.add_argument("--markdown", type=Path, help="also write the report as markdown here")
    parser.add_argument("--svg", type=Path, help="also draw the table as an SVG chart here")
    args = parser.parse_args(argv)
    terminate_on_signals()

    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for mode in modes:
        if mode not in MODES:
            raise BenchError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    for name in servers:
        if name not in ALL_SERVERS:
            raise BenchError(f"unknown server {name!r}; choose from {', '.join(ALL_SERVERS)}")
    if not os.path.exists("/proc/self/stat"):
        raise BenchError("this bench reads server CPU time from /proc: it needs Linux")
    require_tool("wrk")
    if "nginx" in servers:
        require_tool("nginx")
    for dist in PEER_DISTS:
        if dist in servers:
            require_module(dist, dist)
    settings = Settings(
        args.micro_threads, args.waitress_threads, args.gunicorn_workers, args.nginx_workers
    )
    options = WrkOptions(args.duration, args.connections, args.wrk_threads)
    load_before = ", ".join(f"{x:.1f}" for x in os.getloadavg())

    alive: dict[str, bool] = {}
    with temp_dir("micro-bench-") as tmp, ExitStack() as stack:
        tmp.chmod(0o755)  # nginx workers may run as an unprivileged user
        procs: dict[str, ServerProcess] = {}
        for name in servers:
            proc = stack.enter_context(start(name, settings, tmp))
            proc.wait_ready(check_hello)
            alive[name] = keeps_alive(proc.port)
            procs[name] = proc
            print(f"{name}: ready on {HOST}:{proc.port} (keeps alive: {alive[name]})", flush=True)
        post_script = tmp / "post-1m.lua"
        post_script.write_text(POST_LUA)
        results = measure(procs, modes, args.rounds, options, post_script)
        for proc in procs.values():  # still answering correctly after the load
            check_hello(proc.port)

    print()
    print(report(results, servers, alive, markdown=False))
    lines = verdict(results)
    print("\n".join(lines))
    micro_threads = "its default threads" if args.micro_threads is None else (
        f"{args.micro_threads} threads"
    )  # fmt: skip
    settings_line = (
        f"- settings: micro {micro_threads} (1 process; micro-auto: --processes auto); "
        f"waitress {settings.waitress_threads} threads; gunicorn {settings.gunicorn_workers} "
        f"sync workers; nginx worker_processes {settings.nginx_workers}; wrk "
        f"{options.threads} thread(s), {options.connections} connections, "
        f"{options.duration:g} s per run, {args.rounds} interleaved rounds (order rotated "
        "each round); medians over rounds; ratios are medians of same-round ratios"
    )
    env = [
        *environment(["waitress", "gunicorn"], {"wrk": ["wrk", "--version"],
                                                "nginx": [require_tool("nginx"), "-v"]}),
        f"- load average before the run (1, 5, 15 min): {load_before}",
        settings_line,
    ]  # fmt: skip
    notes = []
    closers = [LABELS.get(n, n) for n in servers if not alive.get(n, True)]
    if closers:
        notes.append(
            f"{', '.join(closers)} closed the connection after each answer even without "
            "`Connection: close` (gunicorn's sync worker has no keep-alive)."
        )
    title = "Server: hello world under micro, its peers and two ceilings"
    write_markdown(
        args.markdown,
        title,
        env,
        report(results, servers, alive, markdown=True) + ("\n\n" + "\n".join(lines)),
        notes,
    )
    write_svg(args.svg, chart(results, servers, alive, title))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as err:
        sys.exit(f"bench_server: {err}")
    except KeyboardInterrupt:
        sys.exit(130)
