"""sans-IO HTTP layer: the ABNF rules of RFC 9110/9112 as precompiled regexes.

Each name is the rule it implements (``TCHAR`` is ``tchar``, ``FIELD_LINE`` is
``field-line``, ...). The request head is decoded as latin-1 before parsing, so
the head rules are ``str`` patterns in which U+0080..U+00FF stand for the
``obs-text`` bytes 0x80..0xFF; chunk lines are matched on the raw buffer, so
their rules are ``bytes`` patterns. Nothing here has state; the parser imports
the compiled patterns.
"""

from __future__ import annotations

import re

# RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "."
#                          / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
TCHAR = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
TOKEN = TCHAR + "+"
OWS = r"[ \t]*"
# field-vchar = VCHAR / obs-text; with the SP and HTAB a value may hold inside, any
# run of these characters is a field-value between OWS.
FIELD_CONTENT_CHAR = r"[\t\x20-\x7e\x80-\xff]"

# RFC 9112 §3: request-line = method SP request-target SP HTTP-version. The target
# takes any VCHAR or obs-text here (see micro.http.parser for that decision); its
# form is checked after the split.
REQUEST_LINE = re.compile(
    rf"({TOKEN}) ([\x21-\x7e\x80-\xff]+) HTTP/([0-9])\.([0-9])",
)
# Only to tell a well-formed but unsupported version (505) from garbage (400).
HTTP_VERSION = re.compile(r"HTTP/([0-9])\.([0-9])")
TOKEN_RE = re.compile(TOKEN)
METHOD = TOKEN_RE
REQUEST_TARGET = re.compile(r"[\x21-\x7e\x80-\xff]+")

# RFC 9112 §5: field-line = field-name ":" OWS field-value OWS, each ended by CRLF.
# A match starts with the CRLF before its line and stops at the CRLF after it (or
# at the end of the string), and nothing in a match can be CR or LF but that first
# CRLF: each match is exactly one whole valid line, so findall over the lines, each
# led by its CRLF, finds one match per line iff every line is valid.
# PERF: the value group is greedy and keeps trailing OWS (a lazy group costs a
# third more); the parser strips it only when a line ends in SP or HTAB. A
# leading literal (the CRLF) lets the regex engine skip ahead to where a match can
# start, which a lookbehind did not.
# The OWS is possessive: a backtracking one would give its blanks back to the value
# one at a time when the line fails later, so that a line of n blanks then a bad
# character cost n * n steps (64 KB of them: minutes of the I/O thread's CPU).
FIELD_LINE = re.compile(rf"\r\n({TOKEN}):[ \t]*+({FIELD_CONTENT_CHAR}*+)(?=\r\n|\Z)")
FIELD_NAME = re.compile(TOKEN)
FIELD_CONTENT = re.compile(rf"{FIELD_CONTENT_CHAR}*")

# PERF: what parse_head tries first, the usual request line and field lines; a
# head they refuse is parsed by the strict rules above, which decide the error.
# USUAL_REQUEST_LINE: an origin-form target without "#" in HTTP/1.x, split into
# path and query (after the first "?", if any: empty without one), followed by the
# CRLF of the first field line. USUAL_FIELD_LINE: FIELD_LINE without trailing OWS
# (the lookbehind refuses a value ending in SP or HTAB, which the strict path
# strips), or else just the CRLF: findall gives one pair per CRLF, ("", "") for
# each line that is not a usual valid field line (no valid name is empty).
_PATH_CHAR = r"[\x21\x22\x24-\x3e\x40-\x7e\x80-\xff]"  # a target's, but "#" and "?"
_QUERY_CHAR = r"[\x21\x22\x24-\x7e\x80-\xff]"  # a target's, but "#"
USUAL_REQUEST_LINE = re.compile(
    rf"({TOKEN}) ((/{_PATH_CHAR}*+)\??({_QUERY_CHAR}*+)) HTTP/1\.([0-9])(?=\r\n)"
)
USUAL_FIELD_LINE = re.compile(
    rf"\r\n(?:({TOKEN}):[ \t]*+({FIELD_CONTENT_CHAR}*+)(?<![ \t])(?=\r\n|\Z)|)"
)

# RFC 3986 §3.2: authority without userinfo (RFC 9110 §4.2.4 forbids it for http).
# host = IP-literal / IPv4address / reg-name; reg-name covers IPv4address.
_IP_LITERAL = r"\[(?:[0-9A-Fa-f:.]+|v[0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+)\]"
_REG_NAME = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*"
HOST = re.compile(rf"(?:{_IP_LITERAL}|{_REG_NAME})(?::[0-9]*)?")
# PERF: the Host values nearly everyone sends: a reg-name without percent-escapes
# and a port in 1..65535 without leading zeros, checked in one run of a character
# class (HOST's per-character alternation costs three times as much). Every value
# it matches passes HOST and the port rule; one it refuses gets the full checks.
USUAL_HOST = re.compile(
    r"[A-Za-z0-9\-._~!$&'()*+,;=]+"
    r"(?::(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?"
)

# RFC 9112 §3.2.2: absolute-form = absolute-URI (scheme "://" authority path-abempty
# [ "?" query ]); the path and query characters were checked by REQUEST_TARGET.
ABSOLUTE_FORM = re.compile(r"([A-Za-z][A-Za-z0-9+\-.]*)://([^/?#]*)((?:/[^?]*)?)(?:\?(.*))?")

# RFC 9112 §7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
#   chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
#   chunk-ext-val = token / quoted-string
_B_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_B_QUOTED_STRING = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
CHUNK_LINE = re.compile(
    rb"([0-9A-Fa-f]+)(?:[ \t]*;[ \t]*"
    + _B_TOKEN
    + rb"(?:[ \t]*=[ \t]*(?:"
    + _B_TOKEN
    + rb"|"
    + _B_QUOTED_STRING
    + rb"))?)*",
)
