"""The ``gzip`` plugin's compressed-body cache, as a user sees it.

An answer with a strong ETag is compressed once and sent from the kept bytes
after that; the answer is the same as without the cache, field by field and byte
by byte. Apps enable the installed plugins by name (``gzip``, and ``static`` for
files); compressions are counted by wrapping ``zlib.compressobj``, which is what
the middleware compresses with. Responses are read raw (``call_application``) so
that the Content-Encoding stays visible.
"""

from __future__ import annotations

import gzip
import http.client
import os
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from micro_transforms import CACHE_MAX, GzipMiddleware
from micro_transforms.cache import ENTRY_OVERHEAD, CompressedCache
from webob import Request as Blank

from micro import App, ConfigError
from micro.errors import PluginError
from micro.server import Server, ServerConfig
from micro.web import FileBody, Response

PAGE = ("<p>compressed once, sent many times</p>\n" * 80).encode()
Answer = tuple[int, list[tuple[str, str]], bytes]


@pytest.fixture
def compressions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One item per zlib compressor made from now on (in any thread)."""
    made: list[int] = []
    real = zlib.compressobj

    def counting(*args: Any, **kwargs: Any) -> Any:
        made.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(zlib, "compressobj", counting)
    return made


def call(app: App, path: str, method: str = "GET", headers: dict[str, str] | None = None) -> Answer:
    sent = {"Accept-Encoding": "gzip", **(headers or {})}
    status, headerlist, body = Blank.blank(path, method=method, headers=sent).call_application(app)
    try:
        data = b"".join(body)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return int(status.split()[0]), list(headerlist), data


def gzip_middleware(app: App) -> GzipMiddleware:
    found = [m for m in app.middleware if isinstance(m, GzipMiddleware)]
    assert len(found) == 1
    return found[0]


def page_app(**settings: Any) -> App:
    app = App(plugins=["gzip"], settings=settings)

    @app.route("/page")
    def page(request: Any) -> Response:
        tag = request.get_query_argument("tag", '"p1"')
        if request.headers.get("If-None-Match") == f"W/{tag}":
            return Response(None, 304, headers={"ETag": tag})
        return Response(PAGE, content_type="text/html; charset=utf-8", headers={"ETag": tag})

    @app.route("/items")
    def items(request: Any) -> Response:
        # One strong ETag (a collection version) for every page: only the query differs.
        number = request.get_query_argument("page")
        body = f"<li>page {number} item</li>\n".encode() * 100
        return Response(body, content_type="text/html", headers={"ETag": '"v7"'})

    @app.route("/(a|b)")
    def same_tag(request: Any, name: str) -> Response:
        return Response(name.encode() * 4000, content_type="text/plain", headers={"ETag": '"x"'})

    @app.route("/stream")
    def stream(request: Any) -> Response:
        return Response(iter([PAGE]), content_type="text/plain", headers={"ETag": '"s1"'})

    return app


def test_a_strong_etag_answer_is_compressed_once(compressions: list[int]) -> None:
    app = page_app()
    answers = [call(app, "/page") for _ in range(5)]
    assert len(compressions) == 1
    for status, headers, body in answers:
        assert status == 200
        assert dict(headers)["Content-Encoding"] == "gzip"
        assert gzip.decompress(body) == PAGE
    stats = gzip_middleware(app).cache_stats()
    assert (stats.entries, stats.hits, stats.misses) == (1, 4, 1)


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_the_cached_answer_is_the_uncached_answer(method: str, coding: str) -> None:
    headers = {"Accept-Encoding": coding}
    without = call(page_app(gzip_cache_max=0), "/page", method, headers)
    app = page_app()
    first = call(app, "/page", method, headers)
    again = call(app, "/page", method, headers)
    assert gzip_middleware(app).cache_stats().hits == 1
    assert first == again == without  # status, every field in order, the body bytes
    fields = dict(again[1])
    assert fields["Content-Encoding"] == coding
    assert (fields["ETag"], fields["Vary"]) == ('W/"p1"', "Accept-Encoding")
    if method == "GET":
        assert fields["Content-Length"] == str(len(again[2]))


def test_a_304_is_the_same_with_a_filled_cache() -> None:
    condition = {"If-None-Match": 'W/"p1"'}
    without = call(page_app(gzip_cache_max=0), "/page", headers=condition)
    app = page_app()
    call(app, "/page")
    answer = call(app, "/page", headers=condition)
    assert answer == without
    assert (answer[0], dict(answer[1])["ETag"], answer[2]) == (304, 'W/"p1"', b"")


def test_resources_that_share_an_etag_value_never_get_each_others_bytes() -> None:
    app = page_app()
    for _ in range(2):
        for name in ("a", "b"):
            assert gzip.decompress(call(app, f"/{name}")[2]) == name.encode() * 4000
        for number in ("1", "2"):
            expected = f"<li>page {number} item</li>\n".encode() * 100
            assert gzip.decompress(call(app, f"/items?page={number}")[2]) == expected
        for host in ("one.example", "two.example"):
            body = call(app, "/page", headers={"Host": host})[2]
            assert gzip.decompress(body) == PAGE
    stats = gzip_middleware(app).cache_stats()
    assert (stats.entries, stats.hits) == (6, 6)


@pytest.mark.parametrize("tag", ['W/"p1"', ""])
def test_weak_or_no_etag_is_compressed_every_time(compressions: list[int], tag: str) -> None:
    app = page_app()
    for _ in range(3):
        assert gzip.decompress(call(app, f"/page?tag={tag}")[2]) == PAGE
    assert len(compressions) == 3
    assert gzip_middleware(app).cache_stats().entries == 0


def test_a_stream_keeps_streaming_and_is_not_kept(compressions: list[int]) -> None:
    app = page_app()
    for _ in range(2):
        _status, headers, body = call(app, "/stream")
        assert "Content-Length" not in dict(headers)  # compressed chunk by chunk
        assert gzip.decompress(body) == PAGE
    assert len(compressions) == 2
    assert gzip_middleware(app).cache_stats().entries == 0


def test_a_body_above_the_entry_cap_is_not_kept(compressions: list[int]) -> None:
    app = page_app(gzip_cache_entry_max=len(PAGE) - 1)
    for _ in range(2):
        assert gzip.decompress(call(app, "/page")[2]) == PAGE
    assert len(compressions) == 2
    assert gzip_middleware(app).cache_stats().entries == 0


def test_gzip_cache_max_0_turns_the_cache_off(compressions: list[int]) -> None:
    app = page_app(gzip_cache_max=0)
    for _ in range(2):
        assert gzip.decompress(call(app, "/page")[2]) == PAGE
    assert len(compressions) == 2
    assert gzip_middleware(app).cache_stats() == (0, 0, 0, 0, 0, 0)


BEFORE = b"the page before the edit\n" * 100
AFTER = BEFORE.replace(b"before", b"after!")  # the same length: only the bytes differ


def edited_app(debug: bool) -> tuple[App, list[bytes]]:
    """An app that breaks the strong-ETag promise, as a page being edited does.

    Its one page is whatever the returned list's item holds now, always under the
    same strong ETag.
    """
    app = App(plugins=["gzip"], debug=debug)
    page = [BEFORE]

    @app.route("/edited")
    def edited(request: Any) -> Response:
        return Response(page[0], content_type="text/plain", headers={"ETag": '"unchanged"'})

    return app, page


@pytest.mark.parametrize("how", ["App(debug=True)", "micro serve --debug"])
def test_debug_mode_compresses_every_answer_afresh(how: str, compressions: list[int]) -> None:
    app, page = edited_app(debug=how == "App(debug=True)")
    if how == "micro serve --debug":
        app.settings["debug"] = True  # what --debug does, after the plugins' setup
    first = call(app, "/edited")
    page[0] = AFTER
    second = call(app, "/edited")
    assert gzip.decompress(first[2]) == BEFORE
    assert gzip.decompress(second[2]) == AFTER
    for status, headers, _ in (first, second):
        assert status == 200
        assert dict(headers)["Content-Encoding"] == "gzip"
        assert dict(headers)["ETag"] == 'W/"unchanged"'
    assert len(compressions) == 2
    assert gzip_middleware(app).cache_stats() == (0, 0, CACHE_MAX, 0, 0, 0)


def test_outside_debug_mode_the_same_strong_etag_gets_the_kept_bytes(
    compressions: list[int],
) -> None:
    app, page = edited_app(debug=False)
    first = call(app, "/edited")
    page[0] = AFTER
    second = call(app, "/edited")
    # The app broke its promise; the cache trusted it, which is what it is for.
    assert gzip.decompress(first[2]) == gzip.decompress(second[2]) == BEFORE
    assert len(compressions) == 1
    stats = gzip_middleware(app).cache_stats()
    assert (stats.entries, stats.hits, stats.misses) == (1, 1, 1)


def test_the_cache_respects_its_byte_bound() -> None:
    limit = 16 * 1024
    app = App(plugins=["gzip"], settings={"gzip_cache_max": limit})
    bodies = {n: os.urandom(4096).hex().encode() for n in range(12)}  # ~4.5 KB compressed

    @app.route("/r/(\\d+)")
    def resource(request: Any, number: str) -> Response:
        body = bodies[int(number)]
        return Response(body, content_type="text/plain", headers={"ETag": f'"r{number}"'})

    middleware = gzip_middleware(app)
    for _round in range(2):
        for n, body in bodies.items():
            assert gzip.decompress(call(app, f"/r/{n}")[2]) == body
            stats = middleware.cache_stats()
            assert stats.size <= limit
            assert stats.entries <= limit // (4096 + ENTRY_OVERHEAD)
    stats = middleware.cache_stats()
    assert stats.entries >= 2
    assert stats.evictions == stats.misses - stats.entries  # every miss was kept at first


def test_threads_sharing_a_small_cache_get_their_own_bytes() -> None:
    limit = 12 * 1024
    app = App(plugins=["gzip"], settings={"gzip_cache_max": limit})
    bodies = [os.urandom(2048).hex().encode() for _ in range(8)]

    @app.route("/t/(\\d+)")
    def resource(request: Any, number: str) -> Response:
        body = bodies[int(number)]
        return Response(body, content_type="text/plain", headers={"ETag": f'"t{number}"'})

    middleware = gzip_middleware(app)
    wrong: list[str] = []
    sizes: list[int] = []

    def client(start: int) -> None:
        for i in range(60):
            n = (start + i * 3) % len(bodies)
            if gzip.decompress(call(app, f"/t/{n}")[2]) != bodies[n]:
                wrong.append(f"/t/{n}")
            sizes.append(middleware.cache_stats().size)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert wrong == []
    assert len(sizes) == 240
    assert max(sizes) <= limit
    stats = middleware.cache_stats()
    assert stats.evictions > 0 and stats.hits > 0


def test_eviction_gives_an_entry_that_was_hit_a_second_chance() -> None:
    cache = CompressedCache(3 * (100 + ENTRY_OVERHEAD))
    for key in "abc":
        cache.put(key, key.encode() * 100)
    assert cache.get("a") == b"a" * 100
    cache.put("d", b"d" * 100)  # room for three: the oldest not hit ("b") goes
    assert [cache.get(k) is not None for k in "abcd"] == [True, False, True, True]
    cache.put("big", b"x" * 10_000)  # could never fit: not kept, nothing evicted for it
    assert cache.get("big") is None
    stats = cache.stats()
    assert (stats.entries, stats.size, stats.evictions) == (3, 3 * (100 + ENTRY_OVERHEAD), 1)


class RecordingFile:
    """A file for FileBody that records reads and closes."""

    def __init__(self, data: bytes, events: list[str]) -> None:
        self._data = data
        self._at = 0
        self._events = events

    def read(self, size: int = -1, /) -> bytes:
        self._events.append("read")
        end = len(self._data) if size < 0 else self._at + size
        chunk = self._data[self._at : end]
        self._at += len(chunk)
        return chunk

    def fileno(self) -> int:
        raise OSError("no descriptor")

    def tell(self) -> int:
        return self._at

    def close(self) -> None:
        self._events.append("close")


def test_a_file_body_is_read_once_and_closed_every_time() -> None:
    events: list[str] = []
    app = App(plugins=["gzip"])

    @app.route("/file")
    def file(request: Any) -> Response:
        body = FileBody(RecordingFile(PAGE, events), offset=0, length=len(PAGE))
        return Response(body, content_type="text/css", headers={"ETag": '"f1"'})

    answers = [call(app, "/file") for _ in range(3)]
    assert events.count("close") == 3  # the miss and both hits
    assert "read" not in events[events.index("close") :]  # hits read nothing
    assert answers[0] == answers[1] == answers[2]
    assert gzip.decompress(answers[0][2]) == PAGE
    assert dict(answers[0][1])["Content-Length"] == str(len(answers[0][2]))


def test_a_file_shorter_than_its_length_is_sent_but_not_kept() -> None:
    events: list[str] = []
    app = App(plugins=["gzip"])

    @app.route("/short")
    def short(request: Any) -> Response:
        body = FileBody(RecordingFile(PAGE, events), offset=0, length=len(PAGE) + 10)
        return Response(body, content_type="text/css", headers={"ETag": '"f2"'})

    assert gzip.decompress(call(app, "/short")[2]) == PAGE
    assert gzip_middleware(app).cache_stats().entries == 0
    assert events.count("close") == 1


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("gzip_cache_max", -1),
        ("gzip_cache_max", "8MB"),
        ("gzip_cache_max", 1.5),
        ("gzip_cache_entry_max", -1),
        ("gzip_cache_entry_max", True),
        ("gzip_min_length", -5),
        ("gzip_min_length", "1k"),
    ],
)
def test_bad_cache_settings_are_refused_at_start_up(setting: str, value: Any) -> None:
    with pytest.raises(PluginError, match=setting) as raised:
        App(plugins=["gzip"], settings={setting: value})
    assert isinstance(raised.value.__cause__, ConfigError)
    with pytest.raises(ConfigError, match=f"{setting} must be a whole number of bytes"):
        GzipMiddleware(**{setting.removeprefix("gzip_"): value})


# -- with the static plugin ---------------------------------------------------------------


def css(size: int, seed: int = 0) -> bytes:
    """A stylesheet of ``size`` bytes that compresses as real ones do (about 5:1)."""
    rules = []
    i = 0
    while sum(map(len, rules)) < size:
        color = (i * 2654435761 + seed) % 0xFFFFFF
        rules.append(f".c{i} {{ margin: {i % 17}px {i % 5}em; color: #{color:06x}; }}\n".encode())
        i += 1
    return b"".join(rules)[:size]


def settled(path: Path, data: bytes, age: float = 60.0) -> None:
    """Write ``data`` to ``path`` as a deployed file: modified a while ago."""
    path.write_bytes(data)
    when = time.time() - age
    os.utime(path, (when, when))


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
@pytest.mark.parametrize("size", [20 * 1024, 100 * 1024])  # in memory, and a FileBody
def test_static_files_leak_no_descriptor(tmp_path: Path, size: int) -> None:
    data = css(size)
    settled(tmp_path / "site.css", data)
    app = App(plugins=["static", "gzip"], settings={"static_path": str(tmp_path)})
    assert gzip.decompress(call(app, "/static/site.css")[2]) == data
    before = open_fds()
    for _ in range(30):
        assert gzip.decompress(call(app, "/static/site.css")[2]) == data
    assert open_fds() == before
    assert gzip_middleware(app).cache_stats().hits == 30


def test_a_static_answer_from_the_cache_is_the_answer_without_it(tmp_path: Path) -> None:
    data = css(100 * 1024)
    settled(tmp_path / "site.css", data)

    def static_app(**settings: Any) -> App:
        return App(plugins=["static", "gzip"], settings={"static_path": str(tmp_path), **settings})

    app = static_app()
    without = static_app(gzip_cache_max=0)
    first, again = call(app, "/static/site.css"), call(app, "/static/site.css")
    assert first == again
    plain = call(without, "/static/site.css")
    # Without the cache the file is compressed as a stream, so only the length differs.
    assert [f for f in again[1] if f[0] != "Content-Length"] == plain[1]
    assert gzip.decompress(again[2]) == gzip.decompress(plain[2]) == data
    assert dict(again[1])["Content-Length"] == str(len(again[2]))
    for method, headers in [
        ("HEAD", {}),
        ("GET", {"If-None-Match": dict(again[1])["ETag"]}),
        ("GET", {"Range": "bytes=0-99"}),
    ]:
        assert call(app, "/static/site.css", method, headers) == call(
            without, "/static/site.css", method, headers
        )


def fetch(address: tuple[str, int], target: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(*address, timeout=10)
    try:
        conn.request("GET", target, headers={"Accept-Encoding": "gzip"})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


@pytest.fixture
def css_server(tmp_path: Path) -> Iterator[tuple[tuple[str, int], Path, App]]:
    settled(tmp_path / "site.css", css(100 * 1024))
    app = App(
        plugins=["static", "gzip"],
        settings={"static_path": str(tmp_path), "gzip_cache_max": 64 * 1024},
    )
    server = Server(app, ServerConfig(host="127.0.0.1", port=0, threads=2))
    server.start()
    try:
        yield server.address, tmp_path / "site.css", app
    finally:
        server.stop(timeout=5.0)


def test_over_the_socket_a_static_file_is_compressed_once_per_version(
    css_server: tuple[tuple[str, int], Path, App], compressions: list[int]
) -> None:
    address, path, app = css_server
    data = path.read_bytes()
    tags = set()
    for _ in range(5):
        status, headers, body = fetch(address, "/static/site.css")
        assert status == 200
        assert headers["Content-Encoding"] == "gzip"
        assert headers["Content-Length"] == str(len(body))
        assert gzip.decompress(body) == data
        tags.add(headers["ETag"])
    assert len(compressions) == 1
    assert len(tags) == 1

    changed = css(100 * 1024, seed=1)
    settled(path, changed, age=120.0)  # a deploy: new bytes, so a new ETag
    for _ in range(3):
        status, headers, body = fetch(address, "/static/site.css")
        assert gzip.decompress(body) == changed
        tags.add(headers["ETag"])
    assert len(compressions) == 2
    assert len(tags) == 2
    stats = gzip_middleware(app).cache_stats()
    assert (stats.hits, stats.misses) == (6, 2)
    assert stats.size <= 64 * 1024
