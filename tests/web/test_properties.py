"""Properties (Hypothesis): cookies and signed values round-trip.

(The multipart round trip is the forms plugin's: plugins/forms/tests.)
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from micro.web.cookies import InvalidCookie, format_set_cookie, parse_cookie_header
from micro.web.headers import check_header
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
