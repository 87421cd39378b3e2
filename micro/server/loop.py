"""Server layer: the I/O loop (one thread, one poller): accept, read requests, time out.

The loop owns every connection that is not being served, in three parts on its
thread:

- :mod:`micro.server.accept` takes new connections from the listener (and pauses
  it at ``max_connections``);
- :mod:`micro.server.intake` reads whatever arrives until a complete request comes
  out (its head, and its body into memory or a spool file), then serves it on the
  loop's own thread while a worker is free (:meth:`IOLoop.lead`; a request that
  runs past ``inline_budget`` has a free worker take the loop over:
  :mod:`micro.server.lead`), or submits it to the worker pool and stops watching
  the connection;
- :mod:`micro.server.connections` is the table of watched connections, with the
  answers the loop gives itself (408, 413, 503) and lingering.

Workers give connections back (:meth:`IOLoop.resume`, :meth:`IOLoop.linger`) through
a deque and a wake-up socketpair. Slow clients therefore cost the loop a buffer,
never a thread: a request is served only once it is whole. The poller is a selector
with a fast path for the loop (:mod:`micro.server.poller`). The loop also drives
connections that switched protocols (``101``): :mod:`micro.server.upgrade` says how;
the loop only dispatches their events, deadlines and stop to them.

Deadlines are checked by a sweep a few times per shortest timeout:

- idle (nothing buffered): ``idle_timeout``, then close;
- a head arriving: ``head_timeout`` since it started, then 408 and close;
- a body arriving: ``body_timeout`` between reads and the ``min_body_rate`` floor,
  then 408 and close;
- lingering (answered, shut for writing, dropping input until EOF): a short grace
  and at most ``max_discard`` bytes, then close;
- parked by the app (``micro.defer``): ``defer_timeout``, then 504 (``expire_parked``);
  from its next sweep on, the loop watches the connection meanwhile
  (:meth:`IOLoop.park`), to drop the exchange when the client goes away
  (:mod:`micro.server.defer`).

:meth:`IOLoop.drain` starts a graceful stop: take what the kernel queued, stop
accepting, finish the heads under way, close idle connections.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterator

from micro.http import RequestHead

from .accept import Acceptor
from .body import BodyPolicy
from .channel import Channel, State
from .config import ServerConfig
from .connections import Connections
from .defer import Deferral
from .intake import Intake
from .lead import Inline, Lead, LeadLost, Pace, Watchdog
from .limits import Overloaded
from .logs import ERROR_LOGGER, AccessLog
from .poller import Poller, new_poller
from .upgrade import Upgraded, UpgradeProtocol

__all__ = ["IOLoop"]

DRAIN_IDLE_GRACE = 0.5  # a graceful stop still reads a request that is just arriving


class IOLoop:
    """The listener and every connection between requests, on one thread."""

    def __init__(
        self,
        listener: socket.socket,
        config: ServerConfig,
        submit: Callable[[Channel, RequestHead], None],
        error_bytes: Callable[[int, str], bytes],
        submit_call: Callable[[Callable[[], None]], None] | None = None,
        expire_parked: Callable[[float], None] | None = None,
    ) -> None:
        self._idle_timeout = config.idle_timeout
        self._head_timeout = config.head_timeout
        self._bodies = BodyPolicy.from_config(config)
        self._log = logging.getLogger(ERROR_LOGGER)
        self._selector = new_poller()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._wake_pending = False
        self._returned: collections.deque[Channel] = collections.deque()
        # Connections of deferred exchanges, to watch from the next sweep (park).
        self._parking: collections.deque[tuple[Channel, Deferral]] = collections.deque()
        self._calls: collections.deque[Callable[[], None]] = collections.deque()
        self._upgraded: dict[int, Upgraded] = {}
        self._submit_call = submit_call
        self._expire_parked = expire_parked
        access_log = AccessLog(config.access_log_format) if config.access_log else None
        self._conns = Connections(self._selector, config, error_bytes, access_log)
        self._stopping = False
        self._closed = False
        self._sweep_every = max(
            0.01,
            min(
                1.0,
                config.idle_timeout / 4,
                config.head_timeout / 4,
                config.body_timeout / 4,
                self._conns.linger / 4,
                config.defer_timeout / 4 or 1.0,
            ),
        )
        self._draining = False
        self._finishing = False
        self._finish_deadline = 0.0
        self._drained = threading.Event()
        self._next_sweep = 0.0
        self._finished = threading.Event()  # set once the loop has shut down
        # Serving requests on the loop's own thread (micro.server.lead).
        self._inline: Inline | None = None
        self._pace = Pace(config.inline_budget)  # whether to, judged by how it went
        self._budget = config.inline_budget
        self._lead = Lead()
        self._watchdog = Watchdog(self._offer_lead, config.inline_budget or 1.0)
        self._intake = Intake(
            self._conns,
            config,
            self._bodies,
            submit,
            error_bytes,
            self._lead,
            self._pace,
            self._watchdog,
            self.linger,
            self.park,
        )
        self._thread: threading.Thread | None = None
        self._acceptor = Acceptor(listener, config, self._selector, self._wake)
        self._selector.register(self._wake_r, selectors.EVENT_READ, self._wake_r)

    def leader(self) -> int:
        """The ident of the thread running the loop now (0: not started)."""
        return self._lead.leader

    def serving(self) -> bool:
        """Whether the loop's thread is serving a request itself now."""
        return bool(self._lead.since)

    def serve_inline(self, workers: Inline) -> None:
        """Serve quick requests on the loop's own thread, with ``workers`` to take the
        loop over from a slow one (before the loop starts; off when inline_budget is 0)."""
        if self._budget > 0:
            self._inline = self._intake.inline = workers

    # -- called from other threads ----------------------------------------------------
    def start(self) -> None:
        """Run the loop on a thread of its own (the worker pool runs :meth:`lead` instead)."""
        self._thread = threading.Thread(target=self.lead, name="micro-io", daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """Stop accepting and close every connection the loop holds.

        After :meth:`drain`, lingering connections get up to ``timeout`` to end first.
        """
        if self._draining:
            self._finish_deadline = time.monotonic() + timeout
            self._finishing = True
        else:
            self._stopping = True
        self._wake()
        if self._lead.leader:
            self._finished.wait(timeout)
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout)

    def drain(self, timeout: float) -> bool:
        """Graceful stop, first half: accept what the kernel queued, stop accepting,
        close idle connections and wait until no request head is still arriving.

        True when that happened within ``timeout``; from then on the loop submits no
        more requests, so the worker pool can be stopped behind the last one.
        """
        self._draining = True
        self._wake()
        running = self._lead.leader and not self._finished.is_set()
        drained = self._drained.wait(timeout) if running else True
        self._intake.refusing = True  # late heads get a 503, never a queue nobody serves
        return drained

    def resume(self, channel: Channel) -> None:
        channel.state = State.BUSY  # the loop sets IDLE or HEAD when it takes it back
        self._give_back(channel)

    def linger(self, channel: Channel) -> None:
        channel.state = State.CLOSING
        self._give_back(channel)

    def park(self, channel: Channel) -> None:
        """Watch a connection whose exchange the app deferred (micro.server.defer), for
        a hang-up or its next request, from the next sweep on (any thread).

        PERF: not at once. Most deferred exchanges are resumed within milliseconds
        (an async route that awaits little); watched, each would cost a wake-up and
        a registration here, and its resume a trip through the loop to unregister.
        Waiting for the sweep (a few times per second) spares the quick ones all of
        that, and a client that leaves is still noticed within a sweep or two.
        """
        deferral = channel.deferral
        if deferral is not None:  # None: resumed already
            self._parking.append((channel, deferral))

    def unpark(self, channel: Channel, then: Callable[[], None]) -> None:
        """Stop watching a parked connection, then call ``then`` (on the loop's thread;
        at once if the loop has shut down)."""
        if self._closed:
            then()
            return

        def step() -> None:
            self._conns.unwatch(channel)
            channel.state = State.BUSY  # a worker's from now on
            then()

        self.call_soon(step)

    # -- upgraded connections (micro.server.upgrade's Hub) ------------------------------
    @property
    def selector(self) -> Poller:
        return self._selector

    def adopt(self, channel: Channel, protocol: UpgradeProtocol) -> None:
        """Take a connection that answered 101 for good (called by its worker)."""
        self.call_soon(lambda: self._adopt(channel, protocol))

    def call_soon(self, fn: Callable[[], None]) -> None:
        self._calls.append(fn)
        if self._closed:
            self._calls.clear()
        elif not self._wake_pending:
            self._wake()

    def submit_call(self, fn: Callable[[], None]) -> None:
        if self._submit_call is None:
            raise Overloaded("this loop has no worker pool for upgraded connections")
        self._submit_call(fn)

    def forget(self, upgraded: Upgraded) -> None:
        self._upgraded.pop(upgraded.channel.fd, None)

    def _adopt(self, channel: Channel, protocol: UpgradeProtocol) -> None:
        self._conns.unwatch(channel)  # served on the loop's thread, it may still be watched
        upgraded = Upgraded(channel, protocol, self)
        self._upgraded[channel.fd] = upgraded
        upgraded.start(channel.parser.take_buffered())
        if self._draining:
            upgraded.stopping()

    def _give_back(self, channel: Channel) -> None:
        self._returned.append(channel)
        if self._closed:
            self._close_returned()
        elif not self._wake_pending:
            self._wake()

    def _wake(self) -> None:
        # The flag is cleared by the loop before it drains the deque, so a channel
        # appended after the drain always finds it clear and wakes the loop again.
        self._wake_pending = True
        # OSError: the pair is full (a wake is pending anyway) or closed at shutdown.
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    # -- the loop thread --------------------------------------------------------------
    def lead(self) -> None:
        """Run the loop on the calling thread if the lead is offered to it.

        The first call runs it; later calls are a free worker taking over from a
        leader that has served one request for longer than ``inline_budget``
        (:mod:`micro.server.lead`), and return at once when that leader finished
        in the meantime. Returns when the loop has shut down, or when this thread's
        own lead was taken while it served a request (it is then a worker again).
        """
        lead = self._lead
        first = not lead.leader
        if not lead.claim():
            return
        thread = threading.current_thread()
        name, thread.name = thread.name, "micro-io"
        then = None
        try:
            if first:
                self._next_sweep = time.monotonic() + self._sweep_every
                if self._inline is not None:
                    self._watchdog.start()
            else:
                # Whatever the stuck leader was serving is not the loop's to watch.
                channel = lead.channel
                if channel is not None:
                    self._conns.unwatch(channel)
                self._take_back()
            self._run()
        except LeadLost as lost:
            then = lost.then
        finally:
            thread.name = name
        if then is not None:
            then()  # a worker again, under its own name: go on with its connection

    def _offer_lead(self, now: float) -> None:
        """The watchdog's tick: hand the loop on if its thread is stuck in a request."""
        if self._inline is not None and self._lead.offer(now, self._budget):
            try:
                self._inline.offer_lead()
            except Overloaded:
                self._lead.withdraw()

    def _run(self) -> None:
        selector = self._selector
        intake = self._intake
        try:
            while not self._stopping:
                # PERF: not max(): a builtin call costs more than the test.
                timeout = self._next_sweep - time.monotonic()
                if timeout < 0.0:
                    timeout = 0.0
                ready = selector.ready(timeout)
                # Every connection in ``ready`` had input waiting by this moment:
                # what the intake vouches for as the arrival of the requests it
                # reads now (micro.arrived). The sweep below takes it too, which
                # at worst ends a deadline one turn of the loop later.
                intake.arrived_by = now = time.monotonic()
                for data, events in ready:
                    if data is None:
                        self._accept(self._acceptor.accept())
                    elif data is self._wake_r:
                        self._take_back()
                    elif type(data) is Upgraded:
                        data.ready(events)
                    else:
                        intake.readable(data)
                if self._draining:
                    self._drain_step(now)
                if now >= self._next_sweep:
                    self._sweep(now)
                    self._next_sweep = now + self._sweep_every
        except LeadLost:
            raise  # another thread runs the loop now
        except Exception:
            self._log.exception("the I/O loop failed; the server stops accepting")
        self._shutdown()

    @property
    def open_connections(self) -> int:
        """Client connections accepted and not yet closed."""
        return self._acceptor.connections

    def _accept(self, channels: Iterator[Channel]) -> None:
        """Take new connections (from the :class:`Acceptor`) into the loop."""
        for channel in channels:
            if channel.state == State.IDLE:
                # PERF: the request usually arrives with the connection; reading it
                # now spares a registration, a wait and an unregistration.
                data = channel.recv_nowait()
                if data:
                    self._intake.received(channel, data)
                    continue
            self._conns.watch(channel)

    def _take_back(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass
        self._wake_pending = False
        calls = self._calls
        while calls:
            try:
                calls.popleft()()
            except Exception:  # an upgraded connection's trouble ends that connection only
                self._log.exception("a call on the I/O loop failed")
        if not self._draining:  # once draining, the drain step owns the listener
            self._acceptor.resume()
        now = time.monotonic()
        returned = self._returned
        while returned:
            channel = returned.popleft()
            if channel.state == State.CLOSING:
                self._conns.start_linger(channel)
            elif channel.head is not None:
                # A worker read the next head but not all of its body.
                channel.state = State.BODY
                channel.deadline = self._bodies.deadline(channel.body, now)  # type: ignore[arg-type]
            elif channel.parser.buffered:
                channel.state = State.HEAD
                channel.deadline = now + self._head_timeout
            else:
                channel.state = State.IDLE
                channel.deadline = now + self._idle_timeout
            self._conns.watch(channel)

    def _drain_step(self, now: float) -> None:
        if not self._acceptor.closed:
            for upgraded in list(self._upgraded.values()):
                upgraded.stopping()
            self._accept(self._acceptor.close())
        arriving = False
        for channel in list(self._conns.by_fd.values()):
            state = channel.state
            if state == State.IDLE:
                if self._drained.is_set():
                    self._conns.close(channel)
                else:
                    channel.deadline = min(channel.deadline, now + DRAIN_IDLE_GRACE)
                    arriving = True
            elif state == State.HEAD or state == State.HANDSHAKE or state == State.BODY:
                arriving = True
        if not arriving and not self._returned:
            self._intake.refusing = True
            self._drained.set()
        if self._finishing and (
            (not self._conns.by_fd and not self._upgraded) or now >= self._finish_deadline
        ):
            self._stopping = True

    def _sweep(self, now: float) -> None:
        self._pace.sweep()
        self._conns.sweep(now)
        parking = self._parking
        while parking:
            channel, deferral = parking.popleft()
            self._conns.park(channel, deferral)  # nothing if resumed meanwhile
        if self._expire_parked is not None:
            self._expire_parked(now)
        for upgraded in list(self._upgraded.values()):
            upgraded.check_deadline(now)

    def _shutdown(self) -> None:
        self._closed = True
        self._watchdog.stop()
        for upgraded in list(self._upgraded.values()):
            upgraded.finish()
        self._conns.close_all()
        self._close_returned()
        self._selector.close()
        self._acceptor.shutdown()
        for sock in (self._wake_r, self._wake_w):
            sock.close()
        self._finished.set()

    def _close_returned(self) -> None:
        while True:
            try:
                channel = self._returned.popleft()
            except IndexError:
                return
            channel.close()
