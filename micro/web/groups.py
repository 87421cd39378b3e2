"""Framework layer: route groups (blueprints): routes that share a prefix, a host, a name
space and middleware of their own.

``admin = app.group(prefix="/admin", name="admin", middleware=[auth])`` gives an object
with the App's ``route`` / ``add_route``; a route added to it is an ordinary route of the
App (same router, same rules) whose pattern is the group's prefix followed by its own
(``"/admin" + "/users/{id:d}"``; a regex spec gets the prefix escaped in front), whose
name is namespaced (``"admin.users"``), whose host is the group's (a route may not name
another one), and whose middleware chain is the App's, then the group's (outer groups
first), minus the names in ``skip_middleware`` (the group's and the route's own).
Groups nest: ``admin.group(prefix="/reports", name="reports")`` adds ``/admin/reports``
routes named ``admin.reports.*``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from micro.errors import ConfigError, RoutingError
from micro.routing import Route, classify
from micro.web.middleware import Middleware

__all__ = ["RouteGroup", "RouteOwner", "route_decorator"]

_T = TypeVar("_T")


class RouteOwner(Protocol):
    """What a group needs of the App: its ``add_route`` with middleware."""

    def add_route(
        self,
        pattern: str,
        target: Callable[..., object],
        *,
        methods: Iterable[str] | None = None,
        name: str | None = None,
        host: str | None = None,
        kwargs: Mapping[str, Any] | None = None,
        middleware: Sequence[Middleware] = (),
        skip_middleware: Iterable[str] = (),
    ) -> Route: ...


def route_decorator(
    add_route: Callable[..., Route],
    pattern: str,
    methods: Iterable[str] | None,
    name: str | None,
    host: str | None,
    kwargs: Mapping[str, Any] | None,
) -> Callable[[_T], _T]:
    """The ``route`` decorator of the App and of groups: ``add_route``, then the target back."""

    def register(target: _T) -> _T:
        add_route(pattern, target, methods=methods, name=name, host=host, kwargs=kwargs)
        return target

    return register


def _check_prefix(prefix: str) -> str:
    if not isinstance(prefix, str):
        raise RoutingError(f"a group prefix is a str, got {prefix!r}")
    if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
        raise RoutingError(
            f"group prefix {prefix!r}: '' or a path that starts with '/' and does not end with it"
        )
    if prefix and classify(prefix) != "typed":
        raise RoutingError(f"group prefix {prefix!r}: a typed pattern, not a regex")
    return prefix


class RouteGroup:
    """Routes under one prefix, host and name space, with middleware of their own."""

    def __init__(
        self,
        owner: RouteOwner,
        *,
        prefix: str = "",
        host: str | None = None,
        name: str | None = None,
        middleware: Sequence[Middleware] = (),
        skip_middleware: Iterable[str] = (),
        parent: RouteGroup | None = None,
    ) -> None:
        _check_prefix(prefix)
        if name is not None and (not isinstance(name, str) or not name or "." in name):
            raise RoutingError(f"group name {name!r}: a non-empty name without '.'")
        if isinstance(skip_middleware, str):
            raise ConfigError(f"skip_middleware is a list of names, not {skip_middleware!r}")
        for mw in middleware:
            if not isinstance(getattr(mw, "name", None), str) or not callable(mw):
                raise ConfigError(f"group middleware {mw!r} needs a 'name' and a __call__")
        self.owner = owner
        self.host: str | None
        self.prefix: str
        self.name: str | None
        self.skip: frozenset[str]
        outer_host = parent.host if parent else None
        if host is not None and outer_host is not None and host != outer_host:
            raise RoutingError(f"group host {host!r} inside a group on host {outer_host!r}")
        self.host = host if host is not None else outer_host
        self.prefix = (parent.prefix if parent else "") + prefix
        outer_name = parent.name if parent else None
        self.name = ".".join(n for n in (outer_name, name) if n) or None
        self.middleware: tuple[Middleware, ...] = (
            *(parent.middleware if parent else ()),
            *middleware,
        )
        self.skip = frozenset(skip_middleware) | (parent.skip if parent else frozenset())

    def __repr__(self) -> str:
        return f"RouteGroup(prefix={self.prefix!r}, name={self.name!r}, host={self.host!r})"

    def pattern(self, pattern: str) -> str:
        """``pattern`` under this group's prefix."""
        if not self.prefix or not isinstance(pattern, str):
            return pattern
        stripped = pattern.removeprefix("^")
        if stripped.endswith("$") and not stripped.endswith("\\$"):
            stripped = stripped[:-1]
        if classify(stripped) == "regex":
            if "{" in self.prefix:
                raise RoutingError(
                    f"{pattern!r}: a regex route cannot go under the prefix {self.prefix!r},"
                    " which has fields"
                )
            return re.escape(self.prefix) + stripped
        return self.prefix + pattern

    def add_route(
        self,
        pattern: str,
        target: Callable[..., object],
        *,
        methods: Iterable[str] | None = None,
        name: str | None = None,
        host: str | None = None,
        kwargs: Mapping[str, Any] | None = None,
    ) -> Route:
        """The App's ``add_route``, under this group's prefix, host, names and middleware."""
        if host is not None and self.host is not None and host != self.host:
            raise RoutingError(f"{pattern!r}: host {host!r} in a group on host {self.host!r}")
        return self.owner.add_route(
            self.pattern(pattern),
            target,
            methods=methods,
            name=f"{self.name}.{name}" if self.name and name else name,
            host=host if host is not None else self.host,
            kwargs=kwargs,
            middleware=self.middleware,
            skip_middleware=self.skip,
        )

    def route(
        self,
        pattern: str,
        methods: Iterable[str] | None = None,
        name: str | None = None,
        host: str | None = None,
        kwargs: Mapping[str, Any] | None = None,
    ) -> Callable[[_T], _T]:
        """Decorator form of :meth:`add_route`."""
        return route_decorator(self.add_route, pattern, methods, name, host, kwargs)

    def group(
        self,
        prefix: str = "",
        *,
        host: str | None = None,
        name: str | None = None,
        middleware: Sequence[Middleware] = (),
        skip_middleware: Iterable[str] = (),
    ) -> RouteGroup:
        """A group inside this one: prefixes, names and middleware add up."""
        return RouteGroup(
            self.owner,
            prefix=prefix,
            host=host,
            name=name,
            middleware=middleware,
            skip_middleware=skip_middleware,
            parent=self,
        )
