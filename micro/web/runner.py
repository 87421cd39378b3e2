"""Framework layer: how a RequestHandler class is run, and the runner that runs it.

When a class route is added, :func:`handler_methods` and :func:`async_methods` say
which HTTP methods the class serves (the route's Allow) and which of them are
coroutines (awaited on the App's loop).

A :class:`HandlerRunner` belongs to a class route (the App's HandlerEndpoint makes it
when the route is added). For each request it makes a handler, runs ``prepare()`` (which
may finish early), the method, ``finish`` when the method did not, then ``on_finish``,
and turns an exception on the way into the handler's error page. A method written as a
generator streams: each ``yield`` hands a batch to the server (see
:mod:`micro.web.handler`).

The runner's side of a request lives in the handler's :class:`HandlerOutput`
(:mod:`micro.web.output`), which :func:`~micro.web.handler.start_handler` makes and
the runner keeps: whether the response is finished or streaming, its body, its
Response. Of the handler itself the runner calls only the hooks, the method and the
public ``finish``, ``flush`` and ``send_error``, so a subclass may name its own
methods and attributes as it likes.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Generator, Iterator, Mapping
from typing import Any

from micro.errors import HTTPError, ProtocolError, RoutingError
from micro.web.handler import RequestHandler, handler_output, start_handler
from micro.web.output import HandlerOutput
from micro.web.request import Request
from micro.web.response import Response

__all__ = ["HandlerRunner", "async_methods", "handler_methods"]

log = logging.getLogger("micro.web")
_new = object.__new__


def handler_methods(cls: type[RequestHandler]) -> frozenset[str]:
    """The methods a handler class implements (overrides), limited to SUPPORTED_METHODS."""
    found = frozenset(
        m
        for m in cls.SUPPORTED_METHODS
        if getattr(cls, m.lower(), None) is not getattr(RequestHandler, m.lower(), None)
    )
    if not found:
        raise RoutingError(f"{cls.__name__} implements none of its SUPPORTED_METHODS")
    return found


def async_methods(cls: type[RequestHandler]) -> frozenset[str]:
    """The methods of ``cls`` served as coroutines (all of them if prepare or
    on_finish is ``async def``); HEAD follows GET unless ``head`` is its own."""
    hooks_async = inspect.iscoroutinefunction(cls.prepare) or inspect.iscoroutinefunction(
        cls.on_finish
    )
    found = {
        m
        for m in cls.SUPPORTED_METHODS
        if hooks_async or inspect.iscoroutinefunction(getattr(cls, m.lower(), None))
    }
    if "GET" in found and cls.head is RequestHandler.head:
        found.add("HEAD")
    return frozenset(found)


class HandlerRunner:
    """Runs a RequestHandler class: one new handler for each request.

    PERF: what the class overrides is looked at once, when its route is added (as the
    methods it implements are), not on every request: ``prepare`` and ``on_finish``
    are called only when the class has its own, and the handler method of each HTTP
    method is found in a table (HEAD runs ``get`` unless the class has a ``head``).
    """

    __slots__ = (
        "cls",
        "early_finish",
        "init_kwargs",
        "initialize",
        "methods",
        "on_finish",
        "plain_finish",
        "plain_init",
        "prepare",
    )

    def __init__(self, cls: type[RequestHandler], init_kwargs: Mapping[str, Any]) -> None:
        self.cls = cls
        self.init_kwargs = dict(init_kwargs)
        self.plain_init = cls.__init__ is RequestHandler.__init__ and cls.__new__ is object.__new__
        self.initialize = bool(init_kwargs) or cls.initialize is not RequestHandler.initialize
        self.prepare = cls.prepare is not RequestHandler.prepare
        self.on_finish = cls.on_finish is not RequestHandler.on_finish
        # whether the handler may be finished before its method runs: by prepare,
        # initialize or its own __init__ (then the method is not called)
        self.early_finish = self.prepare or self.initialize or not self.plain_init
        self.plain_finish = (
            cls.finish is RequestHandler.finish and cls.flush is RequestHandler.flush
        )
        methods = {m: m.lower() for m in cls.SUPPORTED_METHODS}
        if cls.head is RequestHandler.head:
            methods["HEAD"] = "get"  # HEAD wherever GET: same code, the App drops the body
        self.methods: Mapping[str, str] = methods  # never changed: a dict reads fastest

    def run(self, request: Request) -> Response:
        """Run a handler up to its first streamed chunk (or to the end); its Response.

        PERF: a method that is not a generator (most are) is run by plain calls, so
        that a handler costs little more than a function route; only a streaming
        method goes through :func:`_batches`, a generator of flushed batches. The
        no-op hooks are not called, and a method that returns without finishing is
        finished and its body taken in one call (``finish_and_take``).
        """
        if self.plain_init:
            # PERF: RequestHandler.__init__'s steps without the type call's machinery
            handler = _new(self.cls)
            out = start_handler(handler, request.app, request)
            if self.initialize:
                handler.initialize(**self.init_kwargs)
        else:
            handler = self.cls(request.app, request, **self.init_kwargs)
            out = handler_output(handler)
        body: list[bytes] | None = None
        result: Any = None  # the method's generator, when it streams
        try:
            try:
                if self.prepare:
                    handler.prepare()
                if not (self.early_finish and out.finished):
                    name = self.methods.get(handler.request.method)
                    if name is None:
                        raise HTTPError(405)
                    method = getattr(handler, name)
                    args, kwargs = handler.path_args, handler.path_kwargs
                    result = method(*args, **kwargs) if args or kwargs else method()
                    if result is None:
                        if not out.finished:
                            if self.plain_finish:
                                body = out.finish_and_take()
                            else:
                                handler.finish()
                    elif not inspect.isgenerator(result):
                        raise TypeError(f"handler methods return None, got {result!r}")
            except Exception as exc:
                result = None
                answer_exception(handler, exc)
            # PERF: in these two tests the usual request's answer settles the first.
            if body is None and result is None:
                body = out.take()
        finally:
            # A streaming method's on_finish runs when its batches end (_batches).
            if self.on_finish and result is None:
                run_on_finish(handler, None)
        if body is None:
            return _streamed_response(out, _batches(handler, out, result))
        return out.response(body)

    async def run_async(self, request: Request) -> Response:
        """:meth:`run` for handlers with async methods (micro.web.aio).

        Any of prepare, the method and on_finish may be ``async def``; a plain one is
        called as usual. Async methods cannot stream (an async generator is refused):
        write, then return.
        """
        handler = self.cls(request.app, request, **self.init_kwargs)
        out = handler_output(handler)
        try:
            try:
                prepared = handler.prepare()
                if prepared is not None:
                    await prepared
                result: Any
                if not out.finished:
                    name = self.methods.get(handler.request.method)
                    if name is None:
                        raise HTTPError(405)
                    result = getattr(handler, name)(*handler.path_args, **handler.path_kwargs)
                    if inspect.isawaitable(result):
                        result = await result
                    if inspect.isasyncgen(result) or inspect.isgenerator(result):
                        raise TypeError("an async handler method cannot stream; write() instead")
                    if result is not None:
                        raise TypeError(f"handler methods return None, got {result!r}")
                    if not out.finished:
                        handler.finish()
            except Exception as exc:
                answer_exception(handler, exc)
            body = out.take()
        finally:
            try:
                done = handler.on_finish()
                if inspect.isawaitable(done):
                    await done
            except Exception:
                log.exception("on_finish failed")
        return out.response(body)

    def __repr__(self) -> str:
        return f"HandlerRunner({self.cls.__name__})"


def answer_exception(handler: RequestHandler, exc: Exception) -> None:
    """Log ``exc`` and replace the handler's response with its error page."""
    request = handler.request
    status, reason = 500, None
    if isinstance(exc, HTTPError | ProtocolError):
        status, reason = exc.status, exc.reason
        if isinstance(exc, HTTPError) and exc.log_message:
            log.warning("%s %s: %s", request.method, request.path, exc.log_message)
    else:
        log.error("%s %s failed", request.method, request.path, exc_info=exc)
    handler.send_error(status, reason=reason, exc_info=(type(exc), exc, exc.__traceback__))


def run_on_finish(handler: RequestHandler, method: Generator[Any, Any, Any] | None) -> None:
    """Close a stopped streaming ``method`` (if any), then run ``on_finish``; log failures."""
    try:
        if method is not None:
            # Stopped mid-stream (the server closed the body): the method's own
            # finally runs before on_finish, as it does when the method ends.
            method.close()
        handler.on_finish()
    except Exception:
        log.exception("closing the method or on_finish failed")


def _batches(
    handler: RequestHandler, out: HandlerOutput, method: Generator[Any, Any, Any]
) -> Iterator[list[bytes]]:
    """Batches of a streaming method: each ``yield`` flushes what was written."""
    request = handler.request
    try:
        try:
            item: Any
            for item in method:
                if item is not None:
                    handler.write(item)
                handler.flush()
                yield out.stream()
            if not out.finished:
                handler.finish()
        except Exception as exc:
            if out.streaming:
                log.error("%s %s failed while streaming", request.method, request.path)
                raise
            answer_exception(handler, exc)
        yield out.take()
    finally:
        run_on_finish(handler, method)


def _streamed_response(out: HandlerOutput, batches: Iterator[list[bytes]]) -> Response:
    """The Response of a generator method, run up to its first streamed batch.

    If it ended (or failed) before streaming anything, its batches are one body.
    """
    first = next(batches)
    if out.streaming:
        return out.response(_join(first, batches))
    for batch in batches:
        first.extend(batch)
    return out.response(first)


def _join(first: list[bytes], rest: Iterator[list[bytes]]) -> Iterator[bytes]:
    """The chunks of a streamed body, without empty ones; closing it closes ``rest``."""
    try:
        for chunk in first:
            if chunk:
                yield chunk
        for batch in rest:
            for chunk in batch:
                if chunk:
                    yield chunk
    finally:
        close = getattr(rest, "close", None)
        if close is not None:
            close()
