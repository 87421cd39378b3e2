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

__all__ = ["DEFER_KEY", "DEFER_TIMEOUT_REASON", "Deferral", "Parked", "timeout_answer"]

DEFER_TIMEOUT_REASON = "the app did not answer in time"

# A deferral's states: the deferring app still runs; it returned and nothing resumed
# it yet; resumed by the app; answered by the server (timed out, or the stop).
_RUNNING, _PARKED, _RESUMED, _ENDED = range(4)


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

    def abandon(self, answer: bytes) -> int:
        """Answer every exchange still parked with ``answer`` (whole response bytes)
        without waiting, and close its connection; how many (a graceful stop's end)."""
        with self._cond:
            left = list(self._deadlines)
        return sum(deferral.abandon(answer) for deferral in left)


class Deferral:
    """One deferred exchange: the app that will answer, and where it stands.

    ``wake`` has a worker finish the exchange with :attr:`app`; ``drop`` sends whole
    response bytes without waiting and closes the connection.
    """

    __slots__ = ("_drop", "_lock", "_parked", "_state", "_wake", "app", "head")

    def __init__(
        self,
        parked: Parked,
        head: RequestHead,
        wake: Callable[[], None],
        drop: Callable[[bytes], None],
    ) -> None:
        self._lock = threading.Lock()
        self._parked = parked
        self._wake = wake
        self._drop = drop
        self._state = _RUNNING
        self.head = head
        self.app: WSGIApp | None = None

    def resume(self, app: WSGIApp) -> bool:
        """Answer with ``app`` (any thread, once); False if the server answered already."""
        if not callable(app):
            raise InvalidResponse(f"resume takes a WSGI app, not {app!r}")
        with self._lock:
            state = self._state
            if state < _RESUMED:  # running or parked
                self._state = _RESUMED
                self.app = app
        if state == _RESUMED:
            raise InvalidResponse("a deferred exchange was resumed twice")
        if state == _ENDED:
            self._parked.log.warning(
                "%s %s was resumed after the server answered it; resume ignored",
                self.head.method,
                self.head.target,
            )
            return False
        if state == _PARKED:
            # Woken before it is counted out, so that a graceful stop waiting for
            # the count never stops the workers between the two.
            self._wake()
            self._parked.done(self)
        return True

    def park(self) -> bool:
        """The deferring app returned: True when nothing resumed it yet (it waits now)."""
        with self._lock:
            if self._state != _RUNNING:
                return False
            self._state = _PARKED
            self._parked.add(self)
            return True

    def time_out(self) -> None:
        """Not resumed in time: a worker answers 504 (unless a resume just won)."""
        parked = self._parked
        with self._lock:
            if self._state != _PARKED:
                return
            self._state = _ENDED
            self.app = parked.late
        parked.log.error(
            "%s %s was not resumed within %g s (defer_timeout); answered 504",
            self.head.method,
            self.head.target,
            parked.timeout,
        )
        self._wake()
        parked.done(self)

    def abandon(self, answer: bytes) -> bool:
        """The server stops: answer now and close, unless a resume just won."""
        with self._lock:
            if self._state != _PARKED:
                return False
            self._state = _ENDED
        self._parked.log.error(
            "%s %s was still parked when the server stopped; answered 503",
            self.head.method,
            self.head.target,
        )
        self._drop(answer)
        self._parked.done(self)
        return True
