"""Server benchmark: micro, waitress and gunicorn serve the same hello-world WSGI app.

    python benchmarks/bench_server.py [--rounds 3] [--duration 5] [--markdown FILE]

Each server runs in its own process on 127.0.0.1 with `apps:hello`; wrk drives them in
interleaved rounds (micro, waitress, gunicorn, micro, waitress, ...) so that noise from
other work on the machine falls on all of them alike, once with keep-alive and once with
`Connection: close`. The table gives the median over rounds of requests per second and
of the 99th-percentile latency, and micro's ratios to waitress, the reference.

Fairness on a 2-core machine: gunicorn runs (2 x cores) + 1 = 5 sync workers, the count
its documentation recommends; waitress and micro each run 4 threads in one process
(waitress's default thread count). gunicorn's sync worker does not keep connections
alive, so in the keep-alive rows it still closes after every answer; that is the cost of
its design, and the table says so. Needs wrk (`apt-get install wrk`) and the peers
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
    ServerProcess,
    WrkOptions,
    WrkResult,
    environment,
    fmt,
    free_port,
    median,
    require_module,
    require_tool,
    run_wrk,
    table,
    temp_dir,
    terminate_on_signals,
    write_markdown,
)

MODES = {"keep-alive": {}, "close": {"Connection": "close"}}
REFERENCE = "waitress"
ALL_SERVERS = ("micro", "waitress", "gunicorn", "asyncio")
DEFAULT_SERVERS = ("micro", "waitress", "gunicorn")
PEER_DISTS = ("waitress", "gunicorn")


@dataclass(frozen=True)
class Settings:
    threads: int
    gunicorn_workers: int


def server_argv(name: str, port: int, settings: Settings) -> list[str]:
    py = sys.executable
    if name == "micro":
        bind = f"{HOST}:{port}"
        return [py, "-m", "micro", "serve", "apps:hello", "--bind", bind,
                "--threads", str(settings.threads)]  # fmt: skip
    if name == "waitress":
        return [py, "-m", "waitress", f"--listen={HOST}:{port}",
                f"--threads={settings.threads}", "apps:hello"]  # fmt: skip
    if name == "gunicorn":
        return [py, "-m", "gunicorn", "--bind", f"{HOST}:{port}", "--worker-class", "sync",
                "--workers", str(settings.gunicorn_workers), "--log-level", "warning",
                "apps:hello"]  # fmt: skip
    if name == "asyncio":
        return [py, "apps.py", "asyncio", str(port)]
    raise BenchError(f"unknown server {name!r}; choose from {', '.join(ALL_SERVERS)}")


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


def report(
    results: dict[str, dict[str, list[WrkResult]]],
    servers: Sequence[str],
    alive: dict[str, bool],
    *,
    markdown: bool,
) -> str:
    headers = ["mode", "server", "req/s", "vs waitress", "p99 ms", "p99 vs waitress",
               "req/s min-max", "errors"]  # fmt: skip
    rows: list[list[str]] = []
    for mode, by_server in results.items():
        ref = by_server.get(REFERENCE, [])
        ref_rps = median([r.rps for r in ref])
        ref_p99 = median([r.p99_ms for r in ref])
        for name in servers:
            runs = by_server[name]
            rps = median([r.rps for r in runs])
            p99 = median([r.p99_ms for r in runs])
            label = name if alive.get(name, True) or mode != "keep-alive" else f"{name} (closes)"
            rows.append([
                mode, label, fmt(rps), f"{rps / ref_rps:.2f}x" if ref else "-",
                fmt(p99, 2), f"{p99 / ref_p99:.2f}x" if ref else "-",
                f"{fmt(min(r.rps for r in runs))}-{fmt(max(r.rps for r in runs))}",
                str(sum(r.errors for r in runs)),
            ])  # fmt: skip
    return table(headers, rows, markdown=markdown)


def verdict(results: dict[str, dict[str, list[WrkResult]]]) -> list[str]:
    """micro against the issue's targets, one line each."""
    if "micro" not in results["keep-alive"] or REFERENCE not in results["keep-alive"]:
        return []
    lines = []
    targets = {"keep-alive": 3.0, "close": 1.5}
    for mode, need in targets.items():
        by = results[mode]
        ratio = median([r.rps for r in by["micro"]]) / median([r.rps for r in by[REFERENCE]])
        p99 = median([r.p99_ms for r in by["micro"]]) / median([r.p99_ms for r in by[REFERENCE]])
        ok = "met" if ratio >= need else "MISSED"
        ok99 = "met" if p99 <= 1.0 else "MISSED"
        lines.append(
            f"- {mode}: micro {ratio:.2f}x waitress req/s (target >= {need}x: {ok}); "
            f"p99 {p99:.2f}x waitress's (target <= 1x: {ok99})"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run (5)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--threads", type=int, default=4, help="micro/waitress threads (4)")
    default_workers = 2 * (os.cpu_count() or 1) + 1
    parser.add_argument(
        "--gunicorn-workers",
        type=int,
        default=default_workers,
        help=f"gunicorn sync workers ((2 x cores) + 1 = {default_workers})",
    )
    parser.add_argument(
        "--servers",
        default=",".join(DEFAULT_SERVERS),
        help=f"comma-separated subset of {','.join(ALL_SERVERS)}",
    )
    parser.add_argument("--modes", default=",".join(MODES), help="keep-alive,close")
    parser.add_argument("--markdown", type=Path, help="also write the report as markdown here")
    args = parser.parse_args(argv)
    terminate_on_signals()

    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for mode in modes:
        if mode not in MODES:
            raise BenchError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    require_tool("wrk")
    for dist in PEER_DISTS:
        if dist in servers:
            require_module(dist, dist)
    settings = Settings(args.threads, args.gunicorn_workers)
    options = WrkOptions(args.duration, args.connections, args.wrk_threads)

    results: dict[str, dict[str, list[WrkResult]]] = {m: {s: [] for s in servers} for m in modes}
    alive: dict[str, bool] = {}
    with temp_dir("micro-bench-") as logs, ExitStack() as stack:
        procs: dict[str, ServerProcess] = {}
        for name in servers:
            port = free_port()
            proc = stack.enter_context(
                ServerProcess(name, server_argv(name, port, settings), port, log_dir=logs)
            )
            proc.wait_ready(check_hello)
            alive[name] = keeps_alive(port)
            procs[name] = proc
            print(f"{name}: ready on {HOST}:{port} (keeps alive: {alive[name]})", flush=True)
        warm = WrkOptions(1.0, options.connections, options.threads)
        for proc in procs.values():
            run_wrk(f"http://{HOST}:{proc.port}/", warm)
        for rnd in range(1, args.rounds + 1):
            for mode in modes:
                for name, proc in procs.items():
                    res = run_wrk(f"http://{HOST}:{proc.port}/", options, MODES[mode])
                    if not proc.alive():
                        raise BenchError(f"{name} died during the run:\n{proc.log_tail()}")
                    results[mode][name].append(res)
                    print(f"round {rnd}/{args.rounds} {mode:10} {name:9} "
                          f"{res.rps:10,.0f} req/s  p99 {res.p99_ms:8.2f} ms  "
                          f"errors {res.errors}", flush=True)  # fmt: skip
        for proc in procs.values():  # still answering correctly after the load
            check_hello(proc.port)

    print()
    print(report(results, servers, alive, markdown=False))
    lines = verdict(results)
    print("\n".join(lines))
    settings_line = (
        f"- settings: micro and waitress {settings.threads} threads each; gunicorn "
        f"{settings.gunicorn_workers} sync workers; wrk {options.threads} threads, "
        f"{options.connections} connections, {options.duration:g} s per run, "
        f"{args.rounds} interleaved rounds; medians over rounds"
    )
    env = [*environment(["waitress", "gunicorn"], {"wrk": ["wrk", "--version"]}), settings_line]
    notes = []
    closers = [n for n in servers if not alive.get(n, True)]
    if closers:
        notes.append(
            f"{', '.join(closers)} closed the connection after each answer even without "
            "`Connection: close` (gunicorn's sync worker has no keep-alive)."
        )
    write_markdown(
        args.markdown,
        "Server: hello-world WSGI app under micro, waitress, gunicorn",
        env,
        report(results, servers, alive, markdown=True) + ("\n\n" + "\n".join(lines)),
        notes,
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as err:
        sys.exit(f"bench_server: {err}")
    except KeyboardInterrupt:
        sys.exit(130)
