"""sans-IO HTTP layer: the pieces of chunked framing (RFC 9112 §7.1).

The RequestParser keeps the state; these functions read one framing element at
the front of its buffer: a chunk-size line, the CRLF after chunk data, and the
trailer section. Chunk extensions are checked against the grammar and dropped.
"""

from __future__ import annotations

from micro.errors import BadRequest, ContentTooLarge
from micro.http import grammar
from micro.http.head import parse_fields

# 16 hex digits are already 2**64 bytes: a longer size (after leading zeros) is an
# overflow attempt, refused before int() sees it.
_MAX_SIZE_DIGITS = 16
_HEXDIG = frozenset(b"0123456789abcdefABCDEF")
_CR = 13
_LF = 10


def parse_chunk_line(buf: bytearray, max_line: int, scanned: int = 0) -> tuple[int, int] | None:
    """Return (chunk size, bytes of the line with its CRLF), or None if incomplete.

    ``scanned`` is how much of the buffer an earlier call already found incomplete,
    so a line that arrives byte by byte is not searched again from its start.
    """
    start = max(0, scanned - 1)
    lf = buf.find(b"\n", start, max_line + 2)
    if lf < 0:
        if len(buf) >= max_line + 2:
            raise BadRequest("chunk-size line too long")
        if buf and buf[0] not in _HEXDIG:
            raise BadRequest("invalid chunk size")
        cr = buf.find(b"\r", start)
        if 0 <= cr < len(buf) - 1:
            raise BadRequest("bare CR in chunk-size line")
        return None
    if lf == 0 or buf[lf - 1] != _CR:
        raise BadRequest("chunk-size line not ended by CRLF")
    match = grammar.CHUNK_LINE.fullmatch(buf, 0, lf - 1)
    if match is None:
        raise BadRequest("invalid chunk-size line")
    digits = match.group(1)
    if len(digits.lstrip(b"0")) > _MAX_SIZE_DIGITS:
        raise ContentTooLarge("chunk size too large")
    return int(digits, 16), lf + 1


def check_body_size(total: int, max_body: int) -> None:
    if total > max_body:
        raise ContentTooLarge("request body too large")


def consume_chunk_end(buf: bytearray) -> bool:
    """Remove the CRLF that ends chunk data; False if it has not fully arrived."""
    if len(buf) < 2:
        if buf and buf[0] != _CR:
            raise BadRequest("chunk data not followed by CRLF")
        return False
    if buf[0] != _CR or buf[1] != _LF:
        raise BadRequest("chunk data not followed by CRLF")
    del buf[:2]
    return True


def parse_trailers(fields: str, max_count: int) -> list[tuple[str, str]]:
    """Parse a trailer section (``"\r\n"`` + field lines, each ended by CRLF)."""
    return parse_fields(fields, max_count, "trailer")
