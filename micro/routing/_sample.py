"""Routing layer, helper: build one text a (simple) regex matches, to check a user type with.

Knows no HTTP. :func:`sample_text` walks the regex's syntax and takes, at every choice,
the first alternative, one repetition of what a quantifier repeats (the minimum when that
is more than one) and a character a class accepts. Lookarounds, backreferences and
conditionals are skipped; whatever comes out is checked with the regex itself, so a
wrong guess gives None (the caller then asks for examples), never a wrong sample.
"""

from __future__ import annotations

import re

_QUANT = re.compile(r"[*+?]|\{(\d*)(?:(,)(\d*))?\}")
_CLASS_ESCAPES = {"d": "0", "w": "a", "s": " ", "D": "a", "W": "-", "S": "a"}
_TRY_CHARS = "a0A_-.~ zZ9x"
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "a": "\a"}


class _Unsupported(Exception):
    pass


class _Builder:
    def __init__(self, regex: str) -> None:
        self.p = regex
        self.i = 0

    def alternation(self) -> str:
        first = self.sequence()
        while self.i < len(self.p) and self.p[self.i] == "|":
            self.i += 1
            self.sequence()  # parsed to move past it; the first branch is kept
        return first

    def sequence(self) -> str:
        out: list[str] = []
        while self.i < len(self.p) and self.p[self.i] not in "|)":
            atom = self.atom()
            out.append(atom * self.repeat())
        return "".join(out)

    def repeat(self) -> int:
        m = _QUANT.match(self.p, self.i)
        if m is None:
            return 1
        self.i = m.end()
        if self.i < len(self.p) and self.p[self.i] in "?+":
            self.i += 1  # lazy or possessive: the count stays
        if m.group(0) in "*+?":
            return 1
        low = int(m.group(1) or 0)
        high = m.group(3)
        if m.group(2) is None:
            return low
        return max(low, 1) if not high or int(high) >= 1 else 0

    def atom(self) -> str:
        p, i = self.p, self.i
        c = p[i]
        if c == "(":
            return self.group()
        if c == "[":
            end = class_end(p, i)
            self.i = end
            return _class_char(p[i:end])
        if c == "\\":
            self.i += 2
            d = p[i + 1 : i + 2]
            if d in _CLASS_ESCAPES:
                return _CLASS_ESCAPES[d]
            if d in _SIMPLE_ESCAPES:
                return _SIMPLE_ESCAPES[d]
            if d in "bBAZ":
                return ""
            if d.isalnum():
                raise _Unsupported(d)  # \x41, \1, \N{...}: not worth guessing
            return d
        self.i += 1
        if c in "^$":
            return ""
        if c == ".":
            return "a"
        return c

    def group(self) -> str:
        p = self.p
        self.i += 1
        skip = False
        if p.startswith("?", self.i):
            if p.startswith(("?=", "?!", "?<=", "?<!", "?#"), self.i):
                skip = True
            elif p.startswith(("?P<", "?<"), self.i):
                self.i = p.index(">", self.i) + 1
            elif p.startswith(("?P=", "?("), self.i):
                raise _Unsupported("backreference")
            else:  # (?:...), (?i:...), (?>...), (?i)
                j = self.i + 1
                while j < len(p) and p[j] not in ":)":
                    j += 1
                self.i = j + 1 if j < len(p) and p[j] == ":" else j
        inner = self.alternation()
        if self.i >= len(p) or p[self.i] != ")":
            raise _Unsupported("unbalanced")
        self.i += 1
        return "" if skip else inner


def class_end(p: str, i: int) -> int:
    """Index just past the character class that opens at ``p[i] == '['``."""
    j = i + 1
    if j < len(p) and p[j] == "^":
        j += 1
    if j < len(p) and p[j] == "]":
        j += 1
    while j < len(p) and p[j] != "]":
        j += 2 if p[j] == "\\" else 1
    return j + 1


def _class_char(cls: str) -> str:
    candidates = list(_TRY_CHARS)
    body = cls[1:-1]
    if body and body[0] not in "^\\":
        candidates.insert(0, body[0])
    for c in candidates:
        if re.fullmatch(cls, c):
            return c
    raise _Unsupported(cls)


def sample_text(regex: str) -> str | None:
    """A text ``regex`` fullmatches, or None if this simple walk cannot find one."""
    try:
        compiled = re.compile(regex)
        text = _Builder(regex).alternation()
    except (_Unsupported, re.error, ValueError, IndexError):
        return None
    return text if compiled.fullmatch(text) else None
