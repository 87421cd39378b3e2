"""``micro serve --reload``: a real supervisor process restarts its child on a change."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from micro.cli.reload import snapshot, watched_files

ROOT = Path(__file__).resolve().parent.parent.parent
# Seconds to wait for something that takes well under one on an idle machine. Each
# supervisor and each child is a new Python that imports micro (about 0.4 s of CPU):
# on a loaded 2-core machine (load 20) that measured up to 25 s before a first
# "serving". Only a failing test waits this long.
PATIENCE = 90.0
APP = """
from micro import App
from helper_mod import WORD

app = App()


@app.route("/")
def home(request):
    return {word!r} + "/" + WORD
"""


class Lines:
    """The supervisor's output (its children share it), read with timeouts."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.queue: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert process.stdout is not None
        self.stream = stream = process.stdout
        self.reader = threading.Thread(target=lambda: [self.queue.put(x) for x in stream])
        self.reader.start()

    def close(self) -> None:
        """After the process ended: the reader sees end of file, then the pipe is closed."""
        self.reader.join(timeout=PATIENCE)
        self.stream.close()

    def everything(self) -> list[str]:
        """Every line, once the process and its children have ended (end of file)."""
        self.reader.join(timeout=PATIENCE)
        while not self.queue.empty():
            self.seen.append(self.queue.get_nowait())
        return self.seen

    def wait_for(self, pattern: str, timeout: float = PATIENCE) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.queue.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append(line)
            match = re.search(pattern, line)
            if match:
                return match
        raise AssertionError(f"no line matching {pattern!r} in {self.seen!r}")


def serve_reloading(
    target: str, *flags: str, cwd: Path, env: dict[str, str] | None = None, group: bool = False
) -> tuple[subprocess.Popen[str], Lines]:
    """``micro serve TARGET --bind 127.0.0.1:0 FLAGS... --reload --reload-interval 0.1``,
    its output read line by line; ``group``: in its own process group, as in a terminal."""
    serve = [sys.executable, "-m", "micro", "serve", target, "--bind", "127.0.0.1:0"]
    process = subprocess.Popen(
        [*serve, *flags, "--reload", "--reload-interval", "0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=cwd,
        env=env,
        start_new_session=group,
    )
    return process, Lines(process)


@contextlib.contextmanager
def killing_group(process: subprocess.Popen[str], lines: Lines) -> Iterator[None]:
    """On the way out, kill the whole group: a child left serving would keep the
    output pipe open."""
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        lines.close()


def get(port: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=PATIENCE) as response:
        return response.read().decode()


def touch_later(path: Path, text: str) -> None:
    """Save ``text`` at once, with the mtime moved forward, so that no clock tick hides
    the change. The new content and its mtime replace the file in one rename, as many
    editors save: written in place, a supervisor polling between the write and the
    utime (a test descheduled there, on a loaded machine) would see two changes and
    restart a child the test has just found serving."""
    before = path.stat().st_mtime_ns
    draft = path.with_name(path.name + ".draft")
    draft.write_text(text)
    os.utime(draft, ns=(before + 2_000_000_000, before + 2_000_000_000))
    draft.replace(path)


@pytest.fixture
def supervisor(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Lines, Path]]:
    (tmp_path / "helper_mod.py").write_text('WORD = "one"\n')
    source = tmp_path / "reload_app.py"
    source.write_text(APP.format(word="first"))
    process, lines = serve_reloading(str(source), "--threads", "2", cwd=ROOT)
    try:
        yield process, lines, tmp_path
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=PATIENCE)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        lines.close()


SERVING = r"serving .* on http://127\.0\.0\.1:(\d+)/"


def test_a_change_to_the_app_or_a_module_it_imports_restarts_it(
    supervisor: tuple[subprocess.Popen[str], Lines, Path],
) -> None:
    process, lines, where = supervisor
    port = lines.wait_for(SERVING)[1]
    assert get(port) == "first/one"
    touch_later(where / "reload_app.py", APP.format(word="second"))
    lines.wait_for(r"reload_app\.py changed, restarting")
    port = lines.wait_for(SERVING)[1]
    assert get(port) == "second/one"
    touch_later(where / "helper_mod.py", 'WORD = "two"\n')  # imported, not the TARGET
    lines.wait_for(r"helper_mod\.py changed, restarting")
    port = lines.wait_for(SERVING)[1]
    assert get(port) == "second/two"
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=PATIENCE) == 0


def test_a_broken_save_is_survived_until_the_next_change(
    supervisor: tuple[subprocess.Popen[str], Lines, Path],
) -> None:
    process, lines, where = supervisor
    lines.wait_for(SERVING)
    touch_later(where / "reload_app.py", "def broken(:\n")
    lines.wait_for(r"micro: error: importing .*SyntaxError")
    lines.wait_for(r"exited with status 2; waiting for a change")
    assert process.poll() is None
    touch_later(where / "reload_app.py", APP.format(word="fixed"))
    port = lines.wait_for(SERVING)[1]
    assert get(port) == "fixed/one"


def test_a_wrong_target_ends_the_supervisor_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "micro", "serve", str(tmp_path / "nope.py"), "--reload"],
        capture_output=True,
        text=True,
        timeout=PATIENCE,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "no such file" in result.stderr


def test_watched_files_leave_out_the_libraries() -> None:
    import json

    import pytest as installed

    files = watched_files()
    assert str(Path(__file__).resolve()) in files  # this test module is the "app" here
    assert str(ROOT / "micro" / "cli" / "reload.py") in files  # an editable install counts
    assert json.__file__ not in files and installed.__file__ not in files


def test_snapshot_sees_size_and_mtime_and_removal(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text("x = 1\n")
    first = snapshot([str(path)])
    stat = path.stat()
    path.write_text("x = 22\n")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same mtime, new size
    assert snapshot([str(path)]) != first
    path.unlink()
    assert snapshot([str(path)]) == {str(path): None}


# -- stopping: every stop signal ends the child gracefully, and nothing is left behind --
SLOW_APP = """
import os
import time
from pathlib import Path

from micro import App

app = App()


@app.route("/pid")
def pid(request):
    return str(os.getpid())


@app.route("/slow")
def slow(request):
    Path("entered").write_text("yes")
    time.sleep(1.5)
    return "done"
"""


def gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie not yet reaped by its new parent counts)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def fetch(url: str, results: list[str]) -> None:
    try:
        with urllib.request.urlopen(url, timeout=PATIENCE) as response:
            results.append(response.read().decode())
    except OSError as exc:
        results.append(f"failed: {exc}")


@pytest.fixture
def slow_supervisor(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Lines, Path, str]]:
    (tmp_path / "slow_app.py").write_text(SLOW_APP)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    process, lines = serve_reloading(
        "slow_app.py",
        "--threads",
        "2",
        cwd=tmp_path,
        env={**os.environ, "TMPDIR": str(scratch)},  # where the report file goes
        group=True,
    )
    with killing_group(process, lines):
        yield process, lines, tmp_path, lines.wait_for(SERVING)[1]


@pytest.mark.parametrize("how", ["SIGTERM", "SIGHUP", "Ctrl-C"])
def test_a_stop_signal_lets_requests_finish_and_leaves_nothing_behind(
    slow_supervisor: tuple[subprocess.Popen[str], Lines, Path, str], how: str
) -> None:
    process, lines, where, port = slow_supervisor
    url = f"http://127.0.0.1:{port}"
    with urllib.request.urlopen(url + "/pid", timeout=PATIENCE) as response:
        child = int(response.read())
    results: list[str] = []
    request = threading.Thread(target=fetch, args=(url + "/slow", results))
    request.start()
    deadline = time.monotonic() + PATIENCE
    while not (where / "entered").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (where / "entered").exists()
    if how == "Ctrl-C":  # a terminal signals the whole foreground process group
        os.killpg(process.pid, signal.SIGINT)
    else:
        process.send_signal(getattr(signal, how))
    request.join(timeout=PATIENCE)
    assert results == ["done"]  # the request under way was finished, not cut
    assert process.wait(timeout=PATIENCE) == 0
    assert gone(child)
    assert list((where / "tmp").iterdir()) == []  # no micro-reload-*.json left
    assert not any("again; stopping now" in line for line in lines.everything())


def test_a_supervisor_killed_outright_takes_its_child_with_it(
    slow_supervisor: tuple[subprocess.Popen[str], Lines, Path, str],
) -> None:
    process, _, _, port = slow_supervisor
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/pid", timeout=PATIENCE) as response:
        child = int(response.read())
    process.kill()  # SIGKILL: no handler runs
    process.wait()
    deadline = time.monotonic() + PATIENCE
    while not gone(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(child), "the child went on serving with no supervisor"


def test_ctrl_c_under_reload_with_processes_lets_requests_finish(tmp_path: Path) -> None:
    (tmp_path / "slow_app.py").write_text(SLOW_APP)
    process, lines = serve_reloading(
        "slow_app.py", "--processes", "2", "--threads", "2", cwd=tmp_path, group=True
    )
    with killing_group(process, lines):
        port = lines.wait_for(SERVING)[1]
        results: list[str] = []
        request = threading.Thread(target=fetch, args=(f"http://127.0.0.1:{port}/slow", results))
        request.start()
        deadline = time.monotonic() + PATIENCE
        while not (tmp_path / "entered").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert (tmp_path / "entered").exists()
        os.killpg(process.pid, signal.SIGINT)  # the terminal's Ctrl-C, to the whole group
        request.join(timeout=PATIENCE)
        assert results == ["done"]
        assert process.wait(timeout=PATIENCE) == 0
        assert not any("stopping the processes now" in line for line in lines.everything())


def test_ctrl_c_while_the_child_still_imports_the_app_ends_the_supervisor_with_0(
    tmp_path: Path,
) -> None:
    (tmp_path / "slow_import.py").write_text(
        "import time\nfrom pathlib import Path\n"
        "Path('importing').write_text('yes')\ntime.sleep(30)\n"
        "from micro import App\napp = App()\n"
    )
    process, lines = serve_reloading("slow_import.py", cwd=tmp_path, group=True)
    with killing_group(process, lines):
        deadline = time.monotonic() + PATIENCE
        while not (tmp_path / "importing").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert (tmp_path / "importing").exists()
        started = time.monotonic()
        os.killpg(process.pid, signal.SIGINT)  # the terminal's Ctrl-C, to the whole group
        assert process.wait(timeout=PATIENCE) == 0
        assert time.monotonic() - started < 20  # not after the 30 s import
