"""Suite-wide pytest set-up: slow stress tests only run with --run-slow, and the
``micro_serve`` fixture that runs the real ``micro serve`` command."""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-slow",
        action="store_true",
        default=False,
        help="also run tests marked slow (stress and soak tests)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip_slow = pytest.mark.skip(reason="slow test: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


class ServedCLI:
    """A ``python -m micro serve`` process that has printed its banner."""

    def __init__(self, process: subprocess.Popen[str], banner: str) -> None:
        self.process = process
        self.banner = banner
        match = re.search(r"(https?)://127\.0\.0\.1:(\d+)/", banner)
        if match is None:
            raise AssertionError(f"no listening address in the banner: {banner!r}")
        self.scheme, self.port = match[1], int(match[2])
        self.url = f"{self.scheme}://127.0.0.1:{self.port}/"

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 15) -> tuple[int, str]:
        """Send ``signum``, wait for the exit; (exit status, what it wrote to stderr)."""
        self.process.send_signal(signum)
        _, err = self.process.communicate(timeout=timeout)
        return self.process.returncode, err


@contextlib.contextmanager
def _micro_serve(target: str | Path, *flags: str) -> Iterator[ServedCLI]:
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "micro", "serve", str(target)),
            *("--bind", "127.0.0.1:0", "--threads", "2", *flags),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        yield ServedCLI(process, process.stdout.readline())
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


@pytest.fixture
def micro_serve() -> Callable[..., contextlib.AbstractContextManager[ServedCLI]]:
    """``with micro_serve(target, *flags) as served:`` runs ``micro serve`` on port 0
    (two threads) until its banner is out; the process is killed if still running."""
    return _micro_serve
