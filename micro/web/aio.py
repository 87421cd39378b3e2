"""Framework layer: async handlers, on an asyncio loop the App keeps on a thread of its own.

``async def`` function routes, RequestHandler methods (and ``prepare``/``on_finish``)
and WebSocket callbacks run as coroutines on one asyncio loop per App and process
(:class:`LoopThread`, started by the first one that needs it, again after a fork).

How a request gets there depends on the server:

- micro's server puts ``micro.defer`` in the environ: the worker thread hands the
  request to the loop and goes back to serving others; when the coroutine is done,
  the response goes out from a worker again. An awaiting handler holds no thread.
  When the server drops the request instead (the client went away, ``defer_timeout``,
  a graceful stop: ``resume.on_drop``), the coroutine's task is cancelled.
- Any other WSGI server (and WebTest): the calling thread submits the coroutine to
  the loop and waits for it. The app works the same; it just holds that thread.

Middleware on an async route: one with an ``async def call_async(request,
call_next)`` method is awaited on the loop. A plain middleware (``__call__`` only)
still runs, in a thread of the loop's default executor, its ``call_next`` waiting for
the rest of the chain; that request then holds an executor thread while it awaits
(a worker is still free). Middleware that only look at the request before and the
response after cost nothing else.

The cost of a blocking call inside an async handler: the loop is shared by every
async handler of the process, so ``time.sleep(1)`` or a synchronous database query
stops all of them for that long. Run blocking work with ``await
asyncio.to_thread(fn, ...)``.
"""

from __future__ import annotations

import inspect
import os
import threading
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from micro.errors import ConfigError
from micro.web.middleware import Middleware
from micro.web.request import Request
from micro.web.response import Response

if TYPE_CHECKING:
    import asyncio
    import concurrent.futures

__all__ = [
    "AsyncCallNext",
    "LoopThread",
    "build_async_chain",
    "is_async_callable",
]


AsyncCallNext = Callable[[Request], Coroutine[Any, Any, Response]]
_T = TypeVar("_T")


def is_async_callable(fn: object) -> bool:
    return inspect.iscoroutinefunction(fn)


class LoopThread:
    """One asyncio loop on a daemon thread, started on first use (and after a fork)."""

    def __init__(self, name: str = "micro-asyncio") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0

    def loop(self) -> asyncio.AbstractEventLoop:
        """The running loop (started now if this process has none yet)."""
        loop = self._loop
        if loop is not None and self._pid == os.getpid():
            return loop
        import asyncio  # here: importing micro should not cost asyncio's import

        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                ready = threading.Event()
                new_loop = asyncio.new_event_loop()

                def run() -> None:
                    asyncio.set_event_loop(new_loop)
                    new_loop.call_soon(ready.set)
                    new_loop.run_forever()

                thread = threading.Thread(target=run, name=self._name, daemon=True)
                thread.start()
                ready.wait()
                self._loop, self._thread, self._pid = new_loop, thread, os.getpid()
            return self._loop

    def submit(self, coro: Coroutine[Any, Any, _T]) -> concurrent.futures.Future[_T]:
        import asyncio

        return asyncio.run_coroutine_threadsafe(coro, self.loop())

    def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coro`` on the loop and wait for its result (never from the loop itself)."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise ConfigError("a synchronous call waited for the asyncio loop from that loop")
        return self.submit(coro).result()

    def stop(self) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is not None and thread is not None and self._pid == os.getpid():
            loop.call_soon_threadsafe(loop.stop)
            if thread is not threading.current_thread():
                thread.join(5)
                loop.close()


def _async_step(middleware: Middleware, call_next: AsyncCallNext) -> AsyncCallNext:
    call_async = getattr(middleware, "call_async", None)
    if call_async is not None:

        async def awaited(request: Request) -> Response:
            return await call_async(request, call_next)  # type: ignore[no-any-return]

        return awaited

    async def in_thread(request: Request) -> Response:
        import asyncio

        loop = asyncio.get_running_loop()

        def rest(request: Request) -> Response:
            # On the executor thread: wait for the inner chain, which runs on the loop.
            return asyncio.run_coroutine_threadsafe(call_next(request), loop).result()

        return await loop.run_in_executor(None, middleware, request, rest)

    return in_thread


def build_async_chain(
    middleware: Sequence[Middleware], innermost: AsyncCallNext, skip: frozenset[str]
) -> AsyncCallNext:
    """The async form of :func:`micro.web.middleware.build_chain` (same order, same skips)."""
    call = innermost
    for mw in reversed(middleware):
        if mw.name not in skip:
            call = _async_step(mw, call)
    return call
