"""Routing layer, typed half: tell the two kinds of pattern apart; compile typed ones.

Knows no HTTP and no dispatch structure. It applies the one rule
that separates regex specs from typed patterns (:func:`classify`), turns a typed pattern
into the literal segments and field segments the trie in :mod:`micro.routing._trie` is
built from (:func:`compile_typed`; segments that mix text and fields are matched by one
regex of their text and their fields' type regexes), and builds typed reverse URLs.
Field types live in :mod:`micro.routing._types`, regex specs in :mod:`micro.routing._regex`.

Every problem is raised as :class:`micro.errors.RoutingError` naming the pattern and why.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from micro.errors import RoutingError
from micro.routing._types import FieldType, FieldTypes

Kind = Literal["regex", "typed"]

# A field is `{name}` or `{name:type}`; names are ASCII identifiers that start with a
# letter, so that each is a valid regex group name too.
FIELD_RE = re.compile(r"\{([A-Za-z][A-Za-z0-9_]*)(?::([A-Za-z][A-Za-z0-9_]*))?\}")
# What a regex quantifier in braces looks like: {3}, {2,}, {,5}, {2,5}.
_QUANTIFIER_RE = re.compile(r"\{(?:\d+(?:,\d*)?|,\d+)\}")
# Characters that make a pattern a regex ('.' is deliberately absent: see classify).
REGEX_CHARS = frozenset("\\^$*+?()[]{}|")
# pchar of RFC 3986 minus '%': left alone when quoting a path.
PATH_SAFE = "/!$&'()*+,;=:@~"


def strip_anchors(pattern: str) -> str:
    """Drop one leading ``^`` and one unescaped trailing ``$``: every pattern is anchored."""
    if pattern.startswith("^"):
        pattern = pattern[1:]
    if pattern.endswith("$"):
        backslashes = len(pattern[:-1]) - len(pattern[:-1].rstrip("\\"))
        if backslashes % 2 == 0:
            pattern = pattern[:-1]
    return pattern


def classify(pattern: str) -> Kind:
    """Return the kind of an (anchor-stripped) pattern.

    THE RULE: a pattern is a regex when, once its ``{name}`` / ``{name:type}`` fields
    are taken out, any of ``\\ ^ $ * + ? ( ) [ ] { } |`` is left; otherwise it is typed
    (a typed pattern without fields is a plain literal path, where ``.`` is a dot).
    A regex that also holds a field-shaped ``{name}``, and a brace that is neither a
    field nor a quantifier (``{}``, ``{:d}``, ``{id:3d}``), are errors, not guesses.
    """
    rest = FIELD_RE.sub("", pattern)
    if not REGEX_CHARS.intersection(rest):
        return "typed"
    without_quantifiers = _QUANTIFIER_RE.sub("", pattern)
    if FIELD_RE.search(without_quantifiers):
        raise RoutingError(
            f"{pattern!r} mixes regex syntax with typed fields; use one kind "
            "(a typed pattern has no regex characters outside its fields)"
        )
    if "{" in without_quantifiers.replace("\\{", ""):
        raise RoutingError(
            f"{pattern!r}: a brace that is neither a field {{name}} / {{name:type}} "
            "(name: ASCII letter first) nor a regex quantifier"
        )
    return "regex"


# --------------------------------------------------------------------------- typed


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    type: FieldType


class Segment:
    """One typed path segment with fields (or, when ``spans``, the rest of the path).

    A segment that is exactly one field (the common ``{id:d}``) is matched with the
    type's own regex and converter; mixed text is matched by one regex made of its
    literal text and its fields' type regexes (as named groups), then converted.

    PERF: the regex of mixed text leaves out the literal text it starts with (compared
    as a string first): ``p1-{x:d}`` ... ``p9999-{x:d}`` share one compiled regex (re's
    cache), so registering 10,000 of them compiles one.
    """

    __slots__ = ("exact", "fields", "name", "parser", "prefix", "spans", "text")

    def __init__(
        self, text: str, fields: tuple[Field, ...], parser: re.Pattern[str] | None, spans: bool
    ) -> None:
        self.text = text
        self.fields = fields
        self.parser = parser  # the regex of mixed text, else None
        self.spans = spans
        # PERF: the walk calls ``exact`` directly for one-field segments (else None).
        self.name: str = fields[0].name
        self.exact = fields[0].type.exact if parser is None else None
        # The literal text every match starts with: the trie finds segments by it.
        self.prefix = text[: text.index("{")]

    def match(self, text: str) -> list[tuple[str, Any]] | None:
        """Field values for ``text`` (already percent-decoded), or None."""
        try:
            if self.exact is not None:
                return [(self.name, self.exact(text))]
            if not text.startswith(self.prefix):
                return None
            m = self.parser.fullmatch(text, len(self.prefix))  # type: ignore[union-attr]
            if m is None:
                return None
            return [(f.name, f.type.convert(m.group(f.name))) for f in self.fields]
        except ValueError:  # no match, or a converter said no (a dot segment)
            return None

    @property
    def shape(self) -> str:
        """The segment with field names erased: equal shapes match the same paths."""
        return FIELD_RE.sub(lambda m: "{:" + (m.group(2) or "") + "}", self.text)


def _fullmatch(ft: FieldType, text: str) -> bool:
    return ft.matcher.fullmatch(text) is not None


@dataclass(frozen=True, slots=True)
class TypedPattern:
    """A typed pattern: literal segments (str) and field segments up to a spanning tail."""

    parts: tuple[str | Segment, ...]
    fields: tuple[Field, ...]

    @property
    def shape(self) -> str:
        return "/" + "/".join(p if isinstance(p, str) else p.shape for p in self.parts)

    def reverse(self, pattern: str, values: Mapping[str, Any]) -> str:
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(quote(part, safe=PATH_SAFE))
                continue
            spelled = {f.name: _spell(pattern, f, values[f.name]) for f in part.fields}
            text = _fill(part.text, spelled)
            # Only mixed segments can be ambiguous ('{a}-{b}' with a='x', b='y-z'):
            # check that the text matches back to the very values given.
            if part.parser is not None:
                want = [(name, value) for name, (_, value) in spelled.items()]
                if part.match(text) != want:
                    raise RoutingError(
                        f"{pattern!r}: values {dict(want)!r} give {text!r},"
                        " which does not match back to them"
                    )
            out.append(quote(text, safe=PATH_SAFE))
        return "/" + "/".join(out)


def _fill(text: str, spelled: Mapping[str, tuple[str, Any]]) -> str:
    return FIELD_RE.sub(lambda m: spelled[m.group(1)][0], text)


def _spell(pattern: str, field: Field, value: Any) -> tuple[str, Any]:
    """The canonical text of ``value`` for ``field`` and the value it matches back to."""
    ft = field.type
    try:
        text = ft.to_text(value)
        text.encode("utf-8")  # a lone surrogate has no URL spelling
        ok = _fullmatch(ft, text)
        ok = ok and (ft.spans or "/" not in text)
        converted = ft.convert(text) if ok else None
        # A str is taken as a built-in type's spelling itself; other values (and any
        # value of a user type) must convert back equal.
        ok = ok and ((ft.builtin and isinstance(value, str)) or converted == value)
    except UnicodeEncodeError:
        raise RoutingError(f"{pattern!r}: {value!r} for {field.name!r} is not UTF-8 text") from None
    except (TypeError, ValueError) as exc:
        raise RoutingError(
            f"{pattern!r}: field {field.name!r} cannot hold {value!r}: {exc}"
        ) from None
    if not ok:
        what = "segments without '.' or '..'" if ft.spans else "one path segment"
        raise RoutingError(
            f"{pattern!r}: {value!r} is not a canonical value of field {field.name!r} "
            f"(type {ft.name or 'default'!r}, {what}, pattern {ft.regex})"
        )
    return text, converted


def compile_typed(pattern: str, types: FieldTypes) -> TypedPattern:
    if not pattern.startswith("/"):
        raise RoutingError(f"typed pattern {pattern!r} must start with '/'")
    raw = pattern[1:].split("/")
    parts: list[str | Segment] = []
    fields: list[Field] = []
    for i, seg in enumerate(raw):
        found = list(FIELD_RE.finditer(seg))
        if not found:
            parts.append(seg)
            continue
        seg_fields = [Field(m.group(1), types.get(pattern, m.group(1), m.group(2))) for m in found]
        spans = any(f.type.spans for f in seg_fields)
        if spans:
            # A spanning field takes the rest of the path: the remaining segments are
            # matched as one text.
            seg = "/".join(raw[i:])
            found = list(FIELD_RE.finditer(seg))
            seg_fields = [
                Field(m.group(1), types.get(pattern, m.group(1), m.group(2))) for m in found
            ]
            if sum(f.type.spans for f in seg_fields) > 1:
                raise RoutingError(f"{pattern!r}: at most one 'path' field per pattern")
        fields.extend(seg_fields)
        whole = len(found) == 1 and found[0].group(0) == seg
        parser = None if whole else _mixed_regex(pattern, seg, seg_fields)
        parts.append(Segment(seg, tuple(seg_fields), parser, spans))
        if spans:
            break
    names = [f.name for f in fields]
    if len(set(names)) != len(names):
        raise RoutingError(f"{pattern!r}: a field name is used twice")
    return TypedPattern(tuple(parts), tuple(fields))


def _mixed_regex(pattern: str, segment: str, fields: list[Field]) -> re.Pattern[str]:
    """One regex for a segment that mixes text and fields: literal text escaped, each
    field a named group holding its type's regex (which has no groups of its own)."""
    found = list(FIELD_RE.finditer(segment))
    for a, b in itertools.pairwise(found):
        if a.end() == b.start():
            raise RoutingError(
                f"{pattern!r}: fields {a.group(0)} and {b.group(0)} need literal text between them"
            )
    names = [f.name for f in fields]
    if len(set(names)) != len(names):
        raise RoutingError(f"{pattern!r}: a field name is used twice")
    pieces: list[str] = []
    at = found[0].start()  # the literal start is compared as text, before the regex
    for m, field in zip(found, fields, strict=True):
        pieces.append(re.escape(segment[at : m.start()]))
        pieces.append(f"(?P<{field.name}>(?:{field.type.regex}))")
        at = m.end()
    pieces.append(re.escape(segment[at:]))
    try:
        return re.compile("".join(pieces))
    except re.error as exc:
        raise RoutingError(f"{pattern!r}: cannot combine its field regexes: {exc}") from None
