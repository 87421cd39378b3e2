"""The ``static`` plugin behind micro's own server, on a loopback socket.

Big files must leave through ``wsgi.file_wrapper``, which micro's server sends
with ``os.sendfile``; the raw request target reaches the plugin, so an encoded
slash is refused even though the decoded path names a file.
"""

from __future__ import annotations

import http.client
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from micro import App
from micro.server import Server, ServerConfig

BIG = os.urandom(512 * 1024)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, int]]:
    (tmp_path / "big.bin").write_bytes(BIG)
    (tmp_path / "css").mkdir()
    (tmp_path / "css" / "a.css").write_text("a { color: red; }\n")
    app = App(plugins=["static"], settings={"static_path": str(tmp_path)})
    server = Server(app, ServerConfig(host="127.0.0.1", port=0, threads=2))
    server.start()
    try:
        yield server.address
    finally:
        server.stop(timeout=5.0)


def fetch(
    address: tuple[str, int], target: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(*address, timeout=10)
    try:
        conn.request("GET", target, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_a_big_file_is_sent_with_sendfile(
    server: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = os.sendfile

    def spy(out_fd: int, in_fd: int, offset: Any, count: int) -> int:
        calls.append(count)
        return real(out_fd, in_fd, offset, count)

    monkeypatch.setattr(os, "sendfile", spy)
    status, headers, body = fetch(server, "/static/big.bin")
    assert status == 200
    assert headers["Content-Length"] == str(len(BIG))
    assert body == BIG
    assert calls  # the bytes went out through os.sendfile, not through Python reads


def test_a_range_over_the_socket(server: tuple[str, int]) -> None:
    status, headers, body = fetch(server, "/static/big.bin", {"Range": "bytes=-1000"})
    assert status == 206
    assert headers["Content-Range"] == f"bytes {len(BIG) - 1000}-{len(BIG) - 1}/{len(BIG)}"
    assert body == BIG[-1000:]


@pytest.mark.parametrize(
    ("spec", "first", "last"),
    [("bytes=100000-", 100000, len(BIG) - 1), ("bytes=1000-200999", 1000, 200999)],
)
def test_a_big_range_over_the_socket_is_exactly_those_bytes(
    server: tuple[str, int], spec: str, first: int, last: int
) -> None:
    # Above static_inline_max: a range to the end leaves by sendfile from the offset
    # the plugin gives the server; one inside the file is streamed block by block.
    status, headers, body = fetch(server, "/static/big.bin", {"Range": spec})
    assert status == 206
    assert headers["Content-Range"] == f"bytes {first}-{last}/{len(BIG)}"
    assert headers["Content-Length"] == str(last - first + 1)
    assert body == BIG[first : last + 1]


def test_an_encoded_slash_on_the_wire_is_404(server: tuple[str, int]) -> None:
    assert fetch(server, "/static/css/a.css")[0] == 200
    assert fetch(server, "/static/css%2Fa.css")[0] == 404
    assert fetch(server, "/static/css/..%2F..%2Fbig.bin")[0] == 404
