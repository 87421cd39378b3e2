"""Command-line layer: the ``micro`` command (serve, routes, plugins), MICRO_* config, reload.

The console script ``micro`` and ``python -m micro`` run :func:`main`. This module only
re-exports the public names of its modules.
"""

from micro.cli.main import COMMANDS, Command, build_parser, main
from micro.cli.serve import parse_bind
from micro.cli.target import load_app

__all__ = ["COMMANDS", "Command", "build_parser", "load_app", "main", "parse_bind"]
