"""Command-line layer: ``MICRO_*`` environment variables as defaults of command options.

Every long option of a command can come from the environment: ``--bind`` from
``MICRO_BIND``, ``--threads`` from ``MICRO_THREADS``, ``--access-log`` from
``MICRO_ACCESS_LOG`` and so on (upper case, ``-`` becomes ``_``). Precedence: a flag
on the command line wins over the environment, which wins over the built-in default.

A variable replaces the option's default, so argparse converts and checks it exactly
like a flag (a bad value names its variable in the error). Switches (``--debug``)
take ``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off``/empty; repeatable
options (``--trusted-proxy``) take a comma-separated list. The help
of each option names its variable, whether or not it is set
(:func:`micro.cli.options.add_options` puts both on the parser).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from micro.errors import ConfigError

__all__ = ["PREFIX", "EnvironmentDefault", "environment_default", "variable_name"]

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


class EnvironmentDefault(NamedTuple):
    """An option's default once the environment is read, and the converter to use."""

    value: Any
    convert: Callable[[str], Any] | None


def environment_default(
    kind: str,
    convert: Callable[[str], Any] | None,
    default: Any,
    variable: str,
    environ: Mapping[str, str],
) -> EnvironmentDefault:
    """The default of an option of ``kind`` when ``variable`` may be set in ``environ``.

    A switch reads a yes/no word; a repeatable option a comma-separated list; any other
    option keeps the text, which argparse converts like a flag (with a converter that
    names the variable when the text is bad). ConfigError for a bad switch or list.
    """
    text = environ.get(variable)
    if text is None:
        return EnvironmentDefault(default, None)
    if kind == "switch":
        word = text.strip().lower()
        if word not in _TRUE | _FALSE:
            raise ConfigError(f"{variable}={text!r}: expected 1/true/yes/on or 0/false/no/off")
        return EnvironmentDefault(word in _TRUE, None)
    if kind == "repeat":
        item = convert or str
        try:
            return EnvironmentDefault([item(p.strip()) for p in text.split(",") if p.strip()], None)
        except (argparse.ArgumentTypeError, ValueError, TypeError) as exc:
            raise ConfigError(f"{variable}={text!r}: {exc}") from None
    value = _FromEnvironment(text)
    value.variable = variable
    return EnvironmentDefault(value, _naming(convert) if convert is not None else None)
