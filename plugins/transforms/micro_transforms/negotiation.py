"""micro-transforms, pure helpers: which content coding a client accepts, what is compressible.

No HTTP objects here, only strings, so the rules are easy to test on their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from types import MappingProxyType

__all__ = ["choose_encoding", "is_compressible", "parse_accept_encoding"]

# RFC 9110 12.5.3: "x-gzip" is an alias of "gzip".
_ALIASES = MappingProxyType({"x-gzip": "gzip"})


def parse_accept_encoding(header: str) -> dict[str, float]:
    """``Accept-Encoding`` as ``{coding: q}``; malformed elements are ignored.

    A coding listed twice keeps its highest q (clients do not do this on purpose,
    and the generous reading never compresses what the client refused outright).
    """
    prefs: dict[str, float] = {}
    for element in header.split(","):
        coding, *params = element.split(";")
        coding = coding.strip().lower()
        if not coding:
            continue
        q: float | None = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                q = _qvalue(value.strip())
        if q is None:
            continue
        coding = _ALIASES.get(coding, coding)
        prefs[coding] = max(q, prefs.get(coding, 0.0))
    return prefs


def _qvalue(text: str) -> float | None:
    # qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
    try:
        q = float(text)
    except ValueError:
        return None
    return q if 0.0 <= q <= 1.0 and text[:1] in ("0", "1") else None


def choose_encoding(header: str | None, offered: Sequence[str]) -> str | None:
    """The coding of ``offered`` (server preference order) to use, or None for identity.

    An absent header gets no compression (RFC 9110 allows any coding, but old
    clients that send nothing rarely decode one). ``q=0`` refuses a coding; ``*``
    stands for every coding not named; ``identity`` with a higher q than the best
    coding wins, so ``gzip;q=0.5, identity`` is answered uncompressed.
    """
    if not header:
        return None
    prefs = parse_accept_encoding(header)
    star = prefs.get("*", 0.0)
    best: str | None = None
    best_q = 0.0
    for coding in offered:
        q = prefs.get(coding, star)
        if q > best_q:
            best, best_q = coding, q
    identity = prefs.get("identity")
    if best is not None and identity is not None and identity > best_q:
        return None
    return best


def is_compressible(content_type: str | None, patterns: Iterable[str]) -> bool:
    """Whether ``content_type`` (parameters ignored) matches one of ``patterns``.

    A pattern is an exact media type (``application/json``), a whole top-level
    type (``text/*``) or a structured suffix (``application/*+json``).
    """
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    top, _, sub = media.partition("/")
    if not sub:
        return False
    for pattern in patterns:
        pattern = pattern.lower()
        if pattern == media:
            return True
        ptop, _, psub = pattern.partition("/")
        if ptop != top:
            continue
        if psub == "*":
            return True
        if psub.startswith("*+") and sub.endswith(psub[1:]):
            return True
    return False
