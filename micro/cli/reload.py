"""Command-line layer (development): ``micro serve --reload``, a new server when a file changes.

Two processes, standard library only:

- The **supervisor** (the ``micro serve --reload`` you started) runs the same command
  again as a **child** process, with ``MICRO_RELOAD_CHILD`` set to the path of a
  report file. It polls the modification time and size of every file the child
  reported, every ``--reload-interval`` seconds (1 by default); when one changes it
  stops the child (SIGTERM, then SIGKILL after a grace period) and starts a new one.
- The **child** serves as usual. Once its server is up it starts a daemon thread that
  writes the files of its loaded modules to the report file, and again whenever new
  modules were imported (a module imported lazily during a request counts too).

Which files: every loaded module's source file except those of the standard library
and of installed distributions (site-packages), so the app, its neighbours and any
editable install are watched, and upgrades of installed packages are not.

Polling (rather than inotify and friends) is deliberate: it needs no dependency, works
the same on every OS and file system, and a few hundred ``stat`` calls a second cost
nothing worth mentioning. A child that fails to start the first time (a wrong TARGET,
a port in use) ends the supervisor with its exit status; a child that fails later (a
syntax error just saved) is reported in one line, and the supervisor waits for the
next change to try again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

__all__ = ["CHILD_ENV", "Reloader", "is_child", "report_modules", "snapshot", "watched_files"]

CHILD_ENV = "MICRO_RELOAD_CHILD"
Stamp = tuple[int, int] | None  # (mtime_ns, size); None: the file is gone


def is_child() -> bool:
    """True in the process the supervisor started (it serves; it does not supervise)."""
    return bool(os.environ.get(CHILD_ENV))


def _library_roots() -> tuple[str, ...]:
    roots = set()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(os.path.realpath(path) + os.sep)
    return tuple(sorted(roots))


def watched_files(modules: Iterable[Any] | None = None) -> set[str]:
    """Source files of ``modules`` (default: every loaded one) outside the libraries."""
    roots = _library_roots()
    files = set()
    for module in list(sys.modules.values()) if modules is None else modules:
        path = getattr(module, "__file__", None)
        if not isinstance(path, str) or not path.endswith(".py"):
            continue
        real = os.path.realpath(path)
        if not real.startswith(roots):
            files.add(real)
    return files


def snapshot(files: Iterable[str]) -> dict[str, Stamp]:
    """(mtime_ns, size) of each file, None for one that does not exist."""
    stamps: dict[str, Stamp] = {}
    for path in files:
        try:
            st = os.stat(path)
        except OSError:
            stamps[path] = None
        else:
            stamps[path] = (st.st_mtime_ns, st.st_size)
    return stamps


def report_modules(path: str | None = None, interval: float = 1.0) -> threading.Thread | None:
    """In the child: write the watched files to the report file now and when they grow."""
    path = path or os.environ.get(CHILD_ENV)
    if not path:
        return None

    def write(files: set[str]) -> None:
        temporary = f"{path}.{os.getpid()}.tmp"
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump(sorted(files), f)
        os.replace(temporary, path)  # the supervisor never reads half a list

    def loop() -> None:
        reported: set[str] = set()
        while True:
            files = watched_files()
            if files != reported:
                write(files)
                reported = files
            time.sleep(interval)

    write(watched_files())
    thread = threading.Thread(target=loop, name="micro-reload-report", daemon=True)
    thread.start()
    return thread


class Reloader:
    """Run ``command`` as a child and run it again whenever a watched file changes."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        interval: float = 1.0,
        extra_files: Iterable[str] = (),
        grace: float = 5.0,
        out: TextIO | None = None,
    ) -> None:
        self.command = list(command)
        self.interval = interval
        self.extra_files = {os.path.realpath(f) for f in extra_files}
        self.grace = grace
        self.out = out or sys.stderr

    def _say(self, message: str) -> None:
        print(f"micro: {message}", file=self.out, flush=True)

    def run(self) -> int:
        """Supervise until Ctrl-C (0) or a child that fails on the first start (its status)."""
        handle, report = tempfile.mkstemp(prefix="micro-reload-", suffix=".json")
        os.close(handle)
        child: subprocess.Popen[bytes] | None = None
        known = set(self.extra_files)
        try:
            started_once = False
            while True:
                os.truncate(report, 0)
                env = {**os.environ, CHILD_ENV: report}
                child = subprocess.Popen(self.command, env=env)
                stamps = snapshot(known)
                reason = self._watch(child, report, known, stamps)
                ready = bool(_read_report(report))
                if reason is None:  # the child ended by itself
                    status = child.returncode
                    if not started_once and not ready:
                        return status
                    self._say(f"the app exited with status {status}; waiting for a change")
                    changed = self._wait_for_change(known, stamps)
                    self._say(f"{changed} changed, starting again")
                else:
                    self._say(f"{reason} changed, restarting")
                    self._stop(child)
                started_once = started_once or ready
                child = None
        except KeyboardInterrupt:
            return 0
        finally:
            if child is not None:
                self._stop(child)
            os.unlink(report)

    def _watch(
        self, child: subprocess.Popen[bytes], report: str, known: set[str], stamps: dict[str, Stamp]
    ) -> str | None:
        """Poll until a file changes (its path) or the child exits (None)."""
        while True:
            time.sleep(self.interval)
            new = set(_read_report(report)) - known
            if new:
                known |= new
                stamps.update(snapshot(new))
            changed = _first_change(stamps)
            if changed is not None:
                return changed
            if child.poll() is not None:
                return None

    def _wait_for_change(self, known: set[str], stamps: dict[str, Stamp]) -> str:
        while True:
            time.sleep(self.interval)
            changed = _first_change(stamps)
            if changed is not None:
                return changed

    def _stop(self, child: subprocess.Popen[bytes]) -> None:
        if child.poll() is not None:
            return
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(self.grace)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _read_report(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return []
    if not text:
        return []
    try:
        files = json.loads(text)
    except ValueError:
        return []
    return [f for f in files if isinstance(f, str)]


def _first_change(stamps: dict[str, Stamp]) -> str | None:
    for path, stamp in snapshot(stamps).items():
        if stamp != stamps[path]:
            return path
    return None
