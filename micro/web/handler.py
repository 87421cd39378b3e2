"""Framework layer: Tornado-style RequestHandler classes, the API a handler writes with.

The App makes one handler per request and :mod:`micro.web.runner` drives it:
``initialize(**kwargs)`` (from the URL spec), ``prepare()`` (which may finish early),
the method (``get``, ``post`` ...), ``finish``, then ``on_finish``. Output is
buffered until the method returns, so an exception can still become a clean error
page; ``flush()`` only marks chunk boundaries. What a handler reads of its request
(``get_argument``, ``get_cookie``, ``url_for`` ...) comes from its base class
:class:`~micro.web.shortcuts.RequestShortcuts`.

A subclass's names are its own: the response being built (status, headers, output)
lives in a :class:`~micro.web.output.HandlerOutput` that the runner holds too, and the
runner calls nothing on the handler but its hooks, its method and the public API. The
handler keeps one attribute for itself, ``_micro_output``; a subclass that defines a
name beginning with ``_micro_`` is refused when the class is made (TypeError).

Streaming: WSGI cannot push bytes out of a plain method while it runs, so a method
that wants to stream is written as a generator. Every ``yield`` flushes: what was
written (plus the yielded value, if any) goes to the server before the method
resumes, and the first ``yield`` commits the status and headers::

    def get(self):
        for row in rows():
            yield json.dumps(row) + "\\n"

Once bytes have left, an exception cannot change the status any more; it is logged
and re-raised so that the server cuts the connection instead of pretending success.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Unpack

from micro.errors import HTTPError, ProtocolError
from micro.status import reason_phrase
from micro.web.cookies import CookieOptions, format_set_cookie
from micro.web.output import (
    HTML_HEADER,
    JSON_HEADER,
    OK,
    HandlerError,
    HandlerOutput,
    header_value,
)
from micro.web.request import AppContext, Request
from micro.web.response import HTML, json_bytes
from micro.web.shortcuts import RequestShortcuts
from micro.web.templating import content_type_for

__all__ = ["RESERVED_PREFIX", "HandlerError", "RequestHandler", "handler_output", "start_handler"]

log = logging.getLogger("micro.web")
_UNSET: Any = object()

RESERVED_PREFIX = "_micro_"
"""Attribute names a RequestHandler keeps for itself begin with this (``_micro_output``)."""


def _no_initialize(self: Any) -> None:
    """Receives the URL spec's kwargs; override with the parameters your spec passes."""


class RequestHandler(RequestShortcuts):
    """Subclass and define ``get``/``post``/...; see the module docstring for the life cycle."""

    SUPPORTED_METHODS: ClassVar[tuple[str, ...]] = (
        "GET",
        "HEAD",
        "POST",
        "DELETE",
        "PATCH",
        "PUT",
        "OPTIONS",
    )
    skip_middleware: ClassVar[frozenset[str]] = frozenset()

    # Set by start_handler for each request (app and request: RequestShortcuts).
    application: AppContext
    path_args: tuple[Any, ...]
    path_kwargs: dict[str, Any]
    # What the handler writes: status, headers, output.
    _micro_output: HandlerOutput
    # The user, found the first time current_user is read. PERF: a class default, as
    # the usual request never reads it (start_handler sets only what it does read).
    _current_user: Any = _UNSET

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in vars(cls):
            if name.startswith(RESERVED_PREFIX):
                raise TypeError(
                    f"{cls.__qualname__} defines {name!r}: names beginning with "
                    f"{RESERVED_PREFIX!r} are reserved for RequestHandler's own state"
                )

    def __init__(self, app: AppContext, request: Request, **kwargs: Any) -> None:
        start_handler(self, app, request)
        if kwargs or type(self).initialize is not RequestHandler.initialize:
            self.initialize(**kwargs)

    # -- hooks ---------------------------------------------------------------------

    # Typed loosely so that subclasses may take any keyword parameters (as in Tornado).
    initialize: Callable[..., None] = _no_initialize

    def prepare(self) -> Awaitable[None] | None:
        """Runs before the method; call ``finish()`` (or raise HTTPError) to answer early."""

    def on_finish(self) -> Awaitable[None] | None:
        """Runs after the response is complete (for cleanup and logging)."""

    def get_current_user(self) -> Any:
        """Override to identify the user; by default the App's ``@app.user_loader`` decides."""
        return self.request.current_user

    @property
    def current_user(self) -> Any:
        if self._current_user is _UNSET:
            self._current_user = self.get_current_user()
        return self._current_user

    @current_user.setter
    def current_user(self, value: Any) -> None:
        self._current_user = value

    # -- cookies -------------------------------------------------------------------

    def set_cookie(self, name: str, value: str, **options: Unpack[CookieOptions]) -> None:
        """Options: max_age, expires, path, domain, secure, httponly, samesite."""
        out = self._micro_output
        out.check_open("set a cookie")
        out.headers().add("Set-Cookie", format_set_cookie(name, value, **options))

    def clear_cookie(self, name: str, *, path: str | None = "/", domain: str | None = None) -> None:
        self.set_cookie(name, "", max_age=0, expires=0, path=path, domain=domain, samesite=None)

    def set_signed_cookie(
        self,
        name: str,
        value: str | bytes,
        max_age_days: float = 31,
        **options: Unpack[CookieOptions],
    ) -> None:
        """Sign with the first ``cookie_secret`` (ConfigError without one); HttpOnly by default.

        The cookie's Max-Age is ``max_age_days``, the age ``get_signed_cookie`` accepts by
        default, so the browser keeps it exactly as long as the server believes it.
        """
        signed = self.app.create_signed_value(name, value)
        options.setdefault("httponly", True)
        options.setdefault("max_age", int(max_age_days * 86400))
        self.set_cookie(name, signed, **options)

    # -- output (kept in a HandlerOutput: micro.web.output) ------------------------

    def set_status(self, status: int, reason: str | None = None) -> None:
        out = self._micro_output
        out.check_open("set the status")
        if not isinstance(status, int) or not 100 <= status <= 599:
            raise ValueError(f"HTTP status must be an int in 100..599, got {status!r}")
        out.status = status
        out.reason = reason or reason_phrase(status)

    def get_status(self) -> int:
        return self._micro_output.status

    def set_header(self, name: str, value: Any) -> None:
        out = self._micro_output
        out.check_open("set a header")
        out.headers().set(name, header_value(value))

    def add_header(self, name: str, value: Any) -> None:
        out = self._micro_output
        out.check_open("add a header")
        out.headers().add(name, header_value(value))

    def clear_header(self, name: str) -> None:
        out = self._micro_output
        out.check_open("clear a header")
        out.headers().remove(name)

    def write(self, chunk: str | bytes | dict[str, Any] | list[Any]) -> None:
        """Buffer output; a dict or list is sent as JSON with an application/json type."""
        out = self._micro_output
        if out.finished:
            raise HandlerError("cannot write() after finish()")
        data: bytes
        if type(chunk) is str:  # PERF: the common case first, by identity
            data = chunk.encode("utf-8")
        elif isinstance(chunk, bytes):
            data = chunk
        elif isinstance(chunk, str):
            data = chunk.encode("utf-8")
        elif isinstance(chunk, dict | list):
            data = json_bytes(chunk)
            if not out.committed:
                if out.header_list is None:
                    out.content_type = JSON_HEADER
                else:
                    out.header_list.set(*JSON_HEADER)
        else:
            raise TypeError(f"write() takes str, bytes, dict or list, not {type(chunk).__name__}")
        buffer = out.buffer
        if buffer is None:
            out.buffer = data
        elif isinstance(buffer, list):
            buffer.append(data)
        else:
            out.buffer = [buffer, data]

    def flush(self) -> None:
        """Commit the headers and close the current chunk (sent at the next ``yield``)."""
        self._micro_output.flush()

    def finish(self, chunk: str | bytes | dict[str, Any] | list[Any] | None = None) -> None:
        out = self._micro_output
        if out.finished:
            raise HandlerError("finish() called twice")
        if chunk is not None:
            self.write(chunk)
        self.flush()
        out.finished = True

    def clear(self) -> None:
        """Forget the status, headers and output written so far (not yet flushed)."""
        out = self._micro_output
        out.check_open("clear the response")
        out.clear()

    def render(self, name: str, /, **context: Any) -> None:
        """Finish the response with template ``name`` (the app's template engine).

        Templates also see ``handler`` (this handler) and its ``current_user``.
        """
        text = self.request.render_text(name, {"handler": self, **context}, self.current_user)
        content_type = content_type_for(name)
        if content_type != HTML:
            self.set_header("Content-Type", content_type)
        self.finish(text)

    def redirect(self, url: str, permanent: bool = False, status: int | None = None) -> None:
        self._micro_output.check_open("redirect")
        if status is None:
            status = 301 if permanent else 302
        elif not 300 <= status <= 399:
            raise ValueError(f"a redirect status is 3xx, not {status}")
        self.set_status(status)
        self.set_header("Location", url)
        self.finish()

    def send_error(self, status: int = 500, **kwargs: Any) -> None:
        """Replace the response with an error page (``write_error`` renders it)."""
        out = self._micro_output
        if out.streaming:
            raise HandlerError("cannot send_error: output was already streamed")
        # Flushed chunks of a plain method are still ours (nothing has left): drop them.
        out.committed = False
        out.finished = False
        self.clear()
        self.set_status(status, kwargs.get("reason"))
        try:
            self.write_error(status, **kwargs)
        except Exception:
            log.exception("write_error failed")
            self.clear()
            self.set_status(500)
        if not out.finished:
            self.finish()

    def write_error(self, status: int, **kwargs: Any) -> None:
        """Render the error page: the app's error handler for ``status``, or HTML/JSON.

        ``kwargs["exc_info"]`` is the exception being handled, if any; its traceback
        appears only in debug mode.
        """
        out = self._micro_output
        exc_info = kwargs.get("exc_info")
        exc = exc_info[1] if exc_info else None
        if isinstance(exc, HTTPError):
            error, exc_info = exc, None
        else:
            error = HTTPError(status, out.reason)
            if isinstance(exc, ProtocolError):
                exc_info = None  # the client's fault: no traceback, even in debug
        # The runner logged the exception (and an HTTPError's log_message) already.
        response = self.app.error_page(self.request, error, exc_info)
        out.status, out.reason = response.status, response.reason
        out.header_list = response.headers
        buffer = out.buffer
        pending = [] if buffer is None else buffer if isinstance(buffer, list) else [buffer]
        pending.extend(response.body)
        out.buffer = pending or None

    # Stubs: a subclass overrides the ones it supports (runner.handler_methods looks).
    def get(self, *args: Any, **kwargs: Any) -> Any:
        raise HTTPError(405)

    def head(self, *args: Any, **kwargs: Any) -> Any:
        raise HTTPError(405)

    def post(self, *args: Any, **kwargs: Any) -> Any:
        raise HTTPError(405)

    def put(self, *args: Any, **kwargs: Any) -> Any:
        raise HTTPError(405)

    def patch(self, *args: Any, **kwargs: Any) -> Any:
        raise HTTPError(405)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise HTTPError(405)

    def options(self, *args: Any, **kwargs: Any) -> Any:
        raise HTTPError(405)


# -- the runner's side ------------------------------------------------------------------
# micro.web.runner makes a handler and holds its HandlerOutput through these two
# functions; nothing of the runner's lives on the handler, whose names are the user's.


def start_handler(handler: RequestHandler, app: AppContext, request: Request) -> HandlerOutput:
    """Give ``handler`` its request and a fresh output (``__init__`` without ``initialize``).

    The runner calls it on a handler it made without ``__init__`` when the class keeps
    the standard one (PERF: no type call), and keeps the output it returns.
    """
    handler.app = handler.application = app
    handler.request = request
    handler.path_args = request.path_args
    handler.path_kwargs = request.path_kwargs
    handler._micro_output = out = HandlerOutput()
    # PERF: HandlerOutput.clear()'s values, set here without the call
    out.status = 200
    out.reason = OK
    out.header_list = None
    out.content_type = HTML_HEADER
    out.buffer = None
    out.chunks = None
    out.committed = out.finished = out.streaming = False
    return out


def handler_output(handler: RequestHandler) -> HandlerOutput:
    """The output of a handler made by its class (its ``__init__`` called start_handler)."""
    try:
        return handler._micro_output
    except AttributeError:
        name = type(handler).__qualname__
        raise TypeError(
            f"{name}.__init__ must call RequestHandler.__init__ (super().__init__)"
        ) from None
