"""The ``static`` plugin as a user sees it: an App that enabled it by name, driven by WebTest.

The plugin comes in through the entry point of the installed micro-static
distribution. Where WebTest would hide something (gzip decoding, the file wrapper),
the app is called with a plain WSGI environ instead.
"""

from __future__ import annotations

import gzip
import os
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest
from micro_static.http import parse_range
from webob import Request as Blank
from webtest import TestApp

from micro import App, PluginError, RequestHandler
from micro.plugins import PluginRegistry

CSS = b"body { color: #333; }\n" * 10
BIG = os.urandom(300 * 1024)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "public"
    (root / "css").mkdir(parents=True)
    (root / "css" / "site.css").write_bytes(CSS)
    (root / "css" / "site.css.gz").write_bytes(gzip.compress(CSS))
    (root / "app.js").write_text("console.log('hi');\n")
    (root / "hello.txt").write_text("hello, world\n")
    (root / "big.bin").write_bytes(BIG)
    (root / "empty.txt").write_bytes(b"")
    (tmp_path / "secret.txt").write_text("outside the root\n")
    (tmp_path / "outdir").mkdir()
    (tmp_path / "outdir" / "x.txt").write_text("outside too\n")
    (root / "escape.txt").symlink_to(tmp_path / "secret.txt")
    (root / "escdir").symlink_to(tmp_path / "outdir", target_is_directory=True)
    (root / "inside.txt").symlink_to(root / "hello.txt")
    return root


class Page(RequestHandler):
    def get(self) -> None:
        self.write(f"<link rel='stylesheet' href='{self.helpers.static_url('css/site.css')}'>")


def make_app(root: Path, **settings: Any) -> App:
    app = App(plugins=["static"], settings={"static_path": str(root), **settings})
    app.add_route("/", Page)
    return app


@pytest.fixture
def client(root: Path) -> TestApp:
    return TestApp(make_app(root))


def raw(
    app: App, path: str, headers: dict[str, str] | None = None, **environ: Any
) -> tuple[int, dict[str, str], bytes]:
    request = Blank.blank(path, headers=headers or {}, environ=environ)
    status, headerlist, body = request.call_application(app)
    try:
        data = b"".join(body)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return int(status.split()[0]), dict(headerlist), data


def test_the_plugin_is_the_installed_distributions_entry_point() -> None:
    info = PluginRegistry().info("static")
    assert (info.distribution, info.entry_point.value) == ("micro-static", "micro_static:plugin")


def test_a_file_is_served_with_type_validators_and_cache_control(client: TestApp) -> None:
    response = client.get("/static/app.js")
    assert response.body == b"console.log('hi');\n"
    assert response.content_type in ("application/javascript", "text/javascript")
    assert response.headers["Content-Type"].endswith("; charset=utf-8")
    assert response.headers["Content-Length"] == str(len(response.body))
    assert response.headers["ETag"].startswith('"')
    assert response.headers["Last-Modified"].endswith(" GMT")
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["Accept-Ranges"] == "bytes"
    assert client.get("/static/big.bin").content_type == "application/octet-stream"
    assert client.get("/static/empty.txt").body == b""


def test_symlinks_inside_the_root_are_followed(client: TestApp) -> None:
    assert client.get("/static/inside.txt").text == "hello, world\n"


def test_head_gives_the_headers_without_the_body(client: TestApp) -> None:
    response = client.head("/static/hello.txt")
    assert response.body == b""
    assert response.headers["Content-Length"] == "13"
    assert response.headers["ETag"] == client.get("/static/hello.txt").headers["ETag"]


def test_other_methods_are_405(client: TestApp) -> None:
    response = client.post("/static/hello.txt", status=405)
    assert response.headers["Allow"] == "GET, HEAD"


def test_if_none_match_gives_304(client: TestApp) -> None:
    etag = client.get("/static/hello.txt").headers["ETag"]
    for header in (etag, f'"other", {etag}', "*", f"W/{etag}"):
        response = client.get("/static/hello.txt", headers={"If-None-Match": header}, status=304)
        assert response.body == b""
        assert response.headers["ETag"] == etag
    client.get("/static/hello.txt", headers={"If-None-Match": '"other"'}, status=200)


def test_if_modified_since_gives_304_unless_if_none_match_decides(
    client: TestApp, root: Path
) -> None:
    mtime = (root / "hello.txt").stat().st_mtime
    later, earlier = formatdate(mtime + 60, usegmt=True), formatdate(mtime - 60, usegmt=True)
    client.get("/static/hello.txt", headers={"If-Modified-Since": later}, status=304)
    client.get("/static/hello.txt", headers={"If-Modified-Since": earlier}, status=200)
    client.get("/static/hello.txt", headers={"If-Modified-Since": "yesterday"}, status=200)
    both = {"If-Modified-Since": later, "If-None-Match": '"other"'}
    client.get("/static/hello.txt", headers=both, status=200)


@pytest.mark.parametrize(
    ("header", "content_range", "body"),
    [
        ("bytes=0-4", "bytes 0-4/13", b"hello"),
        ("bytes=7-", "bytes 7-12/13", b"world\n"),
        ("bytes=-6", "bytes 7-12/13", b"world\n"),
        ("bytes=7-100", "bytes 7-12/13", b"world\n"),
        ("bytes=-100", "bytes 0-12/13", b"hello, world\n"),
    ],
)
def test_a_single_range_gives_206(
    client: TestApp, header: str, content_range: str, body: bytes
) -> None:
    response = client.get("/static/hello.txt", headers={"Range": header}, status=206)
    assert response.headers["Content-Range"] == content_range
    assert response.body == body
    assert response.headers["Content-Length"] == str(len(body))


@pytest.mark.parametrize("header", ["bytes=13-", "bytes=100-200", "bytes=-0"])
def test_a_range_beyond_the_end_gives_416(client: TestApp, header: str) -> None:
    response = client.get("/static/hello.txt", headers={"Range": header}, status=416)
    assert response.headers["Content-Range"] == "bytes */13"


@pytest.mark.parametrize("header", ["bytes=0-1,3-4", "bytes=5-2", "items=0-1", "bytes=x-"])
def test_ranges_we_do_not_serve_give_the_whole_file(client: TestApp, header: str) -> None:
    response = client.get("/static/hello.txt", headers={"Range": header}, status=200)
    assert response.body == b"hello, world\n"


def test_if_range_keeps_or_drops_the_range(client: TestApp, root: Path) -> None:
    first = client.get("/static/hello.txt")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    for current in (etag, modified):
        headers = {"Range": "bytes=0-4", "If-Range": current}
        assert client.get("/static/hello.txt", headers=headers, status=206).body == b"hello"
    stale = formatdate((root / "hello.txt").stat().st_mtime - 60, usegmt=True)
    for old in ('"stale"', f"W/{etag}", stale):
        headers = {"Range": "bytes=0-4", "If-Range": old}
        assert client.get("/static/hello.txt", headers=headers, status=200).body == first.body


def test_a_range_of_a_big_file_is_streamed_exactly(client: TestApp) -> None:
    response = client.get("/static/big.bin", headers={"Range": "bytes=1000-199999"}, status=206)
    assert response.body == BIG[1000:200000]
    tail = client.get("/static/big.bin", headers={"Range": "bytes=100000-"}, status=206)
    assert tail.body == BIG[100000:]


def test_big_files_go_to_the_servers_file_wrapper(root: Path) -> None:
    wrapped: list[tuple[Any, int]] = []

    class FileWrapper:
        def __init__(self, fileobj: Any, block_size: int) -> None:
            wrapped.append((fileobj, block_size))
            self.fileobj = fileobj

        def __iter__(self) -> Any:
            return iter(lambda: self.fileobj.read(65536), b"")

        def close(self) -> None:
            self.fileobj.close()

    app = make_app(root)
    status, headers, body = raw(app, "/static/big.bin", **{"wsgi.file_wrapper": FileWrapper})
    assert status == 200
    assert body == BIG
    assert headers["Content-Length"] == str(len(BIG))
    assert len(wrapped) == 1
    assert wrapped[0][0].closed  # closed once sent
    raw(app, "/static/hello.txt", **{"wsgi.file_wrapper": FileWrapper})
    assert len(wrapped) == 1  # small files are read into memory instead


def test_static_url_versions_the_file_and_the_version_is_immutable(
    client: TestApp, root: Path
) -> None:
    page = client.get("/")
    href = page.html.find("link")["href"]
    assert href.startswith("/static/css/site.css?v=")
    versioned = client.get(href)
    assert versioned.body == CSS
    assert versioned.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    stale = client.get("/static/css/site.css?v=0000000000000000")
    assert stale.headers["Cache-Control"] == "no-cache"
    (root / "css" / "site.css").write_bytes(CSS + b"p { margin: 0; }\n")
    assert client.get("/").html.find("link")["href"] != href  # the hash follows the content
    assert client.get(href).headers["Cache-Control"] == "no-cache"


def test_static_url_of_a_missing_file_has_no_version(root: Path) -> None:
    app = make_app(root)

    @app.route("/urls")
    def urls(request: Any) -> dict[str, str]:
        static_url = request.helpers.static_url
        return {name: static_url(name) for name in ("nope.css", "/app.js", "../secret.txt")}

    urls_seen = TestApp(app).get("/urls").json
    assert urls_seen["nope.css"] == "/static/nope.css"
    assert urls_seen["/app.js"].startswith("/static/app.js?v=")
    assert urls_seen["../secret.txt"] == "/static/../secret.txt"  # no hash of outside files


def test_precompressed_siblings_go_to_clients_that_accept_gzip(root: Path) -> None:
    app = make_app(root)
    status, headers, body = raw(app, "/static/css/site.css", {"Accept-Encoding": "gzip, br"})
    assert headers["Content-Encoding"] == "gzip"
    assert headers["Vary"] == "Accept-Encoding"
    assert headers["Content-Type"] == "text/css; charset=utf-8"
    assert gzip.decompress(body) == CSS
    assert headers["Content-Length"] == str(len(body))
    plain_etag = None
    for accept in ("identity", "gzip;q=0", None):
        status, plain, body = raw(app, "/static/css/site.css", {"Accept-Encoding": accept or ""})
        assert "Content-Encoding" not in plain
        assert plain["Vary"] == "Accept-Encoding"
        assert body == CSS
        plain_etag = plain["ETag"]
    assert plain_etag != headers["ETag"]  # two representations, two validators
    status, _ranged, body = raw(
        app, "/static/css/site.css", {"Accept-Encoding": "gzip", "Range": "bytes=0-3"}
    )
    assert (status, body) == (206, CSS[:4])


def test_a_precompressed_file_asked_for_by_name_is_a_gzip_file(root: Path) -> None:
    status, headers, body = raw(
        make_app(root), "/static/css/site.css.gz", {"Accept-Encoding": "gzip"}
    )
    assert status == 200
    assert headers["Content-Type"] == "application/gzip"
    assert "Content-Encoding" not in headers
    assert gzip.decompress(body) == CSS


def test_a_304_for_the_precompressed_variant(root: Path) -> None:
    app = make_app(root)
    etag = raw(app, "/static/css/site.css", {"Accept-Encoding": "gzip"})[1]["ETag"]
    status, headers, body = raw(
        app, "/static/css/site.css", {"Accept-Encoding": "gzip", "If-None-Match": etag}
    )
    assert (status, body) == (304, b"")
    assert headers["ETag"] == etag
    assert headers["Vary"] == "Accept-Encoding"
    assert "Content-Encoding" not in headers


@pytest.mark.parametrize(
    "path",
    [
        "/static/../secret.txt",
        "/static/css/../../secret.txt",
        "/static/%2e%2e/secret.txt",
        "/static/%2E%2E%2Fsecret.txt",
        "/static/css%2f..%2f..%2fsecret.txt",
        "/static/..%5csecret.txt",
        "/static/css%5csite.css",
        "/static//etc/passwd",
        "/static/%2fetc/passwd",
        "/static/hello.txt%00.png",
        "/static/./hello.txt",
        "/static/escape.txt",
        "/static/escdir/x.txt",
        "/static/css",
        "/static/css/",
        "/static/",
        "/static/missing.txt",
        "/static/%252e%252e/secret.txt",
    ],
)
def test_traversal_and_non_files_are_404(root: Path, path: str) -> None:
    app = make_app(root)
    # As micro's server passes it: PATH_INFO decoded, RAW_URI as sent.
    status, _headers, body = raw(app, path, RAW_URI=path)
    assert status == 404
    assert b"outside" not in body
    assert TestApp(app).get(path, status=404).status_int == 404


def test_a_symlink_swapped_to_point_outside_is_404(root: Path, client: TestApp) -> None:
    assert client.get("/static/inside.txt").text == "hello, world\n"  # proven inside, cached
    (root / "inside.txt").unlink()
    (root / "inside.txt").symlink_to(root.parent / "secret.txt")
    client.get("/static/inside.txt", status=404)


def test_a_fifo_under_the_root_is_404_without_blocking(root: Path, client: TestApp) -> None:
    os.mkfifo(root / "pipe.txt")  # opening it for reading would wait for a writer
    client.get("/static/pipe.txt", status=404)


def test_an_encoded_slash_is_404_even_where_the_decoded_path_exists(root: Path) -> None:
    app = make_app(root)
    assert raw(app, "/static/css/site.css", RAW_URI="/static/css/site.css")[0] == 200
    assert raw(app, "/static/css/site.css", RAW_URI="/static/css%2Fsite.css")[0] == 404


def test_settings_move_the_prefix_and_the_cache_policy(root: Path) -> None:
    client = TestApp(
        make_app(root, static_url_prefix="/assets/", static_cache_control="max-age=60")
    )
    response = client.get("/assets/hello.txt")
    assert response.headers["Cache-Control"] == "max-age=60"
    client.get("/static/hello.txt", status=404)


def test_start_up_errors_name_the_setting(tmp_path: Path) -> None:
    with pytest.raises(PluginError, match=r"'static'.*static_path"):
        App(plugins=["static"])
    with pytest.raises(PluginError, match=r"not a directory"):
        App(plugins=["static"], settings={"static_path": str(tmp_path / "nope")})
    with pytest.raises(PluginError, match=r"static_url_prefix"):
        App(plugins=["static"], settings={"static_path": str(tmp_path), "static_url_prefix": "x"})


def test_parse_range_rules() -> None:
    assert parse_range("bytes=0-0", 1) == (0, 0)
    assert parse_range("bytes = 2 - 3", 10) == (2, 3)
    assert parse_range("bytes=0-", 0) == (-1, -1)
    assert parse_range("bytes=-", 10) is None


@pytest.mark.parametrize("name", ["hello.txt", "big.bin", "empty.txt"])
def test_a_plain_get_answers_like_one_with_a_query(root: Path, name: str) -> None:
    # A plain GET takes the prebuilt-headers road; one with a query goes through
    # every rule: both must give the same answer.
    app = make_app(root)
    for _ in range(2):  # the second time from what the first remembered
        plain = raw(app, f"/static/{name}")
        slow = raw(app, f"/static/{name}?x=1")
        assert plain == slow
        assert plain[0] == 200
        assert plain[2] == (root / name).read_bytes()


def test_a_changed_file_is_served_anew_at_once(root: Path) -> None:
    app = make_app(root)
    first = raw(app, "/static/hello.txt")
    assert first[2] == b"hello, world\n"
    (root / "hello.txt").write_text("a longer hello, world\n")
    os.utime(root / "hello.txt", ns=(0, 1_000_000_000))  # another version, whatever the clock
    second = raw(app, "/static/hello.txt")
    assert second[2] == b"a longer hello, world\n"
    assert second[1]["Content-Length"] == str(len(second[2]))
    assert second[1]["ETag"] != first[1]["ETag"]
    assert second[1]["Last-Modified"] == "Thu, 01 Jan 1970 00:00:01 GMT"
