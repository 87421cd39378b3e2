"""Framework layer: WSGI apps mounted under a path prefix of the App.

``app.mount("/legacy", wsgi_app)`` hands every request whose path is ``/legacy`` or
starts with ``/legacy/`` to ``wsgi_app`` (a Flask app, another micro App, any WSGI
callable), before the App routes it and outside the App's middleware: the mounted app is
a WSGI world of its own, with its own middleware. The environ it gets is the one the
App got, with the prefix moved from ``PATH_INFO`` to the end of ``SCRIPT_NAME``, as
PEP 3333 describes (``SCRIPT_NAME=/legacy``, ``PATH_INFO=/x``; ``PATH_INFO`` is empty for
``/legacy`` itself), so the mounted app builds its links under the prefix.

A mount owns its prefix: routes of the App under it are never reached (``micro routes``
says so). Finding the mount is one dict lookup by the path's first segment, then a
prefix test per mount that shares it (longest first).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from micro.errors import RoutingError
from micro.routing import classify
from micro.wsgitypes import Environ

__all__ = ["Mount", "Mounts"]


@dataclass(frozen=True)
class Mount:
    """One mounted WSGI app: its prefix (decoded, and as WSGI's latin-1 text) and app."""

    prefix: str
    app: Any
    raw: str  # the prefix as PATH_INFO spells it: UTF-8 bytes as latin-1 characters


class Mounts:
    """The mounts of one App, found by a path's first segment."""

    def __init__(self) -> None:
        self._by_first: dict[str, list[Mount]] = {}
        self._all: list[Mount] = []
        # PERF: an attribute the App reads on every request (a __bool__ would be a call).
        self.any = False

    def __bool__(self) -> bool:
        return self.any

    def __iter__(self) -> Any:
        return iter(list(self._all))

    def add(self, prefix: str, app: Any) -> Mount:
        if not isinstance(prefix, str) or not prefix.startswith("/") or prefix.endswith("/"):
            raise RoutingError(
                f"mount prefix {prefix!r}: a path that starts with '/' and does not end with it"
            )
        if classify(prefix) != "typed" or "{" in prefix:
            raise RoutingError(f"mount prefix {prefix!r}: a literal path, without fields")
        if not callable(app):
            raise RoutingError(f"mount {prefix!r}: {app!r} is not a WSGI app (not callable)")
        if any(m.prefix == prefix for m in self._all):
            raise RoutingError(f"mount prefix {prefix!r} is taken")
        try:
            raw = prefix.encode("utf-8").decode("latin-1")
        except UnicodeEncodeError:
            raise RoutingError(f"mount prefix {prefix!r} is not UTF-8 text") from None
        mount = Mount(prefix, app, raw)
        first = raw.split("/", 2)[1]
        same = self._by_first.setdefault(first, [])
        same.append(mount)
        same.sort(key=lambda m: len(m.raw), reverse=True)
        self._all.append(mount)
        self.any = True
        return mount

    def find(self, raw_path: str) -> Mount | None:
        """The mount ``raw_path`` (PATH_INFO as WSGI gives it) falls under, if any."""
        end = raw_path.find("/", 1)
        first = raw_path[1:] if end == -1 else raw_path[1:end]
        for mount in self._by_first.get(first, ()):
            raw = mount.raw
            if raw_path.startswith(raw) and raw_path[len(raw) : len(raw) + 1] in ("", "/"):
                return mount
        return None


def mounted_environ(environ: Environ, mount: Mount) -> Environ:
    """The environ for the mounted app: the prefix moved from PATH_INFO to SCRIPT_NAME."""
    inner = dict(environ)
    inner["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "").rstrip("/") + mount.raw
    inner["PATH_INFO"] = environ.get("PATH_INFO", "")[len(mount.raw) :]
    return inner
