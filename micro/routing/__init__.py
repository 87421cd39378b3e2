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

Decoded paths
    ``match`` takes the percent-decoded path (PATH_INFO as UTF-8), and patterns are
    written in that decoded form (``"/caf\u00e9/a b"``, not ``"/caf%C3%A9/a%20b"``).
    Since ``%2F`` and ``/`` are the same once decoded, a one-segment value never holds
    a ``/``.

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
    ``f``       digits "." digits, the shortest that round-trip  float (>= 0)
    ``w``       letters, digits, underscore (Unicode ``\\w``)    str
    ``slug``    ``a-z0-9`` words joined by single hyphens       str
    ``uuid``    lower-case hyphenated 8-4-4-4-12 hex             uuid.UUID
    ``path``    one or more non-empty segments, none . or ..    str (with '/')
    ==========  ==============================================  ==============

    ``{id:d}`` refuses ``+5``, ``-5``, ``0x1f``, `` 12``, ``007``, Arabic-Indic or
    fullwidth digits, and more digits than ``int()`` converts (all 404). Leading zeros
    are refused so that one resource has one URL (the one ``reverse`` builds), not
    ``/user/7``, ``/user/07``, ... each cached on its own. ``{p:f}`` likewise takes
    only the one spelling of a float: the shortest digits that read back as it, with
    no exponent and at least one digit after the point (``1.5``, ``2.0``, ``0.0001``;
    not ``1.50``, ``01.5``, ``1e3``, ``-1.5``, ``inf``). A segment may mix text and fields
    (``"v{major:d}.{minor:d}"``, matched as one regex) when literal text separates
    the fields; at most one ``path`` field per pattern, and it takes the rest of the
    path (literal text or fields may follow it: ``"/{p:path}/edit"``).

User field types
    ``Router.field_type(name, regex=..., to_python=..., to_url=..., examples=...)``
    (or an object with those attributes, like werkzeug's converters) adds a type for
    routes added afterwards. ``to_python`` raises ValueError for text it refuses (no
    match). The type is checked when added: ``regex`` must compile without capturing
    groups, and for each example (one is built from the regex when none is given) the
    regex matches it, and ``to_url(to_python(example))`` is text the regex matches that
    converts back to the same value; otherwise RoutingError says which step failed.

Dispatch order
    Host groups whose pattern matches (anchored, case-insensitive, on the Host without
    its port and trailing dot) are tried in the order they were first added to, then
    the default group (``host=None``). A path that finds no route in one group falls
    through to the next matching group, and finally to the default group. Within a
    group, a path is walked segment by segment: a literal segment first, then typed
    segments in registration order, then ``path`` fields, then regex specs that start
    at that point; the first route found that accepts the method wins. Equivalently,
    as a scan: rank a group's routes segment by segment (literal < typed < ``path`` <
    regex; typed segments, ``path`` fields and regex specs at one point numbered by
    first registration there) and take the first in rank that matches the path and
    takes the method. Lookup never runs that scan: regex specs are filed under the
    literal segments they start with, and at each point typed segments and regex specs
    are indexed by the literal text they start with (host patterns by the text they
    end with), so a path only tries the routes it could match.

Unknown hosts
    A Host that no group matches gets the default group's routes and, failing those,
    404. Tornado 3 instead redirected such requests to ``default_host`` (unless an
    X-Real-Ip header was present). micro does not: a Host the app does not serve is
    the client's or a proxy's mistake, and answering it with a cacheable 301 to another
    host hides the mistake, lets any Host value mint redirects, and makes routing
    depend on an unrelated header. An app that wants the redirect adds a catch-all
    route to its default group.

404, 405 and OPTIONS
    NotFound when no route matches the path. MethodNotAllowed when some do but none
    takes the method; its ``allowed`` holds every method of every route matching the
    path, HEAD wherever GET is and OPTIONS always. A route that takes GET takes HEAD
    too, unless the same pattern has a HEAD route of its own. An OPTIONS request with
    no OPTIONS route raises MethodNotAllowed too: the App answers it with ``allowed``
    as ``Allow``.

Trailing slash
    Strict: ``/a`` and ``/a/`` are different paths. With
    ``Router(redirect_trailing_slash=True)``, a path that matches nothing, but would
    match with the slash added or removed for the same method, raises
    TrailingSlashRedirect: 301 for GET/HEAD, 308 otherwise (the body is re-sent).

Registration errors
    RoutingError at ``add`` time: a bad pattern, a duplicate name, a named regex whose
    reverse URL cannot be built (optional, repeated or nested groups, regex syntax
    outside groups; unnamed regex routes may be anything), and a conflict: the same
    pattern up to field names, on the same host, with overlapping methods (the error
    names both handlers). Distinct patterns that overlap are allowed; the dispatch
    order decides.

Threads
    Register every route before serving: ``add`` is not synchronised. ``match`` and
    ``reverse`` only read, so any number of threads may call them at once.

Reverse URLs
    ``reverse(name, *args, **kwargs)`` binds positional values to fields or groups in
    order, then keywords; every value must be one the route matches back (canonical for
    its type, no '/' in a one-segment field), else RoutingError. The result is
    percent-encoded UTF-8 with '/' and RFC 3986 sub-delimiters left as they are.
    ``url_for(name, *args, _query=..., _external=False, _script_name=..., _host=...,
    **kwargs)`` puts the script name before that path and the query (a mapping, a list
    value repeating its key, or pairs; str, int or float values) after it; a route on a
    host pattern gives an absolute URL on the request's host when the pattern matches
    it, else on the one host a literal pattern names.
"""

from micro.routing._patterns import classify
from micro.routing._router import MethodNotAllowed, NotFound, Router, TrailingSlashRedirect
from micro.routing._trie import Match, Route, describe
from micro.routing._types import FIELD_TYPES, FieldType, FieldTypes
from micro.routing._urls import Query, build_url, encode_query

__all__ = [
    "FIELD_TYPES",
    "FieldType",
    "FieldTypes",
    "Match",
    "MethodNotAllowed",
    "NotFound",
    "Query",
    "Route",
    "Router",
    "TrailingSlashRedirect",
    "build_url",
    "classify",
    "describe",
    "encode_query",
]
