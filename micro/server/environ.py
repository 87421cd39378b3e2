"""Server layer: the request side of WSGI (PEP 3333 environ, wsgi.input, file_wrapper).

:func:`build_environ` turns a parsed :class:`~micro.http.RequestHead` into the environ
dict in one pass over the headers. :class:`Input` is ``wsgi.input``: it reads the body
on demand from the connection through the parser, so it never reads past the body
(Content-Length or chunked with trailers), and it writes ``100 Continue`` the first
time the app needs body bytes the client is holding back.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO
from urllib.parse import unquote_to_bytes

from micro.http import NEED_DATA, Data, EndOfMessage, RequestHead
from micro.http.forwarded import split_host

from .channel import Channel

__all__ = ["CONTINUE", "FileWrapper", "Input", "base_environ", "build_environ"]

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_PROTOCOLS = {"1.1": "HTTP/1.1", "1.0": "HTTP/1.0"}
_MAX_KEY_CACHE = 1024


class FileWrapper:
    """``wsgi.file_wrapper``: iterates a file in blocks; the server sends real files
    with ``os.sendfile`` instead of iterating.

    micro's extension: ``offset`` and ``length`` (keywords, both or neither) say that
    ``filelike`` is a regular file at ``offset`` with ``length`` bytes to send, so the
    server need not fstat it and ask its position (micro.App passes them when it knows,
    recognising the extension by ``micro_offset_length``, so it need not import this).
    """

    micro_offset_length = True

    def __init__(
        self,
        filelike: BinaryIO,
        blksize: int = 65536,
        *,
        offset: int | None = None,
        length: int | None = None,
    ) -> None:
        self.filelike = filelike
        self.blksize = blksize
        self.offset = offset
        self.length = length

    def __iter__(self) -> Iterator[bytes]:
        while True:
            block = self.filelike.read(self.blksize)
            if not block:
                return
            yield block

    def close(self) -> None:
        close = getattr(self.filelike, "close", None)
        if close is not None:
            close()


class Input:
    """``wsgi.input``: the request body, read from the socket only when asked."""

    __slots__ = ("_buf", "_channel", "_on_continue", "_timeout", "done", "failed", "trailers")

    def __init__(
        self,
        channel: Channel,
        timeout: float,
        on_continue: Callable[[], None] | None,
        done: bool,
    ) -> None:
        self._channel = channel
        self._timeout = timeout
        self._on_continue = on_continue
        # A bytearray: appending and taking from the front are amortised O(1), so
        # reading a large body in small pieces (or whole) stays linear.
        self._buf = bytearray()
        self.done = done
        self.failed = False
        self.trailers: list[tuple[str, str]] = []

    def _fill(self) -> bool:
        """Get more body bytes into the buffer; False at the end of the body."""
        parser = self._channel.parser
        try:
            while not self.done:
                event = parser.next_event()
                if type(event) is Data:
                    # Body bytes came without waiting for a 100 (RFC 9110 10.1.1
                    # allows it): none is owed any more.
                    self._on_continue = None
                    self._buf += event.data
                    return True
                if type(event) is EndOfMessage:
                    self._on_continue = None
                    self.done = True
                    self.trailers = event.trailers
                    return False
                if event is NEED_DATA:
                    if self._on_continue is not None:
                        self._on_continue()
                        self._on_continue = None
                    parser.feed(self._channel.recv(self._timeout))
                    continue
                raise RuntimeError(f"parser gave {event!r} inside a body")  # pragma: no cover
        except BaseException:
            # The body is now in an unknown state: this connection cannot be reused.
            self.failed = True
            raise
        return False

    @property
    def continue_pending(self) -> bool:
        """The client asked for 100 Continue, has not been sent it, and holds its body back.

        Bytes already buffered after the head are the body arriving without the
        100: the rest can be read (or discarded) and the connection kept.
        """
        return self._on_continue is not None and not self._channel.parser.buffered

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            while self._fill():
                pass
            data = bytes(self._buf)
            self._buf.clear()
            return data
        while len(self._buf) < size and self._fill():
            pass
        data = bytes(self._buf[:size])
        del self._buf[:size]
        return data

    def readline(self, size: int | None = -1) -> bytes:
        limit = sys.maxsize if size is None or size < 0 else size
        while True:
            end = self._buf.find(b"\n", 0, limit)
            if end >= 0:
                return self.read(end + 1)
            if len(self._buf) >= limit or not self._fill():
                return self.read(limit)

    def readlines(self, hint: int = -1) -> list[bytes]:
        lines: list[bytes] = []
        total = 0
        while line := self.readline():
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                break
        return lines

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line

    def discard(self, limit: int) -> bool:
        """Read and drop what is left of the body, up to ``limit`` bytes.

        True when the body was consumed to its end (the connection can be reused).
        """
        if self.failed:
            return False
        dropped = len(self._buf)
        self._buf.clear()
        while not self.done:
            if dropped > limit:
                return False
            try:
                if not self._fill():
                    break
            except Exception:
                return False
            dropped += len(self._buf)
            self._buf.clear()
        return True


def base_environ(
    *, server_name: str, server_port: str, url_scheme: str, errors: Any
) -> dict[str, Any]:
    """The keys every request shares; copied once per request then filled in."""
    return {
        "SCRIPT_NAME": "",
        "SERVER_NAME": server_name,
        "SERVER_PORT": server_port,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": url_scheme,
        "wsgi.errors": errors,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.file_wrapper": FileWrapper,
        "wsgi.input_terminated": True,
    }


def _header_key(name: str) -> str | None:
    if "_" in name:
        # X-Foo_Bar and X-Foo-Bar would both become HTTP_X_FOO_BAR: drop the
        # underscore form so a client cannot spoof a header a proxy vouched for.
        return None
    if name == "content-type":
        return "CONTENT_TYPE"
    if name == "content-length":
        return "CONTENT_LENGTH"
    return "HTTP_" + name.upper().replace("-", "_")


def build_environ(
    base: dict[str, Any],
    keys: dict[str, str | None],
    head: RequestHead,
    peer: tuple[str, int],
    body: Input,
    default_port: str,
) -> dict[str, Any]:
    """The PEP 3333 environ for one request (``keys`` caches header-name conversions)."""
    env = base.copy()
    path = head.path
    if "%" in path:
        path = unquote_to_bytes(path).decode("latin-1")
    env["REQUEST_METHOD"] = head.method
    env["PATH_INFO"] = path
    env["QUERY_STRING"] = head.query
    env["SERVER_PROTOCOL"] = _PROTOCOLS.get(head.http_version) or "HTTP/" + head.http_version
    env["REMOTE_ADDR"] = peer[0]
    env["REMOTE_PORT"] = str(peer[1])
    env["REQUEST_URI"] = env["RAW_URI"] = head.target
    env["wsgi.input"] = body
    if head.host:
        env["SERVER_NAME"], env["SERVER_PORT"] = split_host(head.host, default_port)
    for name, value in head.headers:
        try:
            key = keys[name]
        except KeyError:
            key = _header_key(name)
            if len(keys) < _MAX_KEY_CACHE:
                keys[name] = key
        if key is None:
            continue
        if key in env:
            env[key] += ("; " if key == "HTTP_COOKIE" else ", ") + value
        else:
            env[key] = value
    if head.scheme is not None:
        # RFC 9112 §3.2.2: an absolute-form target's authority replaces Host, so the
        # app sees one host whichever key it reads (SERVER_NAME came from it above).
        env["HTTP_HOST"] = head.host
    if head.content_length is not None:
        env["CONTENT_LENGTH"] = str(head.content_length)
    elif "CONTENT_LENGTH" in env:
        del env["CONTENT_LENGTH"]
    return env
