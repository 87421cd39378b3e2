"""Routing layer (knows no HTTP): map a host, a path and a method to a route; reverse names.

The rules, in one place:

Patterns
    One rule tells the two kinds apart. After one leading ``^`` and one trailing ``$``
    are dropped (every pattern is anchored at both ends anyway), a pattern is a **regex**
    when, once its ``{name}`` / ``{name:type}`` fields are taken out, any of
    ``\\ ^ $ * + ? ( ) [ ] { } |`` is left. Otherwise it is **typed**; a typed pattern
    without fields is a literal path, and ``.`` in it is a plain dot. So
    ``"/index/(\\d+)"`` and ``"/a/\\d{3}"`` are regexes, ``"/user/{id:d}"`` and
    ``"/robots.txt"`` are typed. A regex holding a field-shaped ``{name}``, and a brace
    that is neither a field nor a quantifier (``{}``, ``{:d}``, ``{id:3d}``), are
    errors. Field names start with an ASCII letter and are unique in a pattern.

Regex specs (Tornado style)
    Matched against the whole percent-decoded path. Unnamed groups become positional
    arguments, named groups keyword arguments (as str, None for a group that did not
    take part); mixing the two is a RoutingError.

Typed fields
    Case-sensitive, matched on the percent-decoded path, one path segment each unless
    the type spans segments, and only canonical spellings match, so that reverse and
    match are inverses. Values reach the handler converted:

    ==========  ==============================================  ==============
    type        matches                                         value
    ==========  ==============================================  ==============
    (none)      any non-empty segment                           str
    ``d``       ASCII digits, no sign, no leading zero but "0"  int (>= 0)
    ``w``       letters, digits, underscore (Unicode ``\\w``)    str
    ``slug``    ``a-z0-9`` words joined by single hyphens       str
    ``uuid``    lower-case hyphenated 8-4-4-4-12 hex             uuid.UUID
    ``path``    one or more non-empty segments, none . or ..    str (with '/')
    ==========  ==============================================  ==============

    ``{id:d}`` refuses ``+5``, ``0x1f``, `` 12``, ``007`` and Arabic-Indic digits (all
    404s). There is no float type: floats have no one canonical spelling. A segment
    may mix text and fields (``"v{major:d}.{minor:d}"``, handled by ``parse``) when
    literal text separates the fields; at most one ``path`` field per pattern, and it
    takes the rest of the path (text after it, such as ``"/{p:path}/edit"``, must
    follow).

Dispatch order
    Host groups whose pattern matches (anchored, case-insensitive, on the Host without
    its port) are tried in the order they were first used, then the default group
    (``host=None``). A path that finds no route in one group falls through to the next
    matching group, and finally to the default group. An unknown host gets the default
    group, then 404; never Tornado 3's redirect to a default host, which sends clients
    to a host name they did not ask for (an open-redirect-shaped answer that also hides
    a misconfigured proxy); an app that wants it adds a catch-all route. Within a
    group, a path is walked segment by segment: a literal segment first, then typed
    segments in registration order, then ``path`` fields, then regex specs that start
    at that point; the first route found that accepts the method wins. Regex specs are
    filed under the literal prefix they start with (up to its last ``/``), so only
    paths with that prefix ever try them.

404, 405 and OPTIONS
    NotFound when no route matches the path. MethodNotAllowed when some do but none
    takes the method; its ``allowed`` holds every method of every route matching the
    path, HEAD wherever GET is and OPTIONS always. A HEAD request is routed to the GET
    route when the path has no HEAD route. An OPTIONS request with no OPTIONS route
    raises MethodNotAllowed too: the App answers it with ``allowed`` as ``Allow``.

Trailing slash
    Strict: ``/a`` and ``/a/`` are different paths. With
    ``Router(redirect_trailing_slash=True)``, a path that matches nothing, but would
    match with the slash added or removed for the same method, raises
    TrailingSlashRedirect: 301 for GET/HEAD, 308 otherwise (the body is re-sent).

Registration errors
    RoutingError at ``add`` time: a bad pattern, a duplicate name, a named regex whose
    reverse URL cannot be built (optional, repeated or nested groups, regex syntax
    outside groups; unnamed regex routes may be anything), and a conflict: the same
    pattern up to field names, on the same host, with overlapping methods. Distinct
    patterns that overlap are allowed; the dispatch order decides.

Reverse URLs
    ``reverse(name, *args, **kwargs)`` binds positional values to fields or groups in
    order, then keywords; every value must be one the route matches back (canonical for
    its type, no '/' in a one-segment field), else RoutingError. The result is
    percent-encoded UTF-8 with '/' and RFC 3986 sub-delimiters left as they are.
"""

from micro.routing._patterns import FIELD_TYPES, FieldType, classify
from micro.routing._router import (
    Match,
    MethodNotAllowed,
    NotFound,
    Route,
    Router,
    TrailingSlashRedirect,
)

__all__ = [
    "FIELD_TYPES",
    "FieldType",
    "Match",
    "MethodNotAllowed",
    "NotFound",
    "Route",
    "Router",
    "TrailingSlashRedirect",
    "classify",
]
