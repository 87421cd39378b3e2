"""The WSGI protocol's types (PEP 3333), one small module every layer may import.

A leaf like :mod:`micro.errors`: it imports nothing of micro. The server, the App, the
command line and the testing helpers all speak WSGI; naming its shapes once here
replaces ``dict[str, Any]`` and ``Callable[..., Any]`` at each of those seams.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Protocol, TypeAlias

__all__ = ["Environ", "ExcInfo", "HeaderList", "StartResponse", "WSGIApp", "Write"]

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
