"""Command-line layer: a command's options as data, and the ones derived from a dataclass.

Every command declares its options as :class:`Option` values; :func:`add_options` puts
them on an ``argparse`` parser, each with its ``MICRO_*`` variable as the default
(:mod:`micro.cli.envconfig`) and its default in the help. Keeping the options as data
means nothing reads argparse's private lists of actions.

:func:`dataclass_options` derives options from a settings dataclass
(:class:`~micro.server.ServerConfig`, :class:`~micro.http.Limits`): every field with a
``help`` in its metadata becomes ``--field-name`` (or the metadata's ``flag``) with the
field's default, a converter from its type, and a check that builds the dataclass with
the value, so that a value the server would refuse is refused as the flag is read,
with the dataclass's own message.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from micro.cli.envconfig import PREFIX, environment_default, variable_name
from micro.errors import ConfigError

__all__ = ["Option", "add_options", "dataclass_options", "dataclass_values"]

OptionKind = Literal["value", "switch", "repeat", "positional", "optional"]


@dataclass(frozen=True)
class Option:
    """One argument of a command.

    ``kind``: ``value`` (``--flag VALUE``), ``switch`` (``--flag``, on/off),
    ``repeat`` (``--flag V`` again and again; a list), ``positional`` (required) or
    ``optional`` (a positional that may be left out). ``dest`` is the attribute the
    parsed value lands in (the flag's name with ``_`` by default); ``field`` the
    dataclass field it comes from, if any.
    """

    flag: str
    help: str
    default: Any = None
    convert: Callable[[str], Any] | None = None
    metavar: str | None = None
    kind: OptionKind = "value"
    choices: tuple[str, ...] | None = None
    group: str | None = None
    dest: str | None = None
    field: str | None = None
    shown: str | None = None  # the default as --help shows it, when str() would not do

    @property
    def name(self) -> str:
        """The attribute of the parsed namespace that holds the value."""
        return self.dest or self.flag.lstrip("-").replace("-", "_")


class _Switch(argparse.Action):
    """``--flag`` turns it on, ``--no-flag`` off (the later one wins): a switch that
    the environment or another flag turned on can be turned off again."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        flag = option_strings[0]
        super().__init__([flag, "--no-" + flag[2:]], dest, nargs=0, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, not (option_string or "").startswith("--no-"))

    def format_usage(self) -> str:
        return " | ".join(self.option_strings)


class _Repeat(argparse.Action):
    """``append``, except that the first flag replaces the default (from a variable, say)
    instead of adding to it: a flag wins over the environment for lists too."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        current = getattr(namespace, self.dest)
        items = [] if current is self.default else list(current)
        setattr(namespace, self.dest, [*items, values])


def _checked_converter(
    cls: type[Any], name: str, kind: Callable[[str], Any], probe: bool
) -> Callable[[str], Any]:
    """Text to the field's type, checked by building ``cls`` with the value."""

    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if probe:
            try:
                cls(**{name: value})
            except ConfigError as exc:
                raise argparse.ArgumentTypeError(str(exc)) from None
        return value

    convert.__name__ = kind.__name__
    return convert


def _base_type(hint: Any) -> tuple[Any, bool]:
    """(the type inside ``X | None``, whether None was allowed)."""
    args = typing.get_args(hint)
    if args and type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        return inner, True
    return hint, False


def dataclass_options(cls: type[Any], group: str | None = None) -> list[Option]:
    """The options of the fields of ``cls`` whose metadata has a ``help``."""
    hints = typing.get_type_hints(cls)
    options: list[Option] = []
    for f in dataclasses.fields(cls):
        help_text = f.metadata.get("help")
        if not help_text:
            continue
        flag = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
        default: Any = f.default
        if default is dataclasses.MISSING:
            default = f.default_factory()  # type: ignore[operator]  # a field has one or the other
        base, _ = _base_type(hints[f.name])
        common = {
            "flag": flag,
            "help": help_text,
            "metavar": f.metadata.get("metavar"),
            "group": f.metadata.get("group") or group,
            "dest": f.name,
            "field": f.name,
        }
        if base is bool:
            options.append(Option(default=default, kind="switch", **common))
        elif typing.get_origin(base) is tuple:
            (item, _) = typing.get_args(base)
            options.append(Option(default=list(default), convert=item, kind="repeat", **common))
        else:
            convert = _checked_converter(cls, f.name, base, probe=True)
            choices = f.metadata.get("choices")
            if choices:
                convert, common["metavar"] = base, None
            options.append(Option(default=default, convert=convert, choices=choices, **common))
    return options


def _shown(option: Option) -> str | None:
    """The default as ``--help`` says it, or None when there is nothing to say."""
    default = option.default
    if option.shown is not None:
        return option.shown
    if option.kind not in ("value", "repeat") or default in (None, [], ()):
        return None
    if option.kind == "repeat":
        return ", ".join(map(str, default))
    return f"{default:g}" if isinstance(default, float) else str(default)


def _help(option: Option, variable: str | None) -> str:
    text = option.help
    shown = _shown(option)
    if shown is not None and "default" not in text:
        text += f" (default {shown})"
    if variable is not None:
        text += f" [env {variable}]"
    return text


def add_options(
    parser: argparse.ArgumentParser,
    options: Iterable[Option],
    environ: Mapping[str, str] | None = None,
    prefix: str = PREFIX,
) -> None:
    """Add ``options`` to ``parser``; a ``prefix`` variable in ``environ`` is the default."""
    environ = os.environ if environ is None else environ
    groups: dict[str, Any] = {}  # argument groups by title
    for option in options:
        target: Any = parser
        if option.group is not None:
            if option.group not in groups:
                groups[option.group] = parser.add_argument_group(option.group)
            target = groups[option.group]
        if option.kind == "positional":
            target.add_argument(option.name, metavar=option.metavar, help=option.help)
            continue
        if option.kind == "optional":
            target.add_argument(option.name, nargs="?", metavar=option.metavar, help=option.help)
            continue
        variable = variable_name(option.flag, prefix)
        default = environment_default(
            option.kind, option.convert, option.default, variable, environ
        )
        convert = default.convert if default.convert is not None else option.convert
        help_text = _help(option, variable)
        if option.kind == "switch":
            target.add_argument(
                option.flag,
                dest=option.name,
                action=_Switch,
                # A dataclass field's switch that nothing set stays None, so that a
                # command can tell "not said" from "said no" (dataclass_values gives
                # the field's default for it).
                default=None if option.field and variable not in environ else default.value,
                help=help_text,
            )
        elif option.kind == "repeat":
            target.add_argument(
                option.flag,
                dest=option.name,
                action=_Repeat,
                type=option.convert,
                default=default.value,
                metavar=option.metavar,
                help=help_text,
            )
        else:
            target.add_argument(
                option.flag,
                dest=option.name,
                type=convert,
                default=default.value,
                metavar=option.metavar,
                choices=option.choices,
                help=help_text,
            )


def dataclass_values(args: argparse.Namespace, options: Sequence[Option]) -> dict[str, Any]:
    """``{field: value}`` of the options that come from dataclass fields."""
    found: dict[str, Any] = {}
    for option in options:
        if option.field is not None:
            value = getattr(args, option.name)
            if value is None and option.kind == "switch":
                value = option.default  # not set by a flag or a variable
            found[option.field] = tuple(value) if option.kind == "repeat" else value
    return found
