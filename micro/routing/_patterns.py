"""Routing layer, typed half: tell the two kinds of pattern apart; compile typed ones.

Knows no HTTP and no dispatch structure. It holds the field types, applies the one rule
that separates regex specs from typed patterns (:func:`classify`), turns a typed pattern
into the literal segments and field segments the trie in :mod:`micro.routing._trie` is
built from (:func:`compile_typed`; segments that mix text and fields are matched by a
``parse`` Parser), and builds typed reverse URLs. Regex specs live in
:mod:`micro.routing._regex`.

Every problem is raised as :class:`micro.errors.RoutingError` naming the pattern and why.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import quote

import parse  # type: ignore[import-untyped]  # ships .pyi but no py.typed

from micro.errors import RoutingError

Kind = Literal["regex", "typed"]

# A field is `{name}` or `{name:type}`; names are ASCII identifiers that start with a
# letter (parse treats a leading underscore or digit as an anonymous field).
FIELD_RE = re.compile(r"\{([A-Za-z][A-Za-z0-9_]*)(?::([A-Za-z]+))?\}")
# What a regex quantifier in braces looks like: {3}, {2,}, {,5}, {2,5}.
_QUANTIFIER_RE = re.compile(r"\{(?:\d+(?:,\d*)?|,\d+)\}")
# Characters that make a pattern a regex ('.' is deliberately absent: see classify).
REGEX_CHARS = frozenset("\\^$*+?()[]{}|")
# pchar of RFC 3986 minus '%': left alone when quoting a path.
PATH_SAFE = "/!$&'()*+,;=:@~"


@dataclass(frozen=True, slots=True)
class FieldType:
    """One typed-field type: its regex, its converter and its canonical spelling."""

    name: str
    regex: str  # matches exactly the canonical spellings; no capturing groups
    convert: Callable[[str], Any]  # text -> value; ValueError means "no match"
    to_text: Callable[[Any], str]  # value -> canonical text; TypeError/ValueError if none
    spans: bool = False  # True when a value may contain '/'
    # text -> value, ValueError unless ``regex`` matches: what dispatch calls. Defaults
    # to the regex then ``convert``; a type may give a faster equivalent.
    exact: Callable[[str], Any] | None = field(default=None, repr=False, compare=False)
    matcher: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        matcher = re.compile(self.regex)
        object.__setattr__(self, "matcher", matcher)
        if self.exact is None:
            convert = self.convert

            def exact(text: str) -> Any:
                if matcher.fullmatch(text) is None:
                    raise ValueError(f"{text!r} does not match {matcher.pattern}")
                return convert(text)

            object.__setattr__(self, "exact", exact)


def _canonical_int(text: str) -> int:
    # PERF: what (?:0|[1-9][0-9]*) then int() do, at half the cost; {id:d} is the field
    # dispatch meets most. isdigit() alone would take Arabic-Indic digits: isascii() too.
    if text.isdigit() and text.isascii() and (text[0] != "0" or len(text) == 1):
        return int(text)  # ValueError past int()'s digit limit: no match either
    raise ValueError(f"{text!r} is not a canonical int")


def _int_to_text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError("an int is needed")
    return str(value)


def _str_to_text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("a str is needed")
    return value


def _uuid_to_text(value: Any) -> str:
    if isinstance(value, uuid.UUID):
        return str(value)
    return _str_to_text(value)


def _path_convert(text: str) -> str:
    # A path value never climbs: '.' and '..' segments do not match, so a handler that
    # joins it under a directory cannot be led outside it by the router.
    if any(part in {".", ".."} for part in text.split("/")):
        raise ValueError("dot segment")
    return text


_SEGMENT = r"[^/]+"
FIELD_TYPES: Mapping[str, FieldType] = MappingProxyType(
    {
        "": FieldType("", _SEGMENT, str, _str_to_text),
        "d": FieldType("d", r"(?:0|[1-9][0-9]*)", int, _int_to_text, exact=_canonical_int),
        "w": FieldType("w", r"\w+", str, _str_to_text),
        "slug": FieldType("slug", r"[a-z0-9]+(?:-[a-z0-9]+)*", str, _str_to_text),
        "uuid": FieldType(
            "uuid",
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            uuid.UUID,
            _uuid_to_text,
        ),
        "path": FieldType("path", r"[^/]+(?:/[^/]+)*", _path_convert, _str_to_text, True),
    }
)


def _parse_types() -> dict[str, Callable[[str], Any]]:
    # parse treats some one-letter type names (d, x, e, ...) as numbers and adds a sign
    # to their regex; private names keep our canonical regexes exactly as written.
    return {"micro" + (ft.name or "seg"): _converter(ft) for ft in FIELD_TYPES.values()}


def _converter(ft: FieldType) -> Callable[[str], Any]:
    # parse stores the regex on the converter, so it needs a function of its own.
    def convert(text: str) -> Any:
        return ft.convert(text)

    decorated: Callable[[str], Any] = parse.with_pattern(ft.regex)(convert)
    return decorated


def _field_type(pattern: str, name: str, type_name: str | None) -> FieldType:
    try:
        return FIELD_TYPES[type_name or ""]
    except KeyError:
        known = ", ".join(sorted(t for t in FIELD_TYPES if t))
        raise RoutingError(
            f"{pattern!r}: field {name!r} has unknown type {type_name!r} (known: {known})"
        ) from None


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
    type's own regex and converter; only mixed text goes through a ``parse`` Parser.
    """

    __slots__ = ("exact", "fields", "name", "parser", "spans", "text")

    def __init__(self, text: str, fields: tuple[Field, ...], parser: Any, spans: bool) -> None:
        self.text = text
        self.fields = fields
        self.parser = parser  # a parse.Parser for mixed text, else None
        self.spans = spans
        # PERF: the walk calls ``exact`` directly for one-field segments (else None).
        self.name: str = fields[0].name
        self.exact = fields[0].type.exact if parser is None else None

    def match(self, text: str) -> list[tuple[str, Any]] | None:
        """Field values for ``text`` (already percent-decoded), or None."""
        try:
            if self.exact is not None:
                return [(self.name, self.exact(text))]
            result = self.parser.parse(text)
        except ValueError:  # no match, or a converter said no (a dot segment)
            return None
        if result is None:
            return None
        return [(f.name, result.named[f.name]) for f in self.fields]

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
        converted = ft.convert(text) if ok else None
        # A str is taken as the spelling itself; other values must convert back equal.
        ok = ok and (isinstance(value, str) or converted == value)
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


def compile_typed(pattern: str) -> TypedPattern:
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
        seg_fields = [
            Field(m.group(1), _field_type(pattern, m.group(1), m.group(2))) for m in found
        ]
        spans = any(f.type.spans for f in seg_fields)
        if spans:
            # A spanning field takes the rest of the path: the remaining segments are
            # matched as one text.
            seg = "/".join(raw[i:])
            found = list(FIELD_RE.finditer(seg))
            seg_fields = [
                Field(m.group(1), _field_type(pattern, m.group(1), m.group(2))) for m in found
            ]
            if sum(f.type.spans for f in seg_fields) > 1:
                raise RoutingError(f"{pattern!r}: at most one 'path' field per pattern")
        fields.extend(seg_fields)
        whole = len(found) == 1 and found[0].group(0) == seg
        parser = None if whole else _make_parser(pattern, seg)
        parts.append(Segment(seg, tuple(seg_fields), parser, spans))
        if spans:
            break
    names = [f.name for f in fields]
    if len(set(names)) != len(names):
        raise RoutingError(f"{pattern!r}: a field name is used twice")
    return TypedPattern(tuple(parts), tuple(fields))


def _make_parser(pattern: str, segment: str) -> parse.Parser:
    for a, b in zip(FIELD_RE.finditer(segment), list(FIELD_RE.finditer(segment))[1:], strict=False):
        if a.end() == b.start():
            raise RoutingError(
                f"{pattern!r}: fields {a.group(0)} and {b.group(0)} need literal text between them"
            )
    fmt = FIELD_RE.sub(lambda m: f"{{{m.group(1)}:micro{m.group(2) or 'seg'}}}", segment)
    return parse.compile(fmt, extra_types=_parse_types(), case_sensitive=True)
