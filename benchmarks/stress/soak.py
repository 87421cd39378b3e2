"""Stress harness (benchmarks/stress): soak — sustained load without errors or growth.

One job: run wrk against the hello-world server for D seconds (default 60) with C
connections (default 100) while sampling the server's VmRSS every half second.
Pass: zero wrk errors (socket connect/read/write/timeout and non-2xx/3xx
responses) and the RSS at the end at most 5% above the RSS after the first 10 s.

    python benchmarks/stress/soak.py [--seconds 60] [--connections 100]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

from common import (
    ServerProcess,
    StressError,
    finish,
    main_guard,
    raise_fd_limit,
    run_wrk,
    running_server,
    server_args,
    timed_requests,
)


def sample_rss(
    server: ServerProcess, samples: list[tuple[float, int]], stop: threading.Event, t0: float
) -> None:
    while not stop.wait(0.5):
        try:
            samples.append((time.monotonic() - t0, server.rss_kib()))
        except (OSError, StressError):
            return  # the process is gone; the verdict reports it


def rss_at(samples: list[tuple[float, int]], when: float) -> int:
    """The first sample taken at or after `when` seconds."""
    for t, rss in samples:
        if t >= when:
            return rss
    raise StressError(f"no RSS sample after {when} s (the run was shorter?)")


def run(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument(
        "--warm-seconds",
        type=float,
        default=10.0,
        help="the RSS reference is taken this long into the run",
    )
    parser.add_argument("--max-growth", type=float, default=5.0, help="percent")
    server_args(parser)
    args = parser.parse_args(argv)
    raise_fd_limit(args.connections + 100)

    with running_server(impl=args.impl, threads=args.threads, via_cli=args.via_cli) as server:
        warm = timed_requests(server.host, server.port, 20, keepalive=True)
        if warm.failures:
            raise StressError(f"server not answering: {warm.failures[0]}")
        rss_start = server.rss_kib()
        fds_before = server.fd_count()
        samples: list[tuple[float, int]] = []
        stop = threading.Event()
        t0 = time.monotonic()
        sampler = threading.Thread(target=sample_rss, args=(server, samples, stop, t0))
        sampler.start()
        try:
            wrk = run_wrk(
                server.url,
                seconds=args.seconds,
                connections=args.connections,
                threads=args.wrk_threads,
            )
        finally:
            stop.set()
            sampler.join()
        alive = server.alive()
        rss_end = server.rss_kib() if alive else 0
        after = timed_requests(server.host, server.port, 5, keepalive=False)
        fds_after = server.settled_fds(fds_before) if alive else -1

    rss_ref = rss_at(samples, args.warm_seconds)
    rss_peak = max(rss for _, rss in samples)
    growth = (rss_end - rss_ref) / rss_ref * 100
    figures = {
        "seconds": args.seconds,
        "connections": args.connections,
        "requests": wrk.requests,
        "rps": wrk.rps,
        "latency_p50_ms": wrk.latency_p50_ms,
        "latency_p99_ms": wrk.latency_p99_ms,
        "socket_errors": wrk.socket_errors,
        "non_2xx_3xx": wrk.non_2xx_3xx,
        "rss_start_mib": round(rss_start / 1024, 1),
        "rss_ref_mib": round(rss_ref / 1024, 1),
        "rss_peak_mib": round(rss_peak / 1024, 1),
        "rss_end_mib": round(rss_end / 1024, 1),
        "rss_growth_pct": round(growth, 2),
        "rss_timeline_mib": [(round(t), round(r / 1024, 1)) for t, r in samples[::10]],
        "server_alive": alive,
        "server_fds_before_after": (fds_before, fds_after),
        "server_threads": server.threads,
        "micro_source": server.source,
        "after_failures": after.failures,
    }
    ok = (
        alive
        and wrk.errors == 0
        and growth <= args.max_growth
        and not after.failures
        and fds_after <= fds_before + 10
    )
    errs = ", ".join(f"{k} {v}" for k, v in wrk.socket_errors.items())
    summary = (
        f"wrk {args.seconds} s x {args.connections} conns: {wrk.requests} requests, "
        f"{wrk.rps:.0f} req/s, p99 {wrk.latency_p99_ms:.1f} ms, errors {wrk.errors} "
        f"({errs}, non-2xx/3xx {wrk.non_2xx_3xx}); RSS {rss_ref / 1024:.1f} MiB at "
        f"{args.warm_seconds:g} s -> {rss_end / 1024:.1f} MiB at end ({growth:+.1f}%, "
        f"limit +{args.max_growth:g}%); server fds {fds_before} -> {fds_after}"
    )
    if wrk.errors:
        print(wrk.output)
    return finish("soak", ok, summary, figures, args.json)


def main(argv: list[str] | None = None) -> int:
    return main_guard("soak", run, argv)


if __name__ == "__main__":
    sys.exit(main())
