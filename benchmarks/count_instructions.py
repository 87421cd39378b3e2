"""CPU instructions per request, counted by valgrind: a speed figure that load cannot blur.

    python benchmarks/count_instructions.py [--source DIR ...] [--modes keep-alive,close]
                                            [--requests 3000] [--repeat 2] [--markdown FILE]

wrk's requests per second move with whatever else the machine runs; the number of
instructions a server executes per request does not. This script runs
`micro serve apps:hello` (and the asyncio ceiling of apps.py) under valgrind's
callgrind with instrumentation off, warms it up, switches counting on
(`callgrind_control -i on`) while a client drives a fixed number of requests, and
divides the user-space instructions of the whole process (every thread) by the
requests served. The client is the same for every server: `--connections`
connections, each sending one request and waiting for its answer, all in step
(keep-alive), or that many new connections with `Connection: close` at a time.

Kernel work (system calls, TCP) is not counted, so the figure measures the Python
side only; under wrk the kernel's share dilutes the differences it shows. Use it to
compare versions of micro: `--source DIR` runs micro from another checkout (put on
PYTHONPATH ahead of the installed one), e.g. a `git worktree` of an older commit.
Repeats vary by a percent or two (how many requests one poll returns changes the
loop's share); the table gives the lowest and the median.

Needs Linux and valgrind (`apt-get install valgrind`). Slow: about 5 s per thousand
requests per run.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from harness import (
    HERE,
    HOST,
    BenchError,
    environment,
    fmt,
    free_port,
    require_tool,
    table,
    temp_dir,
    terminate_on_signals,
    tool_version,
    write_markdown,
)

MODES = ("keep-alive", "close")
BODY = b"Hello, World!"
WARM_UP = 200
START_TIMEOUT = 120.0  # python under valgrind imports slowly


def server_argv(name: str, port: int) -> list[str]:
    if name == "asyncio":
        return [sys.executable, "apps.py", "asyncio", str(port)]
    return [sys.executable, "-m", "micro", "serve", "apps:hello", "--bind", f"{HOST}:{port}"]


class Client:
    """Drives the server in a fixed pattern: `width` requests in flight, in step."""

    def __init__(self, port: int, mode: str, width: int) -> None:
        self.port = port
        self.mode = mode
        self.width = width
        host = f"Host: {HOST}:{port}\r\n"
        close = "Connection: close\r\n" if mode == "close" else ""
        self.request = f"GET / HTTP/1.1\r\n{host}{close}\r\n".encode()
        self.open: list[socket.socket] = []

    def connect(self) -> socket.socket:
        return socket.create_connection((HOST, self.port), timeout=60.0)

    def drive(self, count: int) -> int:
        """At least ``count`` requests; returns how many were answered."""
        done = 0
        while done < count:
            if self.mode == "keep-alive":
                if not self.open:
                    self.open = [self.connect() for _ in range(self.width)]
                batch = self.open
            else:
                batch = [self.connect() for _ in range(self.width)]
            for sock in batch:
                sock.sendall(self.request)
            for sock in batch:
                self.read_answer(sock)
                if self.mode == "close":
                    sock.close()
            done += len(batch)
        return done

    def read_answer(self, sock: socket.socket) -> None:
        received = b""
        while BODY not in received:
            chunk = sock.recv(65536)
            if not chunk:
                raise BenchError(f"the server closed before answering: {received[:200]!r}")
            received += chunk

    def close(self) -> None:
        for sock in self.open:
            sock.close()


def wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"the server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            socket.create_connection((HOST, port), timeout=1.0).close()
            return
        except OSError:
            time.sleep(0.5)
    raise BenchError(f"the server did not listen within {START_TIMEOUT:g}s")


def read_total(path: Path) -> int:
    """The Ir total of a callgrind output file (its 'totals:' or 'summary:' line; 0 if none)."""
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith(("totals:", "summary:")):
            total = max(total, int(line.split()[1]))
    return total


def count_once(
    name: str, source: Path | None, mode: str, args: argparse.Namespace, tmp: Path
) -> float:
    """Instructions per request of one server run."""
    valgrind = require_tool("valgrind")
    control = require_tool("callgrind_control")
    port = free_port()
    out = tmp / f"callgrind.{name}.{mode}.{time.monotonic_ns()}"
    log = tmp / "server.log"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    path = [str(HERE)] if source is None else [str(source), str(HERE)]
    env["PYTHONPATH"] = os.pathsep.join([*path, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    argv = [valgrind, "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            argv + server_argv(name, port), cwd=HERE, env=env, stdout=sink, stderr=sink
        )
    client = Client(port, mode, args.connections)
    try:
        wait_listening(port, proc, log)
        client.drive(WARM_UP)
        subprocess.run([control, "-i", "on", str(proc.pid)], check=True, capture_output=True)
        served = client.drive(args.requests)
        subprocess.run([control, "-i", "off", str(proc.pid)], check=True, capture_output=True)
        # Written now, not at exit: a server slow to stop under valgrind loses nothing.
        subprocess.run([control, "-d", str(proc.pid)], check=True, capture_output=True)
    finally:
        client.close()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    files = sorted(tmp.glob(out.name + "*"))
    if not files:
        raise BenchError(f"callgrind wrote nothing:\n{log.read_text()}")
    total = sum(read_total(f) for f in files)
    if not total:
        raise BenchError(f"no instruction total in {', '.join(map(str, files))}")
    for f in files:
        f.unlink()
    return total / served


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default=",".join(MODES), help=",".join(MODES))
    parser.add_argument("--requests", type=int, default=3000, help="counted per run (3000)")
    parser.add_argument("--connections", type=int, default=10, help="requests in step (10)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per row (2)")
    parser.add_argument(
        "--source",
        type=Path,
        action="append",
        default=[],
        help="also count micro from this checkout (repeatable)",
    )
    parser.add_argument("--no-asyncio", action="store_true", help="skip the asyncio ceiling")
    parser.add_argument("--markdown", type=Path, help="also write the report as markdown here")
    args = parser.parse_args(argv)
    terminate_on_signals()
    modes = [m for m in args.modes.split(",") if m]
    for mode in modes:
        if mode not in MODES:
            parser.error(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    servers: list[tuple[str, str, Path | None]] = [("micro", "micro (this checkout)", None)]
    for source in args.source:
        if not (source / "micro").is_dir():
            parser.error(f"--source {source}: no micro package there")
        commit = tool_version(["git", "-C", str(source), "describe", "--always", "--dirty"])
        name = f"micro at {commit}" if (source / ".git").exists() else f"micro from {source}"
        servers.append(("micro", name, source.resolve()))
    if not args.no_asyncio:
        servers.append(("asyncio", "asyncio (ceiling)", None))
    rows = []
    with temp_dir("instructions") as tmp:
        for mode in modes:
            counts: dict[str, list[float]] = {label: [] for _, label, _ in servers}
            for repeat in range(args.repeat):
                for name, label, source in servers:
                    per_request = count_once(name, source, mode, args, tmp)
                    counts[label].append(per_request)
                    print(f"run {repeat + 1}/{args.repeat} {mode:10} {label:28} "
                          f"{per_request:10,.0f} instructions/request", flush=True)  # fmt: skip
            first = statistics.median(counts[servers[0][1]])
            for _, label, _ in servers:
                values = counts[label]
                mid = statistics.median(values)
                rows.append([mode, label, fmt(min(values)), fmt(mid), f"{mid / first:.2f}x"])
    headers = ["mode", "server", "instructions/request (lowest)", "median", "vs this checkout"]
    print()
    print(table(headers, rows, markdown=False))
    env_lines = environment((), {"valgrind": ["valgrind", "--version"]})
    env_lines.append(
        f"- settings: {args.requests} requests counted per run after {WARM_UP} to warm up, "
        f"{args.connections} in step, {args.repeat} runs per row; user-space "
        "instructions of every thread of the server process (callgrind), kernel not counted"
    )
    write_markdown(
        args.markdown,
        "Server: instructions per request (callgrind)",
        env_lines,
        table(headers, rows, markdown=True),
        [],
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as err:
        sys.exit(f"count_instructions: {err}")
