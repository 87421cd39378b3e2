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
worker then goes on with it at once. A graceful stop waits (within its timeout) for
parked exchanges to be resumed before it stops the workers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from micro.errors import InvalidResponse
from micro.wsgitypes import DEFER_KEY, WSGIApp

__all__ = ["DEFER_KEY", "Deferral", "Parked"]


class Parked:
    """How many exchanges of one server wait for their ``resume`` (thread-safe)."""

    def __init__(self) -> None:
        self._count = 0
        self._cond = threading.Condition()

    def add(self) -> None:
        with self._cond:
            self._count += 1

    def done(self) -> None:
        with self._cond:
            self._count -= 1
            if not self._count:
                self._cond.notify_all()

    def wait_empty(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: not self._count, timeout)


class Deferral:
    """One deferred exchange: the app that will answer, and whether a worker waits for it."""

    __slots__ = ("_lock", "_parked", "_parked_here", "_wake", "app")

    def __init__(self, parked: Parked, wake: Callable[[], None]) -> None:
        self._lock = threading.Lock()
        self._parked = parked
        self._wake = wake
        self.app: WSGIApp | None = None
        self._parked_here = False

    def resume(self, app: WSGIApp) -> None:
        """Answer with ``app`` (any thread, once)."""
        if not callable(app):
            raise InvalidResponse(f"resume takes a WSGI app, not {app!r}")
        with self._lock:
            if self.app is not None:
                raise InvalidResponse("a deferred exchange was resumed twice")
            self.app = app
            parked = self._parked_here
        if parked:
            self._parked.done()
            self._wake()

    def park(self) -> bool:
        """The deferring app returned: True when nothing resumed it yet (it waits now)."""
        with self._lock:
            if self.app is not None:
                return False
            self._parked_here = True
            self._parked.add()
            return True
