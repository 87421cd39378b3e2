"""Routing layer, URL building: a route's path under a script name, with a host and a query.

Knows no HTTP beyond the shape of a URL. :func:`build_url` puts together what the
App knows about a request (scheme, ``Host``, ``SCRIPT_NAME``) with a route's path
(from :meth:`Route.reverse`) and a query string; :func:`route_host` picks the host a
host route's URL names.

Every problem is raised as :class:`micro.errors.RoutingError` naming it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from micro.errors import RoutingError
from micro.routing._patterns import PATH_SAFE
from micro.routing._regex import literal_end

Query = Mapping[str, Any] | Iterable[tuple[str, Any]]


def host_name(host: str) -> str:
    """The Host header without its port, lower-case, without a trailing dot."""
    if host.startswith("["):  # an IPv6 literal: [::1]:8080
        end = host.find("]")
        return host[: end + 1].lower() if end != -1 else host.lower()
    name, colon, port = host.rpartition(":")
    if colon and ((port.isascii() and port.isdigit()) or not port):
        host = name
    return host.rstrip(".").lower()


def _port(host: str) -> str:
    """':8080' when the Host header value carries a port, else ''."""
    name = host_name(host)
    rest = host[len(name) :] if host.lower().startswith(name) else ""
    return rest if rest.startswith(":") and rest[1:].isdigit() else ""


def route_host(pattern: str, request_host: str) -> str:
    """The host (with port, if any) a URL of a route on host ``pattern`` names.

    The request's own host when the pattern matches it; else the one host the pattern
    matches, if it is a literal (``api\\.example\\.com``), with the request's port.
    """
    if request_host and re.fullmatch(pattern, host_name(request_host), re.IGNORECASE):
        return request_host
    literal, whole = literal_end(pattern)
    if whole and literal:
        return literal.lower() + _port(request_host)
    raise RoutingError(
        f"host pattern {pattern!r} names no one host, and the request's host"
        f" {request_host!r} does not match it: cannot build an absolute URL"
    )


def _query_text(value: Any, key: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise RoutingError(f"query value for {key!r} must be str, int or float, got {value!r}")


def encode_query(query: Query) -> str:
    """``a=1&b=x%20y`` from a mapping (a list value repeats its key) or (key, value) pairs."""
    pairs: list[tuple[str, Any]] = []
    if isinstance(query, Mapping):
        for key, value in query.items():
            if isinstance(value, list | tuple):
                pairs.extend((key, v) for v in value)
            else:
                pairs.append((key, value))
    elif isinstance(query, str | bytes):
        raise RoutingError(f"_query is a mapping or (key, value) pairs, not {query!r}")
    else:
        for pair in query:
            if not isinstance(pair, tuple | list) or len(pair) != 2:
                raise RoutingError(f"_query pairs are (key, value), got {pair!r}")
            pairs.append((pair[0], pair[1]))
    out = []
    for key, value in pairs:
        if not isinstance(key, str):
            raise RoutingError(f"query keys must be str, got {key!r}")
        try:
            text = quote(key, safe="") + "=" + quote(_query_text(value, key), safe="")
        except UnicodeEncodeError:
            raise RoutingError(f"query {key!r}: {value!r} is not UTF-8 text") from None
        out.append(text)
    return "&".join(out)


def build_url(
    path: str,
    *,
    script_name: str = "",
    query: Query | None = None,
    scheme: str = "http",
    host: str | None = None,
) -> str:
    """``[scheme://host]script_name + path[?query]``; ``script_name`` decoded, ``path``
    already percent-encoded (as :meth:`Route.reverse` gives it)."""
    url = quote(script_name.rstrip("/"), safe=PATH_SAFE) + path
    if query is not None:
        encoded = encode_query(query)
        if encoded:
            url += "?" + encoded
    if host is not None:
        if not host or any(c in host for c in "/?#@ \\"):
            raise RoutingError(f"cannot build an absolute URL on host {host!r}")
        url = f"{scheme}://{host}{url}"
    return url
