"""micro-transforms, the compressing itself: whole bodies, streams, a FileBody read whole.

Layer: the ``gzip`` plugin, under its middleware, which decides what to compress;
this module only knows how. No HTTP decisions here.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from types import MappingProxyType

from micro.web import FileBody

__all__ = ["WBITS", "CompressedStream", "compress", "read_whole"]

#: The window bits zlib needs for each HTTP content coding.
WBITS = MappingProxyType({"gzip": 31, "deflate": 15})


def compress(data: bytes, coding: str, level: int) -> bytes:
    """``data`` compressed whole in ``coding`` (the same bytes for the same input)."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, WBITS[coding])
    return compressor.compress(data) + compressor.flush()


def read_whole(body: FileBody, length: int) -> bytes:
    """The ``length`` bytes a FileBody sends (fewer only if its file is shorter)."""
    read = body.fileobj.read
    chunks = []
    while length > 0:
        block = read(length)
        if not block:
            break
        chunks.append(block)
        length -= len(block)
    return b"".join(chunks)


class CompressedStream:
    """A body compressed chunk by chunk, with a sync flush after each chunk.

    A class rather than a generator so that ``close()`` reaches the wrapped body
    even when the server closes us before the first chunk (a generator that never
    started would skip its ``finally``).
    """

    def __init__(self, body: Iterable[bytes], coding: str, level: int) -> None:
        self._body = body
        self._compressor = zlib.compressobj(level, zlib.DEFLATED, WBITS[coding])

    def __iter__(self) -> Iterator[bytes]:
        compressor = self._compressor
        for chunk in self._body:
            if chunk:
                yield compressor.compress(chunk) + compressor.flush(zlib.Z_SYNC_FLUSH)
        yield compressor.flush(zlib.Z_FINISH)

    def close(self) -> None:
        close = getattr(self._body, "close", None)
        if close is not None:
            close()
