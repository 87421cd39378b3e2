"""micro-static, open files: a descriptor with one owner, one shared by many answers, a range.

Nothing here knows HTTP. :class:`File` is a descriptor a request opened for itself;
:class:`SharedFd` is one kept open across requests for a file version, closed when
the last answer sending it and the cache entry holding it have let go, and
:class:`SharedFile` is one answer's view of it (reads at its own offset, so that
answers sending the same file at once never move each other's position).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import IO

__all__ = ["OPEN_FLAGS", "File", "RangeBody", "SharedFd", "SharedFile", "pread_all"]

# Non-blocking, so that a FIFO under the root cannot hang a worker.
OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def pread_all(fd: int, length: int, offset: int) -> bytes:
    """Up to ``length`` bytes from ``offset`` (fewer only when the file is shorter)."""
    data = os.pread(fd, length, offset)
    if len(data) == length or not data:
        return data
    chunks = [data]
    while length > len(data):
        offset += len(data)
        length -= len(data)
        data = os.pread(fd, length, offset)
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


class RangeBody:
    """``length`` bytes of ``fileobj`` from its current position, block by block."""

    def __init__(self, fileobj: IO[bytes], length: int, block_size: int = 64 * 1024) -> None:
        self._file = fileobj
        self._left = length
        self._block = block_size

    def __iter__(self) -> Iterator[bytes]:
        while self._left > 0:
            data = self._file.read(min(self._block, self._left))
            if not data:
                return
            self._left -= len(data)
            yield data

    def close(self) -> None:
        self._file.close()


class File:
    """An open file descriptor with one owner: closed once, or handed over (detached)."""

    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def read(self, length: int, offset: int) -> bytes:
        return pread_all(self.fd, length, offset)

    def detach(self, offset: int) -> IO[bytes]:
        """A file object at ``offset`` that now owns the descriptor."""
        # PERF: unbuffered, so open() neither asks isatty (an ioctl) nor its position
        # (an lseek); and no seek at all for the usual whole file.
        fileobj = open(self.fd, "rb", buffering=0)  # noqa: SIM115  # the response closes it
        self.fd = -1
        if offset:
            fileobj.seek(offset)
        return fileobj

    def share(self) -> SharedFd:
        """The descriptor as a :class:`SharedFd`, which now owns it."""
        shared = SharedFd(self.fd)
        self.fd = -1
        return shared

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class SharedFd:
    """A descriptor kept open for one file version; closed when nothing refers to it.

    The cache entry of the version holds one reference and every answer being sent
    holds another (through its :class:`SharedFile`), so the descriptor outlives a
    cache entry that is replaced while a client is still downloading: it is never
    closed (and its number never reused) under a sendfile.
    """

    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __del__(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


class SharedFile:
    """One answer's ``length`` bytes of a :class:`SharedFd`, read at its own offset.

    ``fileno()`` is the shared descriptor: a server that sends it must use explicit
    offsets (``os.sendfile`` with an offset, as micro's server does), never the
    descriptor's position, which other answers share.
    """

    __slots__ = ("_left", "_offset", "_shared")

    def __init__(self, shared: SharedFd, length: int) -> None:
        self._shared: SharedFd | None = shared
        self._offset = 0
        self._left = length

    @property
    def closed(self) -> bool:
        return self._shared is None

    def fileno(self) -> int:
        if self._shared is None:
            raise ValueError("I/O operation on a closed file")
        return self._shared.fd

    def tell(self) -> int:
        return self._offset

    def read(self, size: int = -1, /) -> bytes:
        if self._shared is None:
            raise ValueError("I/O operation on a closed file")
        wanted = self._left if size < 0 else min(size, self._left)
        if wanted <= 0:
            return b""
        data = os.pread(self._shared.fd, wanted, self._offset)
        self._offset += len(data)
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._shared = None  # the last answer to let go closes the descriptor
