"""RequestArguments (micro.web.arguments): body, JSON, urlencoded forms, arguments.

Form bodies of other media types (the body-parser hook) are in test_forms.py; multipart
parsing itself is the forms plugin's (plugins/forms/tests).
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import webob
from webtest import TestApp

from micro import App, Request


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


@pytest.mark.parametrize("length", ["abc", "-1", "\u00b2", "\u00b9\u00b2"])
def test_a_content_length_that_is_not_ascii_digits_is_400(length: str) -> None:
    # "\u00b2" is byte 0xB2 of a header decoded as latin-1; str.isdigit() says yes.
    req = webob.Request.blank("/args", method="POST", body=b"a=1")
    req.environ["CONTENT_LENGTH"] = length
    req.environ["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
    res = req.get_response(echo_app())
    assert res.status_int == 400
    assert "Invalid Content-Length" in res.text


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
