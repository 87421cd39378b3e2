"""Server layer: the I/O loop (one thread, one poller): accept, read requests, time out.

The poller is a selector with a fast path for the loop (:mod:`micro.server.poller`).
It also drives connections that switched protocols (``101``): :mod:`micro.server.upgrade`
says how; the loop only dispatches their events, deadlines and stop to them.

The loop owns every connection that is not being served: it accepts, reads whatever
arrives and feeds the connection's parser until a complete request comes out (its
head, and its body into memory or a spool file: :mod:`micro.server.body`). Then,
while a worker is free, the loop's thread serves the request itself and goes on
(:meth:`IOLoop.lead`; a request that runs past ``inline_budget`` has a free worker
take the loop over: :mod:`micro.server.lead`); otherwise it submits the connection
to the worker pool and stops watching it. Workers give connections back
(:meth:`IOLoop.resume`, :meth:`IOLoop.linger`) through a deque and a wake-up
socketpair. Slow clients therefore cost the loop a buffer, never a thread: a
request is served only once it is whole. Deadlines are checked by a sweep a few
times per shortest timeout:

- idle (nothing buffered): ``idle_timeout``, then close;
- a head arriving: ``head_timeout`` since it started, then 408 and close;
- a body arriving: ``body_timeout`` between reads and the ``min_body_rate`` floor,
  then 408 and close;
- lingering (answered, shut for writing, dropping input until EOF): a short grace
  and at most ``max_discard`` bytes, then close.

``Expect: 100-continue``: the loop itself answers ``100 Continue`` as soon as a head
that announces a body has passed every check (a Content-Length over
``max_body_bytes`` gets its 413 instead, before any body byte is sent), so no
worker ever waits for a client to decide.

Production hooks: TLS handshakes run here (:mod:`micro.server.tls`), the
``max_connections`` count pauses accepting (:mod:`micro.server.accept`) and a bounded
submit that raises :class:`~micro.server.limits.Overloaded` gets a 503
(:mod:`micro.server.limits`).
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

from micro.errors import ProtocolError
from micro.http import NEED_DATA, Limits, RequestHead

from . import tls
from .accept import Acceptor
from .body import BodyPolicy
from .channel import Channel, State
from .config import ServerConfig
from .connections import Connections
from .lead import Inline, Lead, LeadLost, Pace, Watchdog, switches
from .limits import Overloaded
from .logs import ERROR_LOGGER, AccessLog
from .poller import Poller, new_poller
from .upgrade import Upgraded, UpgradeProtocol
from .wsgi import CLOSE, KEEP, LINGER

__all__ = ["IOLoop"]

BODY_READS = 4  # reads per wake-up while a body arrives (see _body_readable)
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
    ) -> None:
        self._limits: Limits = config.limits
        self._idle_timeout = config.idle_timeout
        self._head_timeout = config.head_timeout
        self._bodies = BodyPolicy.from_config(config)
        self._submit = submit
        self._error_bytes = error_bytes
        self._log = logging.getLogger(ERROR_LOGGER)
        self._selector = new_poller()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._wake_pending = False
        self._returned: collections.deque[Channel] = collections.deque()
        self._calls: collections.deque[Callable[[], None]] = collections.deque()
        self._upgraded: dict[int, Upgraded] = {}
        self._submit_call = submit_call
        access_log = AccessLog(config.access_log_format) if config.access_log else None
        self._conns = Connections(self._selector, config, error_bytes, access_log)
        # PERF: the loop looks a connection up here for every request it reads.
        self._channels = self._conns.by_fd
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
            ),
        )
        self._draining = False
        self._finishing = False
        self._finish_deadline = 0.0
        self._drained = threading.Event()
        self._refusing = False  # set once drained: the worker pool may be stopping
        self._next_sweep = 0.0
        self._finished = threading.Event()  # set once the loop has shut down
        # Serving requests on the loop's own thread (micro.server.lead).
        self._inline: Inline | None = None
        self._pace = Pace(config.inline_budget)  # whether to, judged by how it went
        self._budget = config.inline_budget
        self._lead = Lead()
        self._watchdog = Watchdog(self._offer_lead, config.inline_budget or 1.0)
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
            self._inline = workers

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
        self._refusing = True  # late heads get a 503, never a queue nobody serves
        return drained

    def resume(self, channel: Channel) -> None:
        channel.state = State.BUSY  # the loop sets IDLE or HEAD when it takes it back
        self._give_back(channel)

    def linger(self, channel: Channel) -> None:
        channel.state = State.CLOSING
        self._give_back(channel)

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
        except LeadLost:
            pass
        finally:
            thread.name = name

    def _offer_lead(self, now: float) -> None:
        """The watchdog's tick: hand the loop on if its thread is stuck in a request."""
        if self._inline is not None and self._lead.offer(now, self._budget):
            try:
                self._inline.offer_lead()
            except Overloaded:
                self._lead.withdraw()

    def _run(self) -> None:
        selector = self._selector
        try:
            while not self._stopping:
                timeout = max(0.0, self._next_sweep - time.monotonic())
                for data, events in selector.ready(timeout):
                    if data is None:
                        self._accept(self._acceptor.accept())
                    elif data is self._wake_r:
                        self._take_back()
                    elif type(data) is Upgraded:
                        data.ready(events)
                    else:
                        self._readable(data)
                now = time.monotonic()
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
                    self._received(channel, data)
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

    def _readable(self, channel: Channel) -> None:
        if channel.state == State.HANDSHAKE:
            self._handshake(channel)
            return
        state = channel.state
        if state == State.BODY:
            self._body_readable(channel)
            return
        data = channel.recv_nowait()
        if data is None:
            return
        if state == State.CLOSING:
            if not data:
                self._conns.close(channel)
            else:
                channel.discard -= len(data)
                if channel.discard < 0:
                    self._conns.close(channel)  # more than max_discard: stop reading now
            return
        while self._received_one(channel, data):  # (_received, one call less)
            data = None

    def _body_readable(self, channel: Channel) -> None:
        """Bytes of a body being read: straight into the Body when the parser allows
        (a Content-Length body with nothing buffered), through the parser otherwise.

        PERF: a body arriving fast fills the socket faster than one read per wake-up
        empties it; a few more reads save as many select calls, and the bound keeps
        one fast uploader from holding the loop.
        """
        parser = channel.parser
        for _ in range(BODY_READS):
            left = parser.raw_body_left if channel.direct_body else 0
            if not left:
                data = channel.recv_nowait()
                if data is None:
                    break
                self._received(channel, data)
                if channel.state != State.BODY or not data:
                    return
                continue
            try:
                count = channel.recv_body(left)
            except OSError as exc:
                self._no_room(channel, exc)
                return
            if count is None:
                break
            if not count:
                self._conns.close(channel)  # EOF inside the body: nobody is left to answer
                return
            if count == left:
                self._received(channel, None)  # the body is whole: on to the worker
                return
        channel.deadline = self._bodies.deadline(channel.body, time.monotonic())  # type: ignore[arg-type]

    def _received(self, channel: Channel, data: bytes | None) -> None:
        """Feed what arrived (None: nothing new, go on with what the parser holds);
        the channel may not be watched yet (fresh from accept)."""
        # A request served here may leave the next one (pipelined) in the parser.
        while self._received_one(channel, data):
            data = None

    def _received_one(self, channel: Channel, data: bytes | None) -> bool:
        """:meth:`_received` for one request; True when the next one is to be parsed."""
        watched = channel.fd in self._channels
        parser = channel.parser
        try:
            if data is not None:
                parser.feed(data)
            if channel.state == State.BODY:
                complete = channel.read_body()
            else:
                event = parser.next_event()
                if type(event) is not RequestHead:
                    if event is NEED_DATA:
                        if not watched:
                            self._conns.watch(channel)
                        if channel.state == State.IDLE:
                            channel.set_deadline(State.HEAD, self._head_timeout)
                    else:
                        self._conns.close(channel)  # ConnectionClosed between requests
                    return False
                complete = self._start_request(channel, event)
        except ProtocolError as exc:
            if not watched:
                self._conns.watch(channel)
            if data is None or data:
                self._conns.refuse(channel, exc.status, exc.reason)
            else:
                self._conns.close(channel)  # EOF inside a request: nobody is left to answer
            return False
        except Overloaded:
            if not watched:
                self._conns.watch(channel)
            self._conns.overloaded(channel)
            return False
        except OSError as exc:
            if not watched:
                self._conns.watch(channel)
            self._no_room(channel, exc)
            return False
        if not complete:
            if not watched:
                self._conns.watch(channel)
            # Only reads that brought body bytes move the deadline (EOF raised above).
            channel.deadline = self._bodies.deadline(channel.body, time.monotonic())  # type: ignore[arg-type]
            return False
        inline = self._inline
        if inline is not None and not self._pace.off and not self._refusing and inline.free():
            return self._serve_inline(channel, inline)
        if watched:
            self._conns.unwatch(channel)
        channel.state = State.BUSY
        try:
            if self._refusing:
                raise Overloaded("the server is stopping")
            self._submit(channel, channel.head)  # type: ignore[arg-type]
        except Overloaded:
            self._conns.watch(channel)
            self._conns.overloaded(channel)
        return False

    def _serve_inline(self, channel: Channel, inline: Inline) -> bool:
        """Serve a complete request on this thread (:mod:`micro.server.lead`); True when
        the connection kept a pipelined request in its parser to go on with.

        PERF: the connection stays registered in the selector while it is served:
        unregistering and registering it again would cost two system calls.
        """
        channel.state = State.BUSY
        lead = self._lead
        pace = self._pace
        self._watchdog.arm()
        probe = switches if pace.probing else None  # did the request wait? (lead.Pace)
        before = probe() if probe is not None else 0
        lead.begin(channel)
        started = lead.since
        outcome = inline.serve_here(channel, channel.head)  # type: ignore[arg-type]
        now = time.monotonic()
        waited = probe is not None and probe() > before
        if not lead.end():
            # A worker runs the loop now (it stopped watching this connection): go on
            # with the connection the way any worker does, and become one. (Given
            # back as it is, a request the client pipelined would wait in the parser
            # for bytes that are not coming.)
            if outcome == KEEP:
                inline.carry_on(channel)
            elif outcome == CLOSE:
                channel.close()
            elif outcome == LINGER:
                self.linger(channel)
            raise LeadLost  # UPGRADED: adopted through call_soon; DEFERRED: resumed later
        # An app that waits (a database, a service) is better served by the workers,
        # side by side: Pace says when, from how the requests served here went.
        pace.record(now - started, waited)
        if outcome == KEEP:
            channel.state = State.IDLE
            channel.deadline = now + self._idle_timeout
            if channel.fd not in self._channels:
                self._conns.watch(channel)
            return bool(channel.parser.buffered)
        if outcome == CLOSE:
            self._conns.close(channel)
        elif outcome == LINGER:
            self._conns.watch(channel)
            self._conns.start_linger(channel)
        else:
            self._conns.unwatch(channel)  # UPGRADED (adopted through call_soon) or DEFERRED
        return False

    def _no_room(self, channel: Channel, exc: OSError) -> None:
        """The spool file could not take the body (disk full, spool_dir gone): 503."""
        self._log.error("cannot store a request body: %s", exc)
        self._conns.refuse(channel, 503, "no room to store the request body")

    def _start_request(self, channel: Channel, head: RequestHead) -> bool:
        """A head came: start reading its body; True when the request is already whole."""
        channel.start_request(head, self._bodies)
        if channel.read_body():
            return True
        if self._refusing:
            # Stopping: a body would be read for a request nobody will serve.
            raise Overloaded("the server is stopping")
        channel.state = State.BODY
        # Every check a head can fail has passed: ask for the body now. No worker
        # is involved, so a client that never sends it costs nothing but this
        # connection, until the body deadlines close it.
        channel.ask_for_body()
        return False

    def _handshake(self, channel: Channel) -> None:
        if not isinstance(channel, tls.TLSChannel):  # pragma: no cover - by construction
            raise TypeError("a handshake on a connection without TLS")
        self._conns.unwatch(channel)  # the handshake may replace the socket object
        step = channel.handshake()
        if step == tls.WANT_READ or step == tls.WANT_WRITE:
            events = selectors.EVENT_WRITE if step == tls.WANT_WRITE else selectors.EVENT_READ
            self._conns.watch(channel, events)
        elif step == tls.DONE:
            channel.set_deadline(State.IDLE, self._idle_timeout)
            self._conns.watch(channel)
            self._readable(channel)  # a request may have come with the last flight
        elif step == tls.PLAINTEXT:
            self._conns.watch(channel)
            channel.send_nowait(self._error_bytes(400, "this port speaks HTTPS, not plain HTTP"))
            self._conns.start_linger(channel)
        else:
            channel.close()

    def _drain_step(self, now: float) -> None:
        if not self._acceptor.closed:
            for upgraded in list(self._upgraded.values()):
                upgraded.stopping()
            self._accept(self._acceptor.close())
        arriving = False
        for channel in list(self._channels.values()):
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
            self._refusing = True
            self._drained.set()
        if self._finishing and (
            (not self._channels and not self._upgraded) or now >= self._finish_deadline
        ):
            self._stopping = True

    def _sweep(self, now: float) -> None:
        self._pace.sweep()
        self._conns.sweep(now)
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
