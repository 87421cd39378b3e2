"""Routing layer, regex half: anchor a Tornado-style regex spec, file it, reverse it.

Knows no HTTP. A regex spec ``"/index/(\\d+)"`` is matched against the whole
(percent-decoded) path, anchored at both ends. To keep dispatch from scanning every regex,
:func:`compile_regex` finds the literal text every match starts with: the trie files the
spec under the whole segments of it (up to its last ``/``) and, at that node, indexes it
by all of it, so a path only ever tries the specs whose literal start it has. Reversal
substitutes values for the top-level groups, so it exists only for specs whose groups are
flat, required and surrounded by literal text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from micro.errors import RoutingError
from micro.routing._patterns import PATH_SAFE, strip_anchors
from micro.routing._sample import class_end

_META = frozenset(".^$|)")
_QUANT = re.compile(r"(?:[*+?]|\{(?:\d+(?:,\d*)?|,\d+)\})[?+]?")


@dataclass(frozen=True, slots=True)
class _Item:
    kind: str  # "lit", "group", "meta"
    text: str  # the literal character, or the source text
    start: int  # index in the pattern just past this item
    quantified: bool = False


def _group_end(p: str, i: int) -> int:
    depth = 0
    j = i
    while j < len(p):
        c = p[j]
        if c == "\\":
            j += 2
            continue
        if c == "[":
            j = class_end(p, j)
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
            j = class_end(p, i)
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
    literal: str  # all the literal text every match starts with: head and more
    regex: re.Pattern[str]  # what follows the literal: fullmatched from len(literal)
    named: bool  # groups are named (keyword arguments) rather than positional
    template: tuple[str | int, ...] | None  # literal text and group slots
    not_reversible: str  # why template is None
    group_names: tuple[str, ...]

    def match(self, path: str) -> re.Match[str] | None:
        """Match a whole path."""
        if not path.startswith(self.literal):
            return None
        return self.regex.fullmatch(path, len(self.literal))

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


# One literal character: a plain one, or an escaped non-word one ('\\.', '\\-').
_LITERAL_CHAR = re.compile(r"[^\\^$*+?()\[\]{}|.]|\\(?:[^\w]|_)")
_GLOBAL_FLAGS = re.compile(r"\(\?[aiLmsux]+\)")


def _split_literal(pattern: str) -> tuple[str, str]:
    """``(literal, rest)``: the leading literal characters not under a quantifier
    (unescaped) and the source that follows them."""
    chars: list[str] = []
    pos = 0
    while (m := _LITERAL_CHAR.match(pattern, pos)) is not None:
        chars.append(m.group(0))
        pos = m.end()
    if chars and _QUANT.match(pattern, pos):  # the last one is quantified: not literal
        pos -= len(chars.pop())
    return "".join(c[-1] for c in chars), pattern[pos:]


def compile_regex(pattern: str) -> RegexSpec:
    # PERF: only the part after the literal prefix is compiled: routes that differ only
    # by their literal start ('/x1-(\\d+)', '/x2-(\\d+)') share one compiled regex (re's
    # cache), which keeps registering 10,000 of them well under a second. The prefix
    # is compared as text before the regex runs (from that offset, so a lookbehind still
    # sees it), and the whole is as valid as its rest but for global flags after text.
    literal, rest = _split_literal(pattern)
    items = _items(rest)
    if any(it.kind == "meta" and it.text == "|" for it in items):
        literal, rest = "", pattern  # a top-level '|': no common prefix at all
        items = _items(rest)
    if literal and _GLOBAL_FLAGS.match(rest):
        raise RoutingError(
            f"{pattern!r} is not a valid regex: global flags not at the start of the expression"
        )
    try:
        compiled = re.compile(rest)
    except re.error as exc:
        raise RoutingError(f"{pattern!r} is not a valid regex: {exc}") from None
    named = bool(compiled.groupindex)
    if named and len(compiled.groupindex) != compiled.groups:
        raise RoutingError(
            f"{pattern!r} mixes named and unnamed groups; use only one "
            "(unnamed groups become positional arguments, named ones keyword arguments)"
        )
    # The trie path: the literal's whole segments (up to its last '/').
    head = literal[: literal.rindex("/") + 1] if literal.startswith("/") else ""
    prefix = tuple(head[1:].split("/")[:-1])
    template, why = _template([*literal, *items], compiled.groups)
    names: tuple[str, ...]
    if named:
        names = tuple(sorted(compiled.groupindex, key=compiled.groupindex.__getitem__))
    else:
        names = tuple(str(i) for i in range(compiled.groups))
    return RegexSpec(prefix, head, literal, compiled, named, template, why, names)


def _template(items: list[str | _Item], groups: int) -> tuple[tuple[str | int, ...] | None, str]:
    pieces: list[str | int] = []
    slot = 0
    for it in items:
        if isinstance(it, str):  # a character of the literal prefix
            pieces.append(it)
        elif it.kind == "lit" and not it.quantified:
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
    if slot != groups:
        return None, "it has nested groups"
    return tuple(pieces), ""


def literal_end(pattern: str) -> tuple[str, bool]:
    """The literal text every full match of a valid ``pattern`` ends with, and whether
    that text is all of the pattern (a regex that matches one text only).

    ``("", False)`` when it cannot tell: a top-level ``|``, a verbose pattern (where
    spaces and ``#`` are not literal). A leading ``^`` and trailing ``$`` (Tornado's
    ``r"api\\.example\\.com$"``) change nothing: the pattern is fullmatched anyway.
    """
    pattern = strip_anchors(pattern)
    compiled = re.compile(pattern)
    if compiled.flags & re.VERBOSE:
        return "", False
    items = _items(pattern)
    if any(it.kind == "meta" and it.text == "|" for it in items):
        return "", False
    out: list[str] = []
    for it in reversed(items):
        if it.kind != "lit" or it.quantified:
            break
        out.append(it.text)
    return "".join(reversed(out)), len(out) == len(items)
