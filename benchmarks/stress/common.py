"""Stress harness (benchmarks/stress): what every stress script shares.

One job: run the server under test in a child process and measure it from outside:
start and always stop it (also on Ctrl-C, SIGTERM or a failing script), read its RSS,
time plain requests with http.client, run wrk and parse its report, and print the
one-line verdict plus the JSON figures that run_all.py collects.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import resource
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
HELLO = b"Hello, world!\n"
SOURCE_ENV = "MICRO_STRESS_SOURCE"  # a directory holding the micro package to test


class StressError(Exception):
    """The harness could not run the measurement (not a verdict on the server)."""


def on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def setup_signals() -> None:
    """SIGTERM unwinds like Ctrl-C, so every `finally` stops what the script started."""
    signal.signal(signal.SIGTERM, on_sigterm)
    # Also when started in the background, where the shell leaves SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)


def raise_fd_limit(needed: int) -> int:
    """Raise RLIMIT_NOFILE's soft limit to the hard limit; fail early if still too low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft < needed:
        raise StressError(f"need {needed} file descriptors, the hard limit is {hard}")
    return soft


@dataclass
class ServerProcess:
    """The server under test: a child process listening on host:port."""

    proc: subprocess.Popen[bytes]
    host: str
    port: int
    threads: str
    stderr_path: Path
    source: str = "?"  # the micro package directory the server imported

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss_kib(self) -> int:
        """VmRSS of the server process in KiB (from /proc/PID/status)."""
        text = Path(f"/proc/{self.pid}/status").read_text()
        match = re.search(r"^VmRSS:\s+(\d+) kB", text, re.M)
        if match is None:
            raise StressError(f"no VmRSS for pid {self.pid}")
        return int(match.group(1))

    def cpu_seconds(self) -> float:
        """User + system CPU time the server has used (from /proc/PID/stat)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        # fields[0] is the state (field 3); utime and stime are fields 14 and 15.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def fd_count(self) -> int:
        """Open file descriptors of the server (sockets included)."""
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def settled_fds(self, baseline: int, slack: int = 10, wait: float = 6.0) -> int:
        """The fd count once it is back within `slack` of `baseline`, or after `wait` s.

        Closed connections take a moment (the server lingers up to 2 s after an
        error answer), so a leak is what is still open after that.
        """
        deadline = time.monotonic() + wait
        while True:
            count = self.fd_count()
            if count <= baseline + slack or time.monotonic() > deadline:
                return count
            time.sleep(0.2)

    def stderr_text(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                if self.proc.stdin is not None:
                    self.proc.stdin.close()
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def running_server(
    *,
    impl: str = "micro",
    threads: int | None = None,
    settings: dict[str, Any] | None = None,
    via_cli: bool = False,
    startup_timeout: float = 20.0,
) -> Iterator[ServerProcess]:
    """Start the hello-world server in a child process; always stop it on the way out."""
    stderr_file = tempfile.NamedTemporaryFile(  # noqa: SIM115 - kept for the report
        prefix="micro-stress-server-", suffix=".log", delete=False
    )
    stderr_path = Path(stderr_file.name)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    source = os.environ.get(SOURCE_ENV)
    if source:
        # A snapshot of micro (run_all.py exports a commit there) wins over the editable
        # install, so that others' uncommitted edits in the shared tree are not measured.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [source, env.get("PYTHONPATH")]))
    if via_cli:
        port = free_port()
        cmd = [sys.executable, "-m", "micro", "serve", "serve_app:app"]
        cmd += ["--bind", f"127.0.0.1:{port}"]
        if threads is not None:
            cmd += ["--threads", str(threads)]
        for name, value in (settings or {}).items():
            cmd += [f"--{name.replace('_', '-')}", str(value)]  # idle_timeout: --idle-timeout
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    else:
        cmd = [sys.executable, str(HERE / "serve_app.py"), "--impl", impl]
        if threads is not None:
            cmd += ["--threads", str(threads)]
        for name, value in (settings or {}).items():
            cmd += ["--set", f"{name}={value}"]
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr_file,
        cwd=str(HERE),
        env=env,
    )
    stderr_file.close()
    server = ServerProcess(proc, "127.0.0.1", 0, "?", stderr_path)
    try:
        if via_cli:
            server.port = port
            server.source = f"{source}/micro" if source else "the installed micro (CLI)"
            wait_listening(server, startup_timeout)
        else:
            line = read_line_with_timeout(proc, startup_timeout)
            match = re.match(rb"LISTENING (\S+) (\d+) threads=(\S+)(?: micro=(\S+))?", line)
            if match is None:
                raise StressError(f"server did not start: {line!r}\n{server.stderr_text()[-3000:]}")
            server.host = match.group(1).decode()
            server.port = int(match.group(2))
            server.threads = match.group(3).decode()
            server.source = (match.group(4) or b"?").decode()
        yield server
    except StressError as exc:
        tail = server.stderr_text()[-2000:]
        alive = "alive" if server.alive() else f"exited with {server.proc.returncode}"
        exc.add_note(f"server {alive}; stderr ({stderr_path}) ends with:\n{tail}")
        raise
    finally:
        server.stop()
        # Keep the server's stderr only when it shows something went wrong.
        if "Traceback" not in server.stderr_text():
            stderr_path.unlink(missing_ok=True)
        if proc.stdout is not None:
            proc.stdout.close()


def read_line_with_timeout(proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    """The server's first stdout line (its LISTENING banner), waiting at most `timeout`."""
    stdout = proc.stdout
    if stdout is None:
        raise StressError("the server's stdout is not a pipe")
    with selectors.DefaultSelector() as sel:
        sel.register(stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise StressError(f"server printed nothing within {timeout} s")
    return stdout.readline()


def wait_listening(server: ServerProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.alive():
            raise StressError(f"server exited: {server.stderr_text()[-3000:]}")
        try:
            socket.create_connection((server.host, server.port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise StressError(f"server not listening within {timeout} s")


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass
class Timed:
    """Latencies (seconds) and failures of a run of plain requests."""

    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def ms(self, p: float) -> float:
        return percentile(self.latencies, p) * 1000


def get_once(
    conn: http.client.HTTPConnection, path: str = "/", body: bytes | None = None
) -> tuple[int, bytes]:
    method = "GET" if body is None else "POST"
    conn.request(method, path, body=body)
    response = conn.getresponse()
    return response.status, response.read()


def timed_requests(
    host: str,
    port: int,
    count: int,
    *,
    keepalive: bool,
    interval: float = 0.0,
    timeout: float = 5.0,
    deadline: float | None = None,
) -> Timed:
    """`count` sequential GET / requests; each must be 200 with the hello body.

    With keepalive one connection is reused (and reopened after a failure); without,
    every request opens its own connection, so accepting is part of what is timed.
    `interval` spaces the starts; `deadline` (monotonic) bounds the whole run.
    """
    result = Timed()
    conn: http.client.HTTPConnection | None = None
    start = time.monotonic()
    for i in range(count):
        if deadline is not None and time.monotonic() > deadline:
            result.failures.append(f"request {i}: harness deadline reached")
            break
        if interval:
            delay = start + i * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        t0 = time.perf_counter()
        try:
            if conn is None:
                conn = http.client.HTTPConnection(host, port, timeout=timeout)
            status, body = get_once(conn)
            elapsed = time.perf_counter() - t0
            if status != 200 or body != HELLO:
                result.failures.append(f"request {i}: status {status} body {body[:80]!r}")
            else:
                result.latencies.append(elapsed)
        except (OSError, http.client.HTTPException) as exc:
            result.failures.append(f"request {i}: {type(exc).__name__}: {exc}")
            if conn is not None:
                conn.close()
            conn = None
        if not keepalive and conn is not None:
            conn.close()
            conn = None
    if conn is not None:
        conn.close()
    return result


@dataclass
class WrkResult:
    requests: int
    rps: float
    socket_errors: dict[str, int]
    non_2xx_3xx: int
    latency_p50_ms: float
    latency_p99_ms: float
    output: str

    @property
    def errors(self) -> int:
        return sum(self.socket_errors.values()) + self.non_2xx_3xx


UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def wrk_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        return float("nan")
    return float(match.group(1)) * UNIT_MS[match.group(2)]


def run_wrk(url: str, *, seconds: int, connections: int, threads: int = 2) -> WrkResult:
    """Run wrk (with --latency) and parse its report; wrk's own limit bounds the time."""
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    cmd += ["--timeout", "5s", url]
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=seconds + 30, check=False
        )
    except FileNotFoundError as exc:
        raise StressError("wrk is not installed (apt-get install wrk)") from exc
    out = done.stdout + done.stderr
    if done.returncode != 0:
        raise StressError(f"wrk failed ({done.returncode}): {out}")
    requests = re.search(r"(\d+) requests in", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if requests is None or rps is None:
        raise StressError(f"cannot parse wrk output: {out}")
    errors = {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if sock is not None:
        errors = dict(zip(errors, map(int, sock.groups()), strict=True))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    return WrkResult(
        requests=int(requests.group(1)),
        rps=float(rps.group(1)),
        socket_errors=errors,
        non_2xx_3xx=int(non2xx.group(1)) if non2xx else 0,
        latency_p50_ms=wrk_ms(p50.group(1)) if p50 else float("nan"),
        latency_p99_ms=wrk_ms(p99.group(1)) if p99 else float("nan"),
        output=out,
    )


def server_args(parser: argparse.ArgumentParser) -> None:
    """The options every script takes to choose the server under test."""
    parser.add_argument(
        "--impl",
        choices=("micro", "waitress", "wsgiref"),
        default="micro",
        help="server under test (waitress only to check the harness)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="server worker threads (default: ServerConfig's default)",
    )
    parser.add_argument(
        "--via-cli",
        action="store_true",
        help="start the server with `python -m micro serve` instead of the API",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        help="also write the figures to this JSON file (for run_all.py)",
    )


def finish(
    name: str, ok: bool, summary: str, figures: dict[str, Any], json_path: Path | None
) -> int:
    """Print the one-line verdict, write the figures, and return the exit status."""
    print(f"{'PASS' if ok else 'FAIL'} {name}: {summary}", flush=True)
    if json_path is not None:
        payload = {"name": name, "ok": ok, "summary": summary, "figures": figures}
        json_path.write_text(json.dumps(payload, indent=2, default=str))
    return 0 if ok else 1


def main_guard(name: str, run: Any, argv: list[str] | None = None) -> int:
    """Run a script's body: signals unwind, harness errors and Ctrl-C give a FAIL line."""
    setup_signals()
    try:
        status: int = run(argv)
        return status
    except KeyboardInterrupt:
        print(f"FAIL {name}: interrupted", flush=True)
        return 130
    except StressError as exc:
        for note in getattr(exc, "__notes__", []):
            print(note, file=sys.stderr)
        print(f"FAIL {name}: {exc}", flush=True)
        return 2
