"""Thread hand-offs per request: system calls of micro's server under wrk, counted by strace.

    python benchmarks/bench_handoffs.py [--duration 4] [--modes keep-alive,close] [--markdown FILE]

A request that crosses threads costs system calls that a request served on one thread
does not: `futex` (a lock or a queue wakes another thread, or a thread waits for the
GIL), and the I/O loop's `epoll_ctl` (a connection leaves the selector while a worker
serves it and comes back after) and `epoll_wait` wake-ups. This script runs
`micro serve apps:hello` under `strace -f -c` (every thread) while wrk drives it, and
divides each system call's count by the requests wrk completed, for two settings of
the same code:

- `inline` (the default): the I/O loop's thread serves a complete request itself
  while a worker is free (micro.server.lead);
- `workers` (`--inline-budget 0`): every request goes through the worker queue, the
  way micro served every request before the loop served any itself.

strace slows the server down a great deal, so the requests per second here are not
the server's speed (bench_server.py measures that); the counts per request are what
to read. Needs Linux, strace and wrk (`apt-get install strace wrk`).
"""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from harness import (
    HOST,
    BenchError,
    ServerProcess,
    WrkOptions,
    environment,
    fmt,
    free_port,
    http_get,
    require_tool,
    run_wrk,
    table,
    temp_dir,
    terminate_on_signals,
    write_markdown,
)

MODES = {"keep-alive": {}, "close": {"Connection": "close"}}
SETTINGS = {"inline": [], "workers": ["--inline-budget", "0"]}
SHOWN = ("futex", "epoll_wait", "epoll_ctl", "recvfrom", "sendto", "accept4", "close")
# strace -c: "% time  seconds  usecs/call  calls  [errors]  syscall"
_ROW = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$")


def read_counts(path: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in path.read_text(errors="replace").splitlines():
        match = _ROW.match(line)
        if match is not None and match[2] != "total":
            counts[match[2]] = int(match[1])
    if not counts:
        raise BenchError(f"strace wrote no counts to {path}")
    return counts


def measure(
    setting: str, mode: str, duration: float, connections: int, threads: int | None, tmp: Path
) -> tuple[int, dict[str, int]]:
    strace = require_tool("strace")
    port = free_port()
    out = tmp / f"strace-{setting}-{mode}.txt"
    argv = [sys.executable, "-m", "micro", "serve", "apps:hello", "--bind", f"{HOST}:{port}",
            *SETTINGS[setting]]  # fmt: skip
    if threads is not None:
        argv += ["--threads", str(threads)]
    with ServerProcess(f"micro-{setting}-{mode}", argv, port, log_dir=tmp) as server:

        def ready(p: int) -> None:
            if http_get(p, "/").status != 200:
                raise BenchError("GET / did not answer 200")

        server.wait_ready(ready)
        pid = server.proc.pid if server.proc is not None else 0
        # Attached to the running server (every thread: -f), detached by SIGINT after
        # wrk is done, when it writes its summary.
        with subprocess.Popen(
            [strace, "-f", "-c", "-o", str(out), "-p", str(pid)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        ) as tracer:
            try:
                time.sleep(1.0)  # strace attaches to each thread in turn
                result = run_wrk(
                    f"http://{HOST}:{port}/",
                    WrkOptions(duration=duration, connections=connections, threads=1,
                               timeout=10.0),
                    MODES[mode],
                )  # fmt: skip
            finally:
                tracer.send_signal(signal.SIGINT)
                try:
                    tracer.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    tracer.kill()
                    raise BenchError("strace did not detach within 30 s") from None
    if result.errors:
        raise BenchError(f"{setting} {mode}: wrk saw {result.errors} errors")
    return result.requests, read_counts(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per run (4)")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections (50)")
    parser.add_argument("--threads", type=int, default=None, help="micro's threads (its own)")
    parser.add_argument("--modes", default="keep-alive,close", help="keep-alive,close")
    parser.add_argument("--markdown", type=Path, help="also write the report as markdown here")
    parser.add_argument("--all", action="store_true", help="also print every system call's count")
    args = parser.parse_args(argv)
    terminate_on_signals()
    modes = [m for m in args.modes.split(",") if m]
    for mode in modes:
        if mode not in MODES:
            raise BenchError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    rows: list[list[str]] = []
    with temp_dir("micro-handoffs-") as tmp:
        for mode in modes:
            for setting in SETTINGS:
                requests, counts = measure(
                    setting, mode, args.duration, args.connections, args.threads, tmp
                )
                per = {name: counts.get(name, 0) / requests for name in SHOWN}
                if args.all:
                    for name, count in sorted(counts.items(), key=lambda kv: -kv[1]):
                        print(f"    {name:20} {count / requests:8.3f} per request")
                total = sum(counts.values()) / requests
                print(f"{mode:10} {setting:8} {requests:8,} requests  "
                      + "  ".join(f"{n} {v:.2f}" for n, v in per.items()))  # fmt: skip
                rows.append([mode, setting, fmt(requests)]
                            + [fmt(per[name], 2) for name in SHOWN] + [fmt(total, 1)])  # fmt: skip
    headers = ["mode", "setting", "requests", *SHOWN, "all calls"]
    print()
    print(table(headers, rows, markdown=False))
    env_lines = environment((), {"strace": ["strace", "-V"], "wrk": ["wrk", "-v"]})
    env_lines.append(
        f"- settings: wrk 1 thread, {args.connections} connections, {args.duration:g} s per "
        "run; system calls per request completed, every thread of the server counted"
    )
    write_markdown(
        args.markdown,
        "Server: system calls per request, the loop serving vs the workers serving",
        env_lines,
        table(headers, rows, markdown=True),
        [],
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as err:
        sys.exit(f"bench_handoffs: {err}")
    except KeyboardInterrupt:
        sys.exit(130)
