"""sans-IO HTTP layer: turn one complete request head into a checked RequestHead.

:func:`parse_head` receives the head decoded as latin-1, without its final empty
line, and either returns a :class:`RequestHead` or raises the ProtocolError to
answer with. It decides the message framing (RFC 9112 §6.3) and every rule that
keeps a front proxy and micro from reading different requests out of the same
bytes; the decisions that go beyond the RFC are listed in micro.http.parser.

PERF: this runs once per request, in two tiers. :func:`parse_head` first tries
the usual head (origin-form target, HTTP/1.x, a Host, no field sent twice): one
regex ``match`` for the request line, one ``findall`` for all field lines, one
comprehension that lower-cases the names, one ``dict`` of them, and dict lookups
for the fields that matter to framing. Any doubt (a line that did not match, a
field sent twice, an unusual Host or target) hands the head to
:func:`parse_head_strict`, which checks every rule in order and diagnoses the
first fault; the only errors the first tier raises itself are those of
Content-Length and Transfer-Encoding, which the strict path would reach with the
same fields. Both give the same answer for every head (a test compares them on
random heads); the first is only faster where it applies.
"""

from __future__ import annotations

from micro.errors import (
    BadRequest,
    ContentTooLarge,
    HeaderFieldsTooLarge,
    NotImplementedByServer,
    URITooLong,
    VersionNotSupported,
)
from micro.http import grammar
from micro.http.events import Limits, RequestHead

# Content-Length values longer than this are past any sane limit (and past what
# int() accepts from a string without a fuss); they get a 413 without parsing.
_MAX_LENGTH_DIGITS = 18

# Fields a request may carry at most once: a second copy would be joined with a
# comma (RFC 9110 §5.3), which gives none of them a meaning, and two readers of
# the same request could each pick a different copy. Host and Content-Length have
# their own rules below.
SINGLETON_FIELDS = frozenset(
    (
        "authorization",
        "content-type",
        "if-modified-since",
        "if-range",
        "if-unmodified-since",
        "max-forwards",
        "proxy-authorization",
        "range",
    )
)


def parse_head(head: str, limits: Limits, known_host: str = "") -> RequestHead:
    """Parse ``head`` (request line and field lines, CRLF-separated, no final CRLF).

    ``known_host`` is a non-empty Host value that passed the checks before (the
    parser remembers its connection's): the same value is not checked again, nor
    is one in ``limits.hosts`` (values that passed on any connection).
    """
    match = grammar.USUAL_REQUEST_LINE.match(head)
    if match is not None:
        line_end = match.end()
        # One pair per line (a bare CR or LF spoils the line it is in); ("", "")
        # for a line that is not a usual valid field line.
        pairs = grammar.USUAL_FIELD_LINE.findall(head, line_end)
        if (
            len(pairs) <= limits.max_header_count
            and line_end <= limits.max_request_line
            and len(head) - line_end <= limits.max_header_bytes
        ):
            headers = [(n.lower(), v) for n, v in pairs]
            fields = dict(headers)
            host = fields.get("host")
            if (
                # A field sent twice is judged by the rules for lists and singletons.
                len(fields) == len(headers)
                and "" not in fields
                and host
                and (host == known_host or host in limits.hosts.passed or _usual_host(host, limits))
            ):
                method, target, path, query, minor = match.groups()
                version = "1.0" if minor == "0" else "1.1"
                content_length: int | None = None
                chunked = expect_continue = False
                if "content-length" in fields or "transfer-encoding" in fields:
                    # The strict path would get here with the same headers (every
                    # check before framing passed), so its errors are the same.
                    content_length, chunked = _framing(headers, version, limits)
                    expect_continue = (
                        (chunked or bool(content_length))
                        and version == "1.1"
                        and "expect" in fields
                        and "100-continue" in _list_elements([fields["expect"]])
                    )
                connection = fields.get("connection")
                if connection is None:
                    keep_alive = version == "1.1"
                else:
                    connection = connection.lower()
                    if connection == "keep-alive" or connection == "close":
                        keep_alive = connection == "keep-alive"
                    else:
                        tokens = _list_elements([connection])
                        keep_alive = "close" not in tokens and (
                            version == "1.1" or "keep-alive" in tokens
                        )
                return RequestHead(
                    method,
                    target,
                    path,
                    query,
                    version,
                    headers,
                    host,
                    None,
                    content_length,
                    chunked,
                    keep_alive,
                    expect_continue,
                )
    return parse_head_strict(head, limits, known_host)


def _usual_host(host: str, limits: Limits) -> bool:
    """True (and remembered in ``limits.hosts``) if ``host`` is a usual valid Host value."""
    if grammar.USUAL_HOST.fullmatch(host) is None:
        return False
    limits.hosts.add(host)
    return True


def parse_head_strict(head: str, limits: Limits, known_host: str = "") -> RequestHead:
    """:func:`parse_head` checking every rule in order: the first fault decides the error.

    The reference for the fast tier of :func:`parse_head`, and what it falls back
    on for any head it does not take.
    """
    line_end = head.find("\r\n")
    if line_end < 0:
        request_line, fields = head, ""
    else:
        # The field lines keep the CRLF before them: FIELD_LINE needs it (see grammar).
        request_line, fields = head[:line_end], head[line_end:] + "\r\n"
    if len(request_line) > limits.max_request_line:
        raise URITooLong("request line too long")
    if len(fields) - 2 > limits.max_header_bytes:
        raise HeaderFieldsTooLarge("header section too large")
    match = grammar.REQUEST_LINE.fullmatch(request_line)
    if match is None:
        _bad_request_line(request_line)
    method, target, major, minor = match.groups()  # type: ignore[union-attr]
    # NOTE: the fields are checked before the version on purpose: a bare CR or LF
    # anywhere must give its 400 before any other status (see parse_fields).
    if fields:
        headers = parse_fields(fields, limits.max_header_count, "header")
        # NOTE: a field named N is present iff "\nN:" occurs in the lower-cased
        # lines (each follows a CRLF, values hold no LF, names no whitespace): C-speed
        # substring tests stand in for a Python loop over the fields.
        lowered = fields.lower()
    else:
        headers = []
        lowered = ""
    if major != "1":
        raise VersionNotSupported("HTTP version not supported")
    # RFC 9110 §2.5: a higher minor version is served as the highest we know.
    version = "1.0" if minor == "0" else "1.1"
    if "#" in target:
        # RFC 9112 §3.2: a fragment is never sent; passing it on would hand the app
        # a QUERY_STRING or PATH_INFO that no URL it generated can hold.
        raise BadRequest("fragment ('#') in request target")
    if target[0] == "/":
        path, _, query = target.partition("?")
        scheme = authority = None
    else:
        path, query, scheme, authority = _split_target(method, target)
    if len(headers) > 1:
        _check_singletons(headers)

    at = lowered.find("\nhost:")
    if at >= 0:
        if lowered.find("\nhost:", at + 6) >= 0:
            raise BadRequest("more than one Host field")
        host = fields[at + 6 : fields.index("\r", at + 6)].strip(" \t")
        if host != known_host or not host:
            if grammar.HOST.fullmatch(host) is None or host[:1] == ":":
                raise BadRequest("invalid Host field")
            if not host and version == "1.1" and authority is None:
                # RFC 9112 §3.2: only a target without an authority may have an empty
                # Host, and every origin-form target of an http(s) server has one.
                raise BadRequest("empty Host field")
            _check_port(host, "Host field")
    elif version == "1.1":
        raise BadRequest("missing Host field")
    else:
        host = ""
    if authority is not None:
        # RFC 9112 §3.2.2: the authority of an absolute-form target replaces Host.
        _check_port(authority, "authority in absolute-form target")
        host = authority

    content_length: int | None = None
    chunked = False
    if "\ncontent-length:" in lowered or "\ntransfer-encoding:" in lowered:
        content_length, chunked = _framing(headers, version, limits)
    at = lowered.find("\nconnection:")
    if at < 0:
        keep_alive = version == "1.1"
    else:
        end = lowered.index("\r", at + 12)
        value = lowered[at + 12 : end].strip(" \t")
        if (value == "close" or value == "keep-alive") and lowered.find("\nconnection:", end) < 0:
            # PERF: the usual field, once, with one token: no list to split.
            keep_alive = value == "keep-alive"
        else:
            tokens = _list_elements(_values(headers, "connection"))
            keep_alive = "close" not in tokens and (version == "1.1" or "keep-alive" in tokens)
    # RFC 9110 §10.1.1: Expect is ignored on HTTP/1.0; micro also ignores it when
    # no body is announced, and ignores expectations other than 100-continue.
    expect_continue = (
        version == "1.1"
        and (chunked or bool(content_length))
        and "\nexpect:" in lowered
        and "100-continue" in _list_elements(_values(headers, "expect"))
    )
    return RequestHead(
        method,
        target,
        path,
        query,
        version,
        headers,
        host,
        scheme,
        content_length,
        chunked,
        keep_alive,
        expect_continue,
    )


def parse_fields(fields: str, max_count: int, kind: str) -> list[tuple[str, str]]:
    """Parse field lines given as ``"\\r\\n" + line + "\\r\\n" + ... + line + "\\r\\n"``.

    Returns (lower-cased name, value) pairs; raises HeaderFieldsTooLarge past
    ``max_count`` lines and BadRequest naming the first bad line's fault. A bare
    CR or LF is a 400 before anything else, as it is when the lines arrive in
    pieces (the parser finds it before the section is complete).
    """
    count = fields.count("\r\n") - 1
    if count > max_count:
        if fields.count("\r") != count + 1 or fields.count("\n") != count + 1:
            raise BadRequest(f"bare CR or LF in {kind} field")
        raise HeaderFieldsTooLarge(f"too many {kind} fields")
    pairs = grammar.FIELD_LINE.findall(fields)
    # A FIELD_LINE match is exactly one valid line, so every line is valid iff
    # there are as many matches as lines.
    if len(pairs) != count:
        raise BadRequest(diagnose_fields(fields).replace("header", kind))
    if " \r\n" in fields or "\t\r\n" in fields:
        return [(n.lower(), v.rstrip(" \t")) for n, v in pairs]
    return [(n.lower(), v) for n, v in pairs]


def _check_singletons(headers: list[tuple[str, str]]) -> None:
    names = [n for n, _ in headers]
    if len(set(names)) == len(names):
        return  # PERF: the usual head repeats no field at all
    seen: set[str] = set()
    for name in names:
        if name in SINGLETON_FIELDS:
            if name in seen:
                raise BadRequest(f"more than one {name} field")
            seen.add(name)


def _check_port(host: str, where: str) -> None:
    """A port, when given, must be 1..65535 (``name:`` without digits is no port)."""
    colon = host.rfind(":")
    if colon < 0 or host.endswith("]"):
        return
    digits = host[colon + 1 :].lstrip("0")
    if colon < len(host) - 1 and (len(digits) > 5 or not 0 < int(digits or "0") <= 65535):
        raise BadRequest(f"port out of range in {where}")


def _bad_request_line(line: str) -> None:
    if "\r" in line or "\n" in line:
        raise BadRequest("bare CR or LF in request line")
    parts = line.split(" ")
    if len(parts) != 3:
        raise BadRequest("malformed request line")
    method, target, version = parts
    if grammar.METHOD.fullmatch(method) is None:
        raise BadRequest("invalid method")
    if grammar.REQUEST_TARGET.fullmatch(target) is None:
        raise BadRequest("invalid request target")
    if grammar.HTTP_VERSION.fullmatch(version) is not None:
        raise VersionNotSupported("HTTP version not supported")
    raise BadRequest("invalid HTTP version")


def diagnose_fields(fields: str) -> str:
    """Say what is wrong with field lines parse_fields refused (a client-safe reason)."""
    for line in fields[2:-2].split("\r\n"):
        if not line or "\r" in line or "\n" in line:
            return "bare CR or LF in header field"
        if line[0] in " \t":
            # RFC 9112 §5.2: obs-fold is rejected here, never unfolded.
            return "obsolete line folding in header field"
        name, colon, value = line.partition(":")
        if not colon:
            return "header field without colon"
        if name != name.rstrip(" \t"):
            return "whitespace between header field name and colon"
        if grammar.FIELD_NAME.fullmatch(name) is None:
            return "invalid header field name"
        if grammar.FIELD_CONTENT.fullmatch(value) is None:
            return "invalid character in header field value"
    return "malformed header field"


def _split_target(method: str, target: str) -> tuple[str, str, str | None, str | None]:
    """Return (path, query, scheme, authority) of a target not in origin-form (RFC 9112 §3.2)."""
    if target == "*":
        if method != "OPTIONS":
            raise BadRequest("asterisk-form target is only for OPTIONS")
        return "*", "", None, None
    match = grammar.ABSOLUTE_FORM.fullmatch(target)
    if match is None:
        raise BadRequest("unsupported request-target form")
    scheme, authority, path, query = match.groups()
    if not authority or grammar.HOST.fullmatch(authority) is None or authority[0] == ":":
        raise BadRequest("invalid authority in absolute-form target")
    return path or "/", query or "", scheme.lower(), authority


def _framing(
    headers: list[tuple[str, str]], version: str, limits: Limits
) -> tuple[int | None, bool]:
    """RFC 9112 §6.3: (content_length, chunked) from Content-Length / Transfer-Encoding."""
    codings = _values(headers, "transfer-encoding")
    lengths = _values(headers, "content-length")
    if codings:
        if version == "1.0":
            raise BadRequest("Transfer-Encoding in an HTTP/1.0 request")
        if lengths:
            raise BadRequest("both Content-Length and Transfer-Encoding")
        _check_codings(codings)
        return None, True
    content_length = _content_length(lengths)
    if content_length > limits.max_body_bytes:
        raise ContentTooLarge("request body too large")
    return content_length, False


def _values(headers: list[tuple[str, str]], name: str) -> list[str]:
    return [v for n, v in headers if n == name]


def _list_elements(values: list[str]) -> set[str]:
    if not values:
        return set()
    return {e.strip(" \t").lower() for v in values for e in v.split(",")}


def _check_codings(values: list[str]) -> None:
    """Accept exactly one ``chunked``, last; no empty elements, no parameters."""
    codings = [c.strip(" \t").lower() for v in values for c in v.split(",")]
    if codings[-1] != "chunked":
        raise BadRequest("Transfer-Encoding whose final coding is not chunked")
    for coding in codings[:-1]:
        if coding == "chunked":
            raise BadRequest("chunked applied more than once")
        if grammar.TOKEN_RE.fullmatch(coding) is None:
            raise BadRequest("invalid transfer coding")
    if len(codings) > 1:
        # RFC 9112 §6.1: a transfer coding we do not implement is a 501.
        raise NotImplementedByServer("unsupported transfer coding")


def _content_length(values: list[str]) -> int:
    """RFC 9112 §6.3: one decimal value, or a list of identical ones; nothing else."""
    if len(values) == 1 and values[0].isascii() and values[0].isdigit():
        text = values[0]
    else:
        elements = {e.strip(" \t") for v in values for e in v.split(",")}
        if len(elements) != 1:
            raise BadRequest("differing Content-Length values")
        text = elements.pop()
        if not (text.isascii() and text.isdigit()):
            raise BadRequest("invalid Content-Length")
    if len(text.lstrip("0")) > _MAX_LENGTH_DIGITS:
        raise ContentTooLarge("request body too large")
    return int(text)
