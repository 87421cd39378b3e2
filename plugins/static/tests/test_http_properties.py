"""Invariants of micro-static's pure helpers, whatever the input (Hypothesis)."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st
from micro_static.http import UNSATISFIABLE, clean_relative, parse_range

PATH_CHARS = st.sampled_from(["a", "b", ".", "/", "\\", "\0", "%", "2", "f", "e", ":", "~"])


@settings(max_examples=200, deadline=None)
@given(st.lists(PATH_CHARS, max_size=20).map("".join))
def test_an_accepted_path_never_leaves_the_root(relative: str) -> None:
    segments = clean_relative(relative)
    if segments is None:
        return
    joined = os.path.normpath(os.path.join("/srv/root", *segments))
    assert joined.startswith("/srv/root/")
    assert os.path.join(*segments) == relative  # nothing was rewritten on the way


RANGE_TEXT = st.one_of(
    st.builds(
        lambda a, b: f"bytes={a}-{b}",
        st.one_of(st.just(""), st.integers(0, 2000).map(str)),
        st.one_of(st.just(""), st.integers(0, 2000).map(str)),
    ),
    st.text(max_size=20),
)


@settings(max_examples=200, deadline=None)
@given(RANGE_TEXT, st.integers(0, 1500))
def test_a_parsed_range_lies_inside_the_file(header: str, size: int) -> None:
    result = parse_range(header, size)
    if result is None or result == UNSATISFIABLE:
        return
    first, last = result
    assert 0 <= first <= last < size
