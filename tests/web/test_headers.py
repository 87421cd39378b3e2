"""Response headers: case-insensitive multi-value list, checked against injection."""

from __future__ import annotations

import pytest

from micro.web.headers import InvalidHeader, ResponseHeaders, check_header


def test_case_insensitive_multi_value_operations() -> None:
    h = ResponseHeaders()
    h.add("Vary", "Accept")
    h.add("vary", "Cookie")
    h["Content-Type"] = "text/plain"
    assert h.get("VARY") == "Accept"
    assert h.get_all("Vary") == ["Accept", "Cookie"]
    assert h["content-type"] == "text/plain"
    assert "CONTENT-TYPE" in h and "X-Missing" not in h
    assert h.setdefault("Content-Type", "text/html") == "text/plain"
    assert h.setdefault("X-New", "1") == "1"
    h.set("VARY", "Origin")
    assert h.get_all("vary") == ["Origin"]
    del h["x-new"]
    h.remove("not-there")
    assert list(h) == [("Content-Type", "text/plain"), ("VARY", "Origin")]
    assert len(h) == 2
    with pytest.raises(KeyError):
        h["X-New"]
    h.clear()
    assert h.items == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-A", "line\r\nbreak"),
        ("X-A", "nul\x00"),
        ("X-A", "bell\x07"),
        ("X-A", "snow ☃"),
        ("Bad Name", "v"),
        ("Bad:Name", "v"),
        ("", "v"),
        ("X-A", 5),
    ],
)
def test_unsafe_fields_are_refused_with_the_header_named(name: str, value: object) -> None:
    with pytest.raises(InvalidHeader) as info:
        check_header(name, value)  # type: ignore[arg-type]
    assert repr(name) in str(info.value)
    with pytest.raises(InvalidHeader):
        ResponseHeaders().add(name, value)  # type: ignore[arg-type]


def test_tabs_and_latin1_are_allowed() -> None:
    check_header("X-A", "tab\there é")
