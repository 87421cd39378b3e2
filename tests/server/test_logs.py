"""The access log (Combined Log Format, escaped) and the Date clock."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from micro.server.logs import DateClock, access_line, escape

Start = Callable[..., Any]

CLF = re.compile(
    r"(?P<host>\S+) - - \[(?P<time>\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] "
    r'"(?P<request>[^"\\]*(?:\\.[^"\\]*)*)" (?P<status>\d{3}) (?P<size>\d+|-) '
    r'"(?P<referer>[^"\\]*(?:\\.[^"\\]*)*)" "(?P<agent>[^"\\]*(?:\\.[^"\\]*)*)" '
    r"(?P<micros>\d+|-)"
)


def app(environ: dict[str, Any], start_response: Start) -> list[bytes]:
    start_response("200 OK", [("Content-Length", "5")])
    return [b"hello"]


def test_access_log_line_in_combined_log_format(
    harness: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = harness.client(harness.serve(app, access_log=True))
    with caplog.at_level(logging.INFO, logger="micro.access"):
        client.send(
            b"GET /path?q=1 HTTP/1.1\r\nHost: x\r\nReferer: http://ref/\r\n"
            b'User-Agent: evil" \\ \xff agent\r\n\r\n'
        )
        client.response()
        client.send(b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
        client.response()
        # A request is logged after its answer is sent: a third answer on the same
        # connection comes after the second line was logged.
        client.send(b"GET /third HTTP/1.1\r\nHost: x\r\n\r\n")
        client.response()
    lines = [r.getMessage() for r in caplog.records if r.name == "micro.access"]
    assert len(lines) >= 2
    match = CLF.fullmatch(lines[0])
    assert match is not None, lines[0]
    assert match["host"] == "127.0.0.1"
    assert match["request"] == "GET /path?q=1 HTTP/1.1"
    assert (match["status"], match["size"]) == ("200", "5")
    assert match["referer"] == "http://ref/"
    assert match["agent"] == 'evil\\" \\\\ \\xff agent'
    second = CLF.fullmatch(lines[1])
    assert second is not None
    assert (second["referer"], second["agent"]) == ("-", "-")


def test_no_access_log_by_default(harness: Any, caplog: pytest.LogCaptureFixture) -> None:
    client = harness.client(harness.serve(app))
    with caplog.at_level(logging.INFO, logger="micro.access"):
        client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        client.response()
    assert [r for r in caplog.records if r.name == "micro.access"] == []


def test_escape_neutralises_control_characters() -> None:
    assert escape("a\nb\rc\x00d\x1b") == "a\\x0ab\\x0dc\\x00d\\x1b"
    line = access_line(
        remote_addr="::1",
        timestamp=0.0,
        request_line="GET /\n127.0.0.1 - - fake",
        status=200,
        size=0,
        referer=None,
        user_agent="x\ny",
    )
    assert "\n" not in line
    assert CLF.fullmatch(line) is not None


def test_date_clock_gives_imf_fixdate() -> None:
    value = DateClock().now()
    assert re.fullmatch(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT", value)


def test_requests_refused_before_the_app_are_logged_too(
    harness: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = harness.client(harness.serve(app, access_log=True))
    with caplog.at_level(logging.INFO, logger="micro.access"):
        client.send(b"GET /\x01evil HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.response().status == 400
        assert client.closed_by_server()
    lines = [r.getMessage() for r in caplog.records if r.name == "micro.access"]
    assert len(lines) == 1
    match = CLF.fullmatch(lines[0])
    assert match is not None, lines[0]
    assert (match["request"], match["status"]) == ("-", "400")


def test_a_bad_request_pipelined_behind_a_good_one_is_logged_too(
    harness: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = harness.client(harness.serve(app, access_log=True))
    with caplog.at_level(logging.INFO, logger="micro.access"):
        client.send(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\nGET /\x01evil HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.response().status == 200
        assert client.response().status == 400
        assert client.closed_by_server()
    lines = [r.getMessage() for r in caplog.records if r.name == "micro.access"]
    matches = [CLF.fullmatch(line) for line in lines]
    assert [(m["request"], m["status"]) for m in matches if m is not None] == [
        ("GET /ok HTTP/1.1", "200"),
        ("-", "400"),
    ]


def slow(environ: dict[str, Any], start_response: Start) -> list[bytes]:
    time.sleep(0.2)
    start_response("200 OK", [("Content-Length", "4")])
    return [b"slow"]


def test_the_line_ends_with_the_time_taken_in_microseconds(
    harness: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = harness.client(harness.serve(slow, access_log=True))
    with caplog.at_level(logging.INFO, logger="micro.access"):
        client.send(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        client.response()
        client.send(b"GET /again HTTP/1.1\r\nHost: x\r\n\r\n")  # the first is logged by now
        client.response()
    match = CLF.fullmatch(caplog.records[0].getMessage())
    assert match is not None
    assert 200_000 <= int(match["micros"]) < 10_000_000


def test_json_access_log_is_one_object_a_line(
    harness: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = harness.client(harness.serve(slow, access_log=True, access_log_format="json"))
    with caplog.at_level(logging.INFO, logger="micro.access"):
        client.send(b'GET /slow?x=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: a"b\r\n\r\n')
        client.response()
        client.send(b"GET /\x01evil HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.response().status == 400
        deadline = time.monotonic() + 10  # the refusal is logged after it is sent
        while len(caplog.records) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    first, refused = (json.loads(r.getMessage()) for r in caplog.records)
    assert first["method"] == "GET" and first["target"] == "/slow?x=1"
    assert (first["protocol"], first["status"], first["size"]) == ("HTTP/1.1", 200, 4)
    assert first["user_agent"] == 'a"b' and first["referer"] is None
    assert first["remote_addr"] == "127.0.0.1" and first["time"].endswith("+00:00")
    assert 200 <= first["duration_ms"] < 10_000
    assert (refused["target"], refused["status"], refused["duration_ms"]) == (None, 400, None)
