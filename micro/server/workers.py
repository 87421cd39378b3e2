"""Server layer: the worker pool that runs the WSGI app for complete request heads.

One of the pool's threads runs the I/O loop (:meth:`WorkerPool.start` with ``lead``),
serving quick requests itself while another thread is free to take the loop over
(:mod:`micro.server.lead`: a ``LEAD`` item on the queue is that offer). The I/O loop
submits a connection to the others once a whole request has arrived (its head, and
its body in memory or a spool file); a worker serves it (see
:mod:`micro.server.wsgi`), then serves the next pipelined request if the parser
already holds all of it, tries one non-blocking read for a next request, and
otherwise hands the connection back to the loop (to wait idle, or to read the rest
of a body). A worker waits on a client only in one bounded case: while another
worker is free to take new requests, it waits up to ``NEXT_REQUEST_WAIT`` (2 ms)
for its keep-alive client's next request, which a client that is busy sending
requests sends within a round trip. Served there, that request crosses no thread;
the way through the loop costs a wake-up, a registration and an unregistration in
the selector, and a hand-off through the queue, each a system call or a lock. A worker never dies
from an app's or a client's failure: each connection's trouble ends that connection.

:class:`~micro.server.context.ServerContext` is what the workers share.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from typing import Protocol

from micro.errors import ProtocolError
from micro.http import NEED_DATA, RequestHead

from .channel import Channel, ConnectionLost, IOTimeout
from .context import ServerContext
from .exchange import Exchange
from .limits import Overloaded, overloaded_answer
from .wsgi import CLOSE, DEFERRED, KEEP, LINGER, UPGRADED, resume_exchange, run_exchange

__all__ = ["HandBack", "WorkerPool"]

STOPPING = "the server is stopping; retry shortly"
LEAD = "lead"  # a queue item: run the I/O loop if its lead is still offered (micro.server.lead)
# How long a worker with nothing else to do waits for its connection's next request.
NEXT_REQUEST_WAIT = 0.002
STOP_POLL = 0.05  # stop() looks this often whether the thread it joins took the lead


class HandBack(Protocol):
    """What the workers need from the I/O loop: a way to hand connections back."""

    def resume(self, channel: Channel) -> None:
        """Take back a connection to wait for its next request."""

    def park(self, channel: Channel) -> None:
        """Watch a connection whose exchange the app deferred, until it is resumed."""

    def linger(self, channel: Channel) -> None:
        """Take back a connection to shut, drain and close."""

    def leader(self) -> int:
        """The ident of the thread running the loop now (0: none)."""

    def serving(self) -> bool:
        """Whether the loop's thread is serving a request itself now."""


class WorkerPool:
    """N threads taking (connection, head) pairs off one queue."""

    def __init__(
        self,
        ctx: ServerContext,
        threads: int,
        loop: HandBack,
        *,
        next_request_wait: float = NEXT_REQUEST_WAIT,
    ) -> None:
        self._ctx = ctx
        self._loop = loop
        self._next_request_wait = next_request_wait
        # SimpleQueue is implemented in C: put/get cost far less than queue.Queue.
        # Items: a connection with a complete head, a call from an upgraded connection
        # (micro.server.upgrade), LEAD, or None to end a thread.
        self._queue: queue.SimpleQueue[
            tuple[Channel, RequestHead] | Callable[[], None] | str | None
        ] = queue.SimpleQueue()
        # Orders every put (the loop's submit, a worker's requeue) against stop()'s
        # end markers: a connection queued after them would find no thread to serve it.
        self._lock = threading.Lock()
        self._stopped = False
        self._lead: Callable[[], None] | None = None
        # One thread more than ``threads`` when a loop leads (see start): the thread
        # running the I/O loop. One flag per thread, written by its own thread only:
        # True while it waits on the queue (so it would take a new request at once).
        self._waiting = [False] * (threads + 1)
        self._threads = [
            threading.Thread(target=self._run, args=(i,), name=f"micro-worker-{i}", daemon=True)
            for i in range(threads + 1)
        ]

    def start(self, lead: Callable[[], None] | None = None) -> None:
        """Start the threads; with ``lead`` (:meth:`IOLoop.lead`), one more thread runs
        the I/O loop, and the lead moves between threads (:mod:`micro.server.lead`)."""
        self._lead = lead
        if lead is None:
            self._threads.pop()
            self._waiting.pop()
        else:
            self._queue.put(LEAD)
        for thread in self._threads:
            thread.start()

    def submit(self, channel: Channel, head: RequestHead) -> None:
        """Queue a complete head; raises :class:`Overloaded` once the pool is stopping."""
        self._put((channel, head))

    def submit_call(self, fn: Callable[[], None]) -> None:
        """Queue a call (an upgraded connection's callback); Overloaded once stopping."""
        self._put(fn)

    def offer_lead(self) -> None:
        """Have a free thread take over the I/O loop; Overloaded once stopping."""
        self._put(LEAD)

    def _put(self, item: tuple[Channel, RequestHead] | Callable[[], None] | str) -> None:
        with self._lock:
            if self._stopped:
                raise Overloaded("the server is stopping")
            self._queue.put(item)

    def free(self) -> bool:
        """True while a thread waits for work and nothing is queued for it."""
        return True in self._waiting and not self._queue.qsize()

    def pending(self) -> int:
        return self._queue.qsize()

    def busy(self) -> int:
        """Threads not waiting for work: running the app, sending, or reading ahead.

        The thread running the I/O loop counts while it serves a request itself.
        """
        leader = self._leader()
        workers = sum(
            1
            for waiting, thread in zip(self._waiting, self._threads, strict=True)
            if not waiting and thread.ident != leader
        )
        return workers + bool(leader and self._loop.serving())

    @property
    def threads(self) -> int:
        """Threads that serve requests, the one running the I/O loop aside."""
        return len(self._threads) - (self._lead is not None)

    def stop(self, timeout: float) -> None:
        """Let queued requests finish, then end the threads (waiting up to ``timeout``)."""
        with self._lock:
            self._stopped = True
            for _ in self._threads:
                self._queue.put(None)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            # The thread running the loop ends after the loop; a stop right after
            # start may come before any thread took the lead, so look again.
            while thread.is_alive() and thread.ident != self._leader():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                thread.join(min(left, STOP_POLL))
        # Past the timeout, requests still queued will not be served: say so (503,
        # Retry-After, close) rather than drop them; no app saw them, so a client
        # may safely send them again, to this server's successor or another.
        answer = b""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if type(item) is tuple:
                channel = item[0]
                answer = answer or overloaded_answer(self._ctx.error_bytes, STOPPING)
                channel.send_nowait(answer)
                channel.shutdown_write()
                channel.close()

    def idle(self) -> bool:
        """True once every thread but the I/O loop's has ended (after :meth:`stop`)."""
        leader = self._leader()
        return not any(thread.is_alive() and thread.ident != leader for thread in self._threads)

    def _leader(self) -> int:
        """The ident of the pool's thread running the I/O loop (0: none)."""
        return self._loop.leader() if self._lead is not None else 0

    def _run(self, index: int) -> None:
        get = self._queue.get
        waiting = self._waiting
        while True:
            waiting[index] = True
            item = get()
            waiting[index] = False
            if type(item) is tuple:
                self._serve_guarded(*item)
            elif item is None:
                return
            elif item is LEAD:
                self._take_lead()
            else:
                try:
                    item()  # type: ignore[operator]
                except Exception:
                    self._ctx.error_log.exception("a queued call failed")

    def _take_lead(self) -> None:
        lead = self._lead
        if lead is None:  # pragma: no cover - LEAD is queued only with a lead
            return
        try:
            lead()
        except Exception:
            self._ctx.error_log.exception("the I/O loop failed")

    def serve_here(self, channel: Channel, head: RequestHead) -> int:
        """Serve one request on the calling thread (the I/O loop's); the outcome.

        A server bug ends the connection (CLOSE), never the loop.
        """
        try:
            return self._exchange(channel, head)
        except Exception:
            self._ctx.error_log.exception("unexpected server error; connection closed")
            return CLOSE

    def _exchange(
        self, channel: Channel, head: RequestHead, resumed: Exchange | None = None
    ) -> int:
        """Run one exchange (or finish a resumed one); its outcome (micro.server.wsgi)."""
        outcome = LINGER
        try:
            if resumed is not None:
                outcome = resume_exchange(resumed)
            else:
                outcome = run_exchange(self._ctx, channel, head)
        finally:
            if outcome != DEFERRED:  # a deferred app may still read its body
                channel.end_request()  # the body's memory or temporary file goes now
        return outcome

    def resume(self, exchange: Exchange) -> None:
        """A deferred exchange was resumed (any thread): a worker finishes it."""
        channel = exchange.channel
        try:
            self.submit_call(lambda: self._serve_guarded(channel, exchange.head, exchange))
        except Overloaded:
            channel.send_nowait(overloaded_answer(self._ctx.error_bytes, STOPPING))
            channel.close()

    def _serve_guarded(
        self, channel: Channel, head: RequestHead, resumed: Exchange | None = None
    ) -> None:
        """:meth:`_serve`, where a server bug ends this connection, never the thread."""
        try:
            self._serve(channel, head, resumed)
        except Exception:
            self._ctx.error_log.exception("unexpected server error; connection closed")
            channel.close()

    def _serve(self, channel: Channel, head: RequestHead, resumed: Exchange | None = None) -> None:
        while True:
            outcome = self._exchange(channel, head, resumed)
            resumed = None
            if outcome != KEEP:
                if outcome == DEFERRED:
                    self._loop.park(channel)  # watched for a hang-up until resume()
                    return
                if outcome == UPGRADED:
                    return  # the I/O loop owns it now
                if outcome == CLOSE:
                    channel.close()
                else:
                    self._loop.linger(channel)
                return
            following = self._next(channel)
            if following is None:
                return
            head = following

    def carry_on(self, channel: Channel) -> None:
        """Go on with a connection whose request this thread just answered (keep-alive)
        as a worker does: serve what the client pipelined, else hand it back.

        For the I/O loop's thread once its lead was taken during that request: the
        parser may hold whole requests that the loop would only look at again when
        more bytes arrive.
        """
        try:
            head = self._next(channel)
            if head is not None:
                self._serve(channel, head)
        except Exception:
            self._ctx.error_log.exception("unexpected server error; connection closed")
            channel.close()

    def _next(self, channel: Channel) -> RequestHead | None:
        """After a keep-alive answer: the next request if it is here whole and this
        thread should serve it; None once the connection went elsewhere (back to
        the loop, to the queue, refused or closed)."""
        ctx = self._ctx
        parser = channel.parser
        complete = False
        try:
            event = parser.next_event()
            if event is NEED_DATA:
                # PERF: a client that pipelines or answers fast is served here
                # without a round trip through the I/O loop.
                data = channel.recv_nowait()
                if (
                    data is None
                    and True in self._waiting
                    and channel.wait_readable(self._next_request_wait)
                ):
                    # PERF: another worker is free to take new work, so this one
                    # may spend a moment waiting for the client's next request:
                    # served here, it crosses no thread (the loop would cost a
                    # wake-up, two registrations and a queue hand-off).
                    data = channel.recv_nowait()
                if data is not None:
                    parser.feed(data)
                    event = parser.next_event()
            if type(event) is RequestHead:
                channel.start_request(event, ctx.bodies)
                # A body already here is taken here; one still on its way is
                # left to the I/O loop: a worker never waits on a client.
                complete = channel.read_body()
        except ProtocolError as exc:
            self._refuse(channel, exc.status, exc.reason)
            return None
        except OSError as exc:
            ctx.error_log.error("cannot store a request body: %s", exc)
            self._refuse(channel, 503, "no room to store the request body")
            return None
        if type(event) is RequestHead:
            if not complete:
                channel.ask_for_body()
                self._loop.resume(channel)
                return None
            if self._queue.qsize():
                # Others are waiting: take this connection's turn at the back of
                # the queue rather than serve it ahead of them (tail latency),
                # unless the pool is stopping: then serve it now.
                with self._lock:
                    if not self._stopped:
                        self._queue.put((channel, event))
                        return None
            return event
        if event is NEED_DATA:
            self._loop.resume(channel)
            return None
        channel.close()  # ConnectionClosed: the client is done
        return None

    def _refuse(self, channel: Channel, status: int, reason: str) -> None:
        """Answer a request refused before the app saw it, then let the loop linger."""
        ctx = self._ctx
        channel.end_request()
        answer = ctx.error_bytes(status, reason)
        with contextlib.suppress(ConnectionLost, IOTimeout):
            channel.sendall(answer, ctx.write_timeout)
        if ctx.access_log is not None:
            ctx.access_log.refused(channel.peer[0], status, answer)
        self._loop.linger(channel)
