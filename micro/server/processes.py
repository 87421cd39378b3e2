"""Server layer: N worker processes serving one address (pre-fork), and their supervisor.

``micro serve --processes N`` loads the app once, then forks N worker processes, each
a whole :class:`~micro.server.Server` (I/O loop and worker threads). The supervisor
(the parent) serves nothing: it restarts a process that dies, forwards stop signals
and waits for all of them.

How the processes share the address: on Linux, with ``SO_REUSEPORT``, each process
listens on its own socket bound to the same port and the kernel spreads new
connections over them by a hash of the client's address and port; no process wakes
for a connection another takes, and the spread does not depend on which process
happens to be scheduled. The parent holds a socket bound to the port without
listening, which keeps the port (and an ephemeral port chosen with port 0) reserved
across restarts and receives no connections. Elsewhere (``SO_REUSEPORT`` missing, or
one that does not balance, as on macOS and the BSDs), the parent listens and every
process accepts on that one inherited socket. The trade-off
of ``SO_REUSEPORT``: connections still in the accept queue of a process that crashes
are reset (a graceful stop takes them first), and any process of the same user may
bind the port too.

Signals: the first SIGTERM or SIGINT makes the supervisor send SIGTERM to every process
(each stops gracefully, see :mod:`micro.server.signals`) and wait; a second one sends
SIGTERM again, which stops them at once. Processes ignore SIGINT themselves, so a
Ctrl-C that reaches the whole process group counts once. The supervisor exits 0 when
every process stopped cleanly, else 1. A process that dies otherwise is replaced,
after a back-off that grows while replacements keep dying young.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any, NoReturn

from micro.errors import ConfigError

from .config import ServerConfig
from .logs import ERROR_LOGGER
from .proxy import ProxyFix
from .server import Server
from .signals import EXIT_FORCED, GRACEFUL_SIGNALS, serve_until_signalled

__all__ = ["Supervisor", "reuse_port_available"]

MIN_BACKOFF = 0.1
MAX_BACKOFF = 5.0
YOUNG = 2.0  # seconds: a process that dies younger than this is a failing start
KILL_AFTER = 5.0  # extra seconds past the grace period before SIGKILL
PARENT_CHECK = 1.0  # seconds between checks that the supervisor is alive


def reuse_port_available() -> bool:
    """True where SO_REUSEPORT spreads connections over the listening sockets (Linux)."""
    return hasattr(socket, "SO_REUSEPORT") and sys.platform.startswith("linux")


def _watch_parent(parent: int) -> None:
    """Stop this process gracefully if its supervisor dies (killed, say): an orphan
    would keep serving with nobody to stop or replace it."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="micro-parent-watch", daemon=True).start()


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _unblock_sigterm() -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


class Supervisor:
    """Runs ``processes`` copies of the server for ``app`` and keeps them running."""

    def __init__(
        self,
        app: Callable[..., Any],
        config: ServerConfig,
        processes: int,
        *,
        reuse_port: bool | None = None,
        stop_signals: Sequence[int] = GRACEFUL_SIGNALS,
    ) -> None:
        if processes < 1:
            raise ConfigError(f"processes must be at least 1, got {processes}")
        if not hasattr(os, "fork"):
            raise ConfigError("worker processes need os.fork (not available here)")
        ProxyFix.from_config(app, config)  # a bad setting fails here, not in every child
        self.app = app
        self.config = config
        self.processes = processes
        self.reuse_port = reuse_port_available() if reuse_port is None else reuse_port
        # What stops the processes: SIGTERM alone when a --reload supervisor above
        # forwards the terminal's Ctrl-C itself (SIGINT would count it twice).
        self.stop_signals = tuple(stop_signals)
        self._log = logging.getLogger(ERROR_LOGGER)
        self._socket: socket.socket | None = None
        self._children: dict[int, float] = {}  # pid -> start time
        self._signals: list[int] = []
        self._backoff = 0.0
        self._respawn_at: list[float] = []
        self._exit_status = 0
        self._started_r = self._started_w = -1

    # -- the shared address ----------------------------------------------------------
    def bind(self) -> tuple[str, int]:
        """Reserve (or listen on) the address; returns the bound (host, port)."""
        config = self.config
        family = _family(config.host)
        if self.reuse_port:
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            try:
                sock.bind((config.host, config.port))
            except OSError:
                sock.close()
                raise
        else:
            sock = socket.create_server(
                (config.host, config.port), family=family, backlog=config.backlog
            )
        self._socket = sock
        host, port = sock.getsockname()[:2]
        return str(host), int(port)

    def _child_socket(self) -> socket.socket:
        parent = self._socket
        if parent is None:  # pragma: no cover - run() binds first
            raise ConfigError("the supervisor is not bound")
        if not self.reuse_port:
            return parent
        host, port = parent.getsockname()[:2]
        sock = socket.create_server(
            (host, port),
            family=parent.family,
            backlog=self.config.backlog,
            reuse_port=True,
        )
        parent.close()  # the child's copy of the reservation is not needed
        return sock

    # -- running ---------------------------------------------------------------------
    def run(self, ready: Callable[[], None] | None = None) -> int:
        """Start the processes and supervise them until stopped; the exit status.

        ``ready`` is called once the signal handlers are in place and every process
        listens (each writes a byte to a pipe when it does).
        """
        if self._socket is None:
            self.bind()
        wake_r, wake_w = os.pipe()
        self._started_r, self._started_w = os.pipe()
        for fd in (wake_r, wake_w, self._started_r):
            os.set_blocking(fd, False)
        previous_fd = signal.set_wakeup_fd(wake_w)
        handled = (*self.stop_signals, signal.SIGCHLD)
        previous = {signum: signal.signal(signum, self._on_signal) for signum in handled}
        try:
            for _ in range(self.processes):
                self._spawn()
            return self._supervise(wake_r, ready)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            signal.set_wakeup_fd(previous_fd)
            for fd in (wake_r, wake_w, self._started_r, self._started_w):
                os.close(fd)
            if self._socket is not None:
                self._socket.close()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if signum != signal.SIGCHLD:
            self._signals.append(signum)

    def _supervise(self, wake_r: int, ready: Callable[[], None] | None) -> int:
        stop_deadline: float | None = None
        forwarded = 0
        started = 0
        while True:
            timeout = 1.0
            if self._respawn_at:
                timeout = max(0.0, min(timeout, self._respawn_at[0] - time.monotonic()))
            with contextlib.suppress(InterruptedError):
                select.select([wake_r, self._started_r], [], [], timeout)
            with contextlib.suppress(OSError):
                while os.read(wake_r, 512):
                    pass
            with contextlib.suppress(OSError):
                while data := os.read(self._started_r, 512):
                    started += len(data)
            if ready is not None and started >= self.processes:
                ready()
                ready = None
            self._reap(stopping=stop_deadline is not None)
            while self._signals:
                signum = self._signals.pop(0)
                forwarded += 1
                name = signal.Signals(signum).name
                if forwarded == 1:
                    self._log.info(
                        "%s: stopping %d processes gracefully", name, len(self._children)
                    )
                    stop_deadline = time.monotonic() + self.config.graceful_timeout + KILL_AFTER
                    self._respawn_at.clear()
                else:
                    self._log.info("%s again: stopping the processes now", name)
                    self._exit_status = EXIT_FORCED
                self._kill_all(signal.SIGTERM)
            if stop_deadline is None:
                self._respawn_due()
                continue
            if not self._children:
                return self._exit_status
            if time.monotonic() >= stop_deadline:
                self._log.warning("processes still running after the grace period: killed")
                self._kill_all(signal.SIGKILL)
                self._exit_status = EXIT_FORCED

    def _kill_all(self, signum: int) -> None:
        for pid in list(self._children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def _reap(self, stopping: bool) -> None:
        while self._children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self._children.clear()
                return
            if pid == 0:
                return
            started = self._children.pop(pid, None)
            if started is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            if stopping:
                if code != 0:
                    self._exit_status = EXIT_FORCED
                continue
            self._log.error("process %d exited (status %d); starting another", pid, code)
            young = time.monotonic() - started < YOUNG
            self._backoff = min(MAX_BACKOFF, max(MIN_BACKOFF, self._backoff * 2)) if young else 0.0
            self._respawn_at.append(time.monotonic() + self._backoff)
            self._respawn_at.sort()

    def _respawn_due(self) -> None:
        now = time.monotonic()
        while self._respawn_at and self._respawn_at[0] <= now:
            self._respawn_at.pop(0)
            self._spawn()

    def _spawn(self) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        supervisor = os.getpid()  # taken before the fork: the child may outlive it at once
        # The child starts with SIGTERM held back (the mask is inherited): a stop sent
        # before it has its own handler waits for that handler, instead of running
        # this process's (which would swallow it) or the default one (death). A new
        # process may wait long for the CPU on a loaded machine: the gap is real.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        try:
            pid = os.fork()
            if pid == 0:
                self._child(supervisor)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        self._children[pid] = time.monotonic()

    def _child(self, supervisor: int) -> NoReturn:
        status = EXIT_FORCED
        try:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor forwards it
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            # SIGTERM is held back from the fork on (see _spawn) until the graceful
            # handler is in place; the threads the server starts inherit the mask.
            server = Server(self.app, self.config, sock=self._child_socket())
            server.start()
            os.write(self._started_w, b"+")  # listening: the supervisor may announce
            _watch_parent(supervisor)
            status = serve_until_signalled(
                server,
                self.config.graceful_timeout,
                signals=(signal.SIGTERM,),
                ready=_unblock_sigterm,
            )
        except BaseException:
            self._log.exception("worker process %d failed", os.getpid())
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(status)
