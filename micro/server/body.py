"""Server layer: request bodies, read by the I/O loop before any worker runs the app.

A request whose head announces a body (Content-Length or chunked) is not handed to
a worker until the body has arrived whole: the loop moves the parser's
:class:`~micro.http.Data` events into a :class:`Body`, in memory up to
``spool_threshold`` bytes and in an anonymous temporary file in ``spool_dir``
beyond that. The worker then gives the app :meth:`Body.stream` as ``wsgi.input``,
which reads from memory or the local disk and never waits on the network, so a
client that sends its body slowly (or never) costs a buffer and a descriptor,
never a thread.

:class:`BodyPolicy` holds the settings that decide where a body goes and how
slowly it may arrive:

- ``body_timeout``: the most time allowed between two reads that bring body bytes;
- ``min_body_rate``: once ``body_timeout`` seconds have passed since the head, the
  body must have come at this many bytes per second on average (0: no floor).

A body that breaks either is answered 408 by the loop and its connection closed.

Temporary files are created with :func:`tempfile.TemporaryFile`, which on POSIX
unlinks the file at once: it disappears when the request ends (:meth:`Body.close`,
called by the worker, or by :meth:`Channel.close` whatever ended the connection),
and even a killed process leaves nothing behind.
"""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass
from typing import BinaryIO

from micro.http import RequestHead

from .config import ServerConfig

__all__ = ["CONTINUE", "Body", "BodyPolicy"]

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class Body:
    """The bytes of one request body as they arrive; read once whole, as wsgi.input."""

    __slots__ = ("_chunks", "_file", "_spool_dir", "_threshold", "size", "started")

    def __init__(
        self, length: int | None, threshold: int, spool_dir: str | None, started: float
    ) -> None:
        self._chunks: list[bytes] = []
        self._file: BinaryIO | None = None
        self._threshold = threshold
        self._spool_dir = spool_dir
        self.size = 0  # bytes received so far
        self.started = started  # time.monotonic() when the head was complete
        if length is not None and length > threshold:
            self._file = self._spool()  # known to be large: straight to disk

    @property
    def spooled(self) -> bool:
        """True when the body is (being) written to a temporary file."""
        return self._file is not None

    def _spool(self) -> BinaryIO:
        return tempfile.TemporaryFile(prefix="micro-body-", dir=self._spool_dir)

    def write(self, data: bytes) -> None:
        """Add received bytes (raises OSError when the spool file cannot take them)."""
        self.size += len(data)
        if self._file is not None:
            self._file.write(data)
            return
        self._chunks.append(data)
        if self.size > self._threshold:
            self._file = file = self._spool()
            file.writelines(self._chunks)
            self._chunks.clear()

    def stream(self) -> BinaryIO:
        """The whole body, positioned at its start (the app's ``wsgi.input``)."""
        file = self._file
        if file is not None:
            file.flush()
            file.seek(0)
            return file
        # PERF: joining one chunk returns it as is, and BytesIO shares a bytes
        # object's buffer until written to: a small body is never copied here.
        return io.BytesIO(b"".join(self._chunks))

    def close(self) -> None:
        """Free the memory or remove the temporary file; safe to call twice."""
        self._chunks.clear()
        file = self._file
        if file is not None:
            self._file = None
            file.close()


@dataclass(frozen=True, slots=True)
class BodyPolicy:
    """Where request bodies go and how slowly they may arrive (from ServerConfig)."""

    spool_threshold: int = 524288
    spool_dir: str | None = None
    body_timeout: float = 30.0
    min_body_rate: float = 1024.0

    def new_body(self, head: RequestHead, now: float) -> Body:
        return Body(head.content_length, self.spool_threshold, self.spool_dir, now)

    def deadline(self, body: Body, now: float) -> float:
        """When the body becomes too slow, given what has arrived by ``now``.

        ``now`` is the time of the last read that brought bytes (or of the head).
        """
        per_read = now + self.body_timeout
        rate = self.min_body_rate
        if not rate:
            return per_read
        # The floor: rate * (t - started - body_timeout) bytes by time t; what has
        # arrived lasts until the floor passes it.
        floor = body.started + self.body_timeout + body.size / rate
        return per_read if per_read < floor else floor

    @classmethod
    def from_config(cls, config: ServerConfig) -> BodyPolicy:
        return cls(
            spool_threshold=config.spool_threshold,
            spool_dir=config.spool_dir,
            body_timeout=config.body_timeout,
            min_body_rate=config.min_body_rate,
        )
