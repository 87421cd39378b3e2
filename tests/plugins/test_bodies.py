"""FormBody: what every body parser gets from micro (reads to the end, limits with the
answers they give, spooled uploads, boundaries)."""

from __future__ import annotations

import io

import pytest

from micro import HTTPError
from micro.plugins import FormBody


def form_body(data: bytes, length: int | None, **limits: int) -> FormBody:
    options = {"boundary": "B", "charset": "latin-1"}
    defaults = {"max_size": 100, "spool_size": 8, "max_parts": 3}
    return FormBody(io.BytesIO(data), "multipart/form-data", options, length, **defaults | limits)


@pytest.mark.parametrize(
    ("data", "length", "chunks"),
    [
        (b"abcdefghij", 10, [b"abcd", b"efgh", b"ij"]),
        (b"abcdefghij", 6, [b"abcd", b"ef"]),  # never past Content-Length
        (b"abcdefghij", None, [b"abcd", b"efgh", b"ij"]),  # chunked: to the stream's end
        (b"abc", 10, [b"abc"]),  # a short body ends where the stream does
        (b"", 0, []),
    ],
)
def test_chunks_read_the_body_and_no_further(
    data: bytes, length: int | None, chunks: list[bytes]
) -> None:
    assert list(form_body(data, length).chunks(block=4)) == chunks


def test_chunks_stop_past_max_size_with_413() -> None:
    body = form_body(b"x" * 20, None, max_size=10)
    with pytest.raises(HTTPError) as caught:
        list(body.chunks(block=4))
    assert (caught.value.status, caught.value.reason) == (413, "Upload too large")


def test_the_limit_answers_say_which_limit() -> None:
    body = form_body(b"", 0)
    assert (body.too_many_parts().status, body.too_many_parts().reason) == (
        413,
        "Too many multipart parts (more than 3)",
    )
    with pytest.raises(HTTPError, match="Form field 'note' too large"):
        body.check_field("note", 9)
    body.check_field("note", 8)
    with pytest.raises(HTTPError, match="Form field 'note' too large"):
        body.decode_field("note", b"123456789")
    over = body.over_limit("Maximum segment header length exceeded")
    assert (over.status, over.reason) == (
        413,
        "multipart/form-data body over a limit: Maximum segment header length exceeded",
    )


def test_fields_are_decoded_in_their_charset_or_refused() -> None:
    body = form_body(b"", 0)
    assert body.decode_field("a", "é".encode()) == "é"
    assert body.decode_field("a", b"\xe9", "latin-1") == "é"
    for data, charset in [(b"\xff", "utf-8"), (b"x", "no-such-charset")]:
        with pytest.raises(HTTPError) as caught:
            body.decode_field("a", data, charset)
        error = caught.value
        assert (error.status, error.reason) == (400, f"Form field 'a' is not {charset}")


@pytest.mark.parametrize(
    ("options", "answer"),
    [
        ({"boundary": "B"}, "B"),
        ({}, "400 multipart/form-data without a boundary"),
        ({"boundary": ""}, "400 multipart/form-data without a boundary"),
        ({"boundary": "b" * 71}, "400 Invalid multipart/form-data boundary (over 70 characters)"),
    ],
)
def test_the_boundary(options: dict[str, str], answer: str) -> None:
    body = FormBody(
        io.BytesIO(), "multipart/form-data", options, 0, max_size=1, spool_size=1, max_parts=1
    )
    try:
        got = body.boundary()
    except HTTPError as exc:
        got = f"{exc.status} {exc.reason}"
    assert got == answer


def test_uploads_spool_to_disk_and_close_together() -> None:
    body = form_body(b"", 0)
    upload = body.upload("doc", "C:\\Users\\me\\report.txt", "text/plain", {"x": "1"})
    assert (upload.name, upload.filename) == ("doc", "report.txt")
    assert (upload.content_type, upload.headers) == ("text/plain", {"x": "1"})
    upload.file.write(b"12345678")
    assert not upload.file._rolled  # type: ignore[attr-defined]
    upload.file.write(b"9")
    assert upload.file._rolled  # type: ignore[attr-defined]
    other = body.upload("doc", "../../etc/passwd", "text/plain", {})
    assert other.filename == "passwd"
    body.close_uploads()
    assert upload.file.closed and other.file.closed
