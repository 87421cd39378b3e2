"""Command-line layer: ``micro plugins [--enable a,b] [APP]`` and the subcommands plugins add.

The listing reads the installed entry points through :class:`~micro.plugins.PluginRegistry`
(never importing a plugin it does not have to); for an APP or an ``--enable`` list it
also shows which plugins are enabled and their resolved order.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from micro.cli.options import Option, add_options
from micro.cli.target import load_app
from micro.errors import MicroError
from micro.plugins import PluginRegistry, enabled_plugins

__all__ = ["main_list", "options", "run", "run_plugin_command"]


def main_list(argv: Sequence[str], *, registry: PluginRegistry | None = None) -> int:
    """``micro plugins [--enable a,b,...] [APP]`` as a function: parse ``argv``, list."""
    parser = argparse.ArgumentParser(prog="micro plugins", description=run.__doc__)
    add_options(parser, options())
    return run(parser.parse_args(list(argv)), registry=registry)


def options() -> list[Option]:
    """The arguments of ``micro plugins``."""
    return [
        Option(
            "app", "an app: module:attr or path/to/file.py[:attr]", metavar="APP", kind="optional"
        ),
        Option("--enable", "comma-separated plugin names to order", metavar="NAMES"),
    ]


def run(args: argparse.Namespace, *, registry: PluginRegistry | None = None) -> int:
    """List installed plugins: name, distribution, version, enabled, order.

    For an app (``APP``, whose enabled plugins are read from it) or an explicit
    ``--enable`` list, the last two columns say whether each plugin is enabled and
    its place in the resolved order. Exit status 2 on a plugin error, like
    every other usage or configuration error of the ``micro`` command.
    """
    registry = registry or PluginRegistry()
    try:
        enabled: list[str] = []
        if args.app:
            enabled = enabled_plugins(load_app(args.app))  # the loader of ``micro serve``
        if args.enable:
            enabled += [n.strip() for n in args.enable.split(",") if n.strip()]
        order = [p.name for p in registry.resolve(enabled)] if enabled else []
        rows = [("name", "distribution", "version", "enabled", "order")]
        for name, info in registry.discover().items():
            place = str(order.index(name) + 1) if name in order else "-"
            mark = "yes" if name in order else "no"
            rows.append((name, info.distribution, info.version, mark, place))
    except MicroError as exc:
        print(f"micro plugins: error: {exc}", file=sys.stderr)
        return 2
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    if order:
        print("\nresolved order: " + " -> ".join(order))
    return 0


def run_plugin_command(
    name: str, argv: Sequence[str], *, registry: PluginRegistry | None = None
) -> int | None:
    """Run the subcommand ``name`` that an installed plugin adds; None if none adds it."""
    commands = (registry or PluginRegistry()).cli_commands()
    if name not in commands:
        return None
    return commands[name][1](list(argv))
