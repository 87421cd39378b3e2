"""sans-IO HTTP layer: the client behind trusted proxies, and the Host/port rules.

Pure functions over a WSGI environ (a dict): no sockets, no app. Both the server
(:class:`micro.server.proxy.ProxyFix`, WSGI middleware for any app) and the App
(its ``proxy_hops`` / ``trusted_proxies`` settings) apply the same
:class:`ForwardedRule`, so one set of rules decides whom to believe.

Behind nginx every request comes from nginx: the client's address, the scheme it used
and the Host it asked for arrive in headers the proxy adds. Anyone can send those
headers too, so a :class:`ForwardedRule` believes them only as configured, and only
the part the trusted proxies wrote:

- ``hops=N``: N proxies stand in front of the server; each appends to
  ``X-Forwarded-For`` (nginx: ``$proxy_add_x_forwarded_for``), so the right-most N
  entries were written by them and anything left of those came from the client.
- ``trusted=("10.0.0.0/8", ...)``: the headers count only when the peer is one of
  these; then entries are walked from the right while they are trusted proxies too,
  and the first one that is not is the client.

The client value is the left-most of the entries the trusted proxies wrote (counting
from the right, never from the left); when there are fewer entries than trusted hops,
all of them were written by trusted proxies and the left-most is taken.
``X-Forwarded-Proto`` and ``-Host`` follow the same count. A header the proxies do
not write comes from the client as sent: the proxy must set (overwrite) both, as the
nginx configuration in docs/deployment.md does. With
``headers="forwarded"`` the RFC 7239 ``Forwarded`` header is read instead (its
``for``, ``proto`` and ``host`` from one element); the two families are never mixed,
because a proxy that writes one leaves the other as the client sent it.

The environ then tells the client's story: ``REMOTE_ADDR``, ``wsgi.url_scheme``,
``HTTP_HOST``, ``SERVER_NAME`` and ``SERVER_PORT``; the proxy's own address stays in
``micro.proxy_peer``. Values that are not an IP address, not http/https or not a
host name are ignored.

The default port of a scheme (:func:`default_port`) and the split of a Host value
into SERVER_NAME and SERVER_PORT (:func:`split_host`) live here too: one place for
the rules the server's environ, the forwarded headers and the Request all follow.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from micro.errors import ConfigError
from micro.wsgitypes import Environ

__all__ = ["PROXY_HEADERS", "ForwardedRule", "default_port", "parse_forwarded", "split_host"]

PROXY_HEADERS = ("x-forwarded", "forwarded")
"""The header families a proxy may write: ``X-Forwarded-*`` or RFC 7239 ``Forwarded``."""

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_FORWARDED_HOST = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::[0-9]{1,5})?")


def default_port(scheme: str) -> str:
    """``"443"`` for https, ``"80"`` for anything else (the WSGI environ's spelling)."""
    return "443" if scheme == "https" else "80"


def split_host(host: str, default: str) -> tuple[str, str]:
    """SERVER_NAME and SERVER_PORT from a Host value (``default`` when it has no port).

    An empty port (``name:``) is no port (RFC 3986 ``port = *DIGIT``); a value that
    does not parse is kept whole as the name.
    """
    if host.startswith("["):
        end = host.find("]")
        if end > 0:
            port = host[end + 2 :] if host[end + 1 : end + 2] == ":" else ""
            return host[: end + 1], port or default
        return host, default
    name, sep, port = host.rpartition(":")
    if sep and (not port or port.isdigit()):
        return name, port or default
    return host, default


def _split(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside double-quoted strings (RFC 7239 quoted values)."""
    parts: list[str] = []
    start = 0
    quoted = escaped = False
    for i, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == sep and not quoted:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _unquote_value(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def parse_forwarded(value: str) -> list[dict[str, str]]:
    """RFC 7239 ``Forwarded`` into one dict per element, left to right.

    A malformed element becomes an empty dict, so positions still count hops.
    """
    elements: list[dict[str, str]] = []
    for element in _split(value, ","):
        pairs: dict[str, str] = {}
        for pair in _split(element, ";"):
            name, eq, raw = pair.strip().partition("=")
            if not eq or not name or name.lower() in pairs:
                pairs = {}
                break
            pairs[name.lower()] = _unquote_value(raw.strip())
        elements.append(pairs)
    return elements


def _address(node: str | None) -> str | None:
    """The IP address in an X-Forwarded-For entry or a ``for=`` node, else None."""
    if not node:
        return None
    node = node.strip()
    if node.startswith("["):
        node = node[1 : node.find("]")] if "]" in node else ""
    elif node.count(":") == 1:
        node = node.partition(":")[0]  # IPv4 with a port
    try:
        return str(ipaddress.ip_address(node))
    except ValueError:
        return None


def _pick(values: list[str], hops: int) -> str | None:
    """The left-most of the right-most ``hops`` values (those trusted proxies wrote)."""
    if not values or hops < 1:
        return None
    return values[-min(hops, len(values))].strip()


def _list(environ: Environ, key: str) -> list[str]:
    value = environ.get(key)
    return [part.strip() for part in value.split(",")] if value else []


class ForwardedRule:
    """Whom to believe: ``hops`` proxies in front, or the ``trusted`` networks."""

    def __init__(
        self,
        *,
        hops: int = 0,
        trusted: Iterable[str] = (),
        headers: str = "x-forwarded",
    ) -> None:
        networks: list[Network] = []
        for text in trusted:
            try:
                networks.append(ipaddress.ip_network(text.strip(), strict=False))
            except ValueError:
                raise ConfigError(f"not an IP address or network: {text!r}") from None
        if hops < 0:
            raise ConfigError(f"proxy hops must not be negative, got {hops}")
        if bool(hops) == bool(networks):
            raise ConfigError("give a number of proxy hops or trusted proxies (one of them)")
        if headers not in PROXY_HEADERS:
            raise ConfigError(f"headers must be 'x-forwarded' or 'forwarded', got {headers!r}")
        self.hops = hops
        self.networks = tuple(networks)
        self.forwarded = headers == "forwarded"

    @classmethod
    def from_settings(cls, hops: int, trusted: Iterable[str], headers: str) -> ForwardedRule | None:
        """The rule these settings ask for, or None when they trust no proxy."""
        trusted = tuple(trusted)
        if not hops and not trusted:
            return None
        return cls(hops=hops, trusted=trusted, headers=headers)

    def _trusted(self, address: str | None) -> bool:
        if address is None:
            return False
        ip = ipaddress.ip_address(address)
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # a dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d
        return any(ip in network for network in self.networks)

    def _count_hops(self, peer: str, nodes: list[str]) -> int:
        """How many proxies the request passed that are trusted (0: believe nothing)."""
        if not self.networks:
            return self.hops
        if not self._trusted(_address(peer)):
            return 0
        hops = 1
        for node in reversed(nodes):
            if not self._trusted(_address(node)):
                break
            hops += 1
        return hops

    def fix(self, environ: Environ) -> None:
        """Rewrite ``environ`` in place from the headers the trusted proxies wrote.

        Idempotent: an environ already rewritten (by the server, say, before an App
        with its own proxy settings sees it) is left alone.
        """
        if "micro.proxy_peer" in environ:
            return
        peer = str(environ.get("REMOTE_ADDR", ""))
        if self.forwarded:
            elements = parse_forwarded(environ.get("HTTP_FORWARDED", ""))
            hops = self._count_hops(peer, [e.get("for", "") for e in elements])
            if not elements or hops < 1:
                return
            chosen = elements[-min(hops, len(elements))]
            node, proto = chosen.get("for"), chosen.get("proto")
            host = chosen.get("host")
        else:
            nodes = _list(environ, "HTTP_X_FORWARDED_FOR")
            hops = self._count_hops(peer, nodes)
            if hops < 1:
                return
            node = _pick(nodes, hops)
            proto = _pick(_list(environ, "HTTP_X_FORWARDED_PROTO"), hops)
            host = _pick(_list(environ, "HTTP_X_FORWARDED_HOST"), hops)
        environ["micro.proxy_peer"] = peer
        address = _address(node)
        if address is not None:
            environ["REMOTE_ADDR"] = address
        if proto is not None and proto.lower() in ("http", "https"):
            environ["wsgi.url_scheme"] = proto.lower()
        if host is not None and _FORWARDED_HOST.fullmatch(host):
            environ["HTTP_HOST"] = host
        current = environ.get("HTTP_HOST")
        if current:
            port = default_port(environ.get("wsgi.url_scheme", "http"))
            environ["SERVER_NAME"], environ["SERVER_PORT"] = split_host(current, port)
