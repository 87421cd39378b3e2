"""Request: arguments, JSON, forms, multipart uploads and limits, headers, host, peer, scheme."""

from __future__ import annotations

import json
from typing import Any

import pytest
import webob
from webtest import TestApp

from micro import App, Request, Response


def echo_app(**settings: Any) -> App:
    app = App(settings=settings)

    @app.route("/args", methods=["GET", "POST"])
    def args(request: Request) -> dict[str, Any]:
        return {
            "a": request.get_argument("a", None),
            "all_a": request.get_arguments("a"),
            "q": request.get_query_argument("a", None),
            "b": request.get_body_argument("a", None),
            "raw": request.get_argument("s", None, strip=False),
        }

    @app.route("/need")
    def need(request: Request) -> str:
        return str(request.get_query_argument("x"))

    @app.route("/json", methods=["POST"])
    def as_json(request: Request) -> Any:
        return {"got": request.json}

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

    @app.route("/meta")
    def meta(request: Request) -> dict[str, Any]:
        return {
            "method": request.method,
            "path": request.path,
            "query": request.query,
            "host": request.host,
            "host_name": request.host_name,
            "remote_ip": request.remote_ip,
            "scheme": request.scheme,
            "ua": request.headers.get("user-agent"),
            "has_ua": "User-Agent" in request.headers,
            "cookies": request.cookies,
        }

    return app


def test_query_and_body_arguments() -> None:
    t = TestApp(echo_app())
    res = t.get("/args?a=1&a=2&s=%20padded%20")
    assert res.json == {"a": "2", "all_a": ["1", "2"], "q": "2", "b": None, "raw": " padded "}
    res = t.post("/args?a=q", {"a": "body"})
    assert res.json["all_a"] == ["q", "body"]
    assert (res.json["q"], res.json["b"], res.json["a"]) == ("q", "body", "body")


def test_missing_required_argument_is_400() -> None:
    res = TestApp(echo_app()).get("/need", status=400)
    assert "Missing argument x" in res.text


def test_json_body_and_bad_json_400() -> None:
    t = TestApp(echo_app())
    assert t.post_json("/json", {"k": [1, 2]}).json == {"got": {"k": [1, 2]}}
    res = t.post("/json", b"{not json", content_type="application/json", status=400)
    assert "Invalid JSON" in res.text


def test_body_size_limit_is_413() -> None:
    t = TestApp(echo_app(max_body_size=100))
    t.post("/json", json.dumps("x" * 50), content_type="application/json")
    t.post("/json", json.dumps("x" * 200), content_type="application/json", status=413)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_in_a_json_body_are_400_saying_so(constant: str) -> None:
    t = TestApp(echo_app())
    body = f'{{"price": {constant}}}'.encode()
    res = t.post("/json", body, content_type="application/json", status=400)
    assert f"{constant} is not a JSON number" in res.text


@pytest.mark.parametrize("number", [float("nan"), float("inf"), -float("inf")])
def test_nan_and_infinity_are_never_sent_as_json(
    number: float, caplog: pytest.LogCaptureFixture
) -> None:
    app = App()

    @app.route("/")
    def price(request: Request) -> dict[str, float]:
        return {"price": number}

    @app.route("/response")
    def response(request: Request) -> Response:
        return Response.json([number])

    client = TestApp(app)
    for path in ("/", "/response"):
        caplog.clear()
        res = client.get(path, status=500)
        assert "NaN" not in res.text and "Infinity" not in res.text
        assert "cannot send NaN or Infinity as JSON (RFC 8259" in caplog.text


@pytest.mark.parametrize("length", ["abc", "-1", "\u00b2", "\u00b9\u00b2"])
def test_a_content_length_that_is_not_ascii_digits_is_400(length: str) -> None:
    # "\u00b2" is byte 0xB2 of a header decoded as latin-1; str.isdigit() says yes.
    req = webob.Request.blank("/args", method="POST", body=b"a=1")
    req.environ["CONTENT_LENGTH"] = length
    req.environ["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
    res = req.get_response(echo_app())
    assert res.status_int == 400
    assert "Invalid Content-Length" in res.text


def test_multipart_fields_and_files() -> None:
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


def test_large_upload_spools_to_disk() -> None:
    app = App(settings={"multipart_spool_size": 1000})
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
def test_multipart_limits_are_413_saying_which(
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


def test_malformed_multipart_is_400() -> None:
    t = TestApp(echo_app())
    for body, ctype in [
        (b"--XX\r\nContent-Disposition: form-data; name=a\r\n\r\nnever ends", "boundary=XX"),
        (b"--XX\r\nContent-Type: text/plain\r\n\r\nno name\r\n--XX--", "boundary=XX"),
        (b"no boundary at all", "boundary=XX"),
        (b"whatever", ""),
    ]:
        res = t.request(
            "/upload",
            method="POST",
            body=body,
            headers={"Content-Type": "multipart/form-data; " + ctype},
            status=400,
        )
        assert "multipart" in res.text.lower() or "boundary" in res.text.lower(), body


def test_meta_headers_host_cookies() -> None:
    t = TestApp(echo_app())
    res = t.get(
        "/meta?x=1",
        headers={"User-Agent": "tester", "Host": "Example.com:8080", "Cookie": 'a=1; b="two"'},
        extra_environ={"REMOTE_ADDR": "10.0.0.5"},
    )
    assert res.json == {
        "method": "GET",
        "path": "/meta",
        "query": "x=1",
        "host": "Example.com:8080",
        "host_name": "example.com",
        "remote_ip": "10.0.0.5",
        "scheme": "http",
        "ua": "tester",
        "has_ua": True,
        "cookies": {"a": "1", "b": "two"},
    }


FORWARDED = {"X-Forwarded-For": "1.2.3.4, 5.6.7.8", "X-Forwarded-Proto": "https"}


def test_forwarded_headers_ignored_unless_configured() -> None:
    res = TestApp(echo_app()).get(
        "/meta", headers=FORWARDED, extra_environ={"REMOTE_ADDR": "10.0.0.1"}
    )
    assert (res.json["remote_ip"], res.json["scheme"]) == ("10.0.0.1", "http")


def test_forwarded_headers_trusted_for_the_configured_hops() -> None:
    res = TestApp(echo_app(proxy_hops=1)).get(
        "/meta", headers=FORWARDED, extra_environ={"REMOTE_ADDR": "10.0.0.1"}
    )
    assert (res.json["remote_ip"], res.json["scheme"]) == ("5.6.7.8", "https")


def test_two_proxy_hops_take_the_entry_the_outer_proxy_wrote() -> None:
    # The client sent "1.2.3.4"; the outer proxy appended the client's real address
    # (5.6.7.8), the inner one appended the outer proxy's (9.9.9.9).
    headers = {"X-Forwarded-For": "1.2.3.4, 5.6.7.8, 9.9.9.9", "X-Forwarded-Proto": "https"}
    res = TestApp(echo_app(proxy_hops=2)).get(
        "/meta", headers=headers, extra_environ={"REMOTE_ADDR": "10.0.0.1"}
    )
    assert res.json["remote_ip"] == "5.6.7.8"


def test_forwarded_headers_only_from_trusted_proxies() -> None:
    t = TestApp(echo_app(trusted_proxies=["10.0.0.1"]))
    res = t.get("/meta", headers=FORWARDED, extra_environ={"REMOTE_ADDR": "10.0.0.1"})
    assert res.json["remote_ip"] == "5.6.7.8"
    res = t.get("/meta", headers=FORWARDED, extra_environ={"REMOTE_ADDR": "10.9.9.9"})
    assert (res.json["remote_ip"], res.json["scheme"]) == ("10.9.9.9", "http")


def test_x_real_ip_is_never_believed() -> None:
    res = TestApp(echo_app(proxy_hops=1)).get(
        "/meta", headers={"X-Real-Ip": "1.2.3.4"}, extra_environ={"REMOTE_ADDR": "10.0.0.1"}
    )
    assert res.json["remote_ip"] == "10.0.0.1"


def test_request_state_is_per_request() -> None:
    app = App()
    ids: list[int] = []

    @app.route("/s")
    def s(request: Request) -> str:
        assert not hasattr(request.state, "seen")
        request.state.seen = True
        ids.append(id(request.state))
        return "ok"

    t = TestApp(app)
    t.get("/s")
    t.get("/s")
    assert len(ids) == 2


def test_request_is_lazy_body_untouched_unless_read() -> None:
    import webob

    app = App()

    @app.route("/ignore", methods=["POST"])
    def ignore(request: Request) -> str:
        return "ignored"

    @app.route("/read", methods=["POST"])
    def read(request: Request) -> bytes:
        return request.body

    environ = webob.Request.blank("/ignore", method="POST", body=b"payload").environ
    assert list(app(environ, lambda *a: None)) == [b"ignored"]
    assert environ["wsgi.input"].tell() == 0
    environ = webob.Request.blank("/read", method="POST", body=b"payload").environ
    assert list(app(environ, lambda *a: None)) == [b"payload"]


def test_headers_mapping() -> None:
    app = App()

    @app.route("/h")
    def h(request: Request) -> dict[str, Any]:
        headers = request.headers
        return {
            "names": sorted(n for n in headers if n.startswith("X-")),
            "ctype": headers.get("content-type"),
            "missing": headers.get("x-nope", "default"),
        }

    res = TestApp(app).get("/h", headers={"X-One": "1", "X-Two-Words": "2"})
    assert res.json == {"names": ["X-One", "X-Two-Words"], "ctype": None, "missing": "default"}


@pytest.mark.parametrize(
    ("data", "terminated", "expected"),
    [
        (b"abc", True, "200 OK abc"),
        (b"abc", False, "200 OK "),  # no framing: no body, nothing read
        (b"x" * 11, True, "413 Request body too large"),
    ],
)
def test_unframed_bodies_are_read_only_when_the_server_terminates_input(
    data: bytes, terminated: bool, expected: str
) -> None:
    import io

    import webob

    app = App(settings={"max_body_size": 10})

    @app.route("/echo", methods=["POST"])
    def echo(request: Request) -> bytes:
        return request.body

    environ = webob.Request.blank("/echo", method="POST").environ
    environ.pop("CONTENT_LENGTH", None)
    environ["wsgi.input"] = io.BytesIO(data)
    environ["wsgi.input_terminated"] = terminated
    statuses: list[str] = []
    body = b"".join(app(environ, lambda status, headers, exc=None: statuses.append(status)))
    result = f"{statuses[0]} {body.decode()}"
    assert result == expected if not expected.startswith("413") else result.startswith(expected)


@pytest.mark.parametrize("method", ["POST", "HEAD"])
def test_uploads_and_a_streamed_body_are_closed_even_if_never_iterated(method: str) -> None:
    # A server closes the body without reading it when the client has gone (and the
    # App itself does so for HEAD): the uploads and the route's stream close all the same.
    app = App()
    seen: dict[str, Any] = {}

    class Stream:
        closed = False

        def __iter__(self) -> Any:
            yield b"chunk"

        def close(self) -> None:
            self.closed = True

    @app.route("/up", methods=["POST", "HEAD"])
    def up(request: Request) -> Response:
        seen["upload"] = request.files["doc"][0]
        seen["stream"] = Stream()
        return Response(seen["stream"])

    head = b'--B\r\nContent-Disposition: form-data; name="doc"; filename="a"\r\n\r\n'
    body = head + b"xyz\r\n--B--\r\n"
    environ = webob.Request.blank("/up", method="POST", body=body).environ
    environ["REQUEST_METHOD"] = method
    environ["CONTENT_TYPE"] = "multipart/form-data; boundary=B"
    result = app(environ, lambda status, headers: None)
    close = getattr(result, "close", None)
    if close is not None:
        close()
    assert seen["upload"].file.closed
    assert seen["stream"].closed
