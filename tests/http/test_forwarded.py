"""The forwarded-header rule (micro/http/forwarded.py): believed only as configured,
counted from the right."""

from __future__ import annotations

from typing import Any

import pytest

from micro.errors import ConfigError
from micro.http.forwarded import ForwardedRule, default_port, parse_forwarded, split_host


def env(peer: str = "10.0.0.1", **headers: str) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REMOTE_ADDR": peer,
        "REMOTE_PORT": "40000",
        "wsgi.url_scheme": "http",
        "HTTP_HOST": "internal:8000",
        "SERVER_NAME": "internal",
        "SERVER_PORT": "8000",
    }
    environ.update({"HTTP_" + name.upper(): value for name, value in headers.items()})
    return environ


def fixed(rule: ForwardedRule, environ: dict[str, Any]) -> dict[str, Any]:
    rule.fix(environ)
    return environ


def hops(n: int, headers: str = "x-forwarded") -> ForwardedRule:
    return ForwardedRule(hops=n, headers=headers)


def trusting(*networks: str, headers: str = "x-forwarded") -> ForwardedRule:
    return ForwardedRule(trusted=networks, headers=headers)


# -- a count of hops ------------------------------------------------------------------
def test_one_hop_takes_the_entry_the_proxy_appended_not_the_left_most() -> None:
    environ = fixed(hops(1), env(x_forwarded_for="203.0.113.9, 198.51.100.7"))
    assert environ["REMOTE_ADDR"] == "198.51.100.7"  # the client's spoof is on the left
    assert environ["micro.proxy_peer"] == "10.0.0.1"


def test_two_hops_take_the_second_from_the_right() -> None:
    environ = fixed(hops(2), env(x_forwarded_for="6.6.6.6, 198.51.100.7, 10.0.0.9"))
    assert environ["REMOTE_ADDR"] == "198.51.100.7"


def test_fixing_twice_changes_nothing_more() -> None:
    # Server and App may both be configured: the second pass must not walk further left.
    environ = fixed(hops(1), env(x_forwarded_for="6.6.6.6, 198.51.100.7, 10.0.0.9"))
    assert environ["REMOTE_ADDR"] == "10.0.0.9"
    assert fixed(hops(1), environ)["REMOTE_ADDR"] == "10.0.0.9"
    assert environ["micro.proxy_peer"] == "10.0.0.1"


def test_fewer_entries_than_hops_takes_the_left_most_trusted_one() -> None:
    environ = fixed(hops(3), env(x_forwarded_for="198.51.100.7, 10.0.0.9"))
    assert environ["REMOTE_ADDR"] == "198.51.100.7"


def test_repeated_header_fields_count_as_one_list() -> None:
    # The server joins repeated fields with ", ": a second field is more entries.
    environ = fixed(hops(1), env(x_forwarded_for="6.6.6.6, 198.51.100.7"))
    assert environ["REMOTE_ADDR"] == "198.51.100.7"


def test_proto_and_host_follow_the_same_count_and_set_the_server_fields() -> None:
    environ = fixed(
        hops(1),
        env(
            x_forwarded_for="198.51.100.7",
            x_forwarded_proto="https",
            x_forwarded_host="shop.example",
        ),
    )
    assert environ["wsgi.url_scheme"] == "https"
    assert environ["HTTP_HOST"] == "shop.example"
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("shop.example", "443")


def test_forwarded_host_with_a_port() -> None:
    environ = fixed(hops(1), env(x_forwarded_host="shop.example:9000"))
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("shop.example", "9000")
    environ = fixed(hops(1), env(x_forwarded_host="[2001:db8::1]:9000"))
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("[2001:db8::1]", "9000")


def test_only_the_proto_changes_the_default_port() -> None:
    environ = env(x_forwarded_proto="https")
    environ["HTTP_HOST"] = "shop.example"
    fixed(hops(1), environ)
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("shop.example", "443")


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("x_forwarded_for", "not-an-address"),
        ("x_forwarded_for", "unknown"),
        ("x_forwarded_proto", "javascript"),
        ("x_forwarded_host", "evil.example/path"),
        ("x_forwarded_host", "a b"),
    ],
)
def test_values_that_are_not_addresses_schemes_or_hosts_are_ignored(
    header: str, value: str
) -> None:
    environ = fixed(hops(1), env(**{header: value}))
    assert environ["REMOTE_ADDR"] == "10.0.0.1"
    assert environ["wsgi.url_scheme"] == "http"
    assert environ["HTTP_HOST"] == "internal:8000"


def test_addresses_with_ports_and_ipv6_are_normalised() -> None:
    assert fixed(hops(1), env(x_forwarded_for="198.51.100.7:5555"))["REMOTE_ADDR"] == (
        "198.51.100.7"
    )
    assert fixed(hops(1), env(x_forwarded_for="[2001:DB8::1]:443"))["REMOTE_ADDR"] == (
        "2001:db8::1"
    )
    assert fixed(hops(1), env(x_forwarded_for="2001:db8::2"))["REMOTE_ADDR"] == "2001:db8::2"


# -- trusted addresses ------------------------------------------------------------------
def test_an_untrusted_peer_is_not_believed_at_all() -> None:
    environ = fixed(
        trusting("10.0.0.0/8"),
        env(peer="192.0.2.50", x_forwarded_for="1.2.3.4", x_forwarded_proto="https"),
    )
    assert environ["REMOTE_ADDR"] == "192.0.2.50"
    assert environ["wsgi.url_scheme"] == "http"
    assert "micro.proxy_peer" not in environ


def test_trusted_proxies_are_walked_from_the_right() -> None:
    fix = trusting("10.0.0.0/8", "127.0.0.1")
    environ = fixed(fix, env(x_forwarded_for="6.6.6.6, 198.51.100.7, 10.1.2.3"))
    assert environ["REMOTE_ADDR"] == "198.51.100.7"  # first untrusted from the right
    environ = fixed(fix, env(x_forwarded_for="10.9.9.9, 10.1.2.3"))
    assert environ["REMOTE_ADDR"] == "10.9.9.9"  # all trusted: the left-most
    environ = fixed(fix, env(peer="127.0.0.1", x_forwarded_for="198.51.100.7"))
    assert environ["REMOTE_ADDR"] == "198.51.100.7"


def test_an_ipv4_mapped_peer_matches_an_ipv4_trusted_network() -> None:
    # What a dual-stack (IPv6) listener reports for an IPv4 proxy.
    environ = fixed(trusting("10.0.0.0/8"), env(peer="::ffff:10.0.0.1", x_forwarded_for="1.2.3.4"))
    assert environ["REMOTE_ADDR"] == "1.2.3.4"


# -- RFC 7239 Forwarded -------------------------------------------------------------------
def test_parse_forwarded_handles_quotes_commas_and_case() -> None:
    elements = parse_forwarded(
        'for=192.0.2.60;proto=http;by=203.0.113.43, For="[2001:db8:cafe::17]:4711", '
        'for="a,b";host="x;y", garbage'
    )
    assert elements == [
        {"for": "192.0.2.60", "proto": "http", "by": "203.0.113.43"},
        {"for": "[2001:db8:cafe::17]:4711"},
        {"for": "a,b", "host": "x;y"},
        {},
    ]


def test_forwarded_header_when_configured() -> None:
    fix = hops(1, headers="forwarded")
    environ = fixed(
        fix,
        env(
            forwarded='for=6.6.6.6;proto=http, for="[2001:db8::17]:4711";proto=https;host=a.b',
            x_forwarded_for="5.5.5.5",
        ),
    )
    assert environ["REMOTE_ADDR"] == "2001:db8::17"
    assert environ["wsgi.url_scheme"] == "https"
    assert environ["HTTP_HOST"] == "a.b"


def test_the_two_header_families_are_never_mixed() -> None:
    # nginx writing X-Forwarded-For leaves a client's Forwarded header untouched.
    environ = fixed(hops(1), env(forwarded="for=6.6.6.6;proto=https"))
    assert environ["REMOTE_ADDR"] == "10.0.0.1"
    assert environ["wsgi.url_scheme"] == "http"
    environ = fixed(hops(1, headers="forwarded"), env(x_forwarded_for="6.6.6.6"))
    assert environ["REMOTE_ADDR"] == "10.0.0.1"


def test_forwarded_with_trusted_proxies() -> None:
    fix = trusting("10.0.0.0/8", headers="forwarded")
    environ = fixed(fix, env(forwarded="for=6.6.6.6, for=198.51.100.7, for=10.2.2.2"))
    assert environ["REMOTE_ADDR"] == "198.51.100.7"


# -- configuration ----------------------------------------------------------------------
def test_settings_are_checked() -> None:
    with pytest.raises(ConfigError):
        ForwardedRule()  # neither hops nor trusted proxies
    with pytest.raises(ConfigError):
        ForwardedRule(hops=1, trusted=["10.0.0.1"])
    with pytest.raises(ConfigError, match="not an IP address"):
        ForwardedRule(trusted=["nonsense"])
    with pytest.raises(ConfigError, match="headers must be"):
        ForwardedRule(hops=1, headers="x-real-ip")
    assert ForwardedRule.from_settings(0, (), "x-forwarded") is None


@pytest.mark.parametrize(
    ("host", "name", "port"),
    [
        ("example.com", "example.com", "80"),
        ("example.com:8080", "example.com", "8080"),
        ("example.com:", "example.com", "80"),
        ("[::1]:9000", "[::1]", "9000"),
        ("[::1]", "[::1]", "80"),
        ("a:b", "a:b", "80"),
    ],
)
def test_split_host_takes_the_port_or_the_default(host: str, name: str, port: str) -> None:
    assert split_host(host, default_port("http")) == (name, port)
    assert default_port("https") == "443"


@pytest.mark.parametrize(
    ("host", "name", "port"),
    [
        ("shop.example:", "shop.example", "443"),
        ("shop.example:https", "shop.example:https", "443"),
        ("[2001:db8::1", "[2001:db8::1", "443"),
    ],
)
def test_a_host_without_a_valid_port_keeps_the_default_port(
    host: str, name: str, port: str
) -> None:
    # Under another WSGI server the Host the client sent may reach the rule unchecked:
    # it splits it as micro's server does, never into an empty name or port.
    environ = env(x_forwarded_proto="https")
    environ["HTTP_HOST"] = host
    fixed(hops(1), environ)
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == (name, port)
