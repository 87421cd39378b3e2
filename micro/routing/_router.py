"""Routing layer, public half: the Router and the errors its match raises.

Knows no HTTP: it maps (path, method, host) to a :class:`Route` and its arguments, or
raises NotFound / MethodNotAllowed / TrailingSlashRedirect for the App to answer. The
rules it follows are written down in the docstring of :mod:`micro.routing`.

Each host group is a segment trie (:mod:`micro.routing._trie`); the Router picks the
groups for a Host, walks them in order and turns "nothing took this method" into the
right error. Host patterns are indexed by the literal text they end with (an exact host
is all literal), so picking the groups for a Host never tries every pattern.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from micro.errors import MicroError, RoutingError
from micro.routing._patterns import PATH_SAFE, TypedPattern, classify, compile_typed, strip_anchors
from micro.routing._regex import RegexSpec, compile_regex, literal_end
from micro.routing._trie import Choices, Group, Match, Route, walk
from micro.routing._types import FieldType, FieldTypes
from micro.routing._urls import Query, build_url, host_name, route_host


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
        # Host groups by the literal end of their pattern, reversed (lower-case ASCII;
        # '' for a pattern without one): a Choices index finds them by prefix.
        self._host_index: Choices[Group] = Choices()
        self.field_types = FieldTypes()
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
        if kind == "typed":
            spec = compile_typed(stripped, self.field_types)
        else:
            spec = compile_regex(stripped)
        route = Route(pattern, target, _methods(pattern, methods), name, host, kind, spec)
        if name is not None:
            if name in self._names:
                raise RoutingError(f"route name {name!r} is taken by {self._names[name].pattern!r}")
            if isinstance(spec, RegexSpec) and spec.template is None:
                raise RoutingError(
                    f"route {name!r}: {pattern!r} cannot be reversed: {spec.not_reversible}"
                    " (name only routes whose reverse URL can be built)"
                )
        if host is not None and not isinstance(host, str):
            raise RoutingError(f"{pattern!r}: a host pattern is a str or None, got {host!r}")
        group = self._groups.get(host)
        if group is None:
            try:
                group = Group(host)
            except re.error as exc:
                raise RoutingError(f"host pattern {host!r} is not a valid regex: {exc}") from None
        group.add(route)  # raises on conflicts before changing anything
        if host is not None and host not in self._groups:  # the default group is there
            self._groups[host] = group
            self._hosts.append(group)
            end, _ = literal_end(host)
            key = end.lower()[::-1] if end.isascii() else ""
            self._host_index.append(key, group)
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
            name = host_name(host)
            # A non-ASCII name may match ASCII pattern text case-insensitively (the
            # Kelvin sign matches 'k'): such rare names try every group.
            candidates = self._host_index.candidates(name[::-1]) if name.isascii() else self._hosts
            groups = [g for g in candidates if g.host_re and g.host_re.fullmatch(name)]
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

    def url_for(
        self,
        name: str,
        *args: Any,
        _query: Query | None = None,
        _external: bool = False,
        _script_name: str = "",
        _scheme: str = "http",
        _host: str = "",
        **kwargs: Any,
    ) -> str:
        """The URL of the route called ``name``, as a request would reach it.

        ``_script_name`` (decoded, as in SCRIPT_NAME) goes before the path; ``_query``
        (a mapping, a list value repeating its key, or (key, value) pairs) after it. A
        route on a host pattern gives an absolute URL on that host (the request's
        ``_host`` when the pattern matches it); ``_external`` makes any URL absolute on
        ``_host``. Values the route would not match back raise RoutingError.
        """
        try:
            route = self._names[name]
        except KeyError:
            raise RoutingError(f"no route is named {name!r}") from None
        path = route.reverse(*args, **kwargs)
        host: str | None = None
        if route.host is not None:
            host = route_host(route.host, _host)
        elif _external:
            if not _host:
                raise RoutingError(f"route {name!r}: no host to build an absolute URL on")
            host = _host
        return build_url(path, script_name=_script_name, query=_query, scheme=_scheme, host=host)

    def field_type(
        self,
        name: str,
        converter: object | None = None,
        *,
        regex: str | None = None,
        to_python: Any = None,
        to_url: Any = None,
        examples: Iterable[str] | None = None,
        spans: bool = False,
    ) -> FieldType:
        """Add a field type for ``{name:type}`` fields of routes added from now on.

        See :meth:`micro.routing.FieldTypes.define`: the type is refused when its
        ``to_url`` gives text its own regex does not match, or that does not convert back.
        """
        return self.field_types.define(
            name,
            converter,
            regex=regex,
            to_python=to_python,
            to_url=to_url,
            examples=examples,
            spans=spans,
        )

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
