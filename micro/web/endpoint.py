"""Framework layer: endpoints, what a route carries and the App calls for a request.

An :class:`Endpoint` turns a Request into a Response. :class:`FunctionEndpoint` calls a
function route and converts what it returns; :class:`HandlerEndpoint` runs a
RequestHandler class with its URL spec's ``initialize`` kwargs; :class:`Answer` is the
App's own endpoint for a request no route takes (404, 405, the automatic OPTIONS
answer, a trailing-slash redirect, a path that is not UTF-8). Each knows the
middleware its route opted out of (``skip``) and the middleware of its own it runs
inside the App's (``middleware``: a route group's), decided once, at registration.

:class:`AppRouter` is the App's router: however a route is added (``@app.route``,
``app.add_route``, ``app.router.add``), the route's target is an Endpoint, so what the
router returns is what the App calls; there is no side table keyed by route.

Async targets (``async def`` functions, handlers with async methods) say which
methods they serve as coroutines in ``async_methods``; the App runs those through
:meth:`Endpoint.call_async` on its asyncio loop (:mod:`micro.web.aio`).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from typing import Any

from micro.errors import HTTPError, RoutingError
from micro.routing import Route, Router
from micro.web.aio import AsyncCallNext
from micro.web.handler import RequestHandler
from micro.web.middleware import CallNext, Middleware, skipped_middleware
from micro.web.request import Request
from micro.web.response import Response, to_response
from micro.web.runner import HandlerRunner, async_methods, handler_methods

__all__ = [
    "Answer",
    "AppRouter",
    "Endpoint",
    "FunctionEndpoint",
    "HandlerEndpoint",
    "make_endpoint",
]

_METHOD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ-_")


class Endpoint:
    """Request in, Response out; ``target`` is what the user registered (None: the App's).

    ``chain`` is the route's middleware chain around this endpoint, built by the App
    on the route's first request: the App's middleware, then the route's own
    ``middleware`` (its groups', outermost group first), minus those named in ``skip``;
    ``async_chain`` the same for the methods in ``async_methods``, which the App awaits
    on its loop through :meth:`call_async`.
    """

    __slots__ = ("async_chain", "async_methods", "chain", "middleware", "skip", "target")

    def __init__(
        self,
        target: Any,
        skip: frozenset[str] = frozenset(),
        async_methods: frozenset[str] = frozenset(),
    ) -> None:
        self.target = target
        self.skip = skip
        self.middleware: tuple[Middleware, ...] = ()
        self.chain: CallNext | None = None
        self.async_methods = async_methods
        self.async_chain: AsyncCallNext | None = None

    def __call__(self, request: Request) -> Response:
        raise NotImplementedError  # pragma: no cover

    def entry(self) -> CallNext:
        """What the route's chain calls innermost: the endpoint, as a bound method.

        PERF: a bound method calls faster than the instance; an endpoint that only
        passes the request on gives what it calls instead.
        """
        return self.__call__

    async def call_async(self, request: Request) -> Response:
        raise NotImplementedError  # pragma: no cover

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.target!r})"


class FunctionEndpoint(Endpoint):
    """A function route: ``fn(request, *path_args, **path_kwargs)``, result to Response."""

    __slots__ = ()

    def __call__(self, request: Request) -> Response:
        return to_response(self.target(request, *request.path_args, **request.path_kwargs))

    async def call_async(self, request: Request) -> Response:
        result = await self.target(request, *request.path_args, **request.path_kwargs)
        return to_response(result)


class HandlerEndpoint(Endpoint):
    """A RequestHandler class, made and run once per request (by its HandlerRunner)."""

    __slots__ = ("runner",)

    def __init__(self, target: type[RequestHandler], init_kwargs: Mapping[str, Any]) -> None:
        super().__init__(target, skipped_middleware(target), async_methods(target))
        self.runner = HandlerRunner(target, init_kwargs)

    def __call__(self, request: Request) -> Response:
        return self.runner.run(request)

    def entry(self) -> CallNext:
        return self.runner.run

    async def call_async(self, request: Request) -> Response:
        return await self.runner.run_async(request)


class Answer(Endpoint):
    """The App's endpoint for a request no route takes: a ready Response, or an error.

    PERF: a 404's HTTPError is raised only if the request reaches the endpoint; a
    middleware that answers it itself (static files) never pays for the error page.
    """

    __slots__ = ("answer",)

    def __init__(self, answer: Response | HTTPError | int) -> None:
        super().__init__(None)
        self.answer = answer

    def __call__(self, request: Request) -> Response:
        answer = self.answer
        if isinstance(answer, Response):
            return answer
        if isinstance(answer, int):
            raise HTTPError(answer)
        raise answer


def _function_endpoint(target: Any, methods: frozenset[str]) -> FunctionEndpoint:
    is_async = inspect.iscoroutinefunction(target)
    # HEAD is served by GET: an async GET makes HEAD async too.
    served = methods | {"HEAD"} if is_async and "GET" in methods else methods
    return FunctionEndpoint(target, skipped_middleware(target), served if is_async else frozenset())


def make_endpoint(
    pattern: str,
    target: object,
    methods: Iterable[str] | None,
    kwargs: Mapping[str, Any] | None,
) -> tuple[Endpoint, frozenset[str]]:
    """The endpoint for ``target`` and the methods its route takes (App rules, checked)."""
    if isinstance(methods, str):
        raise RoutingError(f"{pattern!r}: methods is a list of names, not the str {methods!r}")
    endpoint: Endpoint
    if isinstance(target, type) and issubclass(target, RequestHandler):
        implemented = handler_methods(target)
        if methods is None:
            allowed = implemented
        else:
            # HEAD (served by get) and OPTIONS (answered by the App) need no method.
            allowed = frozenset(m.upper() for m in methods)
            allowed -= {"HEAD", "OPTIONS"} - implemented
            missing = allowed - implemented
            if missing:
                raise RoutingError(
                    f"{target.__name__} does not implement {', '.join(sorted(missing))}"
                )
        endpoint = HandlerEndpoint(target, kwargs or {})
    elif callable(target):
        if kwargs:
            raise RoutingError("initialize kwargs are for RequestHandler classes only")
        allowed = frozenset(m.upper() for m in (methods or ("GET",)))
        endpoint = _function_endpoint(target, allowed)
    else:
        raise RoutingError(f"a route target must be a function or RequestHandler, not {target!r}")
    for method in allowed:
        if not method or not set(method) <= _METHOD_CHARS:
            raise RoutingError(f"invalid HTTP method {method!r} for {pattern!r}")
    return endpoint, allowed


class AppRouter(Router):
    """The App's Router: every route's target is an :class:`Endpoint`.

    ``app.add_route`` hands over a ready endpoint; a function or handler class added
    to ``app.router`` directly is wrapped here (methods as given, as a plain Router
    takes them). ``generation`` counts the routes added, so that what the App
    remembers of a miss (a path no route takes) holds only while no route came.
    """

    generation = 0

    def add(
        self,
        pattern: str,
        target: Any,
        *,
        methods: Iterable[str] | None = None,
        name: str | None = None,
        host: str | None = None,
    ) -> Route:
        if not isinstance(target, Endpoint):
            if isinstance(target, type) and issubclass(target, RequestHandler):
                target = HandlerEndpoint(target, {})
            elif callable(target):
                served = frozenset(m.upper() for m in (methods or ("GET",)))
                target = _function_endpoint(target, served)
        route = super().add(pattern, target, methods=methods, name=name, host=host)
        self.generation += 1
        return route
