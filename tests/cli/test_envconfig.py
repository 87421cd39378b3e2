"""``micro --version`` and MICRO_* environment defaults (flag > environment > default)."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import micro
from micro.cli import build_parser, main
from micro.cli.envconfig import variable_name

ROOT = Path(__file__).resolve().parent.parent.parent
HELLO = str(ROOT / "examples" / "hello.py")


def serve_args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["serve", HELLO, *argv])


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"micro {micro.__version__}\n"


def test_variable_names() -> None:
    assert variable_name("--bind") == "MICRO_BIND"
    assert variable_name("--max-body-bytes") == "MICRO_MAX_BODY_BYTES"


def test_flag_beats_environment_beats_default(monkeypatch: pytest.MonkeyPatch) -> None:
    default = serve_args()
    assert default.bind == ("127.0.0.1", 8000)
    monkeypatch.setenv("MICRO_BIND", "0.0.0.0:9000")
    monkeypatch.setenv("MICRO_THREADS", "3")
    monkeypatch.setenv("MICRO_IDLE_TIMEOUT", "2.5")
    monkeypatch.setenv("MICRO_ACCESS_LOG", "yes")
    monkeypatch.setenv("MICRO_TRUSTED_PROXY", "10.0.0.1, 10.1.0.0/16")
    from_env = serve_args()
    assert from_env.bind == ("0.0.0.0", 9000)
    assert from_env.threads == 3
    assert from_env.idle_timeout == 2.5
    assert from_env.access_log is True
    assert from_env.trusted_proxies == ["10.0.0.1", "10.1.0.0/16"]
    flags = serve_args("--bind", "127.0.0.1:7000", "--threads", "5")
    assert flags.bind == ("127.0.0.1", 7000)
    assert flags.threads == 5
    assert flags.idle_timeout == 2.5
    monkeypatch.setenv("MICRO_ACCESS_LOG", "0")
    assert serve_args().access_log is False


def test_help_names_the_variables() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "micro", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        cwd=ROOT,
    )
    text = " ".join(result.stdout.split())
    for name in ("MICRO_BIND", "MICRO_THREADS", "MICRO_DEBUG", "MICRO_RELOAD"):
        assert f"[env {name}]" in text
    assert (
        "--defer-timeout SECONDS a deferred (async) request not resumed within this is"
        " answered 504 (0: no limit) (default 60) [env MICRO_DEFER_TIMEOUT]"
    ) in text


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("MICRO_THREADS", "many", "MICRO_THREADS='many': not a number"),
        ("MICRO_THREADS", "0", "MICRO_THREADS='0': threads must be at least 1"),
        ("MICRO_BIND", "localhost", "MICRO_BIND='localhost': expected HOST:PORT"),
        ("MICRO_DEBUG", "maybe", "MICRO_DEBUG='maybe': expected 1/true/yes/on"),
    ],
)
def test_a_bad_variable_is_an_error_that_names_it(name: str, value: str, message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "micro", "serve", HELLO],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=ROOT,
        env={**os.environ, name: value},
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_every_option_the_cli_doc_names_exists() -> None:
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`(--[a-z][a-z-]*)", text))
    parser = build_parser()
    known = {"--version", "--help"}
    for action in parser._subparsers._group_actions[0].choices.values():  # type: ignore[union-attr]
        for option in action._actions:
            known.update(option.option_strings)
    assert named, "the doc names no option"
    assert named <= known, named - known


def test_processes_auto_is_one_per_core(monkeypatch: pytest.MonkeyPatch) -> None:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert serve_args().processes == 1
    assert serve_args("--processes", "auto").processes == cores
    assert serve_args("--processes", "3").processes == 3
    monkeypatch.setenv("MICRO_PROCESSES", "AUTO")
    assert serve_args().processes == cores


@pytest.mark.parametrize("value", ["0", "-2", "many"])
def test_processes_refuses_what_is_not_a_count_or_auto(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        serve_args("--processes", value)
    assert "--processes" in capsys.readouterr().err


def test_body_settings_come_from_flags_or_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    defaults = serve_args()
    assert (defaults.spool_threshold, defaults.spool_dir, defaults.min_body_rate) == (
        524288,
        None,
        1024.0,
    )
    monkeypatch.setenv("MICRO_SPOOL_DIR", str(tmp_path))
    monkeypatch.setenv("MICRO_MIN_BODY_RATE", "0")
    args = serve_args("--spool-threshold", "1000", "--max-discard", "0")
    assert (args.spool_threshold, args.spool_dir, args.min_body_rate) == (1000, str(tmp_path), 0)
    assert args.max_discard == 0
    with pytest.raises(SystemExit):
        serve_args("--min-body-rate", "-1")


def test_defer_timeout_comes_from_a_flag_or_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert serve_args().defer_timeout == 60.0
    monkeypatch.setenv("MICRO_DEFER_TIMEOUT", "0")
    assert serve_args().defer_timeout == 0
    assert serve_args("--defer-timeout", "2.5").defer_timeout == 2.5
    with pytest.raises(SystemExit):
        serve_args("--defer-timeout", "-1")
    assert "defer_timeout must not be negative, got -1" in capsys.readouterr().err
