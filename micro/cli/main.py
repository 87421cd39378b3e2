"""Command-line layer: ``micro <command>`` (``python -m micro`` is the same program).

Each subcommand is a :class:`Command`: a name, a one-line help, a function that adds
its arguments to an ``argparse`` subparser and a function that runs it and returns
the exit status. :data:`COMMANDS` lists them; adding a command means writing its
module in :mod:`micro.cli` (``options()`` and ``run(args)``), one more
:class:`Command` and an entry in that tuple. A command signals a user mistake by
raising :class:`~micro.errors.ConfigError`: :func:`main` prints it as one line and
exits with status 2, never a traceback. A word that names no built-in command may
name one an installed plugin adds (:func:`micro.cli.plugins.run_plugin_command`).

Command modules are imported when their command runs, so that ``micro serve`` does
not pay for the plugin machinery and ``micro --help`` for nothing at all.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn

from micro.cli.options import Option, add_options
from micro.errors import ConfigError, MicroError

__all__ = ["COMMANDS", "Command", "build_parser", "main"]


@dataclass(frozen=True)
class Command:
    """One subcommand of ``micro``: its options as data (:class:`~micro.cli.options.Option`)."""

    name: str
    help: str
    options: Callable[[], Sequence[Option]]
    run: Callable[[argparse.Namespace], int]


# -- serve (micro.cli.serve does the work) ---------------------------------------------
def _serve_options() -> Sequence[Option]:
    from micro.cli.serve import options

    return options()


def _run_serve(args: argparse.Namespace) -> int:
    from micro.cli.serve import run

    return run(args)


SERVE = Command(
    "serve", "serve a WSGI app with micro's HTTP/1.1 server", _serve_options, _run_serve
)


# -- plugins (micro.cli.plugins does the work) -----------------------------------------
def _plugins_options() -> Sequence[Option]:
    from micro.cli.plugins import options

    return options()


def _run_plugins(args: argparse.Namespace) -> int:
    from micro.cli.plugins import run

    return run(args)


PLUGINS = Command(
    "plugins",
    "list installed plugins (distribution, version, enabled, resolved order for an app)",
    _plugins_options,
    _run_plugins,
)


# -- routes (micro.cli.routes does the work) -------------------------------------------
def _routes_options() -> Sequence[Option]:
    from micro.cli.routes import options

    return options()


def _run_routes(args: argparse.Namespace) -> int:
    from micro.cli.routes import run

    return run(args)


ROUTES = Command(
    "routes",
    "print an app's route table (host, pattern, name, methods, handler); flag conflicts",
    _routes_options,
    _run_routes,
)

COMMANDS: tuple[Command, ...] = (SERVE, ROUTES, PLUGINS)


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line (``micro: error: ...``), not the usage block,
    and ``micro --help`` also lists the commands installed plugins add."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"micro: error: {message} (see {self.prog} --help)\n")

    def format_help(self) -> str:
        text = super().format_help()
        if self.prog == "micro":
            from micro.cli.plugins import plugin_commands_help

            text += plugin_commands_help()
        return text


def build_parser(commands: Sequence[Command] = COMMANDS) -> argparse.ArgumentParser:
    """The parser; each option's default may come from a MICRO_* variable (micro.cli.envconfig)."""
    from micro import __version__

    parser = _Parser(prog="micro", description="micro web framework tools")
    parser.add_argument("--version", action="version", version=f"micro {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in commands:
        child = sub.add_parser(command.name, help=command.help, description=command.help)
        add_options(child, command.options())
        child.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``micro``; returns the exit status (2 for a usage or configuration error)."""
    words = list(sys.argv[1:] if argv is None else argv)
    if words and not words[0].startswith("-") and words[0] not in {c.name for c in COMMANDS}:
        from micro.cli.plugins import run_plugin_command  # a command a plugin adds

        try:
            return run_plugin_command(words[0], words[1:], builtin=[c.name for c in COMMANDS])
        except MicroError as exc:
            print(f"micro: error: {exc}", file=sys.stderr)
            return 2
    try:
        parser = build_parser()
    except ConfigError as exc:  # a bad MICRO_* variable
        print(f"micro: error: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    args.argv = words  # what --reload runs again in its child process
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except ConfigError as exc:
        print(f"micro: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
