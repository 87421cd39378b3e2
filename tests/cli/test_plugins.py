"""``micro plugins`` (micro.cli.plugins): the listing, its errors, and subcommands plugins add.

The plugins listed are the real installed distributions of requirements-dev.txt.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from micro.cli.plugins import main_list, run_plugin_command
from micro.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent.parent


def table(out: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:] if line.strip()}


def test_main_list_shows_every_installed_plugin(capsys: pytest.CaptureFixture[str]) -> None:
    assert main_list([]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["name", "distribution", "version", "enabled", "order"]
    rows = table(out)
    assert rows["xsrf"] == ["micro-xsrf", "0.1.0", "no", "-"]
    assert rows["poweredby"] == ["micro-poweredby-example", "0.3.1", "no", "-"]


def test_main_list_shows_the_resolved_order_for_an_app(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app_file = tmp_path / "site.py"
    app_file.write_text(
        "from micro.web import App\n"
        "app = App(plugins=['static', 'poweredby', 'gzip'],"
        f" settings={{'static_path': {str(tmp_path)!r}}})\n"
    )
    assert main_list([str(app_file)]) == 0
    out = capsys.readouterr().out
    rows = table(out.split("\n\n")[0])
    assert rows["gzip"][2:] == ["yes", "1"]
    assert rows["poweredby"][2:] == ["yes", "2"]
    assert rows["static"][2:] == ["yes", "3"]
    assert rows["xsrf"][2:] == ["no", "-"]
    assert "resolved order: gzip -> poweredby -> static" in out


def test_main_list_reports_errors_without_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main_list(["--enable", "gzip,nope"]) == 2
    assert "unknown plugin 'nope'" in capsys.readouterr().err


def test_plugin_subcommands_run_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_plugin_command("poweredby", []) == 0
    assert capsys.readouterr().out.strip() == '{"banner": "micro"}'
    with pytest.raises(ConfigError, match="unknown command 'no-such-command'"):
        run_plugin_command("no-such-command", [])


def test_the_micro_command_lists_plugins_and_runs_their_subcommands(tmp_path: Path) -> None:
    def micro(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "micro", *args], capture_output=True, text=True, check=False
        )

    listed = micro("plugins", "--enable", "static,gzip")
    assert listed.returncode == 0, listed.stderr
    assert "resolved order: gzip -> static" in listed.stdout
    assert micro("poweredby", "from-cli").stdout.strip() == '{"banner": "from-cli"}'
    broken = micro("plugins", str(tmp_path / "missing.py"))
    assert broken.returncode == 2
    assert "missing.py" in broken.stderr


def broken_plugin(where: Path) -> dict[str, str]:
    """A distribution whose plugin fails to import, installed on ``where``; the env to see it."""
    info = where / "broken_tool-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-tool\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[micro.plugins]\nbroken = broken_tool:plugin\n")
    (where / "broken_tool.py").write_text("raise RuntimeError('the plugin is broken')\n")
    return {**os.environ, "PYTHONPATH": str(where)}


def run_micro(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "micro", *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=60,
    )


def test_micro_help_lists_the_commands_plugins_add() -> None:
    shown = run_micro("--help")
    assert shown.returncode == 0
    assert "commands added by plugins:" in shown.stdout
    assert "poweredby" in shown.stdout and "micro-poweredby-example" in shown.stdout


def test_an_unknown_command_says_so_in_one_line() -> None:
    result = run_micro("sevre", "app.py")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("micro: error: unknown command 'sevre' (commands: serve,")


def test_a_broken_plugin_disables_only_its_own_commands(tmp_path: Path) -> None:
    env = broken_plugin(tmp_path)
    works = run_micro("poweredby", "still", env=env)
    assert works.returncode == 0, works.stderr
    assert works.stdout.strip() == '{"banner": "still"}'
    unknown = run_micro("brokencmd", env=env)
    assert unknown.returncode == 2
    assert "unknown command 'brokencmd'" in unknown.stderr
    assert "plugin 'broken' could not be loaded" in unknown.stderr
    assert "the plugin is broken" in unknown.stderr
    helped = run_micro("--help", env=env)
    assert helped.returncode == 0
    assert "poweredby" in helped.stdout and "plugin 'broken' could not be loaded" in helped.stdout
    served = run_micro("routes", str(ROOT / "examples" / "hello.py"), env=env)
    assert served.returncode == 0, served.stderr  # built-in commands never load plugins
