"""sans-IO HTTP layer: RequestParser turns the bytes of one connection into events.

Strategy: received bytes go into one ``bytearray``; consumed bytes are deleted from
its front (CPython makes that O(1) for bytearray, so no offset bookkeeping is
needed). A request head is found with one ``bytes.find(b"\\r\\n\\r\\n")``, decoded
as latin-1 and parsed in one go by :func:`micro.http.head.parse_head`; the search
resumes where it stopped when a head arrives in pieces. Bodies are sliced out of
the buffer, never past the current message, and chunked framing is decoded by
:mod:`micro.http.chunked`. Any input gives events or a
:class:`~micro.errors.ProtocolError` carrying its status; after an error the parser
is dead and raises that error again on every call, so no byte after a rejected
request is ever read as another request.

Decisions beyond the letter of RFC 9112, all on the strict side:

- Line endings: every line of a head, of a chunk-size line and of the trailers
  must end in CRLF. A bare LF is a 400 as soon as it is seen, even when the head is
  not complete yet, so a client that ends lines with LF gets an answer at once
  instead of waiting for a CRLFCRLF that will never come. A CR not followed by LF
  is a 400 likewise.
- obs-fold (a field line that starts with SP or HTAB) is rejected with 400, never
  unfolded (RFC 9112 §5.2 allows either).
- Empty lines before a request line are skipped (RFC 9112 §2.2), so a client's
  stray CRLF after a body does no harm.
- Bytes 0x80..0xFF in the request-target are accepted and passed on as latin-1
  (what PEP 3333 does with them in PATH_INFO); controls, SP and DEL are a 400,
  and so is a raw ``#`` (a fragment is never sent). The target is split on its
  first ``?``; nothing else in it is interpreted.
- Expect: ``100-continue`` sets ``expect_continue`` only on HTTP/1.1 and only when
  a body is announced (Content-Length > 0 or chunked); other expectations are
  ignored, as is the whole field on HTTP/1.0.
- Transfer-Encoding: a request may carry it only on HTTP/1.1, never together with
  Content-Length, and its codings must end with exactly one ``chunked`` (400
  otherwise); another coding before it (``gzip, chunked``) is a 501 since micro
  decodes none. Empty list elements and parameters are a 400.
- Content-Length: ASCII digits only; a repeated field or a list is accepted only
  if all values are equal.
- Host: on HTTP/1.1 it must be present exactly once with a valid, non-empty value
  (an empty one only beside an absolute-form target); on HTTP/1.0 it is optional
  but checked if sent. A port, in Host or an absolute-form authority, must be in
  1..65535. The authority of an absolute-form target wins over Host.
- Singleton fields (``head.SINGLETON_FIELDS``: Content-Type, Authorization, Range,
  the If-* dates, ...) sent twice are a 400 rather than joined with a comma.
- HTTP versions: 1.0 and 1.1; ``HTTP/1.2``..``HTTP/1.9`` are served as 1.1
  (RFC 9110 §2.5); any other well-formed ``HTTP/x.y`` is a 505.
- Request-target: origin-form, absolute-form (any scheme, lower-cased in
  ``scheme``; userinfo or an empty host is a 400) and ``*`` for OPTIONS only.
  authority-form (CONNECT) is a 400: micro is no proxy.
- Chunked: extensions are checked against the grammar and dropped; trailer fields
  are handed over in EndOfMessage and never change framing; a chunk size of more
  than 16 hex digits (after leading zeros) is a 413 before any arithmetic.
- Limits: see :class:`~micro.http.events.Limits` for the defaults and statuses.
- When input breaks several rules, the fault whose byte comes first decides, as if
  bytes came one at a time: the status never depends on how reads split the input.
"""

from __future__ import annotations

import re

from micro.errors import BadRequest, HeaderFieldsTooLarge, ProtocolError, URITooLong
from micro.http import chunked
from micro.http.events import (
    END_OF_MESSAGE,
    NEED_DATA,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Event,
    Limits,
    NeedData,
    RequestHead,
)
from micro.http.head import parse_head

__all__ = [
    "NEED_DATA",
    "ConnectionClosed",
    "Data",
    "EndOfMessage",
    "Event",
    "Limits",
    "NeedData",
    "RequestHead",
    "RequestParser",
]

# Parser states: what the next bytes of the buffer are.
_HEAD = 0  # a request head (or EOF between requests)
_LENGTH = 1  # Content-Length body bytes
_END = 2  # nothing: the message is complete, EndOfMessage is due
_CHUNK_LINE = 3  # a chunk-size line
_CHUNK_DATA = 4  # chunk data
_CHUNK_END = 5  # the CRLF after chunk data
_TRAILERS = 6  # the trailer section after the last chunk

_LEADING_CRLF = re.compile(rb"(?:\r\n)+")
# A CR followed by something else than LF, or an LF without its CR. The CR case
# needs the next byte, so a CR at the very end of the buffer never matches.
_BARE_CR_OR_LF = re.compile(rb"\r[^\n]|(?<!\r)\n")


class RequestParser:
    """Parse the requests of one connection, one after another (sans-IO).

    ``feed(data)`` appends received bytes (``feed(b"")`` means EOF);
    ``next_event()`` returns the next event or :data:`NEED_DATA`.
    """

    __slots__ = (
        "_body_total",
        "_buf",
        "_eof",
        "_error",
        "_host",
        "_limits",
        "_line_end",
        "_quick_limit",
        "_remaining",
        "_scan",
        "_state",
    )

    def __init__(self, limits: Limits | None = None) -> None:
        self._limits = limits if limits is not None else Limits()
        self._buf = bytearray()
        self._state = _HEAD
        self._eof = False
        self._error: ProtocolError | None = None
        self._remaining = 0  # body or chunk bytes still to come
        self._body_total = 0  # chunked bytes so far, for max_body_bytes
        self._scan = 0  # buffer prefix already searched for the end of a section
        self._line_end = -1  # where the request line ends, once seen in a partial head
        # PERF: the last Host field value that passed its checks: a connection's
        # requests nearly always repeat it, and it is not checked again.
        self._host = ""
        limits = self._limits
        # Heads shorter than this cannot pass a size limit before they are complete.
        line, fields = limits.max_request_line + 1, limits.max_header_bytes + 4
        self._quick_limit = line if line < fields else fields

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as events."""
        return len(self._buf)

    def take_buffered(self) -> bytes:
        """Hand over the bytes not parsed yet and forget them (a connection that
        switched protocols after its head: they belong to the new protocol)."""
        data = bytes(self._buf)
        self._buf.clear()
        self._scan = 0
        return data

    @property
    def raw_body_left(self) -> int:
        """Content-Length body bytes still to come while none is buffered, else 0.

        The I/O layer may read up to that many bytes itself, straight into wherever
        the body goes (no copy through this buffer), and report them with
        :meth:`body_read`: whatever they hold, they are body bytes.
        """
        if self._state == _LENGTH and not self._buf and not self._eof and self._error is None:
            return self._remaining
        return 0

    def body_read(self, count: int) -> None:
        """``count`` body bytes (1..:attr:`raw_body_left`) were read outside the parser."""
        if not 0 < count <= self.raw_body_left:
            raise ValueError(f"body_read({count}) with {self.raw_body_left} raw body bytes left")
        self._remaining -= count
        if not self._remaining:
            self._state = _END

    @property
    def between_requests(self) -> bool:
        """True when the next event belongs to a new request (or is ConnectionClosed)."""
        return self._state == _HEAD

    def feed(self, data: bytes) -> None:
        """Append received bytes; ``b""`` means the peer closed (bytes after it are ignored)."""
        if self._error is not None:
            raise self._error.with_traceback(None)
        if not data:
            self._eof = True
        elif not self._eof:
            self._buf += data

    def next_event(self) -> Event:
        """Return the next event, NEED_DATA, or raise the ProtocolError to answer with."""
        if self._error is not None:
            raise self._error.with_traceback(None)
        state = self._state
        if state == _END:
            # PERF: the usual second event of a request (no body), which cannot fail.
            self._state = _HEAD
            return END_OF_MESSAGE
        if state == _HEAD and not self._buf and not self._eof:
            return NEED_DATA  # PERF: the usual state after a response
        try:
            if state == _HEAD:
                return self._head()
            return self._next()
        except ProtocolError as exc:
            self._error = exc
            raise

    def _next(self) -> Event:
        buf = self._buf
        while True:
            state = self._state
            if state == _HEAD:
                return self._head()
            if state in (_LENGTH, _CHUNK_DATA):
                if not buf:
                    return self._need("request body")
                n = self._remaining
                if len(buf) <= n:
                    data = bytes(buf)
                    buf.clear()
                else:
                    data = bytes(buf[:n])
                    del buf[:n]
                self._remaining = n = n - len(data)
                if not n:
                    self._state = _END if state == _LENGTH else _CHUNK_END
                return Data(data)
            if state == _END:
                self._state = _HEAD
                return END_OF_MESSAGE
            if state == _CHUNK_LINE:
                parsed = chunked.parse_chunk_line(buf, self._limits.max_chunk_line, self._scan)
                if parsed is None:
                    self._scan = len(buf)
                    return self._need("chunk-size line")
                size, consumed = parsed
                del buf[:consumed]
                self._scan = 0
                if size:
                    self._body_total += size
                    chunked.check_body_size(self._body_total, self._limits.max_body_bytes)
                    self._remaining = size
                    self._state = _CHUNK_DATA
                else:
                    self._state = _TRAILERS
            elif state == _CHUNK_END:
                if not chunked.consume_chunk_end(buf):
                    return self._need("chunk")
                self._state = _CHUNK_LINE
            else:
                return self._trailers()

    def _need(self, where: str) -> NeedData:
        if self._eof:
            raise BadRequest(f"connection closed inside {where}")
        return NEED_DATA

    def _head(self) -> Event:
        buf = self._buf
        if not buf:
            # PERF: the usual state after a response: nothing to search, nothing
            # that could be a fault.
            if self._eof:
                return ConnectionClosed()
            return NEED_DATA
        if buf[0] == 13 and buf.startswith(b"\r\n"):
            # RFC 9112 §2.2: empty lines before a request-line are ignored.
            del buf[: _LEADING_CRLF.match(buf).end()]  # type: ignore[union-attr]
            self._scan = 0
            self._line_end = -1
        scan = self._scan
        end = buf.find(b"\r\n\r\n", scan - 3 if scan > 3 else 0)
        if end < 0:
            if not buf and self._eof:
                return ConnectionClosed()
            self._check_section(-1, head=True)
            return self._need("request head")
        # PERF: a head too short to pass a size limit needs no positional checks:
        # parse_head rejects a bare CR or LF with a 400 before any other fault.
        if end + 3 > self._quick_limit:
            self._check_section(end, head=True)
        head = buf[:end].decode("latin-1")
        del buf[: end + 4]
        self._scan = 0
        self._line_end = -1
        request = parse_head(head, self._limits, self._host)
        if request.scheme is None:  # origin-form: the host is the checked Host field
            self._host = request.host
        if request.chunked:
            self._state = _CHUNK_LINE
            self._body_total = 0
        elif request.content_length:
            self._state = _LENGTH
            self._remaining = request.content_length
        else:
            self._state = _END
        return request

    def _trailers(self) -> Event:
        buf = self._buf
        if buf.startswith(b"\r\n"):
            del buf[:2]
            self._state = _HEAD
            return END_OF_MESSAGE
        end = buf.find(b"\r\n\r\n", max(0, self._scan - 3))
        self._check_section(end, head=False)
        if end < 0:
            return self._need("trailer section")
        if end + 2 > self._limits.max_trailer_bytes:
            raise HeaderFieldsTooLarge("trailer section too large")
        fields = "\r\n" + buf[:end].decode("latin-1") + "\r\n"
        del buf[: end + 4]
        self._scan = 0
        self._state = _HEAD
        return EndOfMessage(chunked.parse_trailers(fields, self._limits.max_header_count))

    def _check_section(self, end: int, *, head: bool) -> None:
        """Raise the first error of the head or trailers at the buffer's start, if any.

        ``end`` is where the section's CRLFCRLF starts, or -1 while it is still
        arriving. The errors found before a section is complete are a bare CR or LF
        (so a client that ends lines with LF gets its 400 at once) and a size limit
        passed. When several apply, the one whose byte comes first wins, exactly
        as if the bytes had come one at a time: the outcome never depends on how
        the input was split into reads.
        """
        buf = self._buf
        limits = self._limits
        if end < 0:
            arrived = len(buf)
            # Only the new bytes (and the one before them) can hold a new fault.
            start = max(0, self._scan - 1)
            bare = _BARE_CR_OR_LF.search(buf, start)
            self._scan = arrived
        else:
            arrived = end + 3  # a limit passed at the last byte never fired
            start = 0
            bare = _BARE_CR_OR_LF.search(buf, 0, end + 4)
        # PERF: which limit applies is decided here, but its error is built only
        # when raised (most calls raise nothing).
        if not head:
            # Incomplete after max_trailer_bytes + 4 bytes: the trailer field lines
            # hold more than max_trailer_bytes.
            limit_at = limits.max_trailer_bytes + 3
        else:
            if self._line_end < 0:
                self._line_end = buf.find(b"\r\n", start, limits.max_request_line + 2)
            if self._line_end < 0:
                limit_at = limits.max_request_line + 1
            else:
                limit_at = self._line_end + limits.max_header_bytes + 4
        bare_at = arrived if bare is None else bare.end() - 1
        if limit_at < arrived and limit_at < bare_at:
            if not head:
                raise HeaderFieldsTooLarge("trailer section too large")
            if self._line_end < 0:
                raise URITooLong("request line too long")
            raise HeaderFieldsTooLarge("header section too large")
        if bare is not None:
            if bare.group().endswith(b"\n"):
                raise BadRequest("bare LF (lines must end with CRLF)")
            raise BadRequest("bare CR (not followed by LF)")
