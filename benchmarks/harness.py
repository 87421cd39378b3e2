"""Benchmark harness shared by the scripts in benchmarks/: processes, wrk, medians, tables.

Not part of micro and never a test. The scripts import it as a sibling module
(`python benchmarks/bench_server.py` puts benchmarks/ first on sys.path).

Every server the scripts start runs in its own process group on 127.0.0.1 and is
stopped (SIGTERM, then SIGKILL) by the context manager that started it, whatever
happens; every wrk run and every readiness wait has a deadline.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import importlib.metadata
import math
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
HOST = "127.0.0.1"

INSTALL_HINTS = {
    "wrk": "wrk is missing: install it with `apt-get install wrk` (Debian/Ubuntu).",
    "nginx": "nginx is missing: install it with `apt-get install nginx` (Debian/Ubuntu).",
}
PEERS_HINT = (
    "install the peers into the venv with `python -m pip install -r benchmarks/requirements.txt`"
)


class BenchError(Exception):
    """A benchmark cannot run or a server answered wrongly; the message says why."""


def require_tool(name: str) -> str:
    """The path of an external program, or a clear error that says how to install it."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin:/sbin")
    if path is None:
        raise BenchError(INSTALL_HINTS.get(name, f"{name} is missing"))
    return path


def require_module(module: str, dist: str) -> None:
    """Fail with an install hint when a peer package is not importable."""
    try:
        importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        raise BenchError(f"{dist} ({module}) is missing: {PEERS_HINT}") from None


def terminate_on_signals() -> None:
    """Turn SIGTERM/SIGHUP into SystemExit so `with` blocks stop the servers."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)


def free_port() -> int:
    """An ephemeral port on 127.0.0.1 that was free a moment ago (the child binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def child_env() -> dict[str, str]:
    """The environment for server processes: benchmarks/ importable, unbuffered output."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


def http_get(port: int, path: str, headers: Mapping[str, str] | None = None) -> Reply:
    """One GET to 127.0.0.1:port with a short timeout; the raw (undecoded) body."""
    conn = http.client.HTTPConnection(HOST, port, timeout=5.0)
    try:
        conn.request("GET", path, headers=dict(headers or {}))
        resp = conn.getresponse()
        body = resp.read()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body)
    finally:
        conn.close()


class ServerProcess:
    """A server in its own process group, started on enter and always stopped on exit."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        port: int,
        *,
        cwd: Path = HERE,
        env: Mapping[str, str] | None = None,
        log_dir: Path,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.port = port
        self.cwd = cwd
        self.env = dict(env) if env is not None else child_env()
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServerProcess:
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own group: stop() reaches forked workers too
            )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(
        self, check: Callable[[int], None], timeout: float = 20.0, path_hint: str = "/"
    ) -> None:
        """Poll until `check(port)` passes; fail if the process dies or time runs out."""
        if self.proc is None:
            raise BenchError(f"{self.name} was not started")
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(
                    f"{self.name} exited with {self.proc.returncode} before answering "
                    f"({shlex.join(self.argv)}):\n{self.log_tail()}"
                )
            try:
                check(self.port)
                return
            except (OSError, http.client.HTTPException) as err:
                last = err
                time.sleep(0.1)
        raise BenchError(
            f"{self.name} did not answer {path_hint} on port {self.port} within {timeout}s "
            f"(last error: {last}):\n{self.log_tail()}"
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by every live process of the server's group.

        Read from /proc: the leader and the processes it forked (pre-fork workers, nginx
        workers) share its process group. Processes that already exited are not
        counted, which is what a benchmark wants: read it before and after a run.
        """
        if self.proc is None:
            return 0.0
        return group_cpu_seconds(self.proc.pid)

    def stop(self, grace: float = 5.0) -> None:
        proc = self.proc
        if proc is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
        # The leader may be gone while forked workers linger: sweep the group once more.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        self.proc = None


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU seconds of the live processes in process group ``pgid`` (Linux)."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:  # gone meanwhile
            continue
        # The command name may hold spaces and parentheses: the fields follow the last ")".
        fields = stat.rpartition(b")")[2].split()
        # fields[0] is field 3 (state): pgrp is field 5, utime 14, stime 15.
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / _CLOCK_TICKS


def nginx_process(
    prefix: Path, port: int, workers: str, locations: str, logs: Path
) -> ServerProcess:
    """nginx in the foreground from a config written into ``prefix``, stopped by its PID.

    ``locations`` is the body of the one ``server`` block (after its ``listen``).
    """
    nginx = require_tool("nginx")
    temps = "\n".join(
        f"    {kind}_temp_path {prefix / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = prefix / "nginx.conf"
    conf.write_text(f"""daemon off;
worker_processes {workers};
pid {prefix / "nginx.pid"};
error_log stderr warn;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
{temps}
    server {{
        listen {HOST}:{port};
        {locations}
    }}
}}
""")
    # -e: nginx opens its compiled-in error log before it reads the config; send it to stderr.
    argv = [nginx, "-p", str(prefix), "-c", str(conf), "-e", "stderr"]
    return ServerProcess("nginx", argv, port, log_dir=logs)


@contextlib.contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# --- a CPU limit for servers --------------------------------------------------------------

_CGROUP_ROOT = Path("/sys/fs/cgroup")
_QUOTA_PERIOD_US = 100_000


@contextlib.contextmanager
def cpu_limit(cores: float) -> Iterator[Path]:
    """A cgroup whose processes may use ``cores`` CPUs at most, as a container's CPU limit.

    Yields the file a process writes its PID to in order to join it (``join_cgroup``);
    the group is removed afterwards (its processes must have ended). Linux with a
    writable cgroup ``cpu`` controller, v2 (``cpu.max``) or v1 (``cpu.cfs_quota_us``);
    BenchError otherwise.
    """
    if not (cores > 0 and math.isfinite(cores)):
        raise BenchError(f"a CPU limit must be more than 0 cores (and finite), got {cores}")
    quota = max(1000, round(cores * _QUOTA_PERIOD_US))
    v2 = _CGROUP_ROOT / "cgroup.subtree_control"
    if v2.exists() and "cpu" in v2.read_text().split():
        parent, files = _CGROUP_ROOT, {"cpu.max": f"{quota} {_QUOTA_PERIOD_US}"}
    elif (_CGROUP_ROOT / "cpu" / "cpu.cfs_quota_us").exists():
        parent = _CGROUP_ROOT / "cpu"
        files = {"cpu.cfs_period_us": str(_QUOTA_PERIOD_US), "cpu.cfs_quota_us": str(quota)}
    else:
        raise BenchError(f"a CPU limit needs the cgroup cpu controller under {_CGROUP_ROOT}")
    group = parent / f"micro-bench-{os.getpid()}"
    try:
        group.mkdir()
        for name, value in files.items():
            (group / name).write_text(value)
    except OSError as exc:
        with contextlib.suppress(OSError):
            group.rmdir()
        raise BenchError(f"cannot set up a CPU limit in {parent}: {exc}") from None
    try:
        yield group / "cgroup.procs"
    finally:
        with contextlib.suppress(OSError):
            group.rmdir()


def join_cgroup(procs: Path) -> None:
    """Move this process into the cgroup of ``procs`` (before it starts any thread)."""
    procs.write_text(str(os.getpid()))


# --- wrk ---------------------------------------------------------------------------------

_UNITS_TIME = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_UNITS_BYTES = {"B": 1.0, "KB": 1024.0, "MB": 1024.0**2, "GB": 1024.0**3, "TB": 1024.0**4}


@dataclass(frozen=True)
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    transfer_bps: float  # bytes per second, as wrk counts them (heads and bodies)
    requests: int
    errors: int  # socket errors (connect, read, write, timeout) plus non-2xx/3xx answers
    # wrk's own CPU time over the run (user + system, all its threads; run_wrk reads it,
    # NaN when not measured): against the run's duration it says whether the client,
    # not the server, set the pace.
    client_cpu_s: float = float("nan")


def _time_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if match is None:
        raise BenchError(f"cannot read wrk latency {text!r}")
    return float(match[1]) * _UNITS_TIME[match[2]]


def _bytes(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(B|KB|MB|GB|TB)", text)
    if match is None:
        raise BenchError(f"cannot read wrk size {text!r}")
    return float(match[1]) * _UNITS_BYTES[match[2]]


def parse_wrk(output: str) -> WrkResult:
    """Read wrk 4.x's report (run with --latency)."""

    def find(pattern: str) -> re.Match[str]:
        match = re.search(pattern, output, re.MULTILINE)
        if match is None:
            raise BenchError(f"wrk output lacks /{pattern}/:\n{output}")
        return match

    rps = float(find(r"^Requests/sec:\s+([\d.]+)")[1])
    p50 = _time_ms(find(r"^\s+50(?:\.000)?%\s+(\S+)")[1])
    p99 = _time_ms(find(r"^\s+99(?:\.000)?%\s+(\S+)")[1])
    transfer = _bytes(find(r"^Transfer/sec:\s+(\S+)")[1])
    requests = int(find(r"^\s+(\d+) requests in ")[1])
    errors = 0
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if sock is not None:
        errors += sum(int(n) for n in sock.groups())
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non2xx is not None:
        errors += int(non2xx[1])
    return WrkResult(rps, p50, p99, transfer, requests, errors)


@dataclass
class Run:
    """One wrk run against one server, with the server's CPU time over it."""

    wrk: WrkResult
    cpu_s: float

    @property
    def per_cpu_s(self) -> float:
        """Requests per server CPU-second."""
        return self.wrk.requests / self.cpu_s if self.cpu_s > 0 else float("nan")

    @property
    def client_cores(self) -> float:
        """The CPU wrk used over the run, in cores (1.0: one core busy throughout)."""
        if not self.wrk.rps:
            return float("nan")
        return self.wrk.client_cpu_s / (self.wrk.requests / self.wrk.rps)


@dataclass(frozen=True)
class WrkOptions:
    duration: float = 5.0
    connections: int = 32
    threads: int = 2
    timeout: float = 5.0  # wrk's per-request timeout: slower answers count as errors


def run_wrk(
    url: str,
    options: WrkOptions,
    headers: Mapping[str, str] | None = None,
    script: Path | None = None,
) -> WrkResult:
    """One wrk run (with a Lua ``script`` if given), killed if it overruns by 30 s."""
    wrk = require_tool("wrk")
    argv = [
        wrk,
        f"-t{options.threads}",
        f"-c{options.connections}",
        f"-d{options.duration:g}s",
        f"--timeout={options.timeout:g}s",
        "--latency",
    ]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    if script is not None:
        argv += ["-s", str(script)]
    argv.append(url)
    before = _children_cpu_s()
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=options.duration + 30, check=False
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"wrk overran its time: {shlex.join(argv)}") from None
    # The children this process waited for meanwhile: wrk alone (servers are waited for
    # when they stop, never during a run).
    client_cpu_s = _children_cpu_s() - before
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return dataclasses.replace(parse_wrk(done.stdout), client_cpu_s=client_cpu_s)


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --- reporting ---------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def fmt(value: float, digits: int = 0) -> str:
    if value != value:  # NaN: not measured
        return "-"
    return f"{value:,.{digits}f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, markdown: bool) -> str:
    """A text table; markdown pipes when asked, aligned columns otherwise."""
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=False)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(out)


def per_round_ratio(values: Sequence[float], reference: Sequence[float]) -> float:
    """The median over rounds of value / reference measured in the same round."""
    pairs = [v / r for v, r in zip(values, reference, strict=False) if r]
    return median(pairs)


# --- an SVG bar chart (hand-written, standard library only) ------------------------------

_SVG_COLOURS = ("#3b6ea5", "#e08a2c", "#5a9e4b", "#b04a5a")


def _svg_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def svg_bar_chart(
    title: str,
    unit: str,
    groups: Sequence[tuple[str, Sequence[tuple[float, str]]]],
    series: Sequence[str],
    *,
    note: str = "",
) -> str:
    """Horizontal grouped bars: one group per row label, one bar per series.

    ``groups`` is ``[(label, [(value, annotation), ...one per series]), ...]``; NaN values
    draw no bar. The scale starts at zero so that bar lengths compare honestly.
    """
    bar, gap, label_w, width, right = 16, 10, 190, 900, 190
    plot_w = width - label_w - right
    top = 56
    height = top + len(groups) * (len(series) * bar + gap) + 40 + (18 if note else 0)
    peak = max((v for _, bars in groups for v, _ in bars if v == v), default=1.0) or 1.0
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="10" y="22" font-size="15" font-weight="bold">{_svg_escape(title)}</text>',
    ]
    x = label_w
    for i, name in enumerate(series):  # legend
        colour = _SVG_COLOURS[i % len(_SVG_COLOURS)]
        out.append(f'<rect x="{x}" y="32" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="{x + 16}" y="42">{_svg_escape(name)}</text>')
        x += 16 + 8 * len(name) + 24
    y = top
    for label, bars in groups:
        mid = y + len(series) * bar / 2 + 4
        out.append(f'<text x="{label_w - 8}" y="{mid:.0f}" text-anchor="end">'
                   f"{_svg_escape(label)}</text>")  # fmt: skip
        for i, (value, annotation) in enumerate(bars):
            colour = _SVG_COLOURS[i % len(_SVG_COLOURS)]
            by = y + i * bar
            w = 0.0 if value != value else plot_w * value / peak
            out.append(f'<rect x="{label_w}" y="{by}" width="{w:.1f}" height="{bar - 2}" '
                       f'fill="{colour}"/>')  # fmt: skip
            out.append(f'<text x="{label_w + w + 4:.1f}" y="{by + bar - 5}">'
                       f"{_svg_escape(annotation)}</text>")  # fmt: skip
        y += len(series) * bar + gap
    out.append(f'<line x1="{label_w}" y1="{top - 4}" x2="{label_w}" y2="{y}" stroke="#444"/>')
    out.append(f'<text x="{label_w}" y="{y + 16}" fill="#444">0</text>')
    out.append(f'<text x="{label_w + plot_w}" y="{y + 16}" text-anchor="end" fill="#444">'
               f"{peak:,.0f} {_svg_escape(unit)}</text>")  # fmt: skip
    if note:
        out.append(f'<text x="10" y="{y + 36}" fill="#444">{_svg_escape(note)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_svg(path: Path | None, svg: str) -> None:
    if path is None:
        return
    path.write_text(svg)
    print(f"wrote {path}")


def dist_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def tool_version(argv: Sequence[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    text = (done.stdout + done.stderr).strip().splitlines()
    # wrk's first line goes on with a copyright notice; the name and version are enough
    return text[0].split(" [")[0].split(" Copyright")[0] if text else "unknown"


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def environment(dists: Sequence[str], tools: Mapping[str, Sequence[str]]) -> list[str]:
    """Lines that say what ran where: date, Python, machine, versions."""
    lines = [
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- Python: {platform.python_implementation()} {platform.python_version()}",
        f"- machine: {os.cpu_count()} cores ({cpu_model()}), {platform.system()} "
        f"{platform.release()}",
        "- versions: " + ", ".join(f"{d} {dist_version(d)}" for d in ("micro-web", *dists)),
    ]
    commit = tool_version(["git", "-C", str(ROOT), "describe", "--always", "--dirty"])
    lines.append(f"- micro at commit {commit}")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines.append(f"- load average when the report was written (1, 5, 15 min): {load}")
    if tools:
        lines.append("- tools: " + ", ".join(tool_version(argv) for argv in tools.values()))
    return lines


def reproduce_command() -> str:
    script = Path(sys.argv[0]).resolve()
    with contextlib.suppress(ValueError):
        script = script.relative_to(ROOT)
    return shlex.join(["python", str(script), *sys.argv[1:]])


def write_markdown(
    path: Path | None, title: str, env_lines: Sequence[str], body: str, notes: Sequence[str]
) -> None:
    if path is None:
        return
    text = [f"## {title}", "", *env_lines, "", "Command:", "", "```sh", reproduce_command(), "```"]
    text += ["", body, ""]
    if notes:
        text += [*notes, ""]
    path.write_text("\n".join(text) + "\n")  # a blank line before whatever follows
    print(f"wrote {path}")
