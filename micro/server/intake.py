"""Server layer: what the I/O loop does with bytes that arrive, up to a request's server.

:class:`Intake` feeds each readable connection's parser until a complete request
comes out (its head, and its body into memory or a spool file:
:mod:`micro.server.body`), then decides who serves it: the loop's own thread, while a
worker is free (:mod:`micro.server.lead`), else the worker pool. A request the
server will not serve gets its answer here (400, 408, 413, 503) through
:class:`~micro.server.connections.Connections`. It also steps TLS handshakes
(:mod:`micro.server.tls`). Everything here runs on the thread running the loop
(:mod:`micro.server.loop`).

``Expect: 100-continue``: the loop itself answers ``100 Continue`` as soon as a head
that announces a body has passed every check (a Content-Length over
``max_body_bytes`` gets its 413 instead, before any body byte is sent), so no
worker ever waits for a client to decide.
"""

from __future__ import annotations

import logging
import selectors
import time
from collections.abc import Callable

from micro.errors import ProtocolError
from micro.http import NEED_DATA, RequestHead

from . import tls
from .body import BodyPolicy
from .channel import Channel, State
from .config import ServerConfig
from .connections import Connections
from .defer import PARKED_READAHEAD
from .lead import Inline, Lead, LeadLost, Pace, Watchdog, switches
from .limits import Overloaded
from .logs import ERROR_LOGGER
from .wsgi import CLOSE, DEFERRED, KEEP, LINGER

__all__ = ["BODY_READS", "Intake"]

BODY_READS = 4  # reads per wake-up while a body arrives (see Intake._body_readable)


class Intake:
    """Reads requests off the connections in ``conns`` and hands each to its server."""

    def __init__(
        self,
        conns: Connections,
        config: ServerConfig,
        bodies: BodyPolicy,
        submit: Callable[[Channel, RequestHead], None],
        error_bytes: Callable[[int, str], bytes],
        lead: Lead,
        pace: Pace,
        watchdog: Watchdog,
        linger: Callable[[Channel], None],
        park: Callable[[Channel], None],
    ) -> None:
        self._conns = conns
        # PERF: looked up for every request read.
        self._channels = conns.by_fd
        self._bodies = bodies
        self._submit = submit
        self._error_bytes = error_bytes
        self._idle_timeout = config.idle_timeout
        self._head_timeout = config.head_timeout
        self._lead = lead
        self._pace = pace
        self._watchdog = watchdog
        self._linger = linger  # a connection back to whichever thread runs the loop
        self._park = park  # the same, for a deferred exchange's connection
        self._log = logging.getLogger(ERROR_LOGGER)
        # Workers to take the loop over from a slow request; None: workers only.
        self.inline: Inline | None = None
        self.refusing = False  # set once drained: the worker pool may be stopping
        # Set by the loop when the poller answers: input on every connection it
        # reported had arrived by then (micro.arrived; see readable).
        self.arrived_by = 0.0

    def readable(self, channel: Channel) -> None:
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
        # The first byte of the request parsed first from here was waiting when the
        # poller answered: it came with this read, or before it. (A request
        # pipelined behind that one may have come later: the exchange clears this.)
        channel.arrived = self.arrived_by
        if state > State.HEAD:  # PERF: one test on the usual road (IDLE, HEAD)
            if state == State.CLOSING:
                if not data:
                    self._conns.close(channel)
                else:
                    channel.discard -= len(data)
                    if channel.discard < 0:
                        self._conns.close(channel)  # more than max_discard: stop reading now
                return
            if state == State.PARKED:
                self._parked_input(channel, data)
                return
        while self._received_one(channel, data):  # received(), one call less
            data = None

    def _parked_input(self, channel: Channel, data: bytes) -> None:
        """Input on a connection whose exchange waits for the app (micro.server.defer).

        End of input or a reset: the client is gone (a half-close too: see
        :mod:`micro.server.defer`), so the exchange is dropped and the connection
        closed. Bytes: the client's next request, kept in the parser for the worker
        that sends the answer; past :data:`PARKED_READAHEAD` the loop stops reading.
        """
        if not data:
            self._conns.unwatch(channel)
            deferral = channel.deferral
            if deferral is not None and deferral.hang_up():
                channel.close()
            # else a resume or the server's answer won: it is on its way to a
            # worker (through the loop), which will find the input ended.
            return
        parser = channel.parser
        parser.feed(data)
        if parser.buffered >= PARKED_READAHEAD:
            self._conns.unwatch(channel)

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
                self.received(channel, data)
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
                self.received(channel, None)  # the body is whole: on to the worker
                return
        channel.deadline = self._bodies.deadline(channel.body, time.monotonic())  # type: ignore[arg-type]

    def received(self, channel: Channel, data: bytes | None) -> None:
        """Feed what arrived (None: nothing new, go on with what the parser holds);
        the channel may not be watched yet (fresh from accept)."""
        # A request served here may leave the next one (pipelined) in the parser.
        while self._received_one(channel, data):
            data = None

    def _received_one(self, channel: Channel, data: bytes | None) -> bool:
        """:meth:`received` for one request; True when the next one is to be parsed."""
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
        inline = self.inline
        if inline is not None and not self._pace.off and not self.refusing and inline.free():
            return self._serve_inline(channel, inline)
        if watched:
            self._conns.unwatch(channel)
        channel.state = State.BUSY
        try:
            if self.refusing:
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
                raise LeadLost(lambda: inline.carry_on(channel))  # once the loop unwound
            if outcome == CLOSE:
                channel.close()
            elif outcome == LINGER:
                self._linger(channel)
            elif outcome == DEFERRED:
                self._park(channel)
            raise LeadLost  # UPGRADED: adopted through call_soon
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
            # UPGRADED: adopted through call_soon; DEFERRED: a worker finishes it,
            # and until then the loop watches it from its next sweep.
            self._conns.unwatch(channel)
            if outcome == DEFERRED:
                self._park(channel)
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
        if self.refusing:
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
            self.readable(channel)  # a request may have come with the last flight
        elif step == tls.PLAINTEXT:
            self._conns.watch(channel)
            channel.send_nowait(self._error_bytes(400, "this port speaks HTTPS, not plain HTTP"))
            self._conns.start_linger(channel)
        else:
            channel.close()
