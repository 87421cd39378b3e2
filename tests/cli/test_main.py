"""The micro command line: loading targets, `micro serve` start, errors and Ctrl-C."""

from __future__ import annotations

import signal
import socket
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from micro.cli import load_app, main, parse_bind
from micro.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent.parent
HELLO = str(ROOT / "examples" / "hello.py")


def test_load_app_from_file_with_default_and_named_attr(tmp_path: Path) -> None:
    source = tmp_path / "site_app.py"
    source.write_text("def app(e, s): pass\ndef other(e, s): pass\n")
    assert load_app(str(source)).__name__ == "app"
    assert load_app(f"{source}:other").__name__ == "other"


def test_load_app_from_module_attr() -> None:
    assert load_app("micro.cli:main") is main


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_such_module_xyz:app", "cannot import"),
        ("micro.cli:nothing", "has no attribute"),
        ("micro.cli:COMMANDS", "not a WSGI callable"),
        ("missing/file.py", "no such file"),
        (":app", "invalid target"),
    ],
)
def test_load_app_errors_are_config_errors(target: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_app(target)


def test_parse_bind() -> None:
    assert parse_bind("0.0.0.0:80") == ("0.0.0.0", 80)
    assert parse_bind("[::1]:8080") == ("::1", 8080)
    with pytest.raises(Exception, match="HOST:PORT"):
        parse_bind("localhost")


def test_wrong_target_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "no_such_module_xyz:app"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("micro: error: cannot import 'no_such_module_xyz'")


def test_port_in_use_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", HELLO, "--bind", f"127.0.0.1:{port}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"cannot listen on 127.0.0.1:{port}" in err


def test_python_m_micro_serve_starts_answers_and_stops_on_ctrl_c(micro_serve: Any) -> None:
    with micro_serve(HELLO) as served:
        assert served.scheme == "http"
        with urllib.request.urlopen(served.url, timeout=5) as response:
            assert response.read() == b"Hello, world!\n"
        status, err = served.stop(signal.SIGINT, timeout=10)
    assert status == 0
    assert "Traceback" not in err
