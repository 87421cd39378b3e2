"""Options as data (micro.cli.options): derived from the settings dataclasses, one source."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field

import pytest

from micro.cli import build_parser
from micro.cli.options import Option, add_options, dataclass_options, dataclass_values
from micro.cli.serve import options as serve_options
from micro.errors import ConfigError
from micro.http import Limits
from micro.server import ServerConfig


def serve_actions() -> dict[str, argparse.Action]:
    parser = build_parser()
    serve = parser.parse_args(["serve", "x.py"])  # the serve subparser exists
    assert serve.target == "x.py"
    sub = next(a for a in parser._subparsers._group_actions if a.choices)  # type: ignore[union-attr]
    return {
        s: a
        for a in sub.choices["serve"]._actions  # type: ignore[index]
        for s in a.option_strings
    }


def test_every_documented_setting_is_a_serve_flag_with_the_dataclass_default() -> None:
    actions = serve_actions()
    resolved = dataclass_values(build_parser().parse_args(["serve", "x.py"]), serve_options())
    config, limits = ServerConfig(), Limits()
    for owner, settings in ((ServerConfig, config), (Limits, limits)):
        for f in dataclasses.fields(owner):
            if "help" not in f.metadata:
                continue
            flag = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
            action = actions[flag]
            expected = getattr(settings, f.name)
            assert resolved[f.name] == expected
            if isinstance(expected, bool):
                # A switch nothing set stays None on the namespace ("not said", which
                # --debug reads for the access log); dataclass_values gives the default.
                assert action.default is None
            else:
                listed = list(expected) if isinstance(expected, tuple) else expected
                assert action.default == listed
            assert f.metadata["help"] in (action.help or "")


def test_the_server_check_is_the_flag_check() -> None:
    parser = argparse.ArgumentParser()
    add_options(parser, dataclass_options(ServerConfig), environ={})
    with pytest.raises(ConfigError, match="backlog must be at least 1"):
        ServerConfig(backlog=0)
    with pytest.raises(SystemExit):
        parser.parse_args(["--backlog", "0"])
    assert parser.parse_args(["--backlog", "5"]).backlog == 5


@dataclass(frozen=True)
class Settings:
    """A settings dataclass of the same shape, to show what a new field gets."""

    rate: float = field(default=2.5, metadata={"help": "how fast", "metavar": "HZ"})
    names: tuple[str, ...] = field(default=(), metadata={"help": "names", "flag": "--name"})
    loud: bool = field(default=False, metadata={"help": "shout"})
    hidden: int = 3  # no help: not an option

    def __post_init__(self) -> None:
        if self.rate < 0:
            raise ConfigError(f"rate must not be negative, got {self.rate}")


def test_a_new_field_becomes_a_flag_a_variable_and_a_help_line() -> None:
    options = dataclass_options(Settings)
    assert [o.flag for o in options] == ["--rate", "--name", "--loud"]
    parser = argparse.ArgumentParser()
    add_options(parser, options, environ={"MICRO_RATE": "4", "MICRO_NAME": "a, b"})
    args = parser.parse_args([])
    assert (args.rate, args.names, args.loud) == (4.0, ["a", "b"], None)  # loud: not said
    assert dataclass_values(args, options) == {"rate": 4.0, "names": ("a", "b"), "loud": False}
    assert parser.parse_args(["--loud", "--name", "c"]).names == ["c"]
    text = " ".join(parser.format_help().split())
    assert "how fast (default 2.5) [env MICRO_RATE]" in text
    with pytest.raises(SystemExit):
        parser.parse_args(["--rate", "-1"])


def test_a_positional_takes_no_variable() -> None:
    parser = argparse.ArgumentParser()
    add_options(
        parser, [Option("target", "what", kind="positional")], environ={"MICRO_TARGET": "x"}
    )
    with pytest.raises(SystemExit):
        parser.parse_args([])


def test_a_switch_has_a_no_form_and_the_last_one_said_wins() -> None:
    parser = argparse.ArgumentParser()
    add_options(parser, [Option("--loud", "be loud", False, kind="switch")], environ={})
    assert parser.parse_args([]).loud is False
    assert parser.parse_args(["--loud"]).loud is True
    assert parser.parse_args(["--loud", "--no-loud"]).loud is False
    assert parser.parse_args(["--no-loud", "--loud"]).loud is True
    on = argparse.ArgumentParser()
    add_options(on, [Option("--loud", "be loud", False, kind="switch")], {"MICRO_LOUD": "1"})
    assert on.parse_args([]).loud is True
    assert on.parse_args(["--no-loud"]).loud is False  # a flag wins over the variable
