"""The ``gzip`` plugin as a user sees it: an App that enabled it by name.

The plugin comes in through the entry point of the installed micro-transforms
distribution. Responses are read raw (``webob.Request.call_application``), because
WebTest would decode them and hide the Content-Encoding this is all about.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from micro_transforms.negotiation import choose_encoding, is_compressible
from webob import Request as Blank

from micro.plugins import PluginRegistry
from micro.web import App
from micro.web.response import Response

PAGE = ("<p>micro compresses what is worth compressing</p>\n" * 60).encode()


def make_app(**settings: Any) -> App:
    app = App(plugins=["gzip"], settings=settings)

    @app.route("/page")
    def page(request: Any) -> Response:
        return Response(PAGE, content_type="text/html; charset=utf-8")

    @app.route("/small")
    def small(request: Any) -> Response:
        return Response(b"tiny", content_type="text/plain")

    @app.route("/png")
    def png(request: Any) -> Response:
        return Response(PAGE, content_type="image/png")

    @app.route("/json")
    def json_page(request: Any) -> Response:
        return Response.json({"items": list(range(500))})

    @app.route("/encoded")
    def encoded(request: Any) -> Response:
        return Response(gzip.compress(PAGE), headers={"Content-Encoding": "gzip"})

    @app.route("/etag")
    def etag(request: Any) -> Response:
        tag = request.get_query_argument("tag")
        return Response(PAGE, content_type="text/html", headers={"ETag": tag})

    @app.route("/status/(\\d+)")
    def status(request: Any, code: str) -> Response:
        return Response(PAGE, int(code), content_type="text/html")

    @app.route("/no-transform")
    def no_transform(request: Any) -> Response:
        return Response(PAGE, content_type="text/html", headers={"Cache-Control": "no-transform"})

    return app


def call_with(
    app: App, path: str, extra: dict[str, str]
) -> tuple[int, dict[str, str], list[bytes]]:
    headers = {"Accept-Encoding": "gzip", **extra}
    status, headerlist, body = Blank.blank(path, headers=headers).call_application(app)
    return int(status.split()[0]), dict(headerlist), list(body)


def call(
    app: App, path: str, encoding: str | None = "gzip", method: str = "GET"
) -> tuple[int, dict[str, str], list[bytes]]:
    headers = {"Accept-Encoding": encoding} if encoding is not None else {}
    status, headerlist, body = Blank.blank(path, method=method, headers=headers).call_application(
        app
    )
    try:
        chunks = list(body)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return int(status.split()[0]), dict(headerlist), chunks


@pytest.fixture(scope="module")
def app() -> App:
    return make_app()


def test_the_plugin_is_the_installed_distributions_entry_point() -> None:
    info = PluginRegistry().info("gzip")
    assert (info.distribution, info.entry_point.value) == (
        "micro-transforms",
        "micro_transforms:plugin",
    )


def test_a_page_is_gzipped_for_a_client_that_accepts_gzip(app: App) -> None:
    status, headers, chunks = call(app, "/page")
    body = b"".join(chunks)
    assert status == 200
    assert headers["Content-Encoding"] == "gzip"
    assert headers["Vary"] == "Accept-Encoding"
    assert headers["Content-Length"] == str(len(body))
    assert len(body) < len(PAGE) // 5
    assert gzip.decompress(body) == PAGE


def test_deflate_is_the_zlib_format(app: App) -> None:
    _status, headers, chunks = call(app, "/json", "deflate")
    assert headers["Content-Encoding"] == "deflate"
    assert zlib.decompress(b"".join(chunks)).startswith(b'{"items":[0,1,2')


@pytest.mark.parametrize(
    ("accept", "coding"),
    [
        ("gzip", "gzip"),
        ("GZIP", "gzip"),
        ("x-gzip", "gzip"),
        ("deflate", "deflate"),
        ("deflate, gzip", "gzip"),  # equal q: the server's preference
        ("gzip;q=0.5, deflate", "deflate"),
        ("gzip;q=0", None),
        ("gzip; q=0.000", None),
        ("gzip;q=0, *", "deflate"),
        ("*", "gzip"),
        ("*;q=0", None),
        ("identity", None),
        ("gzip;q=0.5, identity", None),  # identity preferred
        ("gzip, identity;q=0.5", "gzip"),
        ("br", None),
        ("gzip;q=2", None),  # not a qvalue: ignored
        ("gzip;q=abc, deflate;q=0.1", "deflate"),
        ("", None),
        (None, None),
    ],
)
def test_accept_encoding_negotiation(app: App, accept: str | None, coding: str | None) -> None:
    assert choose_encoding(accept, ("gzip", "deflate")) == coding
    _status, headers, chunks = call(app, "/page", accept)
    assert headers.get("Content-Encoding") == coding
    assert headers["Vary"] == "Accept-Encoding"
    if coding is None:
        assert b"".join(chunks) == PAGE


def test_small_bodies_are_left_alone_but_still_vary(app: App) -> None:
    _status, headers, chunks = call(app, "/small")
    assert "Content-Encoding" not in headers
    assert headers["Vary"] == "Accept-Encoding"
    assert chunks == [b"tiny"]


def test_incompressible_types_are_left_alone(app: App) -> None:
    _status, headers, chunks = call(app, "/png")
    assert "Content-Encoding" not in headers
    assert "Vary" not in headers
    assert b"".join(chunks) == PAGE


def test_an_encoded_response_is_never_compressed_twice(app: App) -> None:
    _status, headers, chunks = call(app, "/encoded")
    assert headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(b"".join(chunks)) == PAGE


@pytest.mark.parametrize("path", ["/page", '/etag?tag="v1"', "/json", "/small", "/png"])
def test_head_gets_the_header_fields_get_gets(app: App, path: str) -> None:
    _, get, _ = call(app, path)
    status, head, chunks = call(app, path, method="HEAD")
    assert status == 200
    assert b"".join(chunks) == b""
    for name in ("Content-Encoding", "Vary", "ETag", "Content-Length", "Content-Type"):
        assert head.get(name) == get.get(name), name


def test_a_head_answered_without_a_body_says_the_coding_but_no_length() -> None:
    # What a handler with its own head(), or a WSGI app behind micro, may do.
    app = App(plugins=["gzip"])

    @app.route("/bare")
    def bare(request: Any) -> Response:
        body = b"" if request.method == "HEAD" else PAGE
        return Response(
            body,
            content_type="text/html",
            headers={"ETag": '"b1"', "Content-Length": str(len(PAGE))},
        )

    _, get, _ = call(app, "/bare")
    _, head, _ = call(app, "/bare", method="HEAD")
    assert get["Content-Encoding"] == head["Content-Encoding"] == "gzip"
    assert get["Vary"] == head["Vary"] == "Accept-Encoding"
    assert get["ETag"] == head["ETag"] == 'W/"b1"'
    assert "Content-Length" not in head  # only compressing would tell it


def test_a_304_for_the_weak_etag_of_a_compressed_200_says_that_etag() -> None:
    app = App(plugins=["gzip"])

    @app.route("/cached")
    def cached(request: Any) -> Response:
        tag = '"c1"'
        condition = request.headers.get("If-None-Match") or ""
        if tag in condition.replace("W/", ""):  # weak comparison (RFC 9110 13.1.2)
            return Response(None, 304, headers={"ETag": tag})
        return Response(PAGE, content_type="text/html", headers={"ETag": tag})

    _, first, _ = call(app, "/cached")
    assert first["ETag"] == 'W/"c1"'
    status, again, _ = call_with(app, "/cached", {"If-None-Match": 'W/"c1"'})
    assert (status, again["ETag"], again["Vary"]) == (304, 'W/"c1"', "Accept-Encoding")
    # A client that holds the strong tag (it was sent uncompressed) keeps it.
    status, plain, _ = call_with(app, "/cached", {"If-None-Match": '"c1"'})
    assert (status, plain["ETag"]) == (304, '"c1"')


@pytest.mark.parametrize("code", [204, 206, 304])
def test_statuses_without_a_compressible_body(app: App, code: int) -> None:
    status, headers, _chunks = call(app, f"/status/{code}")
    assert status == code
    assert "Content-Encoding" not in headers


def test_no_transform_is_respected(app: App) -> None:
    assert "Content-Encoding" not in call(app, "/no-transform")[1]


@pytest.mark.parametrize(("tag", "expected"), [('"v1"', 'W/"v1"'), ('W/"v1"', 'W/"v1"')])
def test_a_strong_etag_becomes_weak(app: App, tag: str, expected: str) -> None:
    assert call(app, f"/etag?tag={tag}")[1]["ETag"] == expected
    assert call(app, f"/etag?tag={tag}", encoding=None)[1]["ETag"] == tag


def test_compressed_responses_do_not_offer_byte_ranges() -> None:
    app = App(plugins=["gzip"])

    @app.route("/file")
    def file(request: Any) -> Response:
        return Response(PAGE, content_type="text/plain", headers={"Accept-Ranges": "bytes"})

    assert "Accept-Ranges" not in call(app, "/file")[1]
    assert call(app, "/file", encoding=None)[1]["Accept-Ranges"] == "bytes"


def test_settings_configure_size_types_and_codings() -> None:
    app = make_app(
        gzip_min_length=1, gzip_content_types=("image/png",), gzip_encodings=("deflate",)
    )
    assert call(app, "/png", "gzip, deflate")[1]["Content-Encoding"] == "deflate"
    assert "Content-Encoding" not in call(app, "/png", "gzip")[1]
    assert "Content-Encoding" not in call(app, "/page", "deflate")[1]


def test_content_type_patterns() -> None:
    patterns = ("text/*", "application/*+json", "application/json")
    assert is_compressible("text/css; charset=utf-8", patterns)
    assert is_compressible("application/ld+json", patterns)
    assert is_compressible("Application/JSON", patterns)
    assert not is_compressible("application/jsonx", patterns)
    assert not is_compressible("image/png", patterns)
    assert not is_compressible(None, patterns)


def test_a_stream_is_compressed_chunk_by_chunk_with_a_flush_each() -> None:
    events: list[str] = []
    parts = [b"first part of the stream " * 3, b"second part " * 4, b"third"]

    def produce() -> Iterator[bytes]:
        for i, part in enumerate(parts):
            events.append(f"produced {i}")
            yield part

    app = App(plugins=["gzip"])

    @app.route("/stream")
    def stream(request: Any) -> Response:
        return Response(produce(), content_type="text/plain")

    _status, headerlist, body = Blank.blank(
        "/stream", headers={"Accept-Encoding": "gzip"}
    ).call_application(app)
    headers = dict(headerlist)
    assert headers["Content-Encoding"] == "gzip"
    assert "Content-Length" not in headers
    decoder = zlib.decompressobj(31)
    iterator = iter(body)
    for i, part in enumerate(parts):
        chunk = next(iterator)
        # Decodable at once: the chunk was flushed, not held back for more input,
        # and the next part has not been asked for yet (nothing is buffered whole).
        assert decoder.decompress(chunk) == part
        assert events[-1] == f"produced {i}"
    tail = b"".join(iterator)
    assert decoder.decompress(tail) == b""
    assert decoder.eof


def test_closing_a_compressed_stream_closes_the_apps_body() -> None:
    closed: list[bool] = []

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            yield b"never read" * 200

        def close(self) -> None:
            closed.append(True)

    app = App(plugins=["gzip"])

    @app.route("/body")
    def body(request: Any) -> Response:
        return Response(Body(), content_type="text/plain")

    _status, headers, result = Blank.blank(
        "/body", headers={"Accept-Encoding": "gzip"}
    ).call_application(app)
    assert dict(headers)["Content-Encoding"] == "gzip"
    result.close()  # before the first chunk, as a server does when the client left
    assert closed == [True]


@pytest.mark.parametrize(
    ("vary", "expected"),
    [
        (None, "Accept-Encoding"),
        ("Cookie", "Cookie, Accept-Encoding"),
        ("accept-encoding", "accept-encoding"),
        ("*", "*"),
    ],
)
def test_a_small_answer_gets_one_vary_field_whatever_the_app_set(
    vary: str | None, expected: str
) -> None:
    app = App(plugins=["gzip"])

    @app.route("/small")
    def small(request: Any) -> Response:
        headers = {"Vary": vary} if vary is not None else {}
        return Response(b"tiny", content_type="text/plain", headers=headers)

    status, headerlist, _body = Blank.blank(
        "/small", headers={"Accept-Encoding": "gzip"}
    ).call_application(app)
    assert status.startswith("200")
    assert [v for k, v in headerlist if k.lower() == "vary"] == [expected]
    assert "Content-Encoding" not in dict(headerlist)
