"""Framework layer: the middleware protocol and the chain the App builds from it.

A middleware is any object with a ``name`` and a ``__call__(request, call_next)`` that
returns a :class:`~micro.web.response.Response`. The chain is an onion; for
``App(middleware=[A, B])`` (or ``add_middleware(A)`` then ``add_middleware(B)``)::

    WSGI call ──► App: Request built, route matched (request.route set, None on 404/405)
                   │
              ┌────▼──────────────────────────────── A ─┐   A sees the request first
              │    ┌───────────────────────────── B ─┐  │
              │    │    innermost step: handler,     │  │   404/405/HTTPError raised here
              │    │    or the 404/405 error; an     │  │   become error Responses here,
              │    │    HTTPError → error Response   │  │   so A and B see them as answers
              │    └─────────────┬───────────────────┘  │
              │                  ▼   B sees the response first
              └──────────────────┬──────────────────────┘
                                 ▼   A sees it last, then the App sends it
    (HEAD body dropped, Content-Length added to buffered bodies, file_wrapper used)

- Early answer: a middleware that returns a Response without calling ``call_next``
  stops the request there; inner middleware and the handler never run, and only the
  middleware outside it (added before it) see that response.
- Exceptions: an exception other than HTTPError raised by the handler travels out
  through B then A (each may catch it around ``call_next`` and answer instead); if
  none does, the App answers 500 (with the app's 500 error handler). An HTTPError
  raised by a middleware itself becomes its error response at the App boundary.
- Streaming: ``response.body`` may be any iterable; a middleware transforms a stream by
  replacing it with a generator that wraps the old body (chunk by chunk, never whole).
- Opt-out: ``@skip_middleware("xsrf")`` on a function route, or ``skip_middleware =
  {"xsrf"}`` on a RequestHandler class; that route's chain leaves the named middleware
  out. The set is computed once per route.

PERF: each route's chain is built once, as nested closures, when its first request
arrives, without the middleware it opted out of; with no middleware the App calls
the route's endpoint directly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import FunctionType, MethodType
from typing import Protocol, TypeVar, runtime_checkable

from micro.errors import ConfigError
from micro.web.request import Request
from micro.web.response import Response

__all__ = [
    "CallNext",
    "Middleware",
    "build_chain",
    "check_names",
    "skip_middleware",
    "skipped_middleware",
]

CallNext = Callable[[Request], Response]
_T = TypeVar("_T")
_SKIP_ATTR = "skip_middleware"


@runtime_checkable
class Middleware(Protocol):
    """Framework middleware: sees the Request, returns a Response (see the module docs)."""

    name: str

    def __call__(self, request: Request, call_next: CallNext) -> Response: ...


def skip_middleware(*names: str) -> Callable[[_T], _T]:
    """Opt a function route (or a handler class) out of the named middleware."""
    for name in names:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"skip_middleware takes middleware names, got {name!r}")

    def mark(target: _T) -> _T:
        current = frozenset(getattr(target, _SKIP_ATTR, ()))
        setattr(target, _SKIP_ATTR, current | frozenset(names))
        return target

    return mark


def skipped_middleware(target: object) -> frozenset[str]:
    """The names a route target opted out of (decorator or class attribute)."""
    names = getattr(target, _SKIP_ATTR, ())
    if isinstance(names, str):
        raise ConfigError(f"{target!r}: skip_middleware must be a set of names, not a string")
    return frozenset(names)


def check_names(middleware: Sequence[Middleware]) -> None:
    """ConfigError unless every middleware has a name of its own."""
    seen: set[str] = set()
    for mw in middleware:
        name = getattr(mw, "name", None)
        if not isinstance(name, str) or not name:
            raise ConfigError(f"middleware {mw!r} has no 'name' attribute")
        if name in seen:
            raise ConfigError(
                f"two middleware are called {name!r}: each needs a name of its own"
                " (skip_middleware and plugin ordering refer to them by name)"
            )
        seen.add(name)


def _step(middleware: Middleware, call_next: CallNext) -> CallNext:
    # PERF: calling an object looks its class's __call__ up on every call; the bound
    # method, made once here, is called directly (a plain function stays as it is).
    method = type(middleware).__call__
    call = MethodType(method, middleware) if isinstance(method, FunctionType) else middleware

    def step(request: Request) -> Response:
        return call(request, call_next)

    return step


def build_chain(
    middleware: Sequence[Middleware], innermost: CallNext, skip: frozenset[str] = frozenset()
) -> CallNext:
    """Wrap ``innermost`` so that ``middleware[0]`` sees the request first.

    The middleware named in ``skip`` are left out: a route's opt-outs are decided
    when its chain is built, not on every request.
    """
    call = innermost
    for mw in reversed(middleware):
        if mw.name not in skip:
            call = _step(mw, call)
    return call
