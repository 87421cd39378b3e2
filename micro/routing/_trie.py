"""Routing layer, dispatch structure: the segment trie of one host group and its walk.

Knows no HTTP. A :class:`Group` holds the routes of one host pattern as a trie of path
segments: literal segments are dict keys; typed one-segment fields, spanning ``path``
fields and regex specs hang off the node of the literal prefix they start after. The
walk follows one path through it, so its cost depends on the path and on the routes
that share its prefix, never on the number of routes.

PERF: dispatch never scans the route list: matching ``/r999/5`` among 1000
``/r{i}/{n:d}`` routes is two dict lookups and one regex match, as among one. Where
many alternatives hang off one node (``/p{i}-{n:d}``, ``/x{i}-(\\d+)``), a
:class:`Choices` index finds those whose literal start the path has, in registration
order, with a few dict lookups.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, TypeVar

from micro.errors import RoutingError
from micro.routing._patterns import Kind, Segment, TypedPattern, strip_anchors
from micro.routing._regex import RegexSpec, bind


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
        return self.spec.reverse(self.pattern, bind(self.pattern, names, args, kwargs))


class Match(NamedTuple):
    route: Route
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


class MethodTable:
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


T = TypeVar("T")


class Choices(Generic[T]):
    """The alternatives of one kind at one node, in registration order, indexed by the
    literal text each starts with, so that a lookup never scans them.

    ``candidates(text)`` gives, in registration order, every alternative whose literal
    start ``text`` has: one dict lookup per distinct length of literal start (a handful,
    however many alternatives there are), then a merge by position when several match.
    """

    __slots__ = ("_by_prefix", "_lengths", "items")

    # PERF: up to this many alternatives, trying each is cheaper than the index.
    SCAN = 4

    def __init__(self) -> None:
        self.items: list[T] = []
        self._by_prefix: dict[str, tuple[list[int], list[T]]] = {}
        self._lengths: list[int] = []

    def append(self, prefix: str, item: T) -> None:
        bucket = self._by_prefix.get(prefix)
        if bucket is None:
            bucket = self._by_prefix[prefix] = ([], [])
            if len(prefix) not in self._lengths:
                bisect.insort(self._lengths, len(prefix))
        bucket[0].append(len(self.items))
        bucket[1].append(item)
        self.items.append(item)

    def candidates(self, text: str) -> list[T]:
        if len(self.items) <= self.SCAN:
            return self.items
        found: list[tuple[list[int], list[T]]] = []
        by_prefix = self._by_prefix
        size = len(text)
        for length in self._lengths:
            if length > size:
                break
            bucket = by_prefix.get(text[:length])
            if bucket is not None:
                found.append(bucket)
        if not found:
            return []
        if len(found) == 1:
            return found[0][1]
        items = self.items
        return [items[i] for i in sorted(i for positions, _ in found for i in positions)]


class _Node:
    __slots__ = (
        "dynamic",
        "dynamic_by_text",
        "endpoint",
        "literal",
        "regexes",
        "regexes_by_text",
        "shape",
        "tails",
        "tails_by_text",
    )

    def __init__(self) -> None:
        self.literal: dict[str, _Node] = {}
        self.dynamic: Choices[tuple[Segment, _Node]] = Choices()  # one-segment fields
        self.dynamic_by_text: dict[str, _Node] = {}
        self.tails: Choices[tuple[Segment, MethodTable]] = Choices()  # spanning 'path' fields
        self.tails_by_text: dict[str, MethodTable] = {}
        self.regexes: Choices[tuple[RegexSpec, MethodTable]] = Choices()
        self.regexes_by_text: dict[str, MethodTable] = {}
        self.endpoint: MethodTable | None = None
        self.shape = _LITERAL_ONLY

    def refresh(self) -> None:
        """Recompute :attr:`shape`, which lets the walk loop instead of recursing."""
        dynamic = self.dynamic.items
        if self.tails.items or self.regexes.items or len(dynamic) > 1:
            self.shape = _BRANCHING
        elif dynamic:
            one_field = dynamic[0][0].exact is not None
            self.shape = _ONE_FIELD if one_field else _BRANCHING
        else:
            self.shape = _LITERAL_ONLY


# Node shapes: only literal children; plus exactly one one-field typed segment; anything
# else (the walk recurses only at these).
_LITERAL_ONLY, _ONE_FIELD, _BRANCHING = 0, 1, 2


def describe(target: Any) -> str:
    """A route target as people know it: module and qualified name.

    A target that wraps what the user registered exposes it as ``target`` (the App's
    endpoints do): that is the one named.
    """
    target = getattr(target, "target", target)
    module = getattr(target, "__module__", None) or "?"
    name = getattr(target, "__qualname__", None) or type(target).__qualname__
    return f"{module}.{name}"


class Group:
    """The routes of one host pattern (or of the default group): a trie and its shapes."""

    def __init__(self, host: str | None) -> None:
        self.host = host
        self.host_re = None if host is None else re.compile(host, re.IGNORECASE)
        self.root = _Node()
        self.shapes: dict[str, list[Route]] = {}
        # PERF: all-literal paths, for one dict lookup before any walk. Such a route is
        # always the walk's first candidate (a literal segment is tried first at every
        # node), so finding it here changes no answer.
        self.static: dict[str, MethodTable] = {}

    def add(self, route: Route) -> None:
        spec = route.spec
        shape = (
            spec.shape if isinstance(spec, TypedPattern) else "re:" + strip_anchors(route.pattern)
        )
        for other in self.shapes.get(shape, ()):
            if other.methods is None or route.methods is None or other.methods & route.methods:
                both = (other.methods or {"*"}) & (route.methods or {"*"}) or {"*"}
                raise RoutingError(
                    f"{route.pattern!r} ({describe(route.target)}) conflicts with"
                    f" {other.pattern!r} ({describe(other.target)}), already registered"
                    f" for host {route.host!r}: same paths, both take"
                    f" {', '.join(sorted(both))}"
                )
        self.shapes.setdefault(shape, []).append(route)
        if isinstance(spec, RegexSpec):
            node = self.root
            for seg in spec.prefix:
                node = node.literal.setdefault(seg, _Node())
            key = strip_anchors(route.pattern)
            endpoint = node.regexes_by_text.get(key)
            if endpoint is None:
                endpoint = node.regexes_by_text[key] = MethodTable()
                node.regexes.append(spec.literal, (spec, endpoint))
                node.refresh()
            endpoint.add(route)
            return
        node = self.root
        for part in spec.parts:
            if isinstance(part, str):
                node = node.literal.setdefault(part, _Node())
                continue
            if part.spans:
                endpoint = node.tails_by_text.get(part.text)
                if endpoint is None:
                    endpoint = node.tails_by_text[part.text] = MethodTable()
                    node.tails.append(part.prefix, (part, endpoint))
                    node.refresh()
                endpoint.add(route)
                return
            child = node.dynamic_by_text.get(part.text)
            if child is None:
                child = node.dynamic_by_text[part.text] = _Node()
                node.dynamic.append(part.prefix, (part, child))
                node.refresh()
            node = child
        if node.endpoint is None:
            node.endpoint = MethodTable()
            if all(isinstance(part, str) for part in spec.parts):
                self.static[spec.shape] = node.endpoint  # no fields: shape is the path
        node.endpoint.add(route)


def walk(
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
            found = walk(child, segs, i + 1, path, method, values.copy(), allowed)
            if found is not None:
                return found
        if shape != _ONE_FIELD:
            return branch(node, segs, i, path, method, values, allowed)
        part, node = node.dynamic.items[0]
        try:
            values[part.name] = part.exact(seg)  # type: ignore[misc]  # _ONE_FIELD: set
        except ValueError:  # not this type's canonical spelling
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


def branch(
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
    for part, child in node.dynamic.candidates(seg):
        got = part.match(seg)
        if got is not None:
            found = walk(child, segs, i + 1, path, method, {**values, **dict(got)}, allowed)
            if found is not None:
                return found
    if node.tails.items:
        rest = "/".join(segs[i:])
        for part, endpoint in node.tails.candidates(rest):
            got = part.match(rest)
            if got is not None:
                route = endpoint.pick(method)
                if route is not None:
                    return _new_match((route, (), {**values, **dict(got)}))
                allowed.append(endpoint.by_method)
    for spec, endpoint in node.regexes.candidates(path):
        m = spec.match(path)
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
