"""Server layer: the response side of one exchange (PEP 3333 ``start_response``, ``write``).

:class:`Exchange` holds what the app started (status, headers) and frames it when the
head goes out: the app's Content-Length, else the length of a list/tuple result,
else chunked on HTTP/1.1 and close-delimited on HTTP/1.0; HEAD, 204 and 304 carry
no body whatever the app returns. An app that sends more or fewer bytes than its
Content-Length, or headers HTTP cannot carry, never desynchronises the connection:
it is closed (or the client gets a 500 if nothing was sent yet). Response heads are
cached per (status, headers, request shape). :mod:`micro.server.wsgi` drives it.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable
from typing import Any

from micro.errors import InvalidResponse
from micro.http import LAST_CHUNK, RequestHead, build_response_head, encode_chunk, error_response
from micro.wsgitypes import ExcInfo

from .channel import Channel, ConnectionLost, IOTimeout
from .context import ServerContext
from .defer import Deferral
from .environ import FileWrapper
from .upgrade import UpgradeProtocol

__all__ = ["CHUNKED", "COALESCE", "FIXED", "NOBODY", "UNTIL_CLOSE", "Exchange", "Framing"]

_K_LENGTH, _K_CONNECTION, _K_HOP, _K_DATE, _K_SERVER = range(5)
# Response header names the server looks at; every other header passes through as is.
_SPECIAL = {
    "content-length": _K_LENGTH,
    "connection": _K_CONNECTION,
    "date": _K_DATE,
    "server": _K_SERVER,
    **dict.fromkeys(
        ("transfer-encoding", "keep-alive", "upgrade", "proxy-connection", "te", "trailer"),
        _K_HOP,
    ),
}
# How the body is framed (decided when the head goes out).
NOBODY, FIXED, CHUNKED, UNTIL_CLOSE = 0, 1, 2, 3

_HEAD_CACHE_SIZE = 256
# Bodies up to this size are copied behind the head to leave in one send; larger
# ones are sent on their own (a second system call is cheaper than the copy).
COALESCE = 65536
# head bytes, add a Date line?, mode, remaining, keep-alive, status code
Framing = tuple[bytes, bool, int, int, bool, int]


class Exchange:
    """The response side of one request: status, headers, framing and bytes written."""

    __slots__ = (
        "channel",
        "clock",
        "ctx",
        "deferral",
        "environ",
        "head",
        "head_sent",
        "headers",
        "keep_alive",
        "known_length",
        "mode",
        "remaining",
        "sent",
        "started",
        "status",
        "status_code",
        "upgrade",
    )

    def __init__(self, ctx: ServerContext, channel: Channel, head: RequestHead) -> None:
        self.ctx = ctx
        self.channel = channel
        self.head = head
        self.status: str | None = None
        self.status_code = 0
        self.headers: list[tuple[str, str]] = []
        self.head_sent = False
        self.keep_alive = head.keep_alive and not ctx.stopping
        self.known_length: int | None = None
        self.mode = NOBODY
        self.remaining = 0
        self.sent = 0
        self.upgrade: UpgradeProtocol | None = None
        self.deferral: Deferral | None = None
        self.environ: dict[str, Any] = {}
        self.started = 0.0
        self.clock = 0.0  # perf_counter() when the app was first called, for the access log

    def defer(self) -> Deferral:
        """``environ["micro.defer"]()``: the app answers later; returns the ``resume``
        handle (``resume(app)``, ``resume.on_drop(callback)``)."""
        ctx = self.ctx
        resume = ctx.resume
        if resume is None or self.deferral is not None or self.head_sent:
            raise InvalidResponse("micro.defer called twice, or after the head was sent")
        unpark = ctx.unpark
        channel = self.channel
        hand_over = None if unpark is None else lambda fn: unpark(channel, fn)
        self.deferral = Deferral(ctx.parked, self.head, lambda: resume(self), self.drop, hand_over)
        return self.deferral

    def drop(self, answer: bytes) -> None:
        """Send ``answer`` (a whole response) if no head went out, without waiting, and
        close: a parked exchange that no worker will finish (the server stops)."""
        channel = self.channel
        if not self.head_sent:
            self.head_sent = True
            channel.send_nowait(answer)
        channel.shutdown_write()
        channel.close()

    def set_upgrade(self, protocol: UpgradeProtocol) -> None:
        """``environ["micro.upgrade"]``: if the app answers 101, ``protocol`` gets the socket."""
        if self.head_sent:
            raise InvalidResponse("micro.upgrade called after the response head was sent")
        self.upgrade = protocol

    # -- WSGI callables -------------------------------------------------------------
    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None
    ) -> Callable[[bytes], None]:
        if exc_info is not None:
            try:
                if self.head_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise InvalidResponse("start_response called a second time without exc_info")
        if type(status) is not str:
            raise InvalidResponse(f"status must be a str, got {type(status).__name__}")
        if type(headers) is not list:
            raise InvalidResponse(f"headers must be a list, got {type(headers).__name__}")
        self.status = status
        self.headers = headers
        return self.write

    def write(self, data: bytes) -> None:
        if self.status is None:
            raise InvalidResponse("the app wrote body bytes before calling start_response")
        if type(data) is not bytes and not isinstance(data, bytes | bytearray):
            raise InvalidResponse(f"body chunks must be bytes, got {type(data).__name__}")
        if not data:
            return
        if not self.head_sent:
            head = self.head_bytes()
            mode = self.mode
            if mode == FIXED and len(data) <= self.remaining and len(data) <= COALESCE:
                # PERF: the common small response leaves in one send.
                self.channel.sendall(head + data, self.ctx.write_timeout)
                self.remaining -= len(data)
                self.sent += len(data)
                return
            if mode == CHUNKED and len(data) <= COALESCE:
                self.channel.sendall(head + encode_chunk(data), self.ctx.write_timeout)
                self.sent += len(data)
                return
            self.channel.sendall(head, self.ctx.write_timeout)
        self.send_body(data)

    def send_body(self, data: bytes) -> None:
        mode = self.mode
        if mode == FIXED:
            if len(data) > self.remaining:
                data = data[: self.remaining]
                self.keep_alive = False
                self.ctx.error_log.error(
                    "app sent more than its Content-Length for %s %s; connection closed",
                    self.head.method,
                    self.head.target,
                )
            self.remaining -= len(data)
        elif mode == CHUNKED:
            self.channel.sendall(encode_chunk(data), self.ctx.write_timeout)
            self.sent += len(data)
            return
        elif mode == NOBODY:
            return
        if data:
            self.channel.sendall(data, self.ctx.write_timeout)
            self.sent += len(data)

    # -- framing --------------------------------------------------------------------
    def head_bytes(self) -> bytes:
        """The head bytes for what the app started; decides framing, marks the head sent.

        PERF: heads are cached per (status, headers, request shape): an app that answers
        the same way again costs one dict lookup instead of a header scan and checks.
        """
        ctx = self.ctx
        if ctx.stopping:
            self.keep_alive = False
        head = self.head
        cache = ctx.head_cache
        key: tuple[Any, ...] | None
        try:
            key = (
                self.status,
                tuple(self.headers),
                head.method == "HEAD",
                head.http_version,
                self.keep_alive,
                self.known_length,
            )
            framing = cache.get(key)
        except TypeError:  # unhashable header items: build without the cache
            key = framing = None
        if framing is None:
            framing = self._frame()
            if key is not None:
                if len(cache) >= _HEAD_CACHE_SIZE:
                    cache.clear()
                cache[key] = framing
        prefix, add_date, self.mode, self.remaining, self.keep_alive, self.status_code = framing
        self.head_sent = True
        return prefix + ctx.clock.line() if add_date else prefix

    def _frame(self) -> Framing:
        """Decide framing and build the head bytes (without Date unless the app gave one)."""
        status = self.status
        if status is None:
            raise InvalidResponse("the app returned without calling start_response")
        code = status[:3]
        if not code.isdigit() or len(status) < 4 or status[3] != " ":
            raise InvalidResponse(f"status must be 'NNN reason', got {status!r}")
        self.status_code = status_code = int(code)
        if status_code < 200:
            raise InvalidResponse(f"a WSGI app cannot answer with {status_code}")
        head = self.head
        out: list[tuple[str, str]] = []
        length: int | None = None
        has_date = has_server = False
        try:
            for item in self.headers:
                name, value = item
                kind = _SPECIAL.get(name.lower())
                if kind is None:
                    out.append(item)
                elif kind == _K_LENGTH:
                    stripped = value.strip()
                    if not stripped.isdigit() or not stripped.isascii():
                        raise InvalidResponse(f"invalid Content-Length from the app: {value!r}")
                    if length is not None and length != int(stripped):
                        raise InvalidResponse("the app gave two different Content-Lengths")
                    length = int(stripped)
                elif kind == _K_CONNECTION:
                    if "close" in value.lower():
                        self.keep_alive = False
                elif kind == _K_HOP:
                    raise InvalidResponse(f"a WSGI app must not set the hop-by-hop header {name!r}")
                else:
                    has_date = has_date or kind == _K_DATE
                    has_server = has_server or kind == _K_SERVER
                    out.append(item)
        except (TypeError, ValueError, AttributeError) as exc:
            raise InvalidResponse(f"headers must be a list of (str, str) tuples: {exc}") from None
        if head.method == "HEAD" or status_code == 204 or status_code == 304:
            self.mode = NOBODY
            if status_code != 204:
                if length is None and head.method == "HEAD" and self.known_length:
                    # The app returned GET's body for HEAD: its length is GET's. An
                    # empty body says nothing (Werkzeug answers HEAD with none while
                    # GET streams), so no length is made up (RFC 9110 9.3.2).
                    length = self.known_length
                if length is not None:
                    out.append(("Content-Length", str(length)))
        elif length is not None or self.known_length is not None:
            self.mode = FIXED
            self.remaining = length if length is not None else self.known_length or 0
            out.append(("Content-Length", str(self.remaining)))
        elif head.http_version == "1.1":
            self.mode = CHUNKED
            out.append(("Transfer-Encoding", "chunked"))
        else:
            self.mode = UNTIL_CLOSE
            self.keep_alive = False
        if not self.keep_alive:
            out.append(("Connection", "close"))
        elif head.http_version == "1.0":
            out.append(("Connection", "keep-alive"))
        if not has_server:
            out.append(("Server", self.ctx.server_name))
        try:
            data = build_response_head("1.1", status, out)
        except TypeError as exc:
            raise InvalidResponse(f"header names and values must be str: {exc}") from None
        # Without a Date from the app, the head stops before its final CRLF: the
        # current Date line (which ends the head) is appended per request.
        prefix = data if has_date else data[:-2]
        return (prefix, not has_date, self.mode, self.remaining, self.keep_alive, status_code)

    def finish(self) -> None:
        """The app is done: complete the framing, or close if it fell short."""
        if not self.head_sent:
            if self.known_length is None:
                self.known_length = 0
            self.channel.sendall(self.head_bytes(), self.ctx.write_timeout)
        if self.mode == CHUNKED:
            self.channel.sendall(LAST_CHUNK, self.ctx.write_timeout)
        elif self.mode == FIXED and self.remaining:
            self.keep_alive = False
            self.ctx.error_log.error(
                "app sent %d bytes less than its Content-Length for %s %s; connection closed",
                self.remaining,
                self.head.method,
                self.head.target,
            )

    def send_file(self, wrapper: FileWrapper) -> bool:
        """Send a real file with os.sendfile; False if it is not one (iterate instead)."""
        filelike = wrapper.filelike
        offset, available = wrapper.offset, wrapper.length
        if offset is None or available is None:
            try:
                info = os.fstat(filelike.fileno())
                offset = filelike.tell()
            except (AttributeError, OSError, ValueError):
                return False
            if not stat.S_ISREG(info.st_mode):
                return False
            available = max(0, info.st_size - offset)
        # else PERF: the App knew both (micro.web.response.FileBody): no fstat, no lseek.
        self.known_length = available
        head = b"" if self.head_sent else self.head_bytes()
        if self.mode == NOBODY:
            if head:
                self.channel.sendall(head, self.ctx.write_timeout)
            return True
        if self.mode != FIXED:  # pragma: no cover - a known length always gives FIXED
            if head:
                self.channel.sendall(head, self.ctx.write_timeout)
            return False
        count = min(self.remaining, available)
        # The head leaves with the file's first bytes (Channel.sendfile).
        done = self.channel.sendfile(filelike, offset, count, self.ctx.write_timeout, head)
        self.remaining -= done
        self.sent += done
        return True

    def answer_error(self, status: int, reason: str) -> None:
        """Answer ``status`` instead of the app, if no head was sent yet."""
        if self.head_sent:
            return
        self.status_code = status
        self.head_sent = True
        ctx = self.ctx
        with contextlib.suppress(ConnectionLost, IOTimeout):
            self.channel.sendall(
                error_response(status, reason, date=ctx.clock.now(), server=ctx.server_name),
                ctx.write_timeout,
            )

    def send_switch(self) -> None:
        """Send the 101 head of an upgrade."""
        lines = [(n, v) for n, v in self.headers if n.lower() not in ("content-length", "date")]
        try:
            head = build_response_head("1.1", self.status or "", lines)
        except TypeError as exc:
            raise InvalidResponse(f"header names and values must be str: {exc}") from None
        self.head_sent = True
        self.status_code = 101
        self.channel.sendall(head[:-2] + self.ctx.clock.line(), self.ctx.write_timeout)
