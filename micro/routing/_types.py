"""Routing layer, field types: the built-in ones, and the user types a router adds.

Knows no HTTP. A :class:`FieldType` is a regex that matches exactly the canonical
spellings of a value, a converter from text to value and one back. The built-in types
are :data:`FIELD_TYPES` (read-only); a :class:`FieldTypes` is the set one router knows,
the built-ins plus the types its app registers with :meth:`FieldTypes.define`, which
refuses a type that could not keep match and reverse inverse of each other: a regex that
does not compile or captures, and above all a ``to_url`` whose text its own regex does
not match, or that does not convert back to the value it was given.

THE RULE for every type: ``regex`` fullmatches ``to_url(value)`` and
``to_python(to_url(value)) == value`` for each value it produces.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from micro.errors import RoutingError
from micro.routing._sample import sample_text

TYPE_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


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
    example: str = "x"  # one canonical text of this type (what `micro routes` tries)
    builtin: bool = True  # a str given to reverse is taken as its own spelling
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


_FLOAT_RE = r"(?:0|[1-9][0-9]*)\.[0-9]+"


def float_text(value: float) -> str:
    """The one spelling of a finite float >= 0: shortest round-trip digits, no exponent."""
    text = format(Decimal(repr(value)), "f")  # repr: the shortest digits that round-trip
    return text if "." in text else text + ".0"


def _canonical_float(text: str) -> float:
    # '1.50', '01.5', '1e3', '1.0000000000000001' (which is 1.0) are other spellings of
    # values that have one: refused, so that each value has one URL, as with 'd'.
    value = float(text)
    if "0" <= text[:1] <= "9" and math.isfinite(value) and float_text(value) == text:
        return value
    raise ValueError(f"{text!r} is not the canonical spelling of a float")


def _float_to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("a float is needed")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and math.copysign(1, value) < 0):
        raise ValueError("only finite floats >= 0 have a spelling")
    return float_text(value)


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
        "d": FieldType(
            "d", r"(?:0|[1-9][0-9]*)", int, _int_to_text, exact=_canonical_int, example="1"
        ),
        "f": FieldType(
            "f",
            _FLOAT_RE,
            _canonical_float,
            _float_to_text,
            exact=_canonical_float,
            example="1.5",
        ),
        "w": FieldType("w", r"\w+", str, _str_to_text),
        "slug": FieldType("slug", r"[a-z0-9]+(?:-[a-z0-9]+)*", str, _str_to_text),
        "uuid": FieldType(
            "uuid",
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            uuid.UUID,
            _uuid_to_text,
            example=str(uuid.UUID(int=0)),
        ),
        "path": FieldType(
            "path", r"[^/]+(?:/[^/]+)*", _path_convert, _str_to_text, True, example="x/y"
        ),
    }
)


class FieldTypes:
    """The field types one router knows: the built-ins plus the ones added to it."""

    def __init__(self) -> None:
        self._types: dict[str, FieldType] = dict(FIELD_TYPES)

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def get(self, pattern: str, name: str, type_name: str | None) -> FieldType:
        """The type of field ``name`` in ``pattern``; RoutingError when it is unknown."""
        try:
            return self._types[type_name or ""]
        except KeyError:
            known = ", ".join(sorted(t for t in self._types if t))
            raise RoutingError(
                f"{pattern!r}: field {name!r} has unknown type {type_name!r} (known: {known})"
            ) from None

    def define(
        self,
        name: str,
        converter: object | None = None,
        *,
        regex: str | None = None,
        to_python: Callable[[str], Any] | None = None,
        to_url: Callable[[Any], str] | None = None,
        examples: Iterable[str] | None = None,
        spans: bool = False,
    ) -> FieldType:
        """Add a user type, after checking that match and reverse stay inverses.

        Give ``regex``, ``to_python`` and ``to_url``, or an object carrying them as
        attributes (like werkzeug's converters; ``examples`` and ``spans`` too if it has
        them). ``to_python`` raises ValueError for text it refuses (no match, 404).
        ``examples`` are texts the type must accept; without them one is built from the
        regex. Each is checked: the regex matches it, ``to_python`` converts it, and
        ``to_url`` of that value is text the regex matches and that converts back to it.
        """
        if converter is not None:
            regex = getattr(converter, "regex", regex)
            to_python = getattr(converter, "to_python", to_python)
            to_url = getattr(converter, "to_url", to_url)
            examples = getattr(converter, "examples", examples)
            spans = bool(getattr(converter, "spans", spans))
        if not isinstance(name, str) or not TYPE_NAME_RE.fullmatch(name):
            raise RoutingError(
                f"field type name {name!r}: an ASCII letter, then letters, digits or '_'"
            )
        if name in self._types:
            raise RoutingError(f"field type {name!r} is already defined")
        if not isinstance(regex, str):
            raise RoutingError(f"field type {name!r}: regex must be a str, got {regex!r}")
        try:
            compiled = re.compile(regex)
        except re.error as exc:
            raise RoutingError(
                f"field type {name!r}: {regex!r} is not a valid regex: {exc}"
            ) from None
        if compiled.flags & ~re.UNICODE:
            raise RoutingError(
                f"field type {name!r}: {regex!r} sets global flags; scope them: (?i:...)"
            )
        if compiled.groups:
            raise RoutingError(
                f"field type {name!r}: {regex!r} has capturing groups; use (?:...) instead"
            )
        if not callable(to_python) or not callable(to_url):
            raise RoutingError(f"field type {name!r}: to_python and to_url must be callables")
        texts = list(examples) if examples is not None else []
        if not texts:
            built = sample_text(regex)
            if built is None:
                raise RoutingError(
                    f"field type {name!r}: cannot build a sample text for {regex!r};"
                    " pass examples=[...] (texts the type accepts) to check it with"
                )
            texts = [built]
        ft = FieldType(name, regex, to_python, to_url, spans, example=texts[0], builtin=False)
        for text in texts:
            _check_example(ft, text)
        self._types[name] = ft
        return ft


def _check_example(ft: FieldType, text: Any) -> None:
    where = f"field type {ft.name!r}"
    if not isinstance(text, str) or ft.matcher.fullmatch(text) is None:
        raise RoutingError(f"{where}: example {text!r} is not text its regex {ft.regex!r} matches")
    if not ft.spans and "/" in text:
        raise RoutingError(f"{where}: example {text!r} holds '/'; a spanning type needs spans=True")
    try:
        value = ft.convert(text)
    except Exception as exc:
        raise RoutingError(f"{where}: to_python({text!r}) raised {exc!r}") from None
    try:
        url = ft.to_text(value)
    except Exception as exc:
        raise RoutingError(f"{where}: to_url({value!r}) raised {exc!r}") from None
    if not isinstance(url, str) or ft.matcher.fullmatch(url) is None:
        raise RoutingError(
            f"{where}: to_url({value!r}) gives {url!r}, which its own regex {ft.regex!r}"
            " does not match, so the URLs it builds would not route back"
        )
    try:
        back = ft.convert(url)
    except Exception as exc:
        raise RoutingError(f"{where}: to_python({url!r}) raised {exc!r}") from None
    if back != value:
        raise RoutingError(
            f"{where}: to_python(to_url({value!r})) gives {back!r}, not the value back"
        )
