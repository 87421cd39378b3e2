"""Command-line layer: ``MICRO_*`` environment variables as defaults of command options.

Every long option of a command can come from the environment: ``--bind`` from
``MICRO_BIND``, ``--threads`` from ``MICRO_THREADS``, ``--access-log`` from
``MICRO_ACCESS_LOG`` and so on (upper case, ``-`` becomes ``_``). Precedence: a flag
on the command line wins over the environment, which wins over the built-in default.

A variable replaces the option's default, so argparse converts and checks it exactly
like a flag (a bad value names its variable in the error). Switches (``--debug``)
take ``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off``/empty; repeatable
options (``--trusted-proxy``) take a comma-separated list. The help
of each option names its variable, whether or not it is set.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from typing import Any

from micro.errors import ConfigError

__all__ = ["PREFIX", "apply_environment", "variable_name"]

PREFIX = "MICRO_"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


class _FromEnvironment(str):
    """A default read from a variable; it remembers which, for error messages."""

    variable: str


def variable_name(option: str, prefix: str = PREFIX) -> str:
    """``--max-body-bytes`` -> ``MICRO_MAX_BODY_BYTES``."""
    return prefix + option.lstrip("-").upper().replace("-", "_")


def _naming(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    """Wrap an option's type so that a bad value from a variable names the variable."""

    def from_text(text: str) -> Any:
        try:
            return convert(text)
        except (argparse.ArgumentTypeError, ValueError, TypeError) as exc:
            if isinstance(text, _FromEnvironment):
                raise argparse.ArgumentTypeError(
                    f"{text.variable}={str(text)!r}: {exc or 'invalid value'}"
                ) from None
            raise

    from_text.__name__ = getattr(convert, "__name__", "value")
    return from_text


def apply_environment(
    parser: argparse.ArgumentParser,
    environ: Mapping[str, str] | None = None,
    prefix: str = PREFIX,
) -> None:
    """Make ``prefix``-named variables in ``environ`` the defaults of ``parser``'s options."""
    environ = os.environ if environ is None else environ
    for action in parser._actions:  # argparse has no public list of a parser's actions
        longs = [o for o in action.option_strings if o.startswith("--")]
        if not longs or isinstance(action, argparse._HelpAction | argparse._VersionAction):
            continue
        name = variable_name(longs[0], prefix)
        action.help = f"{action.help or ''} [env {name}]".strip()
        text = environ.get(name)
        if text is None:
            continue
        if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction):
            word = text.strip().lower()
            if word not in _TRUE | _FALSE:
                raise ConfigError(f"{name}={text!r}: expected 1/true/yes/on or 0/false/no/off")
            on = word in _TRUE
            action.default = on if isinstance(action, argparse._StoreTrueAction) else not on
            continue
        if isinstance(action, argparse._AppendAction):  # repeatable: comma-separated
            convert: Callable[[str], Any] = action.type or str  # type: ignore[assignment]
            try:
                action.default = [convert(p.strip()) for p in text.split(",") if p.strip()]
            except (argparse.ArgumentTypeError, ValueError, TypeError) as exc:
                raise ConfigError(f"{name}={text!r}: {exc}") from None
            continue
        value = _FromEnvironment(text)
        value.variable = name
        if action.type is not None:
            action.type = _naming(action.type)  # type: ignore[arg-type]
        action.default = value
