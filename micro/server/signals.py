"""Server layer: serving until a signal, then stopping gracefully (SIGTERM, SIGINT).

The first SIGTERM or SIGINT starts a graceful stop: the server stops accepting,
finishes the requests it accepted within ``graceful_timeout``, closes idle keep-alive
connections, and :func:`serve_until_signalled` returns 0 (or 1 when the grace period
ran out with requests still running). A second signal during that stop ends the
process at once with status 1: the way out when a request hangs.

The handler raises an exception into the main thread, which does nothing but sleep
while it serves, so the stop starts at once rather than at the next poll.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Protocol

from micro.errors import MicroError

from .logs import ERROR_LOGGER

__all__ = ["EXIT_FORCED", "GRACEFUL_SIGNALS", "Signalled", "Stoppable", "serve_until_signalled"]

GRACEFUL_SIGNALS = (signal.SIGTERM, signal.SIGINT)
EXIT_FORCED = 1


class Signalled(MicroError):
    """A stop signal arrived (raised into the main thread by the handler)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"received {signal.Signals(signum).name}")
        self.signum = signum


class Stoppable(Protocol):
    """What :func:`serve_until_signalled` needs: a started server."""

    def stop(self, timeout: float = ...) -> bool: ...


def _exit_now(signum: int, frame: FrameType | None) -> None:
    name = signal.Signals(signum).name
    print(f"micro: {name} again; stopping now", file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(EXIT_FORCED)


def serve_until_signalled(
    server: Stoppable,
    graceful_timeout: float,
    signals: Sequence[int] = GRACEFUL_SIGNALS,
    ready: Callable[[], None] | None = None,
) -> int:
    """Block until one of ``signals``, then stop ``server`` gracefully; the exit status.

    Must run in the main thread (only it receives signals); ``server`` is started.
    ``ready`` is called once the handlers are in place (say "serving" there, so that
    a signal sent as soon as it is read is already handled gracefully).
    """
    log = logging.getLogger(ERROR_LOGGER)
    previous: dict[int, signal._HANDLER] = {}

    def first(signum: int, frame: FrameType | None) -> None:
        # Switch before raising: a second signal pending alongside this one runs
        # its handler at the next bytecode, before any except clause could switch.
        for other in signals:
            signal.signal(other, _exit_now)
        raise Signalled(signum)

    try:
        try:
            for signum in signals:
                previous[signum] = signal.signal(signum, first)
            if ready is not None:
                ready()
            while True:
                time.sleep(3600)
        except Signalled as exc:
            log.info(
                "%s: finishing the requests under way (up to %gs; a second signal stops now)",
                exc,
                graceful_timeout,
            )
        finished = server.stop(graceful_timeout)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if not finished:
        log.warning("requests were still running after %gs; stopped anyway", graceful_timeout)
        return EXIT_FORCED
    log.info("stopped")
    return 0
