"""micro-websocket: run one connection's callbacks in order, one at a time, off the I/O loop.

Each connection has a :class:`Serial`. The I/O loop (or any thread) queues callbacks;
the first one queued while none runs submits a *drain* to the worker pool, which runs
the queued callbacks in order. A callback that returns a coroutine (``async def
on_message``) is run on the server's asyncio loop, and the drain stops until it is
done: the next callback waits for it, and no worker thread waits with it.

A drain runs at most :data:`BATCH` callbacks before it queues itself again, so one
busy connection cannot keep a worker from the others.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any

__all__ = ["BATCH", "Serial"]

BATCH = 32
log = logging.getLogger("micro.websocket")


class Serial:
    """An ordered queue of callbacks run on ``submit`` (the worker pool)."""

    __slots__ = ("_lock", "_loop", "_queue", "_running", "_submit", "on_drained")

    def __init__(
        self,
        submit: Callable[[Callable[[], None]], None],
        loop: Callable[[], asyncio.AbstractEventLoop] | None = None,
    ) -> None:
        self._submit = submit
        self._loop = loop
        self._queue: collections.deque[Callable[[], Any]] = collections.deque()
        self._lock = threading.Lock()
        self._running = False
        # Called (on a worker) each time the queue runs empty: flow control hooks here.
        self.on_drained: Callable[[], None] | None = None

    def __len__(self) -> int:
        return len(self._queue)

    def call(self, fn: Callable[[], Any]) -> None:
        """Queue ``fn``; it runs after every callback queued before it has finished."""
        with self._lock:
            self._queue.append(fn)
            if self._running:
                return
            self._running = True
        self._start()

    def _start(self) -> None:
        try:
            self._submit(self._drain)
        except Exception:  # the server is stopping: nobody is left to run them
            with self._lock:
                self._queue.clear()
                self._running = False

    def _drain(self) -> None:
        for _ in range(BATCH):
            with self._lock:
                if not self._queue:
                    self._running = False
                    drained = self.on_drained
                    break
                fn = self._queue.popleft()
            try:
                result = fn()
            except Exception:
                log.exception("a WebSocket callback failed")
                continue
            if inspect.iscoroutine(result):
                self._await(result)
                return
        else:
            self._start()  # more queued: let other connections have a worker first
            return
        if drained is not None:
            drained()

    def _await(self, coro: Coroutine[Any, Any, Any]) -> None:
        if self._loop is None:
            coro.close()
            log.error("an async WebSocket callback needs micro's server (no asyncio loop here)")
            self._start()
            return
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop())

        def done(f: Future[Any]) -> None:
            exc = f.exception() if not f.cancelled() else None
            if exc is not None:
                log.error("an async WebSocket callback failed", exc_info=exc)
            self._start()

        future.add_done_callback(done)
