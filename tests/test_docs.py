"""Every code sample in README.md and docs/ runs here, so the docs cannot drift from the code.

Each document runs in its own temporary directory, its blocks in order:

- ```python: executed, all blocks of one document sharing one namespace (a tutorial
  builds on its earlier steps). Samples that talk HTTP are written as apps driven by
  WebTest, so they need no server.
- A block preceded by ``<!-- file: NAME -->`` is written to NAME instead (any
  language). If a document writes ``test_*.py`` files, pytest runs them afterwards
  (in-process, through pytester) and every test must pass.
- ```toml / ```ini: parsed.
- Samples run with ``DOC_ENV`` in the environment (a cookie secret, as a deployment
  would provide it).
- ```sh / ```console in README.md and the docs this suite owns (every document but
  docs/deployment.md, whose shell samples are about other programs): each ``$ ``
  line (or each line, in a block without ``$``) is a command; lines after a command
  are its expected output (standard error and exit status 2 when it starts with
  ``micro: error:``). ``micro ...`` and ``python -m micro ...`` commands run;
  ``micro serve`` runs on a free port (``MICRO_BIND=127.0.0.1:0``) until its banner
  appears, then gets Ctrl-C. Install commands (``python3 -m venv .venv && ...``) are
  exempt: .ci/run runs the README's two.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import tomllib
from configparser import ConfigParser
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
SHELL_NOT_OWNED = {"deployment.md"}
# What a deployment's environment holds, for samples that read it (docs/deployment.md).
DOC_ENV = {"MICRO_COOKIE_SECRET": "a-doc-secret,an-older-doc-secret"}
# Install commands (the README's two, the tutorial's) make a virtual environment and
# install into it; .ci/run runs the README's two verbatim.
INSTALL = re.compile(r"python3 -m venv \.venv && ")
FENCE = re.compile(
    r"(?:<!-- file: (?P<file>\S+) -->\n)?^```(?P<lang>[\w-]*)\n(?P<code>.*?)^```$",
    re.M | re.S,
)


@dataclass
class Block:
    lang: str
    code: str
    file: str | None
    line: int


def blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    return [
        Block(m["lang"], m["code"], m["file"], text.count("\n", 0, m.start()) + 1)
        for m in FENCE.finditer(text)
    ]


def micro_command(command: str) -> tuple[dict[str, str], list[str]] | None:
    """(extra environment, argv) for a micro command; None for anything else."""
    words = shlex.split(command)
    env = {}
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    if words[:1] == ["micro"]:
        return env, [sys.executable, "-m", "micro", *words[1:]]
    if words[:3] in (["python", "-m", "micro"], ["python3", "-m", "micro"]):
        return env, [sys.executable, "-m", "micro", *words[3:]]
    return None


def run_serve(argv: list[str], env: dict[str, str], cwd: Path) -> None:
    environ = {**os.environ, "MICRO_BIND": "127.0.0.1:0", **env}
    if "--bind" in argv:
        where = argv.index("--bind") + 1
        argv[where] = re.sub(r":\d+$", ":0", argv[where])
    process = subprocess.Popen(
        argv, cwd=cwd, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()  # the child prints it once it listens
        assert "micro: serving" in banner, (banner, process.stderr and process.stderr.read())
        process.send_signal(signal.SIGINT)
        process.wait(timeout=15)
        assert process.returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def run_shell(block: Block, cwd: Path) -> None:
    lines = block.code.rstrip("\n").split("\n")
    prompted = any(line.startswith("$ ") for line in lines)
    commands: list[tuple[str, list[str]]] = []
    for line in lines:
        if prompted and not line.startswith("$ "):
            commands[-1][1].append(line)
        elif line.strip():
            commands.append((line.removeprefix("$ "), []))
    for command, expected in commands:
        if INSTALL.match(command):
            continue
        parsed = micro_command(command)
        assert parsed is not None, f"line {block.line}: no way to run {command!r} in the docs"
        env, argv = parsed
        # A sample of a mistake shows the one-line error: exit status 2, on stderr.
        failing = bool(expected) and expected[0].startswith("micro: error:")
        if argv[3:4] == ["serve"] and not failing:
            run_serve(argv, env, cwd)
            continue
        result = subprocess.run(
            argv,
            cwd=cwd,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == (2 if failing else 0), (command, result.stderr)
        if expected:
            shown = result.stderr if failing else result.stdout
            got = [line.rstrip() for line in shown.rstrip("\n").split("\n")]
            assert got == [line.rstrip() for line in expected], command


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_sample_runs(
    path: Path, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = pytester.path
    monkeypatch.chdir(work)
    for name, value in DOC_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.syspath_prepend(str(work))
    namespace: dict[str, object] = {"__name__": f"doc_{path.stem}"}
    test_files = []
    for block in blocks(path):
        if block.file is not None:
            target = work / block.file
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.code, encoding="utf-8")
            if Path(block.file).name.startswith("test_"):
                test_files.append(block.file)
        elif block.lang == "python":
            code = compile(block.code, f"{path.name}:{block.line}", "exec")
            exec(code, namespace)
        elif block.lang == "toml":
            tomllib.loads(block.code)
        elif block.lang == "ini":
            ConfigParser().read_string(block.code)
        elif block.lang in ("sh", "console") and path.name not in SHELL_NOT_OWNED:
            run_shell(block, work)
    if test_files:
        result = pytester.runpytest("-p", "no:cacheprovider", *test_files)
        outcomes = result.parseoutcomes()
        assert outcomes.get("passed", 0) > 0 and set(outcomes) <= {"passed"}, outcomes


def test_the_harness_finds_blocks() -> None:
    """A guard against a regex that silently finds nothing."""
    found = [b for p in DOCS for b in blocks(p)]
    assert sum(b.lang == "python" for b in found) >= 10
    assert any(b.file for b in found)
