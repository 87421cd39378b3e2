"""Server layer: the connections the I/O loop watches, and what it does to them itself.

:class:`Connections` is the loop's table of the connections it owns between requests
(by file descriptor) with their registration in the poller, and the answers the loop
gives without any app: a refusal (408, 413, 503...) followed by lingering, and the
sweep that enforces deadlines. Which connection is in which state, and why, is the
loop's business (:mod:`micro.server.loop`); everything here runs on its thread.

A parked connection (its exchange deferred by the app) is watched with no deadline
of its own: :mod:`micro.server.intake` reads it for a hang-up or a pipelined request.

Lingering: an answered connection that the client may still be writing to is shut
for writing, then read and dropped until EOF, for a short grace and at most
``max_discard`` bytes, so that the answer is not lost to a reset.
"""

from __future__ import annotations

import math
import selectors
from collections.abc import Callable

from .channel import Channel, State
from .config import ServerConfig
from .defer import Deferral
from .limits import overloaded_answer
from .logs import AccessLog
from .poller import Poller

__all__ = ["LINGER_SECONDS", "Connections"]

LINGER_SECONDS = 2.0


class Connections:
    """The connections the I/O loop watches (``by_fd``), each registered in ``poller``."""

    def __init__(
        self,
        poller: Poller,
        config: ServerConfig,
        error_bytes: Callable[[int, str], bytes],
        access_log: AccessLog | None,
    ) -> None:
        self.by_fd: dict[int, Channel] = {}
        self.linger = min(LINGER_SECONDS, config.head_timeout)
        self._poller = poller
        self._max_discard = config.max_discard
        self._error_bytes = error_bytes
        self._access_log = access_log

    def watch(self, channel: Channel, events: int = selectors.EVENT_READ) -> None:
        """Watch ``channel`` (no-op if it is watched already: one served on the loop's
        thread stays registered)."""
        if channel.fd not in self.by_fd:
            self.by_fd[channel.fd] = channel
            self._poller.register(channel.sock, events, channel)

    def unwatch(self, channel: Channel) -> None:
        if self.by_fd.pop(channel.fd, None) is not None:
            self._poller.unregister(channel.sock)

    def close(self, channel: Channel) -> None:
        self.unwatch(channel)
        channel.close()

    def park(self, channel: Channel, deferral: Deferral) -> bool:
        """Watch a connection whose exchange the app deferred, for a hang-up or the
        next request (:mod:`micro.server.defer`); False when it was resumed or ended
        meanwhile (then it is not the loop's: this does nothing)."""
        if not deferral.watch():
            return False
        channel.state = State.PARKED
        channel.deadline = math.inf  # defer_timeout is the Parked sweep's business
        self.watch(channel)
        return True

    def close_all(self) -> None:
        for channel in list(self.by_fd.values()):
            self.close(channel)

    def start_linger(self, channel: Channel) -> None:
        """Shut writing, then drop what the client still sends (see the module doc)."""
        channel.shutdown_write()
        channel.set_deadline(State.CLOSING, self.linger)
        channel.discard = self._max_discard

    def refuse(self, channel: Channel, status: int, reason: str) -> None:
        """Answer a request the loop will not serve, then linger and close."""
        channel.end_request()
        self.reject(channel, status, reason)
        self.start_linger(channel)

    def reject(self, channel: Channel, status: int, reason: str) -> None:
        """Answer a request refused before any app saw it (the caller then lingers)."""
        answer = self._error_bytes(status, reason)
        channel.send_nowait(answer)
        if self._access_log is not None:
            self._access_log.refused(channel.peer[0], status, answer)

    def overloaded(self, channel: Channel) -> None:
        """503 with Retry-After: the worker queue is full, or the server is stopping."""
        channel.end_request()
        channel.send_nowait(overloaded_answer(self._error_bytes))
        self.start_linger(channel)

    def sweep(self, now: float) -> None:
        """Act on every deadline that passed: 408 for a head or body that is late,
        close for an idle or lingering connection."""
        for channel in [c for c in self.by_fd.values() if c.deadline <= now]:
            if channel.state == State.HEAD:
                self.refuse(channel, 408, "request head timed out")
            elif channel.state == State.BODY:
                self.refuse(channel, 408, "request body too slow")
            else:
                self.close(channel)
