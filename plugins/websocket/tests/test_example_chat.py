"""examples/chat: rooms over WebSockets, in a real Chromium and across two processes.

- Two Chromium pages (Playwright driving Debian's /usr/bin/chromium) open the same
  room; a message typed in one appears in the other.
- ``micro serve examples/chat/app.py --processes 2`` with the Redis store: a client
  connected to each process (told apart through /proc), a message from one reaches
  the other.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from websockets.sync.client import ClientConnection, connect

from .conftest import Serve

ROOT = Path(__file__).resolve().parents[3]
CHAT = ROOT / "examples" / "chat" / "app.py"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def chat() -> ModuleType:
    spec = importlib.util.spec_from_file_location("micro_chat_example", CHAT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rooms_and_the_http_announcement(chat: ModuleType, serve: Serve) -> None:
    host, port = serve(chat.make_app())
    base = f"{host}:{port}"
    with (
        connect(f"ws://{base}/ws/lobby") as alice,
        connect(f"ws://{base}/ws/lobby") as bob,
        connect(f"ws://{base}/ws/python") as carol,
    ):
        alice.send(json.dumps({"name": "alice", "text": "hi all"}))
        for ws in (alice, bob):
            assert json.loads(ws.recv(timeout=5)) == {"name": "alice", "text": "hi all"}
        data = urllib.parse.urlencode({"text": "from a script"}).encode()
        with urllib.request.urlopen(f"http://{base}/rooms/python/say", data, timeout=5) as r:
            assert json.loads(r.read()) == {"delivered_here": 1}
        assert json.loads(carol.recv(timeout=5)) == {"name": "http", "text": "from a script"}
        bob.send("not json")
        assert json.loads(bob.recv(timeout=5)) == {"name": "server", "text": "bad message"}
        with pytest.raises(TimeoutError):
            carol.recv(timeout=0.2)  # the lobby's talk stays in the lobby


def test_two_chromium_pages_talk(chat: ModuleType, serve: Serve) -> None:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    host, port = serve(chat.make_app())
    url = f"http://{host}:{port}/room/lobby"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            one, two = browser.new_page(), browser.new_page()
            for page in (one, two):
                page.goto(url)
                sync_api.expect(page.locator("#status")).to_have_text("connected", timeout=10000)
            one.fill("#name", "ann")
            one.fill("#text", "hello from page one")
            one.click("button")
            sync_api.expect(two.locator("#log li")).to_have_text(
                ["ann: hello from page one"], timeout=10000
            )
            sync_api.expect(one.locator("#log li")).to_have_count(1)
        finally:
            browser.close()


# -- two processes behind one port, sharing rooms through Redis --------------------------


def _children(parent: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry}/stat") as f:
                # pid (comm) state ppid ...: comm may hold spaces, so split after ')'
                if int(f.read().rsplit(")", 1)[1].split()[1]) == parent:
                    pids.append(int(entry))
    return pids


def _owner(server_port: int, client_port: int, pids: list[int]) -> int | None:
    """The pid whose socket is the server end of the connection from ``client_port``."""
    inode = None
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if (
                int(local.split(":")[1], 16) == server_port
                and int(remote.split(":")[1], 16) == client_port
            ):
                inode = fields[9]
    if inode is None:
        return None
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                        return pid
    return None


@contextlib.contextmanager
def _serve_processes(redis_url: str) -> Iterator[tuple[subprocess.Popen[str], int]]:
    env = {**os.environ, "CHAT_REDIS_URL": redis_url}
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "micro", "serve", str(CHAT)),
            *("--bind", "127.0.0.1:0", "--threads", "2", "--processes", "2"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", banner)
        assert match is not None, banner
        yield process, int(match[1])
    finally:
        process.terminate()
        try:
            process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="tells processes apart by /proc")
def test_a_message_crosses_processes_through_redis(redis_url: str) -> None:
    with _serve_processes(redis_url) as (process, port), contextlib.ExitStack() as stack:
        children = _children(process.pid)
        assert len(children) == 2
        by_process: dict[int, ClientConnection] = {}
        for _ in range(40):  # the kernel spreads connections by a hash of the client port
            ws = stack.enter_context(connect(f"ws://127.0.0.1:{port}/ws/lobby"))
            owner = _owner(port, ws.local_address[1], children)
            assert owner in children
            by_process.setdefault(owner, ws)
            if len(by_process) == 2:
                break
        first, second = by_process.values()
        # Each process joined its client to the room (open() ran) once it answers:
        for ws in (first, second):
            ws.send(json.dumps({"name": "probe", "text": "are you there"}))
            while json.loads(ws.recv(timeout=5))["text"] != "are you there":
                pass
        first.send(json.dumps({"name": "one", "text": "across processes"}))
        expected = {"name": "one", "text": "across processes"}
        for ws in (second, first):
            while (message := json.loads(ws.recv(timeout=5)))["name"] == "probe":
                pass
            assert message == expected
