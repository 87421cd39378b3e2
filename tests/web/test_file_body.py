"""A FileBody whose caller states its offset and length, in the App and on micro's server.

The static plugin knows both from its own fstat; given them, micro's server sends
exactly those bytes by sendfile without asking the file again.
"""

from __future__ import annotations

import http.client
import os
from pathlib import Path
from typing import Any

from webtest import TestApp

from micro import App, Request, Response
from micro.server import Server, ServerConfig
from micro.web.response import FileBody

DATA = os.urandom(300 * 1024)


def _app(path: Path, offset: int, length: int) -> App:
    app = App()

    @app.route("/part")
    def part(request: Request) -> Response:
        f = path.open("rb", buffering=0)
        f.seek(offset)
        body = FileBody(f, offset=offset, length=length)
        return Response(body, headers={"Content-Type": "application/octet-stream"})

    return app


def test_stated_length_is_the_content_length_and_no_stat_is_made(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(DATA)
    with path.open("rb") as f:
        body = FileBody(f, offset=0, length=10)
        assert (body.offset, body.length) == (0, 10)  # taken as given, not the file's size
        found = FileBody(f)
        assert (found.offset, found.length) == (None, len(DATA))

    seen: list[tuple[Any, ...]] = []

    class Wrapper:
        micro_offset_length = True

        def __init__(self, f: Any, block: int, offset: int, length: int) -> None:
            seen.append((offset, length))
            f.seek(offset)
            self.data = f.read(length)
            f.close()

        def __iter__(self) -> Any:
            return iter([self.data])

    res = TestApp(_app(path, 1000, 5000), extra_environ={"wsgi.file_wrapper": Wrapper}).get("/part")
    assert seen == [(1000, 5000)]
    assert res.headers["Content-Length"] == "5000"
    assert res.body == DATA[1000:6000]


def test_micro_server_sends_exactly_the_stated_bytes(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(DATA)
    first, length = 4096, 200 * 1024
    server = Server(_app(path, first, length), ServerConfig(host="127.0.0.1", port=0, threads=2))
    server.start()
    try:
        conn = http.client.HTTPConnection(*server.address, timeout=10)
        try:
            for _ in range(2):  # twice on one kept-alive connection: the first left no excess
                conn.request("GET", "/part")
                response = conn.getresponse()
                assert response.status == 200
                assert response.getheader("Content-Length") == str(length)
                assert response.read() == DATA[first : first + length]
        finally:
            conn.close()
    finally:
        server.stop(timeout=5.0)


def test_span_and_ready_response_make_the_same_answer_as_the_checked_constructors(
    tmp_path: Path,
) -> None:
    """What the static plugin builds on its fast road (FileBody.span, ready_response,
    both exported by micro.web) is sent exactly as the checked constructors' answer."""
    import micro.web

    path = tmp_path / "f.bin"
    path.write_bytes(DATA)
    first, length = 512, 100 * 1024
    app = App()

    @app.route("/fast")
    def fast(request: Request) -> Response:
        f = path.open("rb", buffering=0)
        body = micro.web.FileBody.span(f, first, length)
        items = [("Content-Length", str(length)), ("Content-Type", "application/x-test")]
        return micro.web.ready_response(body, 200, "OK", items)

    @app.route("/checked")
    def checked(request: Request) -> Response:
        f = path.open("rb", buffering=0)
        body = FileBody(f, offset=first, length=length)
        headers = {"Content-Length": str(length), "Content-Type": "application/x-test"}
        return Response(body, 200, headers=headers, reason="OK")

    with path.open("rb") as f:
        span = FileBody.span(f, 7, 9)
        assert (span.offset, span.length, span.block_size) == (7, 9, 64 * 1024)
    server = Server(app, ServerConfig(host="127.0.0.1", port=0, threads=2))
    server.start()
    try:
        conn = http.client.HTTPConnection(*server.address, timeout=10)
        try:
            answers = []
            for target in ("/fast", "/checked", "/fast"):
                conn.request("GET", target)
                response = conn.getresponse()
                fields = sorted((k, v) for k, v in response.getheaders() if k != "Date")
                answers.append((response.status, response.reason, fields, response.read()))
        finally:
            conn.close()
    finally:
        server.stop(timeout=5.0)
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == 200 and answers[0][3] == DATA[first : first + length]
    assert ("Content-Type", "application/x-test") in answers[0][2]
