"""Tests of micro.http.grammar: the regexes say exactly what the RFC rules say."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from micro.http import grammar

# The field-line rule written the slow, obvious way, one line at a time.
_ONE_LINE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*")

line_chars = st.sampled_from(["a", "Z", "-", ":", " ", "\t", "\r", "\n", "\x00", "\xe9", "(", "~"])
# Mostly valid lines, so that one bad piece among good ones gets tried often.
good_line = st.tuples(st.text("aZ-~", min_size=1, max_size=4), st.text("a :\t\xe9", max_size=4))
lines = st.lists(
    st.one_of(good_line.map(":".join), st.text(line_chars, max_size=10)), min_size=1, max_size=6
)


@settings(max_examples=300)
@given(lines)
@example(["a\nb:"])  # a valid-looking tail after a bare LF is no line of its own
@example(["a:", "b\rc:"])  # nor after a bare CR
def test_field_line_matches_once_per_line_iff_every_line_is_valid(field_lines: list[str]) -> None:
    text = "\r\n" + "\r\n".join(field_lines) + "\r\n"
    # What the parser relies on: one FIELD_LINE match per CRLF-ended line exactly
    # when each line, taken alone, is a valid field line.
    all_valid = all(_ONE_LINE.fullmatch(line) for line in text[2:-2].split("\r\n"))
    matches = grammar.FIELD_LINE.findall(text)
    assert (len(matches) == text.count("\r\n") - 1) == all_valid


def test_field_line_splits_name_and_value() -> None:
    assert grammar.FIELD_LINE.findall("\r\nHost:  a b \r\nX-Y:\r\n") == [
        ("Host", "a b "),
        ("X-Y", ""),
    ]


@pytest.mark.parametrize(
    ("line", "ok"),
    [
        ("5", True),
        ("00aF", True),
        ("5;a", True),
        ("5 ; a = b", True),
        ('5;a="q \\" s";b=c', True),
        ("0x5", False),
        ("-5", False),
        (" 5", False),
        ("5 ", False),
        ("5;", False),
        ("5;a b", False),
        ('5;a="x', False),
        ("", False),
    ],
)
def test_chunk_line(line: str, ok: bool) -> None:
    assert (grammar.CHUNK_LINE.fullmatch(line.encode()) is not None) is ok


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        ("example.com", True),
        ("example.com:8080", True),
        ("127.0.0.1:80", True),
        ("[::1]", True),
        ("[2001:db8::1]:443", True),
        ("xn--bcher-kva.example", True),
        ("a%20b", True),
        ("", True),
        ("a b", False),
        ("u@h", False),
        ("h/x", False),
        ("h:port", False),
        ("[::1", False),
        ("h:80:80", False),
    ],
)
def test_host(host: str, ok: bool) -> None:
    assert (grammar.HOST.fullmatch(host) is not None) is ok
