"""sans-IO HTTP layer: the Host values that passed their checks, shared by connections.

A connection's parser skips the checks of a Host value its connection sent before;
a new connection has no such value, yet a server hears the same few Host values
all day. A :class:`HostCache` remembers values that passed, for every connection
of one server: :class:`~micro.http.events.Limits` owns one, so whatever shares a
Limits shares its cache.

Only values that passed the checks of every request form are added (never the
empty value, whose verdict depends on the request), so a value found here needs no
check at all. The set is bounded in count and in value length; when full, it is
emptied and refilled by the values still in use (a client that sends thousands of
different valid hosts only makes them be checked again, as without a cache).

Threads: the I/O thread and worker threads parse heads. Every operation here is
one call on a built-in ``set`` (``in``, ``add``, ``clear``, ``len``), each atomic
under the GIL (and under the set's own lock without one). Two threads that add at
the same moment may take it a value or two past ``max_size`` before the next add
empties it; a thread that looks while another empties it finds nothing and checks
the value again. Neither can admit a value that did not pass.
"""

from __future__ import annotations

__all__ = ["HostCache"]


class HostCache:
    """A bounded set of Host values (``passed``) known to pass every Host check."""

    __slots__ = ("max_length", "max_size", "passed")

    def __init__(self, max_size: int = 256, max_length: int = 255) -> None:
        # Read-only for callers (``host in cache.passed``); add() is the way in.
        self.passed: set[str] = set()
        self.max_size = max_size
        # 255: a DNS name (253) with room for a short port; longer values are
        # checked each time rather than held.
        self.max_length = max_length

    def add(self, host: str) -> None:
        """Remember ``host``, which passed the Host checks and is not empty."""
        if len(host) > self.max_length:
            return
        passed = self.passed
        if len(passed) >= self.max_size:
            passed.clear()
        passed.add(host)

    def __len__(self) -> int:
        return len(self.passed)

    def __repr__(self) -> str:
        return f"HostCache({len(self.passed)} of {self.max_size})"
