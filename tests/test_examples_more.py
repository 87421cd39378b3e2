"""The streaming and upload examples, in-process through WebTest and over a live server."""

from __future__ import annotations

import hashlib
import http.client
import importlib.util
import time
from pathlib import Path
from types import ModuleType

import pytest
from webtest import TestApp, Upload

from micro.testing import HTTPProxy, LiveServer
from micro.testing.client import MicroTestApp

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- streaming ------------------------------------------------------------------------


def test_count_streams_lines_and_validates_first() -> None:
    t = TestApp(load("streaming").make_app(delay=0))
    assert t.get("/count?n=4").text == "1\n2\n3\n4\n"
    assert "n must be a number" in t.get("/count?n=x", status=400).text
    t.get("/count?n=100000", status=400)


def test_events_are_server_sent_events() -> None:
    res = TestApp(load("streaming").make_app(delay=0)).get("/events?n=2")
    assert res.headers["Content-Type"] == "text/event-stream"
    assert res.text == 'id: 1\ndata: {"tick":1}\n\nid: 2\ndata: {"tick":2}\n\n'


@pytest.mark.parametrize("path", ["/count?n=2&delay=2", "/events?n=2&delay=2"])
def test_the_first_chunk_arrives_before_the_handler_ends(path: str) -> None:
    with LiveServer(load("streaming").app) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            started = time.monotonic()
            conn.request("GET", path)
            response = conn.getresponse()
            assert response.status == 200
            assert response.getheader("Transfer-Encoding") == "chunked"
            first = response.read1(1024)
            first_at = time.monotonic() - started
            rest = response.read()
            total = time.monotonic() - started
        finally:
            conn.close()
    assert first.startswith((b"1\n", b"id: 1"))
    assert b"2" in rest
    # The second item comes 2 s after the first; had the first waited for it, the two
    # would arrive together. (A gap, not an absolute time: a busy machine is slow.)
    assert total >= 2.0
    assert total - first_at > 1.0


# -- upload ---------------------------------------------------------------------------


def test_the_form_is_multipart() -> None:
    form = TestApp(load("upload").app).get("/").forms[0]
    assert form.enctype == "multipart/form-data"
    assert form.action == "/upload"


def upload_and_check(t: TestApp) -> None:
    big = bytes(range(256)) * 8000  # 2 MB: spooled to disk past 1 MB
    res = t.post(
        "/upload",
        {"note": "two files"},
        upload_files=[("file", "a.txt", b"hello\n"), ("file", "<b>.bin", big)],
    )
    assert res.json == {
        "note": "two files",
        "files": [
            {
                "filename": "a.txt",
                "size": 6,
                "content_type": "text/plain",
                "sha256": hashlib.sha256(b"hello\n").hexdigest(),
            },
            {
                "filename": "&lt;b&gt;.bin",
                "size": len(big),
                "content_type": "application/octet-stream",
                "sha256": hashlib.sha256(big).hexdigest(),
            },
        ],
    }


def test_upload_in_process() -> None:
    upload_and_check(TestApp(load("upload").app))


def test_upload_over_http() -> None:
    app = load("upload").app
    with LiveServer(app) as server:
        upload_and_check(MicroTestApp(HTTPProxy(server.url), micro_app=app))


def test_upload_errors() -> None:
    t = TestApp(load("upload").make_app(max_upload_size=10_000))
    res = t.post("/upload", {"note": "nothing"}, status=400)
    assert "at least one file" in res.text
    t.post("/upload", upload_files=[("file", "big.bin", b"x" * 20_000)], status=413)
    res = t.post("/upload", {"file": Upload("small.txt", b"ok")})
    assert res.json["files"][0]["size"] == 2
