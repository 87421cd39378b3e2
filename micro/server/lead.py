"""Server layer: which thread runs the I/O loop, and handing the loop on when it is stuck.

PERF: the thread that runs the I/O loop serves a complete request itself while a
worker is free to take over (:meth:`micro.server.loop.IOLoop.lead`): no queue, no
wake-up of another thread, no lock; that halves the CPU a keep-alive request costs.
It is safe only while requests are quick, since every other connection waits while
the loop serves one. So the loop is a role, not a thread:

- :class:`Lead` is the token. The leader marks the span in which it serves a request
  (:meth:`Lead.begin` / :meth:`Lead.end`); during that span, and only then, the lead
  may be *offered* (:meth:`Lead.offer`) and *claimed* by a free worker
  (:meth:`Lead.claim`), which runs the loop from then on. The old leader learns it
  at :meth:`Lead.end`, gives its connection back like any worker and becomes one. An
  offer nobody claimed in time is withdrawn by :meth:`Lead.end`: the leader goes on.
- :class:`Watchdog` is a thread that looks every ``tick`` seconds while requests are
  being served on the loop, and offers the lead once one has run for ``budget``
  seconds (a slow app, or a client slow to take its answer). It parks when nothing
  has been served for a while, so an idle server has no timer running.

The rules that keep two threads from ever running the loop at once: a claim succeeds
only while the leader is inside a begin/end span (or before anyone led); the leader
touches no loop state inside the span; and :meth:`Lead.end` clears the span *before*
it looks for an offer, so an offer made after that look finds no span to claim
(CPython runs these attribute reads and writes in one order for every thread).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from micro.http import RequestHead

from .channel import Channel

__all__ = ["Inline", "Lead", "LeadLost", "Pace", "Watchdog", "switches"]

IDLE_TICKS = 200  # the watchdog parks after this many ticks with nothing served
# Pace: requests that take longer than this share of the budget on average (the
# latest weighing SLOW_WEIGHT) are probed; when most of PROBES of them waited, the
# loop leaves requests to the workers for OFF_SWEEPS sweep intervals.
SLOW_SHARE = 0.2
SLOW_WEIGHT = 0.2
PROBES = 8
OFF_SWEEPS = 2


def _voluntary_switches() -> int:
    """How often the calling thread gave up the CPU to wait (Linux: per thread)."""
    return resource.getrusage(resource.RUSAGE_THREAD).ru_nvcsw


try:
    import resource

    resource.getrusage(resource.RUSAGE_THREAD)
    switches: Callable[[], int] | None = _voluntary_switches
except (ImportError, AttributeError, OSError):  # not Linux: no per-thread count
    switches = None


class Inline(Protocol):
    """What the loop needs from the worker pool to serve requests on its own thread."""

    def free(self) -> bool:
        """True while a worker waits for work and nothing is queued (it could take the loop)."""

    def serve_here(self, channel: Channel, head: RequestHead) -> int:
        """Serve one complete request on the calling thread; the outcome (micro.server.wsgi)."""

    def offer_lead(self) -> None:
        """Have a free worker call :meth:`IOLoop.lead`; Overloaded once the pool stops."""

    def carry_on(self, channel: Channel) -> None:
        """Go on with a keep-alive connection as a worker does (after the lead moved)."""


class LeadLost(Exception):
    """Raised on a thread whose lead was taken while it served a request: unwinds the loop.

    ``then`` is what the thread does next as a worker (go on with the connection it
    served), called by :meth:`IOLoop.lead` once the loop has unwound and the thread
    no longer carries the loop's name.
    """

    def __init__(self, then: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.then = then


class Lead:
    """The token that says which thread runs the I/O loop."""

    __slots__ = ("_lock", "channel", "leader", "offered", "since")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.leader = 0  # the leading thread's ident (0: nobody led yet)
        self.offered = True  # the first claim takes the lead unconditionally
        self.since = 0.0  # monotonic start of the request the leader serves (0: none)
        self.channel: Any = None  # the connection of that request

    def claim(self) -> bool:
        """Take the lead if it is offered; False when the leader kept it (or it is taken)."""
        with self._lock:
            if not self.offered or (self.leader and not self.since):
                self.offered = False  # the span ended: the leader goes on
                return False
            self.offered = False
            self.leader = threading.get_ident()
            self.since = 0.0
            return True

    def offer(self, now: float, budget: float) -> bool:
        """Offer the lead when the leader has served one request for ``budget`` seconds."""
        since = self.since
        if not since or now - since < budget or self.offered:
            return False
        with self._lock:
            if self.offered or not self.since:
                return False
            self.offered = True
            return True

    def withdraw(self) -> None:
        """Nobody can take the offer (the worker pool is stopping): keep the leader."""
        with self._lock:
            self.offered = False

    def begin(self, channel: Any) -> None:
        """The leader starts serving a request on ``channel`` (the lead may be claimed
        until :meth:`end`; the claimant stops watching ``channel``)."""
        self.channel = channel
        self.since = time.monotonic()

    def end(self) -> bool:
        """The leader served its request: True if it still leads, False if it was claimed."""
        self.since = 0.0
        if not self.offered and self.leader == threading.get_ident():
            return True
        with self._lock:
            if self.leader != threading.get_ident():
                return False
            self.offered = False  # offered, not claimed yet: withdrawn, the claim will fail
            return True


class Pace:
    """Whether the loop's thread should serve requests itself, judged by how they went.

    Serving on the loop is one request after another: right for quick requests,
    wrong for an app that waits (on a database, a service) for a few milliseconds,
    whose requests the workers would serve side by side. The loop records
    (:meth:`record`) how long each request took; while the average stays under a
    fifth of the budget nothing more is done. Past it, the next :data:`PROBES`
    requests are also asked whether they *waited* (the thread gave up the CPU,
    :data:`switches`): a request the scheduler merely interrupted (another process
    wanted the core) took as long but would gain nothing from the workers. When
    most of them waited, :attr:`off` says so for :data:`OFF_SWEEPS` of the loop's
    sweeps (:meth:`sweep`).
    """

    __slots__ = ("_slow", "_took", "_waits", "off", "probing")

    def __init__(self, budget: float) -> None:
        self._slow = budget * SLOW_SHARE
        self._took = 0.0
        self._waits = 0
        self.off = 0  # sweeps left before the loop serves requests again
        self.probing = 0  # requests still to probe (0: none)

    def record(self, took: float, waited: bool) -> None:
        """One request served on the loop took ``took`` seconds (``waited``: whether it
        gave up the CPU to wait; asked only while :attr:`probing`)."""
        if self.probing:
            self.probing -= 1
            if waited and took > self._slow:
                self._waits += 1
            if not self.probing:
                if self._waits * 2 > PROBES:
                    self.off = OFF_SWEEPS
                self._waits = 0
                self._took = 0.0
            return
        self._took = average = self._took + SLOW_WEIGHT * (took - self._took)
        if average > self._slow:
            if switches is None:
                self.off = OFF_SWEEPS  # no way to tell a wait: go by the time alone
                self._took = 0.0
            else:
                self.probing = PROBES

    def sweep(self) -> None:
        if self.off:
            self.off -= 1


class Watchdog:
    """A thread that offers the lead when the loop has served one request for too long.

    ``offer`` is called with the current monotonic time every ``tick`` seconds while
    the watchdog is armed; :meth:`arm` (cheap when armed already) is called by the
    leader each time it serves a request.
    """

    def __init__(self, offer: Callable[[float], None], tick: float) -> None:
        self._offer = offer
        self._tick = tick
        self._armed = False
        self._served = 0  # arm() calls, so that a tick can tell whether anything ran
        self._stopped = False
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="micro-watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def arm(self) -> None:
        self._served += 1
        if not self._armed:
            self._armed = True
            self._wake.set()

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(5.0)

    def _run(self) -> None:
        idle = 0
        seen = self._served
        while not self._stopped:
            if not self._armed:
                self._wake.wait()
                self._wake.clear()
                continue
            time.sleep(self._tick)
            self._offer(time.monotonic())
            if self._served != seen:
                seen = self._served
                idle = 0
                continue
            idle += 1
            if idle >= IDLE_TICKS:
                # Park. arm() sets _armed before it reads it back, so either it sees
                # False here and sets the event, or this thread sees its count move.
                self._armed = False
                self._wake.clear()
                if self._served != seen:
                    self._armed = True
                idle = 0
