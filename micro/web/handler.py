"""Framework layer: Tornado-style RequestHandler classes, the API a handler writes with.

The App makes one handler per request and :mod:`micro.web.runner` drives it:
``initialize(**kwargs)`` (from the URL spec), ``prepare()`` (which may finish early),
the method (``get``, ``post`` ...), ``finish``, then ``on_finish``. Output is
buffered until the method returns, so an exception can still become a clean error
page; ``flush()`` only marks chunk boundaries. What a handler reads of its request
(``get_argument``, ``get_cookie``, ``url_for`` ...) comes from its base class
:class:`~micro.web.shortcuts.RequestShortcuts`.

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
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from email.utils import format_datetime
from typing import Any, ClassVar, Unpack

from micro.errors import HTTPError, MicroError, ProtocolError
from micro.status import reason_phrase
from micro.web.cookies import CookieOptions, format_set_cookie
from micro.web.headers import ResponseHeaders
from micro.web.request import AppContext, Request
from micro.web.response import HTML, JSON, Response, json_bytes, ready_response
from micro.web.shortcuts import RequestShortcuts
from micro.web.templating import content_type_for

__all__ = ["HandlerError", "RequestHandler"]

log = logging.getLogger("micro.web")
_UNSET: Any = object()
_OK = reason_phrase(200)
_HTML_HEADER = ("Content-Type", HTML)
_JSON_HEADER = ("Content-Type", JSON)


class HandlerError(MicroError, RuntimeError):
    """A handler used its API out of order (write after finish, redirect after flush)."""


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

    # The starting state the usual request never reads lives on the class. PERF: what
    # it does read is set in __init__: in CPython 3.11 a class default read through
    # the instance costs about three instance reads, more than the store.
    _committed = False
    _streaming = False
    _current_user: Any = _UNSET

    def __init__(self, app: AppContext, request: Request, **kwargs: Any) -> None:
        self.begin_request(app, request)
        if kwargs or type(self).initialize is not RequestHandler.initialize:
            self.initialize(**kwargs)

    def begin_request(self, app: AppContext, request: Request) -> None:
        """The state every handler starts with (``__init__`` without ``initialize``).

        Part of the runner's interface (below): the runner calls it on a handler it
        made without ``__init__`` when the class keeps the standard one.
        """
        self.app = self.application = app
        self.request = request
        self.path_args = request.path_args
        self.path_kwargs = request.path_kwargs
        self._status = 200
        self._reason = _OK  # the table's own string: the App's status line cache hits
        self._finished = False
        # The response headers, made the first time the handler touches them; until
        # then the default Content-Type (JSON after a ``write(dict)``) is all there is.
        self._header_list: ResponseHeaders | None = None
        self._content_type = _HTML_HEADER
        # Written since the last flush: one chunk as it is, a list from the second on.
        self._buffer: bytes | list[bytes] | None = None
        self._chunks: list[bytes] | None = None  # flushed and not yet taken

    # -- hooks ---------------------------------------------------------------------

    def _initialize(self) -> None:
        """Receives the URL spec's kwargs; override with the parameters your spec passes."""

    # Typed loosely so that subclasses may take any keyword parameters (as in Tornado).
    initialize: Callable[..., None] = _initialize

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
        self._check_open("set a cookie")
        self._headers.add("Set-Cookie", format_set_cookie(name, value, **options))

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

    # -- output --------------------------------------------------------------------

    def _check_open(self, what: str) -> None:
        if self._committed:
            raise HandlerError(f"cannot {what}: the headers were already flushed")

    @property
    def _headers(self) -> ResponseHeaders:
        """The response headers, made now if the handler has not touched them yet."""
        headers = self._header_list
        if headers is None:
            headers = self._header_list = ResponseHeaders([self._content_type])
        return headers

    def set_status(self, status: int, reason: str | None = None) -> None:
        self._check_open("set the status")
        if not isinstance(status, int) or not 100 <= status <= 599:
            raise ValueError(f"HTTP status must be an int in 100..599, got {status!r}")
        self._status = status
        self._reason = reason or reason_phrase(status)

    def get_status(self) -> int:
        return self._status

    @staticmethod
    def _header_value(value: Any) -> str:
        if isinstance(value, datetime):
            return format_datetime(value, usegmt=True)
        if isinstance(value, int | float):
            return str(value)
        return value  # type: ignore[no-any-return]  # check_header rejects non-str

    def set_header(self, name: str, value: Any) -> None:
        self._check_open("set a header")
        self._headers.set(name, self._header_value(value))

    def add_header(self, name: str, value: Any) -> None:
        self._check_open("add a header")
        self._headers.add(name, self._header_value(value))

    def clear_header(self, name: str) -> None:
        self._check_open("clear a header")
        self._headers.remove(name)

    def write(self, chunk: str | bytes | dict[str, Any] | list[Any]) -> None:
        """Buffer output; a dict or list is sent as JSON with an application/json type."""
        if self._finished:
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
            if not self._committed:
                if self._header_list is None:
                    self._content_type = _JSON_HEADER
                else:
                    self._header_list.set(*_JSON_HEADER)
        else:
            raise TypeError(f"write() takes str, bytes, dict or list, not {type(chunk).__name__}")
        buffer = self._buffer
        if buffer is None:
            self._buffer = data
        elif isinstance(buffer, list):
            buffer.append(data)
        else:
            self._buffer = [buffer, data]

    def flush(self) -> None:
        """Commit the headers and close the current chunk (sent at the next ``yield``)."""
        self._committed = True
        buffer = self._buffer
        if buffer is not None:
            self._buffer = None
            chunk = b"".join(buffer) if isinstance(buffer, list) else buffer
            if self._chunks is None:
                self._chunks = [chunk]
            else:
                self._chunks.append(chunk)

    def finish(self, chunk: str | bytes | dict[str, Any] | list[Any] | None = None) -> None:
        if self._finished:
            raise HandlerError("finish() called twice")
        if chunk is not None:
            self.write(chunk)
        self.flush()
        self._finished = True

    def clear(self) -> None:
        """Forget the status, headers and output written so far (not yet flushed)."""
        self._check_open("clear the response")
        self._status, self._reason = 200, _OK
        self._header_list = None
        self._content_type = _HTML_HEADER
        self._buffer = None
        self._chunks = None

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
        self._check_open("redirect")
        if status is None:
            status = 301 if permanent else 302
        elif not 300 <= status <= 399:
            raise ValueError(f"a redirect status is 3xx, not {status}")
        self.set_status(status)
        self.set_header("Location", url)
        self.finish()

    def send_error(self, status: int = 500, **kwargs: Any) -> None:
        """Replace the response with an error page (``write_error`` renders it)."""
        if self._streaming:
            raise HandlerError("cannot send_error: output was already streamed")
        # Flushed chunks of a plain method are still ours (nothing has left): drop them.
        self._committed = False
        self._finished = False
        self.clear()
        self.set_status(status, kwargs.get("reason"))
        try:
            self.write_error(status, **kwargs)
        except Exception:
            log.exception("write_error failed")
            self.clear()
            self.set_status(500)
        if not self._finished:
            self.finish()

    def write_error(self, status: int, **kwargs: Any) -> None:
        """Render the error page: the app's error handler for ``status``, or HTML/JSON.

        ``kwargs["exc_info"]`` is the exception being handled, if any; its traceback
        appears only in debug mode.
        """
        exc_info = kwargs.get("exc_info")
        exc = exc_info[1] if exc_info else None
        if isinstance(exc, HTTPError):
            error, exc_info = exc, None
        else:
            error = HTTPError(status, self._reason)
            if isinstance(exc, ProtocolError):
                exc_info = None  # the client's fault: no traceback, even in debug
        # The runner logged the exception (and an HTTPError's log_message) already.
        response = self.app.error_page(self.request, error, exc_info)
        self._status, self._reason = response.status, response.reason
        self._header_list = response.headers
        buffer = self._buffer
        pending = [] if buffer is None else buffer if isinstance(buffer, list) else [buffer]
        pending.extend(response.body)
        self._buffer = pending or None

    # -- the runner's side -------------------------------------------------------------
    # micro.web.runner drives a handler through prepare, the method and on_finish with
    # these methods and nothing private. Public so that no module reads another's
    # private names; they are the framework's, not for a handler to call or override.

    @property
    def output_finished(self) -> bool:
        """Whether ``finish()`` was called (by ``prepare``, the method or ``send_error``)."""
        return self._finished

    @property
    def output_streamed(self) -> bool:
        """Whether bytes have left (:meth:`stream_output`): the status cannot change."""
        return self._streaming

    def take_output(self) -> list[bytes]:
        """Flush, and hand over what was flushed so far."""
        self.flush()
        chunks = self._chunks
        if chunks is None:
            return []
        self._chunks = None
        return chunks

    def stream_output(self) -> list[bytes]:
        """:meth:`take_output` for a batch that leaves now: the response is streaming."""
        batch = self.take_output()
        self._streaming = True
        return batch

    def finish_output(self, plain: bool) -> list[bytes] | None:
        """Finish the response if the method did not; the body when that took it whole.

        None means: take the body with :meth:`take_output`. PERF: ``plain`` says that
        ``finish`` and ``flush`` are the standard ones (the runner looked once); then
        a method that wrote and returned (most do) is finished and its body taken in
        this one call, without ``finish()``'s and ``take_output()``'s steps.
        """
        if not self._finished:
            if plain and self._chunks is None:
                # finish() then take_output(), the ending of most methods
                self._committed = self._finished = True
                buffer = self._buffer
                if buffer is None:
                    return []
                self._buffer = None
                return [b"".join(buffer) if isinstance(buffer, list) else buffer]
            self.finish()
        return None

    def output_response(self, body: Iterable[bytes]) -> Response:
        """The Response the App sends: this handler's status and headers with ``body``.

        PERF: built from parts already checked (the headers went through set_header), as
        a function route's answers are; headers the handler never touched are the default.
        """
        status = self._status
        headers = self._header_list
        if status == 204 or status == 304:
            if headers is None:
                return ready_response(body, status, self._reason, [])
            headers.remove("Content-Type")
        if headers is None:
            return ready_response(body, status, self._reason, [self._content_type])
        return ready_response(body, status, self._reason, headers.items)

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
