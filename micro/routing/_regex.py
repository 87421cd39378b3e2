"""Routing layer, regex half: anchor a Tornado-style regex spec, file it, reverse it.

Knows no HTTP. A regex spec ``"/index/(\\d+)"`` is matched against the whole
(percent-decoded) path, anchored at both ends. To keep dispatch from scanning every regex,
:func:`compile_regex` cuts the spec into the literal prefix it must start with (up to its
last ``/``) and the rest; the trie files the spec under that prefix and only ever tries
it for paths that share it. Reversal substitutes values for the top-level groups, so it
exists only for specs whose groups are flat, required and surrounded by literal text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from micro.errors import RoutingError
from micro.routing._patterns import PATH_SAFE

_META = frozenset(".^$|)")
_QUANT = re.compile(r"(?:[*+?]|\{(?:\d+(?:,\d*)?|,\d+)\})[?+]?")


@dataclass(frozen=True, slots=True)
class _Item:
    kind: str  # "lit", "group", "meta"
    text: str  # the literal character, or the source text
    start: int  # index in the pattern just past this item
    quantified: bool = False


def _class_end(p: str, i: int) -> int:
    """Index just past the character class that opens at ``p[i] == '['``."""
    j = i + 1
    if j < len(p) and p[j] == "^":
        j += 1
    if j < len(p) and p[j] == "]":
        j += 1
    while j < len(p) and p[j] != "]":
        j += 2 if p[j] == "\\" else 1
    return j + 1


def _group_end(p: str, i: int) -> int:
    depth = 0
    j = i
    while j < len(p):
        c = p[j]
        if c == "\\":
            j += 2
            continue
        if c == "[":
            j = _class_end(p, j)
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    return j


def _items(p: str) -> list[_Item]:
    """Top-level items of a (valid) regex: literal chars, groups, other syntax."""
    out: list[_Item] = []
    i = 0
    while i < len(p):
        c = p[i]
        q = _QUANT.match(p, i)
        if q:
            if out:
                last = out[-1]
                out[-1] = _Item(last.kind, last.text, last.start, quantified=True)
            i = q.end()
            continue
        if c == "\\":
            d = p[i + 1 : i + 2]
            kind = "meta" if d.isalnum() else "lit"
            out.append(_Item(kind, d if kind == "lit" else p[i : i + 2], i + 2))
            i += 2
        elif c == "[":
            j = _class_end(p, i)
            out.append(_Item("meta", p[i:j], j))
            i = j
        elif c == "(":
            j = _group_end(p, i)
            out.append(_Item("group", p[i:j], j))
            i = j
        else:
            out.append(_Item("meta" if c in _META else "lit", c, i + 1))
            i += 1
    return out


@dataclass(frozen=True, slots=True)
class RegexSpec:
    """A compiled regex spec: where the trie files it and how it matches and reverses."""

    prefix: tuple[str, ...]  # literal path segments every match starts with
    head: str  # the prefix as text: "/index/", "/" or "" (a spec not starting with '/')
    # fullmatched from len(head) on; a lookbehind still sees the prefix it follows
    rest: re.Pattern[str]
    named: bool  # groups are named (keyword arguments) rather than positional
    template: tuple[str | int, ...] | None  # literal text and group slots
    not_reversible: str  # why template is None
    group_names: tuple[str, ...]

    def match(self, path: str) -> re.Match[str] | None:
        """Match a whole path (the trie calls :attr:`rest` itself, knowing the prefix)."""
        if not path.startswith(self.head):
            return None
        return self.rest.fullmatch(path, len(self.head))

    def extract(self, m: re.Match[str]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        if self.named:
            return (), m.groupdict()
        return m.groups(), {}

    def reverse(self, pattern: str, args: Sequence[Any], kwargs: dict[str, Any]) -> str:
        if self.template is None:
            raise RoutingError(f"{pattern!r} cannot be reversed: {self.not_reversible}")
        if self.named:
            values = bind(pattern, self.group_names, args, kwargs)
            slots = [values[n] for n in self.group_names]
        else:
            if kwargs:
                raise RoutingError(f"{pattern!r} has positional groups; got keywords {kwargs}")
            if len(args) != len(self.group_names):
                raise RoutingError(
                    f"{pattern!r} needs {len(self.group_names)} values, got {len(args)}"
                )
            slots = list(args)
        texts = [_text(pattern, v) for v in slots]
        decoded = "".join(p if isinstance(p, str) else texts[p] for p in self.template)
        m = self.match(decoded)
        want: object = (
            dict(zip(self.group_names, texts, strict=True)) if self.named else tuple(texts)
        )
        got = None if m is None else (m.groupdict() if self.named else m.groups())
        if got != want:
            raise RoutingError(
                f"{pattern!r}: values {want!r} give {decoded!r}, which does not match back to them"
            )
        return quote(decoded, safe=PATH_SAFE)


def _text(pattern: str, value: Any) -> str:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise RoutingError(f"{pattern!r}: {value!r} is not UTF-8 text") from None
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise RoutingError(f"{pattern!r}: reverse values must be str or int, got {value!r}")


def bind(
    pattern: str, names: Sequence[str], args: Sequence[Any], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """Bind positional then keyword values to ``names``, exactly once each."""
    if len(args) > len(names):
        raise RoutingError(f"{pattern!r} takes {len(names)} values, got {len(args)} positional")
    values = dict(zip(names, args, strict=False))
    for key, value in kwargs.items():
        if key not in names:
            raise RoutingError(f"{pattern!r} has no field {key!r}")
        if key in values:
            raise RoutingError(f"{pattern!r}: {key!r} given twice")
        values[key] = value
    missing = [n for n in names if n not in values]
    if missing:
        raise RoutingError(f"{pattern!r}: missing values for {missing}")
    return values


def compile_regex(pattern: str) -> RegexSpec:
    try:
        whole = re.compile(pattern)
    except re.error as exc:
        raise RoutingError(f"{pattern!r} is not a valid regex: {exc}") from None
    named = bool(whole.groupindex)
    if named and len(whole.groupindex) != whole.groups:
        raise RoutingError(
            f"{pattern!r} mixes named and unnamed groups; use only one "
            "(unnamed groups become positional arguments, named ones keyword arguments)"
        )
    items = _items(pattern)
    # The literal prefix: leading literal characters not under a quantifier, cut back
    # to the last '/'. A top-level '|' means there is no common prefix at all.
    head, cut = "", 0
    if not any(it.kind == "meta" and it.text == "|" for it in items):
        text: list[str] = []
        for it in items:
            if it.kind != "lit" or it.quantified:
                break
            text.append(it.text)
            if it.text == "/" and text[0] == "/":
                head, cut = "".join(text), it.start
    prefix = tuple(head[1:].split("/")[:-1])
    try:
        rest = re.compile(pattern[cut:], whole.flags)
    except re.error as exc:  # pragma: no cover - a valid regex minus a literal prefix
        raise RoutingError(f"{pattern!r}: cannot split off its prefix: {exc}") from None
    template, why = _template(pattern, items, whole)
    names: tuple[str, ...]
    if named:
        names = tuple(sorted(whole.groupindex, key=whole.groupindex.__getitem__))
    else:
        names = tuple(str(i) for i in range(whole.groups))
    return RegexSpec(prefix, head, rest, named, template, why, names)


def _template(
    pattern: str, items: list[_Item], whole: re.Pattern[str]
) -> tuple[tuple[str | int, ...] | None, str]:
    pieces: list[str | int] = []
    slot = 0
    for it in items:
        if it.kind == "lit" and not it.quantified:
            pieces.append(it.text)
        elif it.kind == "group" and not it.quantified:
            if it.text.startswith("(?") and not it.text.startswith("(?P<"):
                return None, f"{it.text!r} is not a capturing group"
            pieces.append(slot)
            slot += 1
        elif it.kind == "meta":
            return None, f"{it.text!r} is regex syntax outside a group"
        else:
            return None, f"{it.text!r} is optional or repeated"
    if slot != whole.groups:
        return None, "it has nested groups"
    return tuple(pieces), ""
