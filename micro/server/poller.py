"""Server layer: the I/O loop's readiness poller, a ``selectors`` selector with a fast path.

:func:`new_poller` returns a :class:`selectors.BaseSelector` (the upgraded connections
of :mod:`micro.server.upgrade` and the listener of :mod:`micro.server.accept`
register with it like with any selector) that also has :meth:`Poller.ready`: the
``(data, events)`` of every ready registration, which is all the loop needs.

PERF: ``selectors.EpollSelector.select`` builds a ``(SelectorKey, events)`` pair per
ready socket through a method call and a few bit operations; on Linux,
:class:`EpollPoller` calls ``epoll`` itself and looks the data up in one dict, about a
third of the cost per ready socket (the loop sees one per keep-alive request).
Elsewhere :class:`SelectorPoller` adds ``ready`` to the platform's default selector.
"""

from __future__ import annotations

import contextlib
import select
import selectors
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

__all__ = ["Poller", "new_poller"]

_FileObj = Any  # what selectors accepts: a socket (anything with fileno()) or an fd


class Poller(Protocol):
    """A selector the I/O loop can also ask for ``(data, events)`` pairs directly."""

    def register(self, fileobj: _FileObj, events: int, data: Any = None) -> selectors.SelectorKey:
        """Watch ``fileobj`` for ``events`` (selectors.EVENT_READ/EVENT_WRITE)."""

    def unregister(self, fileobj: _FileObj) -> selectors.SelectorKey:
        """Stop watching ``fileobj`` (KeyError if it is not watched)."""

    def modify(self, fileobj: _FileObj, events: int, data: Any = None) -> selectors.SelectorKey:
        """Change what ``fileobj`` is watched for (KeyError if it is not watched)."""

    def ready(self, timeout: float) -> list[tuple[Any, int]]:
        """Wait up to ``timeout`` seconds; the data and events of each ready registration."""

    def close(self) -> None:
        """Stop watching everything."""


def new_poller() -> Poller:
    """An :class:`EpollPoller` where the system has epoll, else a :class:`SelectorPoller`."""
    if hasattr(select, "epoll"):
        return EpollPoller()
    return SelectorPoller()


class SelectorPoller(selectors.DefaultSelector):
    """The platform's default selector with :meth:`ready`."""

    def ready(self, timeout: float) -> list[tuple[Any, int]]:
        return [(key.data, events) for key, events in self.select(timeout)]


class EpollPoller(selectors.BaseSelector):
    """A selector on ``select.epoll`` (level-triggered, like ``selectors.EpollSelector``)."""

    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._keys: dict[int, selectors.SelectorKey] = {}
        self._data: dict[int, Any] = {}

    def register(self, fileobj: _FileObj, events: int, data: Any = None) -> selectors.SelectorKey:
        fd = _fileno(fileobj)
        if not events or events & ~(selectors.EVENT_READ | selectors.EVENT_WRITE):
            raise ValueError(f"invalid events: {events!r}")
        if fd in self._keys:
            raise KeyError(f"{fileobj!r} (fd {fd}) is already registered")
        self._epoll.register(fd, _epoll_mask(events))
        key = selectors.SelectorKey(fileobj, fd, events, data)
        self._keys[fd] = key
        self._data[fd] = data
        return key

    def unregister(self, fileobj: _FileObj) -> selectors.SelectorKey:
        fd = self._fd_of(fileobj)
        key = self._keys.pop(fd)  # KeyError: not registered, as selectors says
        del self._data[fd]
        with contextlib.suppress(OSError):  # closed meanwhile: the kernel dropped it
            self._epoll.unregister(fd)
        return key

    def modify(self, fileobj: _FileObj, events: int, data: Any = None) -> selectors.SelectorKey:
        fd = self._fd_of(fileobj)
        old = self._keys[fd]  # KeyError: not registered
        if not events or events & ~(selectors.EVENT_READ | selectors.EVENT_WRITE):
            raise ValueError(f"invalid events: {events!r}")
        if events != old.events:
            self._epoll.modify(fd, _epoll_mask(events))
        key = selectors.SelectorKey(fileobj, fd, events, data)
        self._keys[fd] = key
        self._data[fd] = data
        return key

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        keys = self._keys
        polled = self._poll(timeout)
        return [(keys[fd], self._events(fd, mask)) for fd, mask in polled if fd in keys]

    def ready(self, timeout: float) -> list[tuple[Any, int]]:
        data = self._data
        return [
            (data[fd], selectors.EVENT_READ if mask == select.EPOLLIN else self._events(fd, mask))
            for fd, mask in self._epoll.poll(timeout)
            if fd in data
        ]

    def _fd_of(self, fileobj: _FileObj) -> int:
        """The fd ``fileobj`` was registered with, even if it was closed since."""
        try:
            return _fileno(fileobj)
        except ValueError:
            for key in self._keys.values():
                if key.fileobj is fileobj:
                    return key.fd
            raise

    def _events(self, fd: int, mask: int) -> int:
        return _selector_events(mask) & self._keys[fd].events

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return _KeyMap(self._keys)

    def close(self) -> None:
        self._epoll.close()
        self._keys.clear()
        self._data.clear()

    def _poll(self, timeout: float | None) -> list[tuple[int, int]]:
        return self._epoll.poll(-1 if timeout is None else max(0.0, timeout))


class _KeyMap(Mapping[Any, selectors.SelectorKey]):
    """What ``get_map`` returns, as in selectors: looked up by file object or fd,
    iterating the fds."""

    def __init__(self, keys: dict[int, selectors.SelectorKey]) -> None:
        self._keys = keys

    def __getitem__(self, fileobj: _FileObj) -> selectors.SelectorKey:
        return self._keys[_fileno(fileobj)]

    def __iter__(self) -> Iterator[int]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


def _fileno(fileobj: _FileObj) -> int:
    fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
    if fd < 0:
        raise ValueError(f"invalid file descriptor: {fileobj!r}")
    return int(fd)


def _epoll_mask(events: int) -> int:
    mask = 0
    if events & selectors.EVENT_READ:
        mask |= select.EPOLLIN
    if events & selectors.EVENT_WRITE:
        mask |= select.EPOLLOUT
    return mask


def _selector_events(mask: int) -> int:
    """selectors' reading of an epoll mask: an error or hang-up wakes readers and writers."""
    events = 0
    if mask & ~select.EPOLLIN:
        events |= selectors.EVENT_WRITE
    if mask & ~select.EPOLLOUT:
        events |= selectors.EVENT_READ
    return events
