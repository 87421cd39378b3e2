"""Form bodies by media type: urlencoded built in, the body-parser hook
(``app.add_body_parser``) for the rest, and a ConfigError naming the ``forms`` plugin
when a multipart/form-data body meets an app without a parser (never an empty form).

The parser here is a small one of the tests' own (a raw body as one upload), so the
hook is tested without the multipart library; the ``forms`` plugin's own tests cover
multipart parsing.
"""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest
import webob
from webtest import TestApp

from micro import App, ConfigError, HTTPError, Request, Response
from micro.plugins import Form, FormBody, UploadedFile
from micro.web.forms import parse_options_header

RAW = "application/octet-stream"


def raw_upload(body: FormBody) -> Form:
    """A whole body as the upload ``file`` (named by the ``name`` parameter), in 4-byte reads."""
    upload = body.upload("file", body.options.get("name", "upload.bin"), body.media_type, {})
    for chunk in body.chunks(block=4):
        upload.file.write(chunk)
        upload.size += len(chunk)
    upload.file.seek(0)
    return Form({"name": [upload.filename]}, {"file": [upload]})


def files_app(*, parser: Any = raw_upload, **settings: Any) -> App:
    app = App(settings=settings)
    if parser is not None:
        app.add_body_parser(RAW, parser)

    @app.route("/", methods=["POST"])
    def show(request: Request) -> dict[str, Any]:
        files = {
            name: [(f.filename, f.size, f.read().decode()) for f in items]
            for name, items in request.files.items()
        }
        return {"name": request.get_argument("name", None), "files": files}

    return app


def test_a_registered_parser_reads_its_media_type() -> None:
    res = TestApp(files_app()).post(
        "/?name=q", b"hello, world", content_type=f"{RAW}; name=C:\\tmp\\a.txt"
    )
    # Query values first, then the parser's fields; the file name without its path.
    assert res.json == {"name": "a.txt", "files": {"file": [["a.txt", 12, "hello, world"]]}}


def test_media_types_are_matched_without_case_or_parameters() -> None:
    app = App()
    app.add_body_parser("Application/Octet-Stream", raw_upload)
    assert app.body_parser(RAW) is raw_upload
    assert parse_options_header('Application/Octet-Stream; Name="x"') == (RAW, {"name": "x"})


def test_other_bodies_are_no_form() -> None:
    t = TestApp(files_app(parser=None))
    for ctype in ("text/plain", "application/json", RAW):
        assert t.post("/", b"a=1", content_type=ctype).json == {"name": None, "files": {}}
    assert t.post("/", {"name": "ann"}).json == {"name": "ann", "files": {}}  # urlencoded


def test_a_multipart_body_without_a_parser_names_the_plugin_to_enable() -> None:
    app = App()
    seen: list[str] = []

    @app.route("/", methods=["POST"])
    def show(request: Request) -> str:
        try:
            return str(request.files)
        except ConfigError as exc:
            seen.append(str(exc))
            raise

    t = TestApp(app)
    t.post("/", {"a": "1"}, upload_files=[("f", "a.txt", b"x")], status=500)
    (message,) = seen
    assert "multipart/form-data request body needs a parser" in message
    assert "enable the 'forms' plugin (App(plugins=['forms']))" in message
    assert "pip install micro-forms" in message


def test_without_a_parser_the_form_is_never_silently_empty(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = App()

    @app.route("/", methods=["POST"])
    def hello(request: Request) -> str:
        return f"hello {request.get_argument('name', 'nobody')}"

    with caplog.at_level(logging.ERROR, logger="micro.web"):
        res = TestApp(app).post(
            "/", {"name": "ann"}, content_type="multipart/form-data", status=500
        )
    assert "hello nobody" not in res.text
    assert "the 'forms' plugin" in caplog.text


@pytest.mark.parametrize(
    ("media_type", "reason"),
    [
        ("application/x-www-form-urlencoded", "parsed by micro itself"),
        ("Application/JSON", "parsed by micro itself"),
        ("multipart/form-data; boundary=x", "is not a media type"),
        ("form-data", "is not a media type"),
        ("", "is not a media type"),
    ],
)
def test_add_body_parser_refuses_what_it_cannot_honour(media_type: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        App().add_body_parser(media_type, raw_upload)


def test_a_second_parser_for_one_type_is_refused() -> None:
    app = files_app()
    with pytest.raises(ConfigError, match=f"two body parsers for {RAW}"):
        app.add_body_parser(RAW, raw_upload)


def test_a_body_past_max_upload_size_is_413_by_length_or_as_it_streams() -> None:
    t = TestApp(files_app(max_upload_size=10))
    res = t.post("/", b"x" * 11, content_type=RAW, status=413)
    assert "Upload too large" in res.text
    # A chunked body has no length to check first: FormBody.chunks stops it at the limit.
    environ = webob.Request.blank("/", method="POST").environ
    environ.pop("CONTENT_LENGTH", None)
    environ.update(
        {"CONTENT_TYPE": RAW, "wsgi.input": io.BytesIO(b"y" * 50), "wsgi.input_terminated": True}
    )
    statuses: list[str] = []
    body = b"".join(files_app(max_upload_size=10)(environ, lambda s, h, e=None: statuses.append(s)))
    assert statuses == ["413 Upload too large"]
    environ["wsgi.input"] = io.BytesIO(b"y" * 10)
    body = b"".join(files_app(max_upload_size=10)(environ, lambda s, h, e=None: None))
    assert b'"yyyyyyyyyy"' in body


def test_an_unframed_body_is_not_read() -> None:
    environ = webob.Request.blank("/", method="POST").environ
    environ.pop("CONTENT_LENGTH", None)
    environ.update({"CONTENT_TYPE": RAW, "wsgi.input": io.BytesIO(b"never read")})
    body = b"".join(files_app()(environ, lambda s, h, e=None: None))
    assert body == b'{"name":null,"files":{}}'
    assert environ["wsgi.input"].tell() == 0


def test_the_uploads_of_a_failed_parse_are_closed() -> None:
    made: list[UploadedFile] = []

    def half_then_fail(body: FormBody) -> Form:
        made.append(body.upload("a", "a.bin", RAW, {}))
        made.append(body.upload("b", "b.bin", RAW, {}))
        raise body.malformed("the third part is bad")

    res = TestApp(files_app(parser=half_then_fail)).post("/", b"abc", content_type=RAW, status=400)
    assert f"Malformed {RAW} body: the third part is bad" in res.text
    assert len(made) == 2 and all(upload.file.closed for upload in made)


@pytest.mark.parametrize("method", ["POST", "HEAD"])
def test_uploads_and_a_streamed_body_are_closed_even_if_never_iterated(method: str) -> None:
    # A server closes the body without reading it when the client has gone (and the
    # App itself does so for HEAD): the uploads and the route's stream close all the same.
    app = App()
    app.add_body_parser(RAW, raw_upload)
    seen: dict[str, Any] = {}

    class Stream:
        closed = False

        def __iter__(self) -> Any:
            yield b"chunk"

        def close(self) -> None:
            self.closed = True

    @app.route("/up", methods=["POST", "HEAD"])
    def up(request: Request) -> Response:
        seen["upload"] = request.files["file"][0]
        seen["stream"] = Stream()
        return Response(seen["stream"])

    environ = webob.Request.blank("/up", method="POST", body=b"xyz").environ
    environ["REQUEST_METHOD"] = method
    environ["CONTENT_TYPE"] = RAW
    result = app(environ, lambda status, headers: None)
    close = getattr(result, "close", None)
    if close is not None:
        close()
    assert seen["upload"].file.closed
    assert seen["stream"].closed


def test_a_parser_error_is_the_clients_answer() -> None:
    def refuse(body: FormBody) -> Form:
        raise HTTPError(415, "raw bodies are not taken here")

    res = TestApp(files_app(parser=refuse)).post("/", b"x", content_type=RAW, status=415)
    assert "raw bodies are not taken here" in res.text
