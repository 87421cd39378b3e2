"""Framework layer: the App's last step, a Response handed to the WSGI server.

:func:`send_response` starts the response with its status line and headers:
Content-Length for a buffered body, no body for HEAD (its headers as GET's),
``wsgi.file_wrapper`` for a file (with its offset and length, which spare micro's
server an ``fstat`` and a ``tell``), every cookie marked ``Secure`` when the request
came over https, and the request's spooled uploads closed once the body no longer
needs them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from micro.status import PHRASES, STATUS_LINES, reason_phrase
from micro.web.cookies import mark_secure
from micro.web.request import Request
from micro.web.response import FileBody, Response
from micro.wsgitypes import StartResponse

__all__ = ["send_response"]


class _ClosingBody:
    """A streamed body that closes the request's uploads when the server closes it.

    A class, not a generator: a generator closed before its first chunk (a client
    gone, a HEAD request) would skip its ``finally``.
    """

    __slots__ = ("body", "files")

    def __init__(self, body: Iterable[bytes], files: tuple[Any, ...]) -> None:
        self.body = body
        self.files = files

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.body)

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            for f in self.files:
                f.close()


def _close_uploads(files: tuple[Any, ...], response: Response) -> None:
    """Close spooled upload files once the response no longer needs them."""
    if type(response.body) is list:
        for f in files:
            f.close()
        return
    response.body = _ClosingBody(response.body, files)


def _has_length(headers: list[tuple[str, str]]) -> bool:
    """Whether a Content-Length is among ``headers``."""
    # PERF: only a 14-letter name is lowercased and compared; a loop, not any(),
    # which would build a generator on every response.
    for key, _ in headers:  # noqa: SIM110
        if len(key) == 14 and key.lower() == "content-length":
            return True
    return False


def _status_line(status: int, reason: str) -> str:
    if reason == PHRASES.get(status):
        return STATUS_LINES[status]
    safe = "".join(c if " " <= c <= "~" or "\xa0" <= c <= "\xff" else "?" for c in reason)
    return f"{status} {safe or reason_phrase(status)}"


def send_response(
    request: Request, response: Response, start_response: StartResponse
) -> Iterable[bytes]:
    """Content-Length for buffered bodies, no body for HEAD, sendfile for files."""
    files = request.open_files
    if files:
        _close_uploads(files, response)
    status = response.status
    headers = response.headers.items
    if request.environ.get("wsgi.url_scheme") == "https":
        mark_secure(headers)
    body = response.body
    reason = response.reason
    method = request.method
    line = STATUS_LINES[status] if reason is PHRASES.get(status) else _status_line(status, reason)
    if type(body) is list:
        if status >= 200 and status != 204 and status != 304 and not _has_length(headers):
            size = len(body[0]) if len(body) == 1 else sum(map(len, body))
            # A HEAD answered without a body: its length is GET's, unknown
            # here; 0 would be a lie (RFC 9110 9.3.2 lets it be left out).
            if size or method != "HEAD":
                headers.append(("Content-Length", str(size)))
    elif type(body) is FileBody:
        if body.length is not None and not _has_length(headers):
            headers.append(("Content-Length", str(body.length)))
        wrapper: Callable[..., Iterable[bytes]] | None = request.environ.get("wsgi.file_wrapper")
        if wrapper is not None and method != "HEAD":
            start_response(line, headers)
            if body.offset is not None and getattr(wrapper, "micro_offset_length", False):
                # micro's own server: what the body knows spares it an fstat and a tell.
                return wrapper(body.fileobj, body.block_size, body.offset, body.length)
            return wrapper(body.fileobj, body.block_size)
    start_response(line, headers)
    if method == "HEAD":
        close = getattr(body, "close", None)
        if close is not None:
            close()
        return []
    return body
