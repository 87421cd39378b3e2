"""Framework layer: the response a RequestHandler builds, kept off the handler itself.

A handler's status, headers and output (written, flushed, taken) live in a
:class:`HandlerOutput`, one per request, not in the handler's namespace, so that a
subclass may use any name for its own methods and attributes. The handler's public
methods (``write``, ``flush``, ``set_header`` ...; :mod:`micro.web.handler`) change it;
the runner (:mod:`micro.web.runner`) holds the same object, reads whether the
response is finished or streaming, takes the body and builds the Response with it.

The output goes through three stages: open (status and headers may change),
committed (``flush()`` was called: they may not), finished (``finish()`` was called:
nothing more may be written). ``streaming`` says that bytes have left for the client:
from then on not even an error page may replace the response.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from micro.errors import MicroError
from micro.status import reason_phrase
from micro.web.headers import ResponseHeaders
from micro.web.response import HTML, JSON, Response, ready_response

__all__ = ["HTML_HEADER", "JSON_HEADER", "OK", "HandlerError", "HandlerOutput", "header_value"]

OK = reason_phrase(200)  # the table's own string: the App's status line cache hits
HTML_HEADER = ("Content-Type", HTML)
JSON_HEADER = ("Content-Type", JSON)


class HandlerError(MicroError, RuntimeError):
    """A handler used its API out of order (write after finish, redirect after flush)."""


def header_value(value: Any) -> str:
    """A header value as set_header takes it: str, a number, or a datetime (HTTP-date)."""
    if isinstance(value, datetime):
        return format_datetime(value, usegmt=True)
    if isinstance(value, int | float):
        return str(value)
    return value  # type: ignore[no-any-return]  # check_header rejects non-str


class HandlerOutput:
    """One request's response while a handler builds it (see the module docstring).

    Made by :func:`micro.web.handler.start_handler`, which sets every field; the
    starting values are those :meth:`clear` restores, with nothing committed,
    finished or streamed.
    """

    __slots__ = (
        "buffer",
        "chunks",
        "committed",
        "content_type",
        "finished",
        "header_list",
        "reason",
        "status",
        "streaming",
    )

    status: int
    reason: str
    # The response headers, made the first time the handler touches them; until then
    # the default Content-Type (JSON after a ``write(dict)``) is all there is.
    header_list: ResponseHeaders | None
    content_type: tuple[str, str]
    # Written since the last flush: one chunk as it is, a list from the second on.
    buffer: bytes | list[bytes] | None
    chunks: list[bytes] | None  # flushed and not yet taken
    committed: bool
    finished: bool
    streaming: bool

    def check_open(self, what: str) -> None:
        """Refuse to change the status or headers once they were flushed."""
        if self.committed:
            raise HandlerError(f"cannot {what}: the headers were already flushed")

    def headers(self) -> ResponseHeaders:
        """The response headers, made now if the handler has not touched them yet."""
        headers = self.header_list
        if headers is None:
            headers = self.header_list = ResponseHeaders([self.content_type])
        return headers

    def clear(self) -> None:
        """Forget the status, headers and output written so far (not yet taken)."""
        self.status, self.reason = 200, OK
        self.header_list = None
        self.content_type = HTML_HEADER
        self.buffer = None
        self.chunks = None

    def flush(self) -> None:
        """Commit the headers and close the current chunk."""
        self.committed = True
        buffer = self.buffer
        if buffer is not None:
            self.buffer = None
            chunk = b"".join(buffer) if isinstance(buffer, list) else buffer
            if self.chunks is None:
                self.chunks = [chunk]
            else:
                self.chunks.append(chunk)

    # -- the runner's side -------------------------------------------------------------

    def take(self) -> list[bytes]:
        """Flush, and hand over what was flushed so far."""
        self.flush()
        chunks = self.chunks
        if chunks is None:
            return []
        self.chunks = None
        return chunks

    def stream(self) -> list[bytes]:
        """:meth:`take` for a batch that leaves now: the response is streaming."""
        batch = self.take()
        self.streaming = True
        return batch

    def finish_and_take(self) -> list[bytes]:
        """What the standard ``finish()`` then :meth:`take` do, for a handler whose
        ``finish`` and ``flush`` are RequestHandler's own; the body.

        PERF: a method that wrote and returned (most do) has one chunk or a list of
        them in ``buffer`` and nothing flushed: joined here in one step.
        """
        self.committed = self.finished = True
        if self.chunks is not None:
            return self.take()
        buffer = self.buffer
        if buffer is None:
            return []
        self.buffer = None
        return [b"".join(buffer) if isinstance(buffer, list) else buffer]

    def response(self, body: Iterable[bytes]) -> Response:
        """The Response the App sends: this output's status and headers with ``body``.

        PERF: built from parts already checked (the headers went through set_header), as
        a function route's answers are; headers the handler never touched are the default.
        """
        status = self.status
        headers = self.header_list
        if status == 204 or status == 304:
            if headers is None:
                return ready_response(body, status, self.reason, [])
            headers.remove("Content-Type")
        if headers is None:
            return ready_response(body, status, self.reason, [self.content_type])
        return ready_response(body, status, self.reason, headers.items)
