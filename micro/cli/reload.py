"""Command-line layer (development): ``micro serve --reload``, a new server when a file changes.

Two processes, standard library only:

- The **supervisor** (the ``micro serve --reload`` you started) runs the same command
  again as a **child** process, with ``MICRO_RELOAD_CHILD`` set to the path of a
  report file. It polls the modification time and size of every file the child
  reported, every ``--reload-interval`` seconds (1 by default); when one changes it
  stops the child (SIGTERM, then SIGKILL after a grace period) and starts a new one.
  SIGTERM, SIGINT (Ctrl-C) or SIGHUP to the supervisor stops the child the same
  graceful way (requests under way finish), removes the report file and exits; a
  second signal stops the child at once.
- The **child** serves as usual. Once its server is up it starts a daemon thread that
  writes the files of its loaded modules to the report file, and again whenever new
  modules were imported (a module imported lazily during a request counts too).

Which files: every loaded module's source file except those of the standard library
and of installed distributions (site-packages), so the app, its neighbours and any
editable install are watched, and upgrades of installed packages are not.

Polling (rather than inotify and friends) is deliberate. watchfiles (inotify through a
Rust extension, what uvicorn uses) was weighed: it would save the stat calls and react
sooner than ``--reload-interval``, but micro would need it as an optional compiled
dependency with polling kept anyway for where it is missing, and inotify misses changes
on network and some container file systems. The watched set is the few hundred files
the child reported, not whole trees: one poll of 216 files measured 0.3 ms here (median
of 50), so polling costs nothing worth a second code path.

A child that fails to start the first time (a wrong TARGET, a port in use) ends the
supervisor with its exit status; a child that fails later (a syntax error just saved)
is reported, and the supervisor waits for the next change to try again.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from types import FrameType
from typing import Any, TextIO

from micro.web.debug import library_roots

__all__ = [
    "CHILD_ENV",
    "STOP_SIGNALS",
    "Reloader",
    "is_child",
    "report_modules",
    "serve_as_child",
    "snapshot",
    "watched_files",
]

CHILD_ENV = "MICRO_RELOAD_CHILD"
Stamp = tuple[int, int] | None  # (mtime_ns, size); None: the file is gone


def is_child() -> bool:
    """True in the process the supervisor started (it serves; it does not supervise)."""
    return bool(os.environ.get(CHILD_ENV))


def watched_files(modules: Iterable[Any] | None = None) -> set[str]:
    """Source files of ``modules`` (default: every loaded one) outside the libraries."""
    roots = library_roots()
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
        # Each file with its stamp as this process saw it: a change that happens
        # before the supervisor reads the report is still a change.
        temporary = f"{path}.{os.getpid()}.tmp"
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump(snapshot(sorted(files)), f)
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


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
"""What stops the supervisor (and, gracefully, its child)."""


class _Stop(Exception):
    """A stop signal reached the supervisor (raised where it waits, never in a handler)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Reloader:
    """Run ``command`` as a child and run it again whenever a watched file changes.

    ``grace``: how long a stopping child may take (its own graceful timeout and a
    margin) before it is killed.
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        interval: float = 1.0,
        extra_files: Iterable[str] = (),
        grace: float = 35.0,
        out: TextIO | None = None,
    ) -> None:
        self.command = list(command)
        self.interval = interval
        self.extra_files = {os.path.realpath(f) for f in extra_files}
        self.grace = grace
        self.out = out or sys.stderr
        self._child: subprocess.Popen[bytes] | None = None
        self._signalled = 0
        self._wake_r = self._wake_w = -1

    def _say(self, message: str) -> None:
        print(f"micro: {message}", file=self.out, flush=True)

    def run(self) -> int:
        """Supervise until a stop signal (the child's stop decides: 0 when clean) or a
        child that fails on the first start (its status). Main thread only."""
        handle, report = tempfile.mkstemp(prefix="micro-reload-", suffix=".json")
        os.close(handle)
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        previous = {signum: signal.signal(signum, self._on_signal) for signum in STOP_SIGNALS}
        status = 0
        try:
            status = self._supervise(report)
        except _Stop as stop:
            self._say(
                f"{stop}: stopping the app; requests under way may finish"
                " (a second signal stops it now)"
            )
        finally:
            try:
                if self._child is not None:
                    stopped = self._stop(self._child)
                    status = status or (0 if stopped == 0 else 1)
            finally:
                for signum, handler in previous.items():
                    signal.signal(signum, handler)
                os.close(self._wake_r)
                os.close(self._wake_w)
                # A child stopped while rewriting the report leaves its temporary copy.
                for leftover in [report, *glob.glob(glob.escape(report) + ".*.tmp")]:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(leftover)
        return status

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Nothing is raised here: a signal between starting a child and holding it
        # would otherwise leave that child running alone.
        if self._signalled:
            child = self._child  # a second signal: the child's second SIGTERM ends it now
            if child is not None and child.returncode is None:
                os.kill(child.pid, signal.SIGTERM)
            return
        self._signalled = signum
        with contextlib.suppress(BlockingIOError):  # already awake
            os.write(self._wake_w, b"\0")

    def _sleep(self, seconds: float) -> None:
        """Wait ``seconds`` or until a stop signal, which raises _Stop."""
        if not self._signalled:
            select.select([self._wake_r], [], [], seconds)
        if self._signalled:
            raise _Stop(self._signalled)

    def _supervise(self, report: str) -> int:
        known = set(self.extra_files)
        started_once = False
        while True:
            self._sleep(0)
            os.truncate(report, 0)
            env = {**os.environ, CHILD_ENV: report}
            self._child = child = subprocess.Popen(self.command, env=env)
            stamps = snapshot(known)
            reason = self._watch(child, report, known, stamps)
            ready = bool(_read_report(report))
            if reason is None:  # the child ended by itself
                self._child = None
                status = child.returncode
                if not started_once and not ready:
                    return status
                self._say(f"the app exited with status {status}; waiting for a change")
                changed = self._wait_for_change(known, stamps)
                self._say(f"{changed} changed, starting again")
            else:
                self._say(f"{reason} changed, restarting")
                self._stop(child)
                self._child = None
                # A file changed while the app ran: from now on the developer is
                # editing, and a broken save waits for the next one instead of ending
                # micro (even if that child was stopped before it could report).
                ready = True
            started_once = started_once or ready

    def _watch(
        self, child: subprocess.Popen[bytes], report: str, known: set[str], stamps: dict[str, Stamp]
    ) -> str | None:
        """Poll until a file changes (its path) or the child exits (None)."""
        while True:
            self._sleep(self.interval)
            new = {p: s for p, s in _read_report(report).items() if p not in known}
            if new:
                known |= set(new)
                stamps.update(new)
            changed = _first_change(stamps)
            if changed is not None:
                return changed
            if child.poll() is not None:
                return None

    def _wait_for_change(self, known: set[str], stamps: dict[str, Stamp]) -> str:
        while True:
            self._sleep(self.interval)
            changed = _first_change(stamps)
            if changed is not None:
                return changed

    def _stop(self, child: subprocess.Popen[bytes]) -> int:
        """Stop the child gracefully (SIGTERM), kill it after ``grace``; its status.

        A child that the SIGTERM ended before it could handle it (it was still
        importing the app, and ``micro serve`` installs its handler after that)
        stopped as asked: 0, as a graceful stop gives.
        """
        if child.poll() is not None:
            return child.returncode
        child.send_signal(signal.SIGTERM)
        try:
            status = child.wait(self.grace)
            return 0 if status == -signal.SIGTERM else status
        except subprocess.TimeoutExpired:
            self._say(f"the app did not stop within {self.grace:g}s; killing it")
            child.kill()
            return child.wait()


def serve_as_child() -> None:
    """In the child, before it loads the app: stop only on the supervisor's SIGTERM.

    Ctrl-C in a terminal signals the whole process group: the supervisor answers it
    with one SIGTERM to the child, so the child ignores SIGINT (and SIGHUP, for a
    closed terminal) itself, else one Ctrl-C would count twice and cut requests
    short. If the supervisor dies without a word (SIGKILL), the child notices that
    its parent changed and stops gracefully too: no server is left orphaned.
    """
    if not is_child():
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="micro-reload-parent", daemon=True).start()


def _read_report(path: str) -> dict[str, Stamp]:
    """The files a child reported, with the stamps it saw; empty until it wrote any."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return {}
    if not text:
        return {}
    try:
        reported = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(reported, dict):
        return {}
    stamps: dict[str, Stamp] = {}
    for name, stamp in reported.items():
        if isinstance(stamp, list) and len(stamp) == 2:
            stamps[name] = (int(stamp[0]), int(stamp[1]))
        else:
            stamps[name] = None
    return stamps


def _first_change(stamps: dict[str, Stamp]) -> str | None:
    for path, stamp in snapshot(stamps).items():
        if stamp != stamps[path]:
            return path
    return None
