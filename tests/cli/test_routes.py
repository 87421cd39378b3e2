"""``micro routes TARGET``: the route table, plugins' routes, flagged conflicts, errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from micro.cli import main

ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLES = ROOT / "examples"

CONFLICTS = """
import os
from micro import App

app = App(plugins=["static", "poweredby"], settings={"static_path": os.path.dirname(__file__)})
app.add_route("/user/{name}", lambda request, name: name, name="user")
app.add_route("/user/{id:d}", lambda request, id: str(id), name="user_id")
app.add_route("/static/about", lambda request: "never reached")
app.add_route(r"/item/(\\d+)", lambda request, n: n)
app.add_route("/item/{n:d}", lambda request, n: str(n), methods=["POST"])
"""


def table(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[list[str]], str]:
    status = main(["routes", *argv])
    out = capsys.readouterr().out
    head, _, rest = out.partition("\n\n")
    rows = [line[1:].split() for line in head.splitlines()]
    return status, rows, rest


def test_the_blog_lists_its_routes_and_the_static_plugins_files(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MICRO_BLOG_INSTANCE", str(tmp_path))  # its SQLite files go there
    status, rows, rest = table(capsys, str(EXAMPLES / "blog" / "app.py"))
    assert status == 0 and rest == ""
    assert rows[0] == ["host", "pattern", "name", "methods", "handler", "from"]
    assert ["*", "/", "home", "GET", "app.Home", "app"] in rows
    assert ["*", "/posts/(\\d+)", "post", "DELETE", "app.OnePost", "app"] in rows
    assert rows[-1] == [
        "*",
        "/static/{file:path}",
        "-",
        "GET,",
        "HEAD",
        "middleware",
        "static",
        "plugin",
        "static",
    ]


def test_host_patterns_are_a_column(capsys: pytest.CaptureFixture[str]) -> None:
    _, rows, _ = table(capsys, str(EXAMPLES / "vhosts.py"))
    assert rows[1:] == [
        ["(www\\.)?example\\.com", "/", "home", "GET", "vhosts.Home", "app"],
        ["(www\\.)?example\\.com", "/about", "-", "GET", "vhosts.Home", "app"],
        ["api\\.example\\.com", "/status", "status", "GET", "vhosts.Status", "app"],
        ["*", "/", "-", "GET", "vhosts.landing", "app"],
    ]


def test_conflicts_are_flagged_and_strict_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "conflicting.py"
    source.write_text(CONFLICTS)
    assert main(["routes", str(source)]) == 0
    lines = capsys.readouterr().out.splitlines()
    flagged = {line.split()[2] for line in lines if line.startswith("!  ")}
    # /item/(\d+) (GET) and /item/{n:d} (POST) overlap but differ in method: no conflict.
    assert flagged == {"/user/{id:d}", "/static/about"}
    assert "conflicts (2):" in lines
    assert "! /user/{id:d} [*]: GET /user/1 is answered by '/user/{name}'" in "\n".join(lines)
    assert "! /static/about [*]: /static/about is answered by middleware 'static'" in "\n".join(
        lines
    )
    plugin_rows = [line.split() for line in lines if "/_poweredby" in line]
    assert plugin_rows[0][1:4] == ["/_poweredby", "poweredby", "GET"]
    assert plugin_rows[0][-2:] == ["plugin", "poweredby"]
    assert main(["routes", "--strict", str(source)]) == 1


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_such_module_xyz:app", "micro: error: cannot import 'no_such_module_xyz'"),
        ("micro.cli:main", "micro: error: function is not a micro App"),
    ],
)
def test_errors_are_one_line_and_exit_2(target: str, message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "micro", "routes", target],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(message)
    assert result.stdout == ""
