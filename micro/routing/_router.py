"""Routing layer, dispatch half: the Router, its segment trie and its match errors.

Knows no HTTP: it maps (path, method, host) to a :class:`Route` and its arguments, or
raises NotFound / MethodNotAllowed / TrailingSlashRedirect for the App to answer. The
rules it follows are written down in the docstring of :mod:`micro.routing`.

PERF: dispatch never scans the route list. Each host group owns a trie of path
segments; a literal segment is one dict lookup, so matching ``/r999/5`` among 1000
``/r{i}/{n:d}`` routes costs what it costs among one. Typed segments, spanning ``path``
fields and regex specs hang off the node of the literal prefix they share, and are only
tried by paths that reach that node.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import quote

from micro.errors import MicroError, RoutingError
from micro.routing._patterns import (
    PATH_SAFE,
    Kind,
    Segment,
    TypedPattern,
    classify,
    compile_typed,
    strip_anchors,
)
from micro.routing._regex import RegexSpec, _bind, compile_regex


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


@dataclass(frozen=True, eq=False)
class Route:
    """One registered route, as :meth:`Router.routes` lists it."""

    pattern: str
    target: Any
    methods: frozenset[str] | None  # None: every method
    name: str | None
    host: str | None  # the host regex, None for the default group
    kind: Kind
    spec: TypedPattern | RegexSpec = field(repr=False)

    def reverse(self, *args: Any, **kwargs: Any) -> str:
        """The percent-encoded path of this route for the given values."""
        if isinstance(self.spec, RegexSpec):
            return self.spec.reverse(self.pattern, args, kwargs)
        names = [f.name for f in self.spec.fields]
        return self.spec.reverse(self.pattern, _bind(self.pattern, names, args, kwargs))


class Match(NamedTuple):
    route: Route
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


class _Endpoint:
    """Routes that share one pattern, told apart by method."""

    __slots__ = ("any", "by_method")

    def __init__(self) -> None:
        self.by_method: dict[str, Route] = {}
        self.any: Route | None = None

    def add(self, route: Route) -> None:
        if route.methods is None:
            self.any = route
        else:
            self.by_method.update(dict.fromkeys(route.methods, route))

    def pick(self, method: str) -> Route | None:
        route = self.by_method.get(method) or self.any
        if route is None and method == "HEAD":
            route = self.by_method.get("GET")
        return route


class _Node:
    __slots__ = ("dynamic", "endpoint", "literal", "regexes", "shape", "tails")

    def __init__(self) -> None:
        self.literal: dict[str, _Node] = {}
        self.dynamic: list[tuple[Segment, _Node]] = []  # one-segment typed fields
        self.tails: list[tuple[Segment, _Endpoint]] = []  # spanning 'path' fields
        self.regexes: list[tuple[RegexSpec, _Endpoint]] = []
        self.endpoint: _Endpoint | None = None
        self.shape = _LITERAL_ONLY

    def refresh(self) -> None:
        """Recompute :attr:`shape`, which lets the walk loop instead of recursing."""
        if self.tails or self.regexes or len(self.dynamic) > 1:
            self.shape = _BRANCHING
        elif self.dynamic:
            one_field = self.dynamic[0][0].fullmatch is not None
            self.shape = _ONE_FIELD if one_field else _BRANCHING
        else:
            self.shape = _LITERAL_ONLY


# Node shapes: only literal children; plus exactly one one-field typed segment; anything
# else (the walk recurses only at these).
_LITERAL_ONLY, _ONE_FIELD, _BRANCHING = 0, 1, 2


class _Group:
    """The routes of one host pattern (or of the default group): a trie and its shapes."""

    def __init__(self, host: str | None) -> None:
        self.host = host
        self.host_re = None if host is None else re.compile(host, re.IGNORECASE)
        self.root = _Node()
        self.shapes: dict[str, list[Route]] = {}

    def add(self, route: Route) -> None:
        spec = route.spec
        shape = (
            spec.shape if isinstance(spec, TypedPattern) else "re:" + strip_anchors(route.pattern)
        )
        for other in self.shapes.get(shape, ()):
            if other.methods is None or route.methods is None or other.methods & route.methods:
                raise RoutingError(
                    f"{route.pattern!r} conflicts with {other.pattern!r} already registered"
                    f" for host {route.host!r}: same paths, overlapping methods"
                )
        self.shapes.setdefault(shape, []).append(route)
        if isinstance(spec, RegexSpec):
            node = self.root
            for seg in spec.prefix:
                node = node.literal.setdefault(seg, _Node())
            for other_spec, endpoint in node.regexes:  # noqa: B007 - kept after break
                if other_spec.head == spec.head and other_spec.rest.pattern == spec.rest.pattern:
                    break
            else:
                endpoint = _Endpoint()
                node.regexes.append((spec, endpoint))
                node.refresh()
            endpoint.add(route)
            return
        node = self.root
        for part in spec.parts:
            if isinstance(part, str):
                node = node.literal.setdefault(part, _Node())
                continue
            if part.spans:
                for tail, endpoint in node.tails:  # noqa: B007 - kept after break
                    if tail.text == part.text:
                        break
                else:
                    endpoint = _Endpoint()
                    node.tails.append((part, endpoint))
                    node.refresh()
                endpoint.add(route)
                return
            for segment, child in node.dynamic:
                if segment.text == part.text:
                    node = child
                    break
            else:
                child = _Node()
                node.dynamic.append((part, child))
                node.refresh()
                node = child
        if node.endpoint is None:
            node.endpoint = _Endpoint()
        node.endpoint.add(route)


def _walk(
    node: _Node,
    segs: list[str],
    i: int,
    path: str,
    method: str,
    values: dict[str, Any],
    allowed: list[Iterable[str]],
) -> Match | None:
    """Depth first: literal child, typed segments, spanning fields, then regex specs.

    ``values`` holds the typed values of the segments walked so far and becomes the
    match's kwargs; the walk may change it, so a caller that has alternatives left to
    try hands down a copy. Methods of routes that match the path but not the method
    are appended to ``allowed``.

    PERF: where a node offers no alternative (only literal children, or one one-field
    typed segment) the walk loops instead of recursing, and nothing is copied; it
    recurses at branch points only.
    """
    end = len(segs)
    while i < end:
        seg = segs[i]
        child = node.literal.get(seg)
        shape = node.shape
        if shape == _LITERAL_ONLY:
            if child is None:
                return None
            node = child
            i += 1
            continue
        if child is not None:
            found = _walk(child, segs, i + 1, path, method, values.copy(), allowed)
            if found is not None:
                return found
        if shape != _ONE_FIELD:
            return _branch(node, segs, i, path, method, values, allowed)
        part, node = node.dynamic[0]
        if part.fullmatch(seg) is None:  # type: ignore[misc]  # _ONE_FIELD: not None
            return None
        try:
            values[part.name] = part.convert(seg)
        except ValueError:  # e.g. more digits than int() takes
            return None
        i += 1
    endpoint = node.endpoint
    if endpoint is None:
        return None
    route = endpoint.by_method.get(method) or endpoint.any
    if route is None and method == "HEAD":
        route = endpoint.by_method.get("GET")
    if route is None:
        allowed.append(endpoint.by_method)
        return None
    return tuple.__new__(Match, (route, (), values))


def _branch(
    node: _Node,
    segs: list[str],
    i: int,
    path: str,
    method: str,
    values: dict[str, Any],
    allowed: list[Iterable[str]],
) -> Match | None:
    """The alternatives of a branching node, after its literal child has failed."""
    seg = segs[i]
    for part, child in node.dynamic:
        got = part.match(seg)
        if got is not None:
            found = _walk(child, segs, i + 1, path, method, {**values, **dict(got)}, allowed)
            if found is not None:
                return found
    if node.tails:
        rest = "/".join(segs[i:])
        for part, endpoint in node.tails:
            got = part.match(rest)
            if got is not None:
                route = endpoint.pick(method)
                if route is not None:
                    return _new_match((route, (), {**values, **dict(got)}))
                allowed.append(endpoint.by_method)
    for spec, endpoint in node.regexes:
        m = spec.rest.fullmatch(path[len(spec.head) :])
        if m is not None:
            route = endpoint.pick(method)
            if route is not None:
                args, kwargs = spec.extract(m)
                return _new_match((route, args, kwargs))
            allowed.append(endpoint.by_method)
    return None


def _new_match(fields: tuple[Route, tuple[Any, ...], dict[str, Any]]) -> Match:
    # PERF: tuple.__new__ skips the NamedTuple's Python-level __new__.
    return tuple.__new__(Match, fields)


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
        self._hosts: list[_Group] = []
        self._default = _Group(None)
        self._default_only = [self._default]
        self._groups: dict[str | None, _Group] = {None: self._default}
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
                group = _Group(host)
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
            allowed: list[Iterable[str]] = []
            found = _walk(self._default.root, path[1:].split("/"), 0, path, method, {}, allowed)
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
        self, groups: list[_Group], path: str, method: str, found: list[Iterable[str]]
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
        groups: list[_Group], path: str, method: str, allowed: list[Iterable[str]]
    ) -> Match | None:
        if not path.startswith("/"):
            return None
        segs = path[1:].split("/")
        for group in groups:
            found = _walk(group.root, segs, 0, path, method, {}, allowed)
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
