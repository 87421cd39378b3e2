"""Framework layer: the Response a handler returns and middleware may rewrite.

A Response is status + reason + :class:`~micro.web.headers.ResponseHeaders` + a body that
is an iterable of bytes: a list when buffered (the App adds Content-Length), any
iterable when streamed, or a :class:`FileBody` that the App hands to the server's
``wsgi.file_wrapper`` (sendfile) when there is one. Middleware may replace ``body``
with a generator that wraps it to transform the stream chunk by chunk.

:func:`to_response` turns what a function route returns (str, bytes, dict/list as
JSON, None as 204, an iterable as a stream) into a Response.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any, Protocol, Unpack

from micro.status import reason_phrase
from micro.web.cookies import CookieOptions, format_set_cookie
from micro.web.headers import ResponseHeaders

__all__ = [
    "HTML",
    "JSON",
    "FileBody",
    "FileLike",
    "Response",
    "json_bytes",
    "ready_response",
    "to_response",
]


def json_bytes(data: Any) -> bytes:
    """Compact JSON; ``</`` escaped so JSON embedded in HTML cannot close a script tag.

    NaN and the infinities raise ValueError: they are not JSON (RFC 8259), and a
    client's parser would refuse what ``json.dumps`` writes for them by default.
    """
    try:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError as exc:
        if "Out of range float" not in str(exc):
            raise
        raise ValueError(
            "cannot send NaN or Infinity as JSON (RFC 8259 has no such numbers):"
            " send null or a string instead"
        ) from None
    return text.replace("</", "<\\/").encode("utf-8")


# PERF: a tuple built once; ``bytes | bytearray | memoryview`` in the call would build a
# union on every Response.
_BYTES_LIKE = (bytes, bytearray, memoryview)


class FileLike(Protocol):
    """What a :class:`FileBody` asks of its file: a binary file object's reading side.

    Any open binary file has it; so may an object that reads a shared descriptor at
    its own offset (``fileno()`` is what a server's sendfile uses, ``tell()`` the
    position the file is at).
    """

    def read(self, size: int = -1, /) -> bytes: ...
    def fileno(self) -> int: ...
    def tell(self) -> int: ...
    def close(self) -> None: ...


class FileBody:
    """An open binary file sent block by block (or by ``wsgi.file_wrapper``).

    ``offset`` and ``length``, given together, are the caller's word that ``fileobj``
    is a regular file positioned at ``offset`` with ``length`` bytes to send (a caller
    that has just fstat'ed it knows); the file is then asked nothing, and micro's
    server sends those bytes without an fstat and a tell of its own. Without them,
    ``length`` is found from the file and ``offset`` stays None.
    """

    __slots__ = ("block_size", "fileobj", "length", "offset")

    def __init__(
        self,
        fileobj: FileLike,
        block_size: int = 64 * 1024,
        *,
        offset: int | None = None,
        length: int | None = None,
    ) -> None:
        self.fileobj = fileobj
        self.block_size = block_size
        if offset is not None and length is not None:
            self.offset: int | None = offset
            self.length: int | None = length
            return
        self.offset = None
        self.length = None
        try:
            # From the current position, so a caller may seek first (Range requests).
            size = os.fstat(fileobj.fileno()).st_size
            self.length = max(0, size - fileobj.tell())
        except (AttributeError, OSError, ValueError):
            pass

    @classmethod
    def span(
        cls, fileobj: FileLike, offset: int, length: int, block_size: int = 64 * 1024
    ) -> FileBody:
        """``FileBody(fileobj, block_size, offset=offset, length=length)`` for a caller
        that knows both (it has just fstat'ed the file, or keeps what it learned).

        PERF: no keyword matching and no checks: a static file's answer on every request.
        """
        body = object.__new__(cls)
        body.fileobj = fileobj
        body.block_size = block_size
        body.offset = offset
        body.length = length
        return body

    def __iter__(self) -> Iterator[bytes]:
        read = self.fileobj.read
        size = self.block_size
        while True:
            block = read(size)
            if not block:
                return
            yield block

    def close(self) -> None:
        self.fileobj.close()


class Response:
    """What a handler answers; what middleware sees and may change."""

    __slots__ = ("body", "headers", "reason", "status")

    def __init__(
        self,
        body: Iterable[bytes] | bytes | str | None = None,
        status: int = 200,
        *,
        headers: Mapping[str, str] | ResponseHeaders | None = None,
        content_type: str | None = None,
        reason: str | None = None,
    ) -> None:
        self.status = status
        self.reason = reason or reason_phrase(status)
        if type(headers) is ResponseHeaders:
            self.headers = headers
        else:
            self.headers = ResponseHeaders.from_mapping(headers)  # type: ignore[arg-type]
        if type(body) is list or type(body) is FileBody:
            self.body: Iterable[bytes] = body
        elif body is None:
            self.body = []
        elif isinstance(body, str):
            self.body = [body.encode("utf-8")]
            if content_type is None and "content-type" not in self.headers:
                content_type = "text/plain; charset=utf-8"
        elif isinstance(body, _BYTES_LIKE):
            self.body = [bytes(body)]
        else:
            self.body = body
        if content_type is not None:
            self.headers.set("Content-Type", content_type)

    @classmethod
    def json(cls, data: Any, status: int = 200, **kwargs: Any) -> Response:
        return cls(
            [json_bytes(data)],
            status,
            content_type="application/json; charset=utf-8",
            **kwargs,
        )

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Response:
        response = cls(None, status)
        response.headers.set("Location", location)
        return response

    @classmethod
    def from_file(
        cls,
        fileobj: IO[bytes],
        *,
        content_type: str,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        block_size: int = 64 * 1024,
    ) -> Response:
        """A response streaming ``fileobj`` from its current position; the App closes it."""
        return cls(
            FileBody(fileobj, block_size), status, headers=headers, content_type=content_type
        )

    def set_cookie(self, name: str, value: str, **options: Unpack[CookieOptions]) -> None:
        """Add a Set-Cookie field (options: see :class:`~micro.web.cookies.CookieOptions`)."""
        self.headers.add("Set-Cookie", format_set_cookie(name, value, **options))

    def delete_cookie(
        self, name: str, *, path: str | None = "/", domain: str | None = None
    ) -> None:
        self.set_cookie(name, "", max_age=0, expires=0, path=path, domain=domain, samesite=None)

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason}>"


class _Stream:
    """Encode a streamed body lazily, and close the source when the server closes us.

    A class, not a generator: a generator closed before its first chunk (a client
    gone, a HEAD request) would skip its ``finally`` and never close the source.
    """

    __slots__ = ("items",)

    def __init__(self, items: Iterable[Any]) -> None:
        self.items = items

    def __iter__(self) -> Iterator[bytes]:
        for item in self.items:
            if isinstance(item, bytes):
                yield item
            elif isinstance(item, str):
                yield item.encode("utf-8")
            else:
                raise TypeError(f"a streamed body yields str or bytes, not {type(item).__name__}")

    def close(self) -> None:
        close = getattr(self.items, "close", None)
        if close is not None:
            close()


_OK = reason_phrase(200)
HTML = "text/html; charset=utf-8"
"""The Content-Type of the pages micro writes (handlers, error pages)."""
JSON = "application/json; charset=utf-8"
"""The Content-Type of the JSON micro writes (dict and list answers, ``write(dict)``)."""
_HTML_HEADER = ("Content-Type", HTML)
_JSON_HEADER = ("Content-Type", JSON)


def ready_response(
    body: Iterable[bytes], status: int, reason: str, items: list[tuple[str, str]]
) -> Response:
    """A Response from parts its maker has checked already (what a function route
    returned, a RequestHandler's answer).

    ``items`` become the headers' list as they are: fields that went through
    :func:`~micro.web.headers.check_header` (``ResponseHeaders`` methods) or micro's own.
    PERF: the common answers skip ``Response.__init__``'s argument checks.
    """
    headers = object.__new__(ResponseHeaders)
    headers.items = items
    response = object.__new__(Response)
    response.status = status
    response.reason = reason
    response.headers = headers
    response.body = body
    return response


def to_response(result: Any) -> Response:
    """What a function route returned, as a Response."""
    kind = type(result)
    if kind is str:
        return ready_response([result.encode("utf-8")], 200, _OK, [_HTML_HEADER])
    if kind is Response or isinstance(result, Response):
        return result  # type: ignore[no-any-return]
    if kind is dict or kind is list:
        return ready_response([json_bytes(result)], 200, _OK, [_JSON_HEADER])
    if kind is bytes:
        return ready_response([result], 200, _OK, [_HTML_HEADER])
    if result is None:
        return Response(None, 204)
    # Subclasses (Markup, OrderedDict ...) take the slower road to the same answers.
    if isinstance(result, str):
        return ready_response([result.encode("utf-8")], 200, _OK, [_HTML_HEADER])
    if isinstance(result, bytes | bytearray | memoryview):
        return ready_response([bytes(result)], 200, _OK, [_HTML_HEADER])
    if isinstance(result, dict | list):
        return ready_response([json_bytes(result)], 200, _OK, [_JSON_HEADER])
    if isinstance(result, Iterable):
        return Response(_Stream(result), headers=ResponseHeaders([("Content-Type", HTML)]))
    raise TypeError(
        f"a route returned {type(result).__name__}; return str, bytes, dict, list, "
        "a Response, an iterable of str/bytes, or None"
    )
