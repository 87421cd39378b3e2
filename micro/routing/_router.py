"""Routing layer, public half: the Router and the errors its match raises.

Knows no HTTP: it maps (path, method, host) to a :class:`Route` and its arguments, or
raises NotFound / MethodNotAllowed / TrailingSlashRedirect for the App to answer. The
rules it follows are written down in the docstring of :mod:`micro.routing`.

Each host group is a segment trie (:mod:`micro.routing._trie`); the Router picks the
groups for a Host, walks them in order and turns "nothing took this method" into the
right error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from micro.errors import MicroError, RoutingError
from micro.routing._patterns import PATH_SAFE, TypedPattern, classify, compile_typed, strip_anchors
from micro.routing._regex import RegexSpec, compile_regex
from micro.routing._trie import Group, Match, Route, walk


class NotFound(MicroError):
    """No route answers this path on this host (the App answers 404)."""

    status = 404


class MethodNotAllowed(MicroError):
    """Routes answer this path, none for this method (the App answers 405, or OPTIONS).

    ``allowed`` is every method of every route that matches the path, plus HEAD wherever
    GET is and OPTIONS always: the App's ``Allow`` header, as is.
    """

    status = 405

    def __init__(self, allowed: frozenset[str]) -> None:
        super().__init__(f"method not allowed; allowed: {', '.join(sorted(allowed))}")
        self.allowed = allowed


class TrailingSlashRedirect(MicroError):
    """The path differs from a route's only by a trailing slash (redirect policy on).

    ``location`` is the percent-encoded path to redirect to (the App appends the query
    string); ``status`` is 301 for GET and HEAD and 308 otherwise, so that a client
    repeats a POST with its body instead of turning it into a GET.
    """

    def __init__(self, location: str, status: int) -> None:
        super().__init__(f"redirect ({status}) to {location}")
        self.location = location
        self.status = status


def _host_name(host: str) -> str:
    """The Host header without its port, lower-case, without a trailing dot."""
    if host.startswith("["):  # an IPv6 literal: [::1]:8080
        end = host.find("]")
        return host[: end + 1].lower() if end != -1 else host.lower()
    name, colon, port = host.rpartition(":")
    if colon and ((port.isascii() and port.isdigit()) or not port):
        host = name
    return host.rstrip(".").lower()


_METHOD_RE = re.compile(r"[A-Z0-9!#$%&'*+.^_`|~-]+")


class Router:
    """Host groups of routes; see :mod:`micro.routing` for the rules it applies.

    ``redirect_trailing_slash``: when a path matches nothing but the same path with the
    trailing slash added or removed has a route for the method, raise
    :class:`TrailingSlashRedirect` instead of :class:`NotFound`.
    """

    def __init__(self, *, redirect_trailing_slash: bool = False) -> None:
        self.redirect_trailing_slash = redirect_trailing_slash
        self._hosts: list[Group] = []
        self._default = Group(None)
        self._default_only = [self._default]
        self._groups: dict[str | None, Group] = {None: self._default}
        self._routes: list[Route] = []
        self._names: dict[str, Route] = {}

    def add(
        self,
        pattern: str,
        target: Any,
        *,
        methods: Iterable[str] | None = None,
        name: str | None = None,
        host: str | None = None,
    ) -> Route:
        """Register ``target`` for ``pattern``; raise RoutingError if it cannot be."""
        if not isinstance(pattern, str):
            raise RoutingError(f"a pattern is a str, got {pattern!r}")
        stripped = strip_anchors(pattern)
        kind = classify(stripped)
        spec: TypedPattern | RegexSpec
        spec = compile_typed(stripped) if kind == "typed" else compile_regex(stripped)
        route = Route(pattern, target, _methods(pattern, methods), name, host, kind, spec)
        if name is not None:
            if name in self._names:
                raise RoutingError(f"route name {name!r} is taken by {self._names[name].pattern!r}")
            if isinstance(spec, RegexSpec) and spec.template is None:
                raise RoutingError(
                    f"route {name!r}: {pattern!r} cannot be reversed: {spec.not_reversible}"
                    " (name only routes whose reverse URL can be built)"
                )
        group = self._groups.get(host)
        if group is None:
            try:
                group = Group(host)
            except re.error as exc:
                raise RoutingError(f"host pattern {host!r} is not a valid regex: {exc}") from None
        group.add(route)  # raises on conflicts before changing anything
        if host not in self._groups:
            self._groups[host] = group
            self._hosts.append(group)
        if name is not None:
            self._names[name] = route
        self._routes.append(route)
        return route

    def match(self, path: str, method: str, host: str = "") -> Match:
        """The route for a percent-decoded ``path``, ``method`` and Host header value."""
        if not self._hosts and path[:1] == "/":  # PERF: the common case, inlined
            endpoint = self._default.static.get(path)
            if endpoint is not None:
                route = endpoint.by_method.get(method) or endpoint.any
                if route is not None:
                    return tuple.__new__(Match, (route, (), {}))
            allowed: list[Iterable[str]] = []
            found = walk(self._default.root, path[1:].split("/"), 0, path, method, {}, allowed)
            if found is not None:
                return found
            return self._miss(self._default_only, path, method, allowed)
        if self._hosts:
            name = _host_name(host)
            groups = [g for g in self._hosts if g.host_re and g.host_re.fullmatch(name)]
            groups.append(self._default)
        else:
            groups = [self._default]
        allowed = []
        found = self._find(groups, path, method, allowed)
        if found is not None:
            return found
        return self._miss(groups, path, method, allowed)

    def _miss(
        self, groups: list[Group], path: str, method: str, found: list[Iterable[str]]
    ) -> Match:
        """No route took (path, method): raise 405, a trailing-slash redirect, or 404."""
        if found:
            allowed = {"OPTIONS"}.union(*found)
            if "GET" in allowed:
                allowed.add("HEAD")
            raise MethodNotAllowed(frozenset(allowed))
        if self.redirect_trailing_slash and path != "/":
            other = path[:-1] if path.endswith("/") else path + "/"
            # Never answer with '//host...': a Location a browser reads as another site.
            if not other.startswith("//") and self._find(groups, other, method, []):
                status = 301 if method in {"GET", "HEAD"} else 308
                raise TrailingSlashRedirect(quote(other, safe=PATH_SAFE), status)
        raise NotFound(f"no route for {path!r}")

    @staticmethod
    def _find(
        groups: list[Group], path: str, method: str, allowed: list[Iterable[str]]
    ) -> Match | None:
        if not path.startswith("/"):
            return None
        segs = path[1:].split("/")
        for group in groups:
            found = walk(group.root, segs, 0, path, method, {}, allowed)
            if found is not None:
                return found
        return None

    def reverse(self, name: str, *args: Any, **kwargs: Any) -> str:
        """The percent-encoded path of the route called ``name``."""
        try:
            route = self._names[name]
        except KeyError:
            raise RoutingError(f"no route is named {name!r}") from None
        return route.reverse(*args, **kwargs)

    def routes(self) -> list[Route]:
        """Every route, in the order registered."""
        return list(self._routes)


def _methods(pattern: str, methods: Iterable[str] | None) -> frozenset[str] | None:
    if methods is None:
        return None
    if isinstance(methods, str):
        raise RoutingError(f"{pattern!r}: methods is a list of names, got the str {methods!r}")
    result = frozenset(methods)
    bad = sorted(m for m in result if not isinstance(m, str) or not _METHOD_RE.fullmatch(m))
    if bad or not result:
        raise RoutingError(
            f"{pattern!r}: methods must be upper-case HTTP method names, got {sorted(result)!r}"
        )
    return result
