"""Worker processes (``micro serve --processes N``): shared load, survival, clean stop.

Each response names the process that served it (its PID and its parent's), so the
tests see the spread, the replacement of a killed process and the stop.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from micro.server.processes import Supervisor, reuse_port_available

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

ROOT = Path(__file__).resolve().parents[2]
# Seconds to wait for what takes well under one on an idle machine: the supervisor is
# a new Python that imports micro, its processes answer and stop in milliseconds, but
# on a loaded 2-core machine (load 20) a start measured over 15 s. Only a failing test
# waits this long.
PATIENCE = 90.0

APP = """
import os

def app(environ, start_response):
    body = f"{os.getpid()} {os.getppid()}".encode()
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]
"""

# A process forked while the test asks for it runs late for a second, the way the
# scheduler may leave a new process waiting on a loaded machine (the initial ones
# start at once).
LATE_APP = (
    APP
    + """
import time
from pathlib import Path


def _run_late():
    if Path("late").exists():
        Path(f"forked-{os.getpid()}").touch()
        time.sleep(1.0)


os.register_at_fork(after_in_child=_run_late)
"""
)

# The inherited-socket mode, driven through the API rather than the CLI.
INHERIT = """
import sys
from micro.server import ServerConfig
from micro.server.processes import Supervisor
from pidapp import app

supervisor = Supervisor(app, ServerConfig(port=0, threads=2), 2, reuse_port=False)
host, port = supervisor.bind()
announce = lambda: print(f"micro: serving on http://{host}:{port}/", flush=True)
sys.exit(supervisor.run(ready=announce))
"""


class Supervised:
    """A supervisor subprocess; its stdout and stderr lines arrive on queues."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        self.process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd
        )
        self.out: queue.Queue[str] = queue.Queue()
        self.err: queue.Queue[str] = queue.Queue()
        self.readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, self.out), daemon=True),
            threading.Thread(target=self._read, args=(self.process.stderr, self.err), daemon=True),
        ]
        for reader in self.readers:
            reader.start()
        banner = self.out.get(timeout=PATIENCE)
        self.port = int(banner.split("http://127.0.0.1:")[1].split("/")[0])

    @staticmethod
    def _read(pipe: Any, lines: queue.Queue[str]) -> None:
        for line in pipe:
            lines.put(line)

    def get(self) -> tuple[int, int]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=PATIENCE)
        try:
            conn.request("GET", "/", headers={"Connection": "close"})
            response = conn.getresponse()
            assert response.status == 200
            pid, ppid = response.read().split()
            return int(pid), int(ppid)
        finally:
            conn.close()

    def wait_for_error_line(self, text: str, timeout: float = PATIENCE) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.err.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if text in line:
                return line
        raise AssertionError(f"no stderr line with {text!r} within {timeout}s")

    def stop(self, children: set[int]) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # the supervisor stops its processes
            try:
                self.process.wait(PATIENCE)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(PATIENCE)
        for pid in children:  # never leave a worker process behind (they hold the pipes)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for reader in self.readers:
            reader.join(10)
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def supervise(tmp_path: Path) -> Iterator[Any]:
    (tmp_path / "pidapp.py").write_text(APP)
    (tmp_path / "inherit.py").write_text(INHERIT)
    (tmp_path / "lateapp.py").write_text(LATE_APP)
    started: list[Supervised] = []
    pids: set[int] = set()

    def start(*argv: str) -> Supervised:
        supervised = Supervised([sys.executable, *argv], tmp_path)
        started.append(supervised)
        return supervised

    start.pids = pids  # type: ignore[attr-defined]
    yield start
    for supervised in started:
        supervised.stop(pids)


def serve_cli(supervise: Any, processes: int) -> Supervised:
    supervised: Supervised = supervise(
        "-m", "micro", "serve", "pidapp.py", "--bind", "127.0.0.1:0",
        "--processes", str(processes), "--threads", "2",
    )  # fmt: skip
    return supervised


def spread(supervised: Supervised, requests: int) -> dict[int, int]:
    """How many of ``requests`` new connections each process served."""
    counts: dict[int, int] = {}
    for _ in range(requests):
        pid, ppid = supervised.get()
        assert ppid == supervised.process.pid  # a child of the supervisor
        counts[pid] = counts.get(pid, 0) + 1
    return counts


def exited(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # an orphan's zombie waits for whoever is PID 1 to reap it
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] == "Z"


def gone(pid: int, timeout: float = PATIENCE) -> bool:
    """True once ``pid`` has exited (polled, bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if exited(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(not reuse_port_available(), reason="SO_REUSEPORT is not available")
def test_processes_share_the_load(supervise: Any) -> None:
    supervised = serve_cli(supervise, 3)
    counts = spread(supervised, 60)
    supervise.pids.update(counts)
    assert len(counts) >= 2, counts  # the kernel spreads connections by their ports
    assert sum(counts.values()) == 60


def test_a_killed_process_is_replaced_and_requests_keep_succeeding(supervise: Any) -> None:
    supervised = serve_cli(supervise, 2)
    victim = supervised.get()[0]
    supervise.pids.add(victim)
    os.kill(victim, signal.SIGKILL)
    line = supervised.wait_for_error_line(f"process {victim} exited")
    assert "starting another" in line
    seen: set[int] = set()
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline and len(seen - {victim}) < 2:
        seen.add(supervised.get()[0])  # every request succeeds meanwhile
    supervise.pids.update(seen)
    assert victim not in seen
    assert len(seen) == 2  # the survivor and the replacement


def test_sigterm_stops_every_process_and_exits_0(supervise: Any) -> None:
    supervised = serve_cli(supervise, 2)
    pids = set(spread(supervised, 20))
    supervise.pids.update(pids)
    supervised.process.send_signal(signal.SIGTERM)
    status = supervised.process.wait(PATIENCE)
    assert status == 0, "".join(list(supervised.err.queue))
    assert all(gone(pid) for pid in pids)
    assert "Traceback" not in "".join(list(supervised.err.queue))


def test_a_stop_that_reaches_a_process_just_forked_stops_it_gracefully(
    supervise: Any, tmp_path: Path
) -> None:
    supervised: Supervised = supervise(
        "-m", "micro", "serve", "lateapp.py", "--bind", "127.0.0.1:0",
        "--processes", "2", "--threads", "2", "--graceful-timeout", "5",
    )  # fmt: skip
    victim = supervised.get()[0]
    supervise.pids.add(victim)
    (tmp_path / "late").touch()
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + PATIENCE
    while not (forked := list(tmp_path.glob("forked-*"))) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert forked, "no replacement was forked"
    supervise.pids.add(int(forked[0].name.split("-")[1]))
    supervised.process.send_signal(signal.SIGTERM)  # the replacement has not run yet
    status = supervised.process.wait(PATIENCE)
    log = "".join(list(supervised.err.queue))
    assert status == 0, log  # not killed after the grace period, not dead of SIGTERM
    assert "killed" not in log


def test_a_second_signal_to_the_supervisor_stops_at_once(supervise: Any) -> None:
    supervised = serve_cli(supervise, 2)
    supervise.pids.update(spread(supervised, 4))
    supervised.process.send_signal(signal.SIGINT)
    supervised.process.send_signal(signal.SIGINT)
    assert supervised.process.wait(PATIENCE) in (0, 1)  # idle processes may finish first


def test_processes_stop_themselves_when_the_supervisor_is_killed(supervise: Any) -> None:
    supervised = serve_cli(supervise, 2)
    pids = set(spread(supervised, 10))
    supervise.pids.update(pids)
    supervised.process.kill()
    supervised.process.wait(PATIENCE)
    assert all(gone(pid) for pid in pids)  # no orphan keeps serving


def test_one_inherited_socket_when_reuse_port_is_not_used(supervise: Any) -> None:
    supervised = supervise("inherit.py")
    counts = spread(supervised, 10)
    supervise.pids.update(counts)
    assert sum(counts.values()) == 10
    victim = next(iter(counts))
    os.kill(victim, signal.SIGKILL)
    supervised.wait_for_error_line(f"process {victim} exited")
    assert victim not in spread(supervised, 10)
    supervised.process.send_signal(signal.SIGTERM)
    assert supervised.process.wait(PATIENCE) == 0


def test_supervisor_rejects_bad_settings() -> None:
    from micro.errors import ConfigError
    from micro.server import ServerConfig

    def app(environ: Any, start_response: Any) -> list[bytes]:
        return []

    with pytest.raises(ConfigError, match="at least 1"):
        Supervisor(app, ServerConfig(), 0)
    with pytest.raises(ConfigError, match="not an IP address"):
        Supervisor(app, ServerConfig(trusted_proxies=("nonsense",)), 2)
