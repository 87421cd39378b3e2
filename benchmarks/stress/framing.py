"""Stress harness (benchmarks/stress): a strict checker for HTTP/1.1 response streams.

One job: split the bytes a server sent on one connection into responses and reject
anything that is not well framed (RFC 9112): status line, header fields, and the body
delimited by Content-Length, chunked coding, or the close of the connection. It is
written independently of micro.http on purpose, so that it can judge micro's server.

``parse_responses(data, eof=...)`` returns the complete responses and the bytes left
over; with ``eof=True`` leftovers mean a truncated response.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

STATUS_LINE = re.compile(rb"HTTP/1\.([01]) ([1-5][0-9][0-9]) ([\t \x21-\x7e\x80-\xff]*)\Z")
FIELD_LINE = re.compile(
    rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[\t ]*([\t \x21-\x7e\x80-\xff]*?)[\t ]*\Z"
)
CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})(;[\t \x21-\x7e\x80-\xff]*)?\r\n")
DIGITS = re.compile(rb"[0-9]{1,18}\Z")
MAX_HEAD = 65536
PREFIX = b"HTTP/1."


class FramingError(Exception):
    """The stream is not a sequence of well-formed HTTP/1.1 responses."""


class Truncated(FramingError):
    """The connection ended in the middle of a response."""


@dataclass
class Response:
    status: int
    minor: int  # HTTP/1.<minor>; 1.0 is allowed (RFC 9110 prefers 1.1) and counted
    reason: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""
    chunked: bool = False
    close_delimited: bool = False
    raw_size: int = 0
    trailers: list[tuple[bytes, bytes]] = field(default_factory=list)

    def values(self, name: bytes) -> list[bytes]:
        return [v for n, v in self.headers if n.lower() == name]

    @property
    def closes(self) -> bool:
        """The response says the connection ends after it."""
        tokens = {t.strip() for t in b",".join(self.values(b"connection")).lower().split(b",")}
        return b"close" in tokens or (self.minor == 0 and b"keep-alive" not in tokens)


class _NeedMore(Exception):
    pass


def parse_responses(data: bytes, *, eof: bool, head: bool = False) -> tuple[list[Response], bytes]:
    """Complete responses in `data`, and the unparsed rest.

    `head`: the requests may have been HEAD requests (the fuzzer cannot always tell
    how many the server saw), so a final response that announces a body but is
    followed right away by another status line, or by the close, has none.
    Raises FramingError (Truncated at EOF inside a response).
    """
    responses: list[Response] = []
    pos = 0
    while pos < len(data):
        if responses and responses[-1].closes and responses[-1].status >= 200:
            raise FramingError(f"{len(data) - pos} bytes after a 'Connection: close' response")
        try:
            response, end = _parse_one(data, pos, eof, head=head)
        except _NeedMore:
            if eof:
                raise Truncated(
                    f"connection closed inside a response ({len(data) - pos} bytes: "
                    f"{data[pos : pos + 120]!r}...)"
                ) from None
            break
        response.raw_size = end - pos
        responses.append(response)
        pos = end
    return responses, data[pos:]


def _parse_one(data: bytes, pos: int, eof: bool, *, head: bool) -> tuple[Response, int]:
    start = data[pos : pos + len(PREFIX)]
    if not PREFIX.startswith(start):
        raise FramingError(f"not a status line: {data[pos : pos + 80]!r}")
    head_end = data.find(b"\r\n\r\n", pos, pos + MAX_HEAD + 4)
    if head_end < 0:
        if len(data) - pos > MAX_HEAD:
            raise FramingError(f"response head longer than {MAX_HEAD} bytes")
        raise _NeedMore
    lines = data[pos:head_end].split(b"\r\n")
    match = STATUS_LINE.match(lines[0])
    if match is None:
        raise FramingError(f"bad status line: {lines[0][:120]!r}")
    status = int(match.group(2))
    headers: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        field_match = FIELD_LINE.match(line)
        if field_match is None:
            raise FramingError(f"bad header line in a {status} response: {line[:120]!r}")
        headers.append((field_match.group(1), field_match.group(2)))
    response = Response(status, int(match.group(1)), match.group(3), headers)
    body_start = head_end + 4
    if status == 101:
        raise FramingError("101 Switching Protocols: the connection stopped being HTTP/1.1")
    te = response.values(b"transfer-encoding")
    cl = response.values(b"content-length")
    if te and cl:
        raise FramingError(f"{status} response has both Transfer-Encoding and Content-Length")
    if head and status >= 200:
        rest = data[body_start : body_start + len(PREFIX)]
        if not rest and not eof:
            raise _NeedMore
        if not rest or rest == PREFIX:
            return response, body_start
    if 100 <= status < 200 or status in (204, 304):
        if te and (100 <= status < 200 or status == 204):
            raise FramingError(f"{status} response with Transfer-Encoding")
        return response, body_start
    if te:
        codings = [c.strip().lower() for c in b",".join(te).split(b",")]
        if codings[-1] == b"chunked":
            response.chunked = True
            return _parse_chunked(data, body_start, response)
        return _until_close(data, body_start, response, eof)
    if cl:
        if len(set(cl)) != 1 or DIGITS.match(cl[0]) is None:
            raise FramingError(f"bad Content-Length in a {status} response: {cl!r}")
        end = body_start + int(cl[0])
        if end > len(data):
            raise _NeedMore
        response.body = data[body_start:end]
        return response, end
    return _until_close(data, body_start, response, eof)


def _until_close(data: bytes, start: int, response: Response, eof: bool) -> tuple[Response, int]:
    if not eof:
        raise _NeedMore
    response.close_delimited = True
    response.body = data[start:]
    return response, len(data)


def _parse_chunked(data: bytes, pos: int, response: Response) -> tuple[Response, int]:
    body = bytearray()
    while True:
        line_end = data.find(b"\r\n", pos, pos + 4096)
        if line_end < 0:
            if len(data) - pos > 4096:
                raise FramingError("chunk-size line longer than 4096 bytes")
            raise _NeedMore
        match = CHUNK_LINE.match(data, pos, line_end + 2)
        if match is None:
            raise FramingError(f"bad chunk-size line: {data[pos : line_end + 2][:80]!r}")
        size = int(match.group(1), 16)
        pos = match.end()
        if size == 0:
            break
        if pos + size + 2 > len(data):
            raise _NeedMore
        if data[pos + size : pos + size + 2] != b"\r\n":
            raise FramingError("chunk data not followed by CRLF")
        body += data[pos : pos + size]
        pos += size + 2
    while True:  # trailer section, ended by an empty line
        line_end = data.find(b"\r\n", pos, pos + MAX_HEAD)
        if line_end < 0:
            raise _NeedMore
        line = data[pos:line_end]
        pos = line_end + 2
        if not line:
            break
        field_match = FIELD_LINE.match(line)
        if field_match is None:
            raise FramingError(f"bad trailer line: {line[:120]!r}")
        response.trailers.append((field_match.group(1), field_match.group(2)))
    response.body = bytes(body)
    return response, pos
