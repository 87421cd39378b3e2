"""The request corpus: every tests/http/corpus/NAME.http against NAME.json.

Each case is fed three ways: whole, byte by byte, and followed by more bytes (a
valid request, then garbage, in two runs). The events for the case's own
requests must be the same each time, and after an error nothing further may ever
come out of the parser. NAME.json holds:

- ``about``: what the case shows;
- ``expect``: the events, in order: ``{"head": {field: value, ...}}`` (only the
  fields named are compared), ``{"body": "..."}`` (all Data of one message joined,
  latin-1), ``{"end": [[name, value], ...]}`` (trailers), ``"closed"``, or a final
  ``{"error": status}``;
- ``limits`` (optional): Limits fields to override;
- ``truncated`` (optional): the case ends early and only EOF makes it an error; its
  third run feeds no EOF and expects the events before the error, then NEED_DATA.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from micro.errors import ProtocolError
from micro.http import (
    NEED_DATA,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Limits,
    RequestHead,
    RequestParser,
)

CORPUS = Path(__file__).parent / "corpus"
CASES = sorted(p.stem for p in CORPUS.glob("*.http"))
NEXT_REQUEST = b"GET /extra HTTP/1.1\r\nHost: extra\r\n\r\n"
NEXT_EVENTS: list[Any] = [{"head": {"target": "/extra", "host": "extra"}}, {"end": []}, "closed"]
GARBAGE = b"\x00\xff garbage \r\n\r\n"
MAX_EVENTS = 10_000


def run(limits: Limits, chunks: Iterable[bytes], *, eof: bool = True) -> list[Any]:
    """Feed ``chunks`` one by one, draining events after each; return them normalised."""
    parser = RequestParser(limits)
    out: list[Any] = []
    try:
        # feed(b"") means EOF, so empty pieces are left out; EOF comes last if asked.
        for chunk in [*(c for c in chunks if c), *([b""] if eof else [])]:
            parser.feed(chunk)
            if drain(parser, out):
                break
    except ProtocolError as exc:
        out.append({"error": exc.status})
        # Dead for good: the same error on every later call, nothing parsed.
        for call in (parser.next_event, lambda: parser.feed(NEXT_REQUEST)):
            with pytest.raises(ProtocolError) as again:
                call()
            assert again.value.status == exc.status
        return out
    if not eof:
        assert parser.next_event() is NEED_DATA
    return out


def drain(parser: RequestParser, out: list[Any]) -> bool:
    """Append events until NEED_DATA (False) or ConnectionClosed (True)."""
    for _ in range(MAX_EVENTS):
        event = parser.next_event()
        if event is NEED_DATA:
            return False
        if isinstance(event, ConnectionClosed):
            out.append("closed")
            return True
        if isinstance(event, Data):
            assert event.data, "Data events are never empty"
            if out and isinstance(out[-1], dict) and "body" in out[-1]:
                out[-1]["body"] += event.data.decode("latin-1")
            else:
                out.append({"body": event.data.decode("latin-1")})
        elif isinstance(event, EndOfMessage):
            out.append({"end": [list(t) for t in event.trailers]})
        else:
            assert isinstance(event, RequestHead)
            out.append({"head": event})
    raise AssertionError("parser kept producing events")


def project(actual: list[Any], expected: list[Any]) -> list[Any]:
    """Reduce each RequestHead in ``actual`` to the fields its expected twin names."""
    result: list[Any] = []
    for i, item in enumerate(actual):
        if isinstance(item, dict) and "head" in item:
            want = expected[i]["head"] if i < len(expected) and "head" in expected[i] else {}
            head = item["head"]
            fields = {k: getattr(head, k) for k in want or {"target": None}}
            if "headers" in fields:
                fields["headers"] = [list(t) for t in fields["headers"]]
            result.append({"head": fields})
        else:
            result.append(item)
    return result


def load(name: str) -> tuple[bytes, dict[str, Any], Limits]:
    raw = (CORPUS / f"{name}.http").read_bytes()
    spec = json.loads((CORPUS / f"{name}.json").read_text(encoding="utf-8"))
    return raw, spec, Limits(**spec.get("limits", {}))


def test_corpus_is_large_and_paired() -> None:
    assert len(CASES) >= 60
    assert sorted(p.stem for p in CORPUS.glob("*.json")) == CASES


@pytest.mark.parametrize("name", CASES)
def test_whole(name: str) -> None:
    raw, spec, limits = load(name)
    expected = spec["expect"]
    assert project(run(limits, [raw]), expected) == expected


@pytest.mark.parametrize("name", CASES)
def test_byte_by_byte(name: str) -> None:
    raw, spec, limits = load(name)
    expected = spec["expect"]
    chunks = [raw[i : i + 1] for i in range(len(raw))]
    assert project(run(limits, chunks), expected) == expected


@pytest.mark.parametrize("name", CASES)
def test_followed_by_more_bytes(name: str) -> None:
    raw, spec, limits = load(name)
    expected = spec["expect"]
    if spec.get("truncated"):
        before_error = expected[:-1]
        assert project(run(limits, [raw], eof=False), before_error) == before_error
        return
    if "error" in expected[-1]:
        for extra in (NEXT_REQUEST, GARBAGE):
            assert project(run(limits, [raw + extra]), expected) == expected
        return
    assert expected[-1] == "closed"
    with_next = [*expected[:-1], *NEXT_EVENTS]
    assert project(run(limits, [raw + NEXT_REQUEST]), with_next) == with_next
    with_garbage = [*expected[:-1], {"error": 400}]
    assert project(run(limits, [raw, GARBAGE]), with_garbage) == with_garbage
