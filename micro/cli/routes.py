"""Command-line layer: ``micro routes TARGET``, the route table of an app, conflicts flagged.

One row per route the app's router holds, in registration order (routes that plugins
added in their ``setup`` included), then one row per path a middleware answers itself
(a middleware says so with an optional ``describe_routes()`` method returning
``(pattern, methods)`` pairs; the ``static`` plugin's does). Columns: host pattern
(``*`` for the default group), pattern, name, methods (``*``: any), handler (its
module and qualified name) and where the route comes from (``app`` or the plugin
whose package holds the handler). WSGI apps mounted with ``app.mount(prefix, wsgi)``
follow, one row each (pattern ``prefix/...``, from ``mount``), and a mounted micro
App's own routes under it (from ``mount PREFIX``).

The router refuses two routes that would match exactly the same paths with the same
methods, so an app that loads has none of those. What it allows, and this command
flags, are routes that cannot be reached for some method: for each route a sample
path is built from its own pattern (``{id:d}`` becomes ``1`` and so on) and matched;
if another route or a middleware answers it first, the row is marked ``!`` and the
reason listed under the table; so is a route under a mount's prefix, which the
mounted app answers instead. A route whose sample cannot be built (an unnamed regex
that does not reverse) is not checked.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from micro.cli.options import Option
from micro.cli.target import load_app
from micro.errors import ConfigError, MicroError, PluginError
from micro.routing import Route, Router
from micro.web.endpoint import Endpoint

__all__ = ["RouteRow", "format_table", "options", "route_rows", "run"]

_REGEX_SAMPLES = ("1", "x", "x-y", "x/y", "")


@dataclass
class RouteRow:
    host: str
    pattern: str
    name: str
    methods: str
    handler: str
    source: str
    problems: list[str]


def _registered(route: Route) -> Any:
    """What the user registered for ``route`` (an App's routes carry it in an Endpoint)."""
    target = route.target
    return target.target if isinstance(target, Endpoint) else target


def _handler_name(target: Any) -> str:
    module = getattr(target, "__module__", None) or "?"
    name = getattr(target, "__qualname__", None) or type(target).__qualname__
    return f"{module}.{name}"


def _plugin_packages(app: Any) -> dict[str, str]:
    """Top-level package -> plugin name, for the plugins the app enabled."""
    from micro.plugins import PluginRegistry, enabled_plugins  # only when the table is made

    registry = getattr(app, "settings", {}).get("plugin_registry") or PluginRegistry()
    packages: dict[str, str] = {}
    for name in enabled_plugins(app):
        try:
            module = registry.info(name).entry_point.module
        except PluginError:
            continue
        packages[module.split(".")[0]] = name
    return packages


def _sample_path(route: Route) -> str | None:
    """A decoded path this route's own pattern matches, or None if none can be built."""
    try:
        if route.kind == "typed":
            fields = getattr(route.spec, "fields", ())
            values = {f.name: f.type.convert(f.type.example) for f in fields}
            return unquote(route.reverse(**values))
        groups = getattr(route.spec, "group_names", ())
        named = getattr(route.spec, "named", False)
        for text in _REGEX_SAMPLES:
            try:
                if named:
                    return unquote(route.reverse(**dict.fromkeys(groups, text)))
                return unquote(route.reverse(*[text] * len(groups)))
            except MicroError:
                continue
    except MicroError:
        return None
    return None


def _sample_host(host: str | None) -> str | None:
    """A Host value the host pattern matches (simple patterns only), '' for the default."""
    if host is None:
        return ""
    candidates = [
        re.sub(r"\\(.)", r"\1", re.sub(r"\([^()]*\)\?", "", host)).strip("^$"),
        re.sub(r"\\(.)", r"\1", re.sub(r"[()?]", "", host)).strip("^$"),
    ]
    for candidate in candidates:
        if re.fullmatch(host, candidate, re.IGNORECASE):
            return candidate
    return None


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def _problems(
    router: Router,
    route: Route,
    prefixes: list[tuple[str, Router]],
    mounts: Sequence[Any] = (),
) -> list[str]:
    path = _sample_path(route)
    host = _sample_host(route.host)
    if path is None or host is None:
        return []
    problems: list[str] = []
    for mount in mounts:
        if _under(path, mount.prefix):
            problems.append(f"{path} is answered by the app mounted at {mount.prefix!r}")
            return problems
    for owner, claimed in prefixes:
        try:
            claimed.match(path, "GET")
        except MicroError:
            continue
        problems.append(f"{path} is answered by middleware {owner!r} before any route")
        return problems
    for method in sorted(route.methods or {"GET"}):
        if method in ("HEAD", "OPTIONS"):
            continue
        try:
            found = router.match(path, method, host).route
        except MicroError:
            continue
        if found is not route:
            where = f" on host {found.host!r}" if found.host else ""
            problems.append(
                f"{method} {path} is answered by {found.pattern!r}{where}"
                f" ({_handler_name(_registered(found))}), not by this route"
            )
    return problems


def route_rows(app: Any) -> list[RouteRow]:
    """The table's rows for a micro App (ConfigError for anything else)."""
    router = getattr(app, "router", None)
    if not isinstance(router, Router):
        raise ConfigError(
            f"{type(app).__name__} is not a micro App: only micro apps have a route table"
        )
    packages = _plugin_packages(app)
    claimed: list[tuple[str, Router]] = []
    extra: list[RouteRow] = []
    for middleware in getattr(app, "middleware", ()):
        describe = getattr(middleware, "describe_routes", None)
        if describe is None:
            continue
        own = Router()
        name = str(getattr(middleware, "name", type(middleware).__name__))
        plugin = packages.get(type(middleware).__module__.split(".")[0])
        source = f"plugin {plugin}" if plugin else "app"
        for pattern, methods in describe():
            own.add(pattern, middleware)
            row = RouteRow("*", pattern, "-", ", ".join(methods), f"middleware {name}", source, [])
            extra.append(row)
        claimed.append((name, own))
    mounts = list(getattr(app, "mounts", ()))
    rows = []
    for route in router.routes():
        target_pkg = (getattr(_registered(route), "__module__", None) or "").split(".")[0]
        plugin = packages.get(target_pkg)
        rows.append(
            RouteRow(
                host=route.host or "*",
                pattern=route.pattern,
                name=route.name or "-",
                methods=", ".join(sorted(route.methods)) if route.methods else "*",
                handler=_handler_name(_registered(route)),
                source=f"plugin {plugin}" if plugin else "app",
                problems=_problems(router, route, claimed, mounts),
            )
        )
    for mount in mounts:
        rows.append(
            RouteRow("*", f"{mount.prefix}/...", "-", "*", _handler_name(mount.app), "mount", [])
        )
        if isinstance(getattr(mount.app, "router", None), Router):
            for row in route_rows(mount.app):
                row.pattern = mount.prefix + row.pattern
                row.source = f"mount {mount.prefix}"
                rows.append(row)
    return rows + extra


def format_table(rows: Sequence[RouteRow]) -> str:
    """Aligned columns; a ``!`` marks a flagged row, the reasons follow the table."""
    header = ("", "host", "pattern", "name", "methods", "handler", "from")
    cells = [header] + [
        ("!" if r.problems else " ", r.host, r.pattern, r.name, r.methods, r.handler, r.source)
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    flagged = [(r, p) for r in rows for p in r.problems]
    if flagged:
        lines.append("")
        lines.append(f"conflicts ({len(flagged)}):")
        lines.extend(f"! {r.pattern} [{r.host}]: {p}" for r, p in flagged)
    return "\n".join(lines)


def options() -> list[Option]:
    """The arguments of ``micro routes``."""
    return [
        Option(
            "target", "module:attr or path/to/file.py[:attr]", metavar="TARGET", kind="positional"
        ),
        Option("--strict", "exit with status 1 when a conflict is flagged", False, kind="switch"),
    ]


def run(args: argparse.Namespace, out: Any = None) -> int:
    rows = route_rows(load_app(args.target))
    print(format_table(rows), file=out or sys.stdout)
    return 1 if args.strict and any(r.problems for r in rows) else 0
