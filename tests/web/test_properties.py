"""Properties (Hypothesis): cookies, signed values and multipart bodies round-trip."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from micro.web.cookies import InvalidCookie, format_set_cookie, parse_cookie_header
from micro.web.headers import check_header
from micro.web.multipart import parse_multipart
from micro.web.signing import create_signed_value, decode_signed_value

FAST = settings(max_examples=80, deadline=None)


@FAST
@given(name=st.text(max_size=12), value=st.text(max_size=24))
def test_set_cookie_is_safe_or_refused(name: str, value: str) -> None:
    try:
        header = format_set_cookie(name, value)
    except InvalidCookie:
        return
    check_header("Set-Cookie", header)  # never a CR/LF/NUL or non-latin-1 value
    assert parse_cookie_header(header.split(";")[0]) == {name: value.strip('"')}


@FAST
@given(value=st.binary(max_size=64), name=st.from_regex(r"[a-z_]{1,10}", fullmatch=True))
def test_signed_values_round_trip_and_resist_edits(value: bytes, name: str) -> None:
    signed = create_signed_value(["k1", "k0"], name, value)
    format_set_cookie(name, signed)  # usable as a cookie value as it is
    assert decode_signed_value(["k0", "k1"], name, signed) == value
    assert decode_signed_value("k0", name, signed) is None
    tampered = signed[:-1] + ("0" if signed[-1] != "0" else "1")
    assert decode_signed_value("k1", name, tampered) is None


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


@FAST
@given(parts=st.lists(FILE_PART | TEXT_PART, max_size=5))
def test_multipart_round_trip(parts: list[tuple[str, bytes, bool]]) -> None:
    boundary = b"b0undary"
    body = encode(boundary, parts)
    fields, files = parse_multipart(
        io.BytesIO(body), boundary.decode(), len(body), max_size=10**6, spool_size=200, max_parts=10
    )
    expected_files: dict[str, list[bytes]] = {}
    expected_fields: dict[str, list[str]] = {}
    for name, data, is_file in parts:
        if is_file:
            expected_files.setdefault(name, []).append(data)
        else:
            expected_fields.setdefault(name, []).append(data.decode())
    assert {k: [f.read() for f in v] for k, v in files.items()} == expected_files
    for f in (f for v in files.values() for f in v):
        f.close()
    assert fields == expected_fields
