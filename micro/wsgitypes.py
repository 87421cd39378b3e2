"""The WSGI protocol's types (PEP 3333), one small module every layer may import.

A leaf like :mod:`micro.errors`: it imports nothing of micro. The server, the App, the
command line and the testing helpers all speak WSGI; naming its shapes once here
replaces ``dict[str, Any]`` and ``Callable[..., Any]`` at each of those seams. The
environ entries micro's server adds (``micro.upgrade``, ``micro.defer``,
``micro.server_stats``) are named here too: the server fills them, the App and plugins
read them, and neither side may import the other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Protocol, TypeAlias

__all__ = [
    "DEFER_KEY",
    "STATS_KEY",
    "UPGRADE_KEY",
    "Environ",
    "ExcInfo",
    "HeaderList",
    "Resume",
    "StartResponse",
    "WSGIApp",
    "Write",
]

Environ: TypeAlias = dict[str, Any]
"""The environ: CGI-style keys (str) to values of several types (PEP 3333)."""

HeaderList: TypeAlias = list[tuple[str, str]]
"""Response header fields as ``start_response`` takes them: (name, value) pairs."""

ExcInfo: TypeAlias = tuple[type[BaseException], BaseException, TracebackType | None]
"""What ``sys.exc_info()`` gives while an exception is handled."""

Write: TypeAlias = Callable[[bytes], object]
"""The legacy ``write()`` callable ``start_response`` returns."""


class StartResponse(Protocol):
    """``start_response(status, headers, exc_info=None)`` as the server hands it over."""

    def __call__(
        self, status: str, headers: HeaderList, exc_info: ExcInfo | None = None, /
    ) -> Write: ...


WSGIApp: TypeAlias = Callable[[Environ, StartResponse], Iterable[bytes]]
"""A WSGI application."""


# micro's server's own environ entries; under any other WSGI server they are absent,
# so read them with ``environ.get``.
UPGRADE_KEY = "micro.upgrade"
"""``environ[UPGRADE_KEY](protocol)`` before answering 101: the I/O loop takes the socket
(:mod:`micro.server.upgrade`)."""

DEFER_KEY = "micro.defer"
"""``resume = environ[DEFER_KEY]()`` then ``resume(wsgi_app)`` later: the request holds no
worker meanwhile (:mod:`micro.server.defer`). ``resume`` is a :class:`Resume`."""


class Resume(Protocol):
    """The handle ``environ[DEFER_KEY]()`` returns (:mod:`micro.server.defer`)."""

    def __call__(self, app: WSGIApp, /) -> bool:
        """Answer with ``app`` (any thread, once); False when the exchange was dropped."""

    def on_drop(self, callback: Callable[[str], None], /) -> None:
        """Have ``callback(reason)`` called once if the exchange ends without the app's
        answer: the client went away, the 504 of ``defer_timeout``, a stop's 503."""


STATS_KEY = "micro.server_stats"
"""``environ[STATS_KEY]()`` returns the server's :class:`micro.server.ServerStats` now."""
