"""The micro command line: loading targets, `micro serve` start, errors and Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.error
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


def test_a_directory_or_a_file_that_is_not_python_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "site").mkdir()
    (tmp_path / "README.md").write_text("# hello\n")
    for target, problem in [
        ("site", "cannot load 'site': it is a directory; name a .py file in it"),
        (str(tmp_path / "site"), "it is a directory"),
        ("site/app.py", "cannot load 'site/app.py': no such file"),
        ("README.md", "cannot load 'README.md': not a Python file"),
        ("docs/guide", "cannot load 'docs/guide': no such file"),
    ]:
        assert main(["serve", target]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
        assert err.startswith("micro: error: ") and problem in err, err


BROKEN = """import os


def helper():
    return 1 / 0


value = helper()
"""


def test_an_exception_while_importing_shows_the_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "broken_app.py"
    source.write_text(BROKEN)
    assert main(["serve", str(source)]) == 2
    err = capsys.readouterr().err
    first, *rest = err.splitlines()
    assert (
        first
        == f"micro: error: importing {str(source)!r} failed: ZeroDivisionError: division by zero"
    )
    assert f'File "{source}", line 8, in <module>' in err
    assert f'File "{source}", line 5, in helper' in err and "return 1 / 0" in err
    assert "importlib" not in err and "target.py" not in err  # only the app's own frames
    assert rest[-1] == "ZeroDivisionError: division by zero"


def test_with_debug_the_whole_traceback_is_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "broken_app2.py"
    source.write_text(BROKEN)
    assert main(["serve", str(source), "--debug"]) == 2
    err = capsys.readouterr().err
    assert "target.py" in err and f'File "{source}", line 5, in helper' in err


def test_a_syntax_error_shows_the_line_and_where(tmp_path: Path) -> None:
    source = tmp_path / "syntax_app.py"
    source.write_text("x = 1\ndef broken(:\n")
    with pytest.raises(ConfigError) as caught:
        load_app(str(source))
    message = str(caught.value)
    assert f'File "{source}", line 2' in message and "def broken(:" in message


def test_a_factory_target_builds_a_new_app_each_time(tmp_path: Path) -> None:
    (tmp_path / "factory_app.py").write_text(
        "def make_app():\n    def app(environ, start_response):\n        pass\n    return app\n"
    )
    first = load_app(f"{tmp_path / 'factory_app.py'}:make_app()")
    second = load_app(f"{tmp_path / 'factory_app.py'}:make_app()")
    assert first.__name__ == "app" and first is not second
    with pytest.raises(ConfigError, match="is not a factory"):
        load_app("micro.cli:COMMANDS()")


def test_parse_bind() -> None:
    assert parse_bind("0.0.0.0:80") == ("0.0.0.0", 80)
    assert parse_bind("[::1]:8080") == ("::1", 8080)
    assert parse_bind("127.0.0.1:0") == ("127.0.0.1", 0)  # a free port
    with pytest.raises(Exception, match="HOST:PORT"):
        parse_bind("localhost")


@pytest.mark.parametrize(
    ("bind", "problem"),
    [
        ("127.0.0.1:99999", "port 99999 is out of range: ports are 1 to 65535"),
        ("127.0.0.1:65536", "port 65536 is out of range"),
        ("127.0.0.1:http", "the port in '127.0.0.1:http' is not a number"),
    ],
)
def test_a_bad_bind_is_one_line_naming_the_problem(
    bind: str, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", HELLO, "--bind", bind])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("micro: error: argument --bind: ") and problem in err


def test_a_bad_option_value_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", HELLO, "--threads", "many"])
    err = capsys.readouterr().err
    assert (
        err == "micro: error: argument --threads: not a number: 'many' (see micro serve --help)\n"
    )


def test_without_a_target_serve_takes_micro_app_then_app_py(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from micro.cli.serve import default_target

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MICRO_APP", raising=False)
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "micro: error: no TARGET: name the app (module:attr or file.py), set MICRO_APP,"
        " or put it in ./app.py\n"
    )
    (tmp_path / "app.py").write_text("def app(environ, start_response): pass\n")
    assert default_target(None) == "app.py"
    monkeypatch.setenv("MICRO_APP", "shop:make_app()")
    assert default_target(None) == "shop:make_app()"
    assert default_target("given.py") == "given.py"


def test_serve_with_no_target_serves_app_py(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text((ROOT / "examples" / "hello.py").read_text())
    environ = {k: v for k, v in os.environ.items() if k != "MICRO_APP"}
    process = subprocess.Popen(
        [sys.executable, "-m", "micro", "serve", "--bind", "127.0.0.1:0", "--threads", "2"],
        cwd=tmp_path,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert banner.startswith("micro: serving app.py on http://127.0.0.1:"), banner
        port = banner.split("127.0.0.1:")[1].split("/")[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            assert response.read() == b"Hello, world!\n"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


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


def _served_stdout(*flags: str, env: dict[str, str] | None = None) -> str:
    """What ``micro serve HELLO --bind 127.0.0.1:0 FLAGS`` prints for one GET /hi."""
    process = subprocess.Popen(
        [sys.executable, "-m", "micro", "serve", HELLO, "--bind", "127.0.0.1:0", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        port = banner.split("127.0.0.1:")[1].split("/")[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/hi", timeout=5) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        assert exc.code == 404
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=15)
    return banner + out


def test_debug_turns_the_access_log_on() -> None:
    out = _served_stdout("--debug")
    (line,) = [x for x in out.splitlines() if '"GET /hi HTTP/1.1"' in x]
    assert line.startswith("127.0.0.1 - - [") and " 404 " in line
    assert line.rsplit(" ", 1)[1].isdigit()  # the time taken, in microseconds


@pytest.mark.parametrize(
    ("flags", "env"),
    [(("--debug", "--no-access-log"), {}), (("--debug",), {"MICRO_ACCESS_LOG": "0"})],
)
def test_debug_leaves_the_access_log_off_when_told_to(
    flags: tuple[str, ...], env: dict[str, str]
) -> None:
    out = _served_stdout(*flags, env=env)
    assert "127.0.0.1:" in out.splitlines()[0]  # the banner: it served, and /hi was asked
    assert "GET /hi" not in out
