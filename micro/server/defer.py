"""Server layer: exchanges an app answers later (``environ["micro.defer"]``), holding no thread.

The seam, for any WSGI app served by micro's server (micro.App uses it for ``async
def`` routes)::

    resume = environ["micro.defer"]()   # I will answer later
    return []                           # returned now: closed, never sent
    ...
    resume(wsgi_app)                    # any thread, once: a worker now calls
                                        # wsgi_app(environ, start_response) and sends
                                        # what it returns, as for any request

Between the two the request holds no worker: the worker that called the app goes on
with other connections. ``resume`` may even come before the app returns; the same
worker then goes on with it at once.

An exchange is never parked for ever. Once the app has returned, it has
``defer_timeout`` seconds (:class:`~micro.server.config.ServerConfig`, 60 by default;
0: no limit) to be resumed; the I/O loop's sweep looks for late ones a few times per
timeout (:meth:`Parked.expire`: a dict in deadline order, no thread or timer per
exchange). A late one is answered ``504 Gateway Timeout`` with a short text body and
``Connection: close``, by a worker, exactly as if the server had resumed it with that
answer, and the error log names it. 504 rather than 503: the app took the request and
waits on something else (a service, a queue, a message) that did not answer in time,
which is what 504 says of a gateway; 503 says the server is overloaded or down and
invites the client to retry, and a request the app may have acted on is not one to
retry blindly.

Exactly one answer goes out whatever the timing: ``resume`` and the timeout take the
same lock, and whichever comes second sees that the other won. A ``resume`` that
comes after the timeout (or after a graceful stop answered the exchange) does
nothing: it returns False and logs a warning naming the request; it never raises
into the app's thread. ``resume`` returns True when it will be answered with the
given app. Resuming twice before any timeout is a bug in the app and still raises
:class:`~micro.errors.InvalidResponse`.

A graceful stop waits (within its timeout) for parked exchanges to be resumed (or to
time out) before it stops the workers, so they are still answered; those left when
its time is up are answered ``503`` there and closed (:meth:`Parked.abandon`).

A client that goes away: while an exchange is parked, the I/O loop watches its
connection like an idle one (no thread or timer per exchange), from its next sweep
on (a few times per second: the many exchanges resumed within milliseconds never
cost a registration). End of input or a reset there drops the exchange
(:meth:`Deferral.hang_up`): it no longer counts as parked, its connection is
closed, nothing is written, and a later ``resume`` returns False with a debug line
only (the client simply left; compare the warning for a resume after a 504). Bytes
that arrive instead are the client's next request, pipelined: the loop keeps them in
the parser (up to :data:`PARKED_READAHEAD`, then it stops reading until the answer
went out) and they are served after the answer, in order.

A half-close (the client shuts its side for writing after its request and waits
for the answer) reads exactly like a close: an end of input, with nothing to tell
the two apart short of writing to the socket. It drops the exchange too. A client
that closed for good is by far the common case (a browser that navigated away, a
proxy or a client library giving up on a timeout), and an answer nobody reads is the
work this is meant to save; HTTP clients that half-close and still wait are rare.
Tornado decides the same (an end of input on a connection whose request is still
being handled closes the stream and calls ``on_connection_close``), and so does
waitress when it reads ahead (``channel_request_lookahead``: an end of input marks
the client disconnected for ``waitress.client_disconnected``).

Telling the app: ``resume.on_drop(callback)`` registers ``callback(reason)``, called
once if the exchange ends without the app's answer: :data:`GONE` (the client went
away), :data:`TIMED_OUT` (the 504) or :data:`STOPPED` (a graceful stop's 503); never
after a ``resume`` that won. It runs on a worker thread, never the I/O loop's; for a
graceful stop's 503, on the thread that called ``Server.stop``, once the stop is
over; registered after the drop, at once on the registering thread. The server
holds none of its locks meanwhile, so it may call ``resume`` or anything else; its
exceptions are logged. micro.App cancels an async route's coroutine with it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from micro.errors import InvalidResponse
from micro.http import RequestHead
from micro.status import STATUS_LINES
from micro.wsgitypes import DEFER_KEY, Environ, StartResponse, WSGIApp

from .limits import Overloaded

__all__ = [
    "DEFER_KEY",
    "DEFER_TIMEOUT_REASON",
    "GONE",
    "PARKED_READAHEAD",
    "STOPPED",
    "TIMED_OUT",
    "Deferral",
    "Parked",
    "timeout_answer",
]

DEFER_TIMEOUT_REASON = "the app did not answer in time"

# Why an exchange was dropped (the argument of an on_drop callback).
GONE = "client gone"
TIMED_OUT = "timed out"
STOPPED = "server stopping"

# Bytes of a pipelined next request the loop reads while an exchange is parked.
PARKED_READAHEAD = 65536

# A deferral's states: the deferring app still runs; it returned and nothing resumed
# it yet; resumed by the app; answered by the server (timed out, or the stop); the
# client went away.
_RUNNING, _PARKED, _RESUMED, _ENDED, _GONE = range(5)

DropCallback = Callable[[str], None]


def timeout_answer(status: int = 504, reason: str = DEFER_TIMEOUT_REASON) -> WSGIApp:
    """A WSGI app answering ``status`` with ``reason`` as its text body, and closing.

    It passes ``exc_info`` (PEP 3333's error path): what the deferring app may have
    started before it deferred is replaced, and if a head already went out, the
    exchange ends by closing the connection.
    """
    body = f"{STATUS_LINES[status]}: {reason}\n".encode()
    headers = (
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("Connection", "close"),
    )

    def answer(environ: Environ, start_response: StartResponse) -> list[bytes]:
        error = TimeoutError(reason)
        start_response(STATUS_LINES[status], list(headers), (TimeoutError, error, None))
        return [body]

    return answer


class Parked:
    """The exchanges of one server that wait for their ``resume``, with their deadlines
    (thread-safe). ``timeout``: seconds a parked exchange may wait; 0: no limit."""

    def __init__(self, timeout: float, log: logging.Logger) -> None:
        self.timeout = timeout
        self.log = log
        self.late = timeout_answer()
        # Runs drop callbacks on a worker (set by the Server: the pool's submit_call).
        self.offload: Callable[[Callable[[], None]], None] | None = None
        # Deadline by deferral; the timeout is the same for all, so insertion order is
        # deadline order and expire() stops at the first one still in time.
        self._deadlines: dict[Deferral, float] = {}
        self._cond = threading.Condition()

    @property
    def count(self) -> int:
        """How many exchanges are parked now."""
        return len(self._deadlines)

    def add(self, deferral: Deferral) -> None:
        with self._cond:
            self._deadlines[deferral] = time.monotonic() + self.timeout

    def done(self, deferral: Deferral) -> None:
        with self._cond:
            self._deadlines.pop(deferral, None)
            if not self._deadlines:
                self._cond.notify_all()

    def wait_empty(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: not self._deadlines, timeout)

    def expire(self, now: float) -> None:
        """Answer the exchanges whose deadline passed (the I/O loop's sweep, ``now``
        from ``time.monotonic()``)."""
        if not self._deadlines or not self.timeout:  # PERF: the usual sweep
            return
        due: list[Deferral] = []
        with self._cond:
            for deferral, deadline in self._deadlines.items():
                if deadline > now:
                    break
                due.append(deferral)
        for deferral in due:
            deferral.time_out()

    def abandon(self, answer: bytes) -> list[Callable[[], None]]:
        """Answer every exchange still parked with ``answer`` (whole response bytes)
        without waiting, and close its connection (a graceful stop's end).

        Returns one call per exchange answered, which runs its drop callbacks: the
        caller makes them once it holds no lock (the workers are stopping).
        """
        with self._cond:
            left = list(self._deadlines)
        dropped = (deferral.abandon(answer) for deferral in left)
        return [notify for notify in dropped if notify is not None]

    def notify(
        self,
        callbacks: list[DropCallback] | None,
        reason: str,
        head: RequestHead,
        here: bool = False,
    ) -> None:
        """Call each drop callback with ``reason``: on a worker if there is one, else
        (or with ``here``) on this thread."""
        if not callbacks:
            return
        log = self.log

        def run() -> None:
            for callback in callbacks:
                try:
                    callback(reason)
                except Exception:
                    log.exception("a drop callback of %s %s failed", head.method, head.target)

        offload = self.offload
        if offload is not None and not here:
            try:
                offload(run)
                return
            except Overloaded:  # the workers are stopping
                pass
        run()


class Deferral:
    """One deferred exchange: the app that will answer, and where it stands.

    The app gets it as its ``resume`` handle: call it with a WSGI app, and
    :meth:`on_drop`. ``wake`` has a worker finish the exchange with :attr:`app`;
    ``drop`` sends whole response bytes without waiting and closes the connection.
    ``hand_over(fn)`` runs ``fn`` on the I/O loop once it stopped watching the
    connection (None: the server has no loop to watch it).

    Who owns the connection while parked: the loop, from the moment :meth:`watch`
    said yes (it then reads it, for a hang-up or a pipelined request); before that,
    nobody. Whatever ends the exchange after that goes through ``hand_over``, so a
    worker never touches the socket while the loop still reads it.
    """

    __slots__ = (
        "_callbacks",
        "_drop",
        "_hand_over",
        "_lock",
        "_parked",
        "_reason",
        "_state",
        "_wake",
        "_watched",
        "app",
        "head",
    )

    def __init__(
        self,
        parked: Parked,
        head: RequestHead,
        wake: Callable[[], None],
        drop: Callable[[bytes], None],
        hand_over: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._parked = parked
        self._wake = wake
        self._drop = drop
        self._hand_over = hand_over
        self._state = _RUNNING
        self._watched = False
        self._callbacks: list[DropCallback] | None = None
        self._reason = ""  # why it was dropped, once it was
        self.head = head
        self.app: WSGIApp | None = None

    def __call__(self, app: WSGIApp) -> bool:
        return self.resume(app)

    def resume(self, app: WSGIApp) -> bool:
        """Answer with ``app`` (any thread, once); False if the server answered already,
        or the client went away."""
        if not callable(app):
            raise InvalidResponse(f"resume takes a WSGI app, not {app!r}")
        with self._lock:
            state = self._state
            if state < _RESUMED:  # running or parked
                self._state = _RESUMED
                self.app = app
                self._callbacks = None
            watched = self._watched
        if state == _RESUMED:
            raise InvalidResponse("a deferred exchange was resumed twice")
        if state == _ENDED:
            self._parked.log.warning(
                "%s %s was resumed after the server answered it; resume ignored",
                self.head.method,
                self.head.target,
            )
            return False
        if state == _GONE:
            self._parked.log.debug(
                "%s %s was resumed after its client went away; resume ignored",
                self.head.method,
                self.head.target,
            )
            return False
        if state == _PARKED:
            self._finish(watched, self._wake)
        return True

    def on_drop(self, callback: DropCallback) -> None:
        """Have ``callback(reason)`` called once if the exchange ends without the app's
        answer (see the module doc); at once if it already did."""
        if not callable(callback):
            raise InvalidResponse(f"on_drop takes a callable, not {callback!r}")
        with self._lock:
            state = self._state
            if state < _RESUMED:
                if self._callbacks is None:
                    self._callbacks = []
                self._callbacks.append(callback)
                return
            reason = self._reason
        if state != _RESUMED:
            self._parked.notify([callback], reason, self.head, here=True)

    def park(self) -> bool:
        """The deferring app returned: True when nothing resumed it yet (it waits now)."""
        with self._lock:
            if self._state != _RUNNING:
                return False
            self._state = _PARKED
            self._parked.add(self)
            return True

    def watch(self) -> bool:
        """The I/O loop asks to watch the connection (on its thread): True when it
        may, the exchange being still parked and not watched yet."""
        with self._lock:
            if self._state != _PARKED or self._watched or self._hand_over is None:
                return False
            self._watched = True
            return True

    def hang_up(self) -> bool:
        """The loop read the end of the client's input (on its thread): drop the
        exchange; False if a resume or the server's own answer came first."""
        with self._lock:
            if self._state != _PARKED:
                return False
            self._state = _GONE
            callbacks, self._callbacks = self._callbacks, None
            self._reason = GONE
        parked = self._parked
        parked.log.info(
            "%s %s: the client went away while the app had not answered; dropped",
            self.head.method,
            self.head.target,
        )
        parked.done(self)
        parked.notify(callbacks, GONE, self.head)
        return True

    def time_out(self) -> None:
        """Not resumed in time: a worker answers 504 (unless a resume just won)."""
        parked = self._parked
        with self._lock:
            if self._state != _PARKED:
                return
            self._state = _ENDED
            self.app = parked.late
            callbacks, self._callbacks = self._callbacks, None
            self._reason = TIMED_OUT
            watched = self._watched
        parked.log.error(
            "%s %s was not resumed within %g s (defer_timeout); answered 504",
            self.head.method,
            self.head.target,
            parked.timeout,
        )
        self._finish(watched, self._wake)
        parked.notify(callbacks, TIMED_OUT, self.head)

    def abandon(self, answer: bytes) -> Callable[[], None] | None:
        """The server stops: answer now and close, unless a resume just won (None).

        Returns the call that runs the drop callbacks (see :meth:`Parked.abandon`).
        """
        with self._lock:
            if self._state != _PARKED:
                return None
            self._state = _ENDED
            callbacks, self._callbacks = self._callbacks, None
            self._reason = STOPPED
            watched = self._watched
        self._parked.log.error(
            "%s %s was still parked when the server stopped; answered 503",
            self.head.method,
            self.head.target,
        )
        self._finish(watched, lambda: self._drop(answer))
        parked, head = self._parked, self.head
        return lambda: parked.notify(callbacks, STOPPED, head, here=True)

    def _finish(self, watched: bool, then: Callable[[], None]) -> None:
        """Run ``then`` (which has the exchange answered), then count it out; through
        the loop if the loop watches its connection.

        Counted out after ``then``, so that a graceful stop waiting for the count
        never stops the workers between the two.
        """

        def finish() -> None:
            try:
                then()
            finally:
                self._parked.done(self)

        if watched and self._hand_over is not None:
            self._hand_over(finish)
        else:
            finish()
