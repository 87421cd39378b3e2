"""Server layer: limits under load (how many connections, how many requests may wait).

- :class:`ConnectionLimit` counts open connections for ``max_connections``. The I/O
  loop takes a slot before each ``accept``; a connection gives its slot back when it
  closes, from whichever thread closes it. When no slot is free the loop stops
  watching the listener (new clients wait in the kernel's listen backlog, bounded by
  ``backlog``) and the first slot given back wakes it to accept again. Waiting in
  the backlog rather than accept-and-close keeps clients' requests instead of
  failing them, and costs the server nothing while it is full.
- :class:`Overloaded` is raised by a bounded submit when ``max_pending`` complete
  requests already wait for a worker; the loop then answers :func:`overloaded_answer`
  (503, ``Retry-After``, ``Connection: close``) instead of queueing without bound.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from micro.errors import MicroError

__all__ = ["RETRY_AFTER", "ConnectionLimit", "Overloaded", "overloaded_answer"]

RETRY_AFTER = 1  # seconds: a worker usually frees up within a second


class Overloaded(MicroError):
    """Too many complete requests wait for a worker: answer 503 now."""


def overloaded_answer(
    error_bytes: Callable[[int, str], bytes], reason: str = "the server is busy; retry shortly"
) -> bytes:
    """The 503 answer (with ``Retry-After``) built on the server's error response."""
    data = error_bytes(503, reason)
    return data.replace(b"\r\n", f"\r\nRetry-After: {RETRY_AFTER}\r\n".encode("ascii"), 1)


class ConnectionLimit:
    """At most ``maximum`` open connections; ``wake`` is called when a slot frees up
    after :meth:`has_room` said no (from the thread that closed the connection).

    Only the I/O loop's thread opens connections (:meth:`connected`); any thread may
    close one (:meth:`closed`). So the loop may look at the count without the lock:
    nothing but itself can raise it between the look and the accept.
    """

    def __init__(self, maximum: int, wake: Callable[[], None]) -> None:
        self.maximum = maximum
        self._wake = wake
        self._connections = 0
        self._blocked = False
        self._lock = threading.Lock()

    @property
    def connections(self) -> int:
        """Connections accepted and not yet closed."""
        return self._connections

    def has_room(self, force: bool = False) -> bool:
        """Whether one more connection may be accepted; when not, the first
        :meth:`closed` after this calls ``wake``.

        ``force`` says yes regardless: a graceful stop accepts what the kernel
        already queued rather than reset it.
        """
        if force or self._connections < self.maximum:
            return True
        with self._lock:
            if self._connections < self.maximum:
                return True  # one closed since the look above
            self._blocked = True
            return False

    def connected(self) -> None:
        """A connection was accepted (on the loop's thread)."""
        with self._lock:
            self._connections += 1

    def closed(self) -> None:
        """A connection :meth:`connected` counted has closed: its slot is free."""
        with self._lock:
            self._connections -= 1
            wake = self._blocked and self._connections < self.maximum
            if wake:
                self._blocked = False
        if wake:
            self._wake()
