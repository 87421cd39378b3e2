"""The ``forms`` plugin enabled by name: multipart/form-data fields and uploads, its
limits and refusals, over WebTest and over a real socket, and a Hypothesis round trip
through the installed distribution's parser."""

from __future__ import annotations

import io
import json
import socket
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from micro_forms import FormsPlugin, MultipartParser
from webtest import TestApp

from micro import App, Request
from micro.plugins import FormBody, PluginRegistry
from micro.testing import LiveServer


def echo_app(**settings: Any) -> App:
    app = App(plugins=["forms"], settings=settings)

    @app.route("/upload", methods=["POST"])
    def upload(request: Request) -> dict[str, Any]:
        files = {
            name: [
                {
                    "filename": f.filename,
                    "type": f.content_type,
                    "size": f.size,
                    "data": f.read().decode("latin-1"),
                }
                for f in items
            ]
            for name, items in request.files.items()
        }
        return {"fields": request.body_arguments, "files": files}

    return app


def test_the_plugin_is_the_installed_distributions_entry_point() -> None:
    info = PluginRegistry().info("forms")
    assert (info.distribution, info.entry_point.value) == ("micro-forms", "micro_forms:plugin")
    assert isinstance(App(plugins=["forms"]).body_parser("multipart/form-data"), MultipartParser)


def test_fields_and_files() -> None:
    t = TestApp(echo_app())
    res = t.post(
        "/upload",
        {"title": "héllo"},
        upload_files=[
            ("doc", "C:\\Users\\me\\report.txt", b"line1\r\n--not-a-boundary\r\n"),
            ("doc", "b.bin", b"\x00\x01", "application/x-thing"),
        ],
    )
    data = res.json
    assert data["fields"] == {"title": ["héllo"]}
    docs = data["files"]["doc"]
    assert [d["filename"] for d in docs] == ["report.txt", "b.bin"]
    assert docs[0]["data"] == "line1\r\n--not-a-boundary\r\n"
    assert docs[0]["size"] == len(b"line1\r\n--not-a-boundary\r\n")
    assert docs[1]["type"] == "application/x-thing"
    assert docs[1]["data"] == "\x00\x01"


def test_get_argument_reads_multipart_fields() -> None:
    app = App(plugins=["forms"])

    @app.route("/", methods=["POST"])
    def hello(request: Request) -> str:
        return f"{request.get_argument('name')} {request.get_arguments('tag')}"

    res = TestApp(app).post(
        "/?tag=q", {"name": " ada ", "tag": "b"}, content_type="multipart/form-data"
    )
    assert res.text == "ada ['q', 'b']"


def test_a_large_upload_spools_to_disk() -> None:
    app = App(plugins=["forms"], settings={"multipart_spool_size": 1000})
    seen: dict[str, Any] = {}

    @app.route("/up", methods=["POST"])
    def up(request: Request) -> str:
        f = request.files["big"][0]
        seen["rolled"] = f.file._rolled  # type: ignore[attr-defined]
        seen["size"] = f.size
        seen["data"] = f.read()
        return "ok"

    payload = bytes(range(256)) * 100
    TestApp(app).post("/up", upload_files=[("big", "big.bin", payload)])
    assert seen == {"rolled": True, "size": len(payload), "data": payload}


@pytest.mark.parametrize(
    ("settings", "fields", "files", "reason"),
    [
        ({"max_upload_size": 500}, {}, [("f", "f.bin", b"x" * 2000)], "Upload too large"),
        (
            {"max_multipart_parts": 2},
            {"a": "1", "b": "2", "c": "3"},
            [],
            "Too many multipart parts (more than 2)",
        ),
        ({"multipart_spool_size": 10}, {"long": "y" * 50}, [], "Form field &#x27;long&#x27;"),
    ],
)
def test_limits_are_413_saying_which(
    settings: dict[str, Any],
    fields: dict[str, str],
    files: list[tuple[str, str, bytes]],
    reason: str,
) -> None:
    t = TestApp(echo_app(**settings))
    res = t.post(
        "/upload", fields, upload_files=files, content_type="multipart/form-data", status=413
    )
    assert reason in res.text


def test_a_part_header_past_the_parsers_limit_is_413() -> None:
    body = b"--B\r\nContent-Disposition: form-data; name=a\r\nX-Pad: " + b"p" * 20_000
    res = TestApp(echo_app()).request(
        "/upload",
        method="POST",
        body=body + b"\r\n\r\nv\r\n--B--\r\n",
        headers={"Content-Type": "multipart/form-data; boundary=B"},
        status=413,
    )
    assert "multipart/form-data body over a limit" in res.text


@pytest.mark.parametrize(
    ("body", "ctype", "reason"),
    [
        (
            b"--XX\r\nContent-Disposition: form-data; name=a\r\n\r\nnever ends",
            "boundary=XX",
            "Malformed multipart/form-data body",
        ),
        (
            b"--XX\r\nContent-Type: text/plain\r\n\r\nno name\r\n--XX--",
            "boundary=XX",
            "Malformed multipart/form-data body",
        ),
        (b"no boundary at all", "boundary=XX", "Malformed multipart/form-data body"),
        (b"whatever", "", "multipart/form-data without a boundary"),
        (b"whatever", "boundary=" + "b" * 71, "boundary (over 70 characters)"),
        (
            b"--XX\r\nContent-Disposition: form-data; name=a\r\n\r\n\xff\r\n--XX--\r\n",
            "boundary=XX",
            "Form field &#x27;a&#x27; is not utf-8",
        ),
    ],
)
def test_malformed_bodies_are_400_saying_why(body: bytes, ctype: str, reason: str) -> None:
    res = TestApp(echo_app()).request(
        "/upload",
        method="POST",
        body=body,
        headers={"Content-Type": "multipart/form-data; " + ctype},
        status=400,
    )
    assert reason in res.text


def test_a_chunked_upload_over_a_real_socket() -> None:
    with LiveServer(echo_app()) as server:
        payload = b'--B\r\nContent-Disposition: form-data; name="f"; filename="x.txt"\r\n'
        payload += b"Content-Type: text/plain\r\n\r\n" + b"z" * 100_000 + b"\r\n--B--\r\n"
        chunks = b"".join(
            b"%x\r\n%s\r\n" % (len(payload[i : i + 30_000]), payload[i : i + 30_000])
            for i in range(0, len(payload), 30_000)
        )
        head = (
            b"POST /upload HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
            b"Content-Type: multipart/form-data; boundary=B\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        with socket.create_connection((server.host, server.port), timeout=10) as conn:
            conn.sendall(head + chunks + b"0\r\n\r\n")
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
    head_bytes, _, content = answer.partition(b"\r\n\r\n")
    assert head_bytes.startswith(b"HTTP/1.1 200 OK\r\n")
    (upload,) = json.loads(content)["files"]["f"]
    assert (upload["filename"], upload["size"], upload["data"]) == ("x.txt", 100_000, "z" * 100_000)


def test_a_second_parser_for_the_same_type_is_refused() -> None:
    app = App(plugins=["forms"])
    with pytest.raises(Exception, match="two body parsers for multipart/form-data"):
        FormsPlugin().setup(app)


# -- the parser's invariant: whatever the parts, they come back as they were sent -----


def encode(boundary: bytes, parts: list[tuple[str, bytes, bool]]) -> bytes:
    out = b""
    for name, data, is_file in parts:
        out += b"--" + boundary + b"\r\n"
        disposition = f'form-data; name="{name}"'
        if is_file:
            disposition += f'; filename="{name}.bin"'
        out += f"Content-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    return out + b"--" + boundary + b"--\r\n"


NAMES = st.from_regex(r"[a-z]{1,6}", fullmatch=True)
# Near misses of the delimiter (a client picks a boundary its content does not hold).
TRICKY = st.sampled_from([b"--b0undar", b"\r\n--b0undarX", b"\r\n", b"\r\n-", b"\r\n--b0un"])
FILE_PART = st.tuples(NAMES, st.binary(max_size=300) | TRICKY, st.just(True))
TEXT_PART = st.tuples(NAMES, st.text(max_size=40).map(str.encode), st.just(False))


@settings(max_examples=80, deadline=None)
@given(parts=st.lists(FILE_PART | TEXT_PART, max_size=5), chunked=st.booleans())
def test_multipart_round_trip(parts: list[tuple[str, bytes, bool]], chunked: bool) -> None:
    boundary = b"b0undary"
    data = encode(boundary, parts)
    body = FormBody(
        io.BytesIO(data),
        "multipart/form-data",
        {"boundary": boundary.decode()},
        None if chunked else len(data),
        max_size=10**6,
        spool_size=200,
        max_parts=10,
    )
    fields, files = MultipartParser()(body)
    expected_files: dict[str, list[bytes]] = {}
    expected_fields: dict[str, list[str]] = {}
    for name, payload, is_file in parts:
        if is_file:
            expected_files.setdefault(name, []).append(payload)
        else:
            expected_fields.setdefault(name, []).append(payload.decode())
    assert {k: [f.read() for f in v] for k, v in files.items()} == expected_files
    body.close_uploads()
    assert fields == expected_fields
