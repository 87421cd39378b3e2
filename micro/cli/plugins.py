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
from micro.errors import ConfigError, MicroError
from micro.plugins import PluginRegistry, enabled_plugins
from micro.plugins.api import CliCommand

__all__ = ["main_list", "options", "plugin_commands_help", "run", "run_plugin_command"]


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
    name: str,
    argv: Sequence[str],
    *,
    registry: PluginRegistry | None = None,
    builtin: Sequence[str] = (),
) -> int:
    """Run the subcommand ``name`` that an installed plugin adds.

    A plugin that fails to load disables only its own commands: the others still run.
    A name no plugin adds is a ConfigError that says so, listing the commands there are
    and, when a plugin could not be loaded, that its commands are missing and why.
    """
    broken: dict[str, MicroError] = {}
    commands = (registry or PluginRegistry()).cli_commands(broken)
    if name in commands:
        return commands[name][1](list(argv))
    known = ", ".join([*builtin, *sorted(commands)])
    message = f"unknown command {name!r} (commands: {known})"
    for plugin, error in broken.items():
        message += f"; plugin {plugin!r} could not be loaded, so its commands are missing: {error}"
    raise ConfigError(message)


def _summary(command: CliCommand) -> str:
    doc = (getattr(command, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else ""


def plugin_commands_help(registry: PluginRegistry | None = None) -> str:
    """The part of ``micro --help`` that lists the commands installed plugins add."""
    broken: dict[str, MicroError] = {}
    try:
        commands = (registry or PluginRegistry()).cli_commands(broken)
    except MicroError as exc:  # two plugins add the same command
        return f"\ncommands added by plugins: none usable ({exc})\n"
    if not commands and not broken:
        return ""
    lines = ["", "commands added by plugins:"]
    width = max((len(c) for c in commands), default=0)
    for command, (info, func) in sorted(commands.items()):
        what = _summary(func) or f"a command of plugin {info.name!r}"
        lines.append(f"  {command.ljust(width)}  {what} ({info.distribution})")
    for plugin, error in sorted(broken.items()):
        lines.append(f"  (plugin {plugin!r} could not be loaded: {error})")
    return "\n".join(lines) + "\n"
