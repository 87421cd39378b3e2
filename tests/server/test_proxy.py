"""ProxyFix in micro's server (micro/server/proxy.py): the config's forwarded-header rule
applied to every request, over real sockets."""

from __future__ import annotations

import http.client
import json
import time
from typing import Any

import pytest

from micro.errors import ConfigError
from micro.server import ServerConfig
from micro.server.proxy import ProxyFix


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigError):
        ProxyFix(lambda e, s: [])  # neither hops nor trusted proxies
    with pytest.raises(ConfigError, match="not an IP address"):
        ProxyFix(lambda e, s: [], trusted=["nonsense"])
    with pytest.raises(ConfigError):
        ServerConfig(proxy_hops=1, trusted_proxies=("10.0.0.1",))
    with pytest.raises(ConfigError):
        ServerConfig(proxy_headers="x-real-ip")
    assert ProxyFix.from_config(lambda e, s: [], ServerConfig()) is None


def echo(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    keys = ("REMOTE_ADDR", "wsgi.url_scheme", "HTTP_HOST", "SERVER_NAME", "SERVER_PORT")
    body = json.dumps({key: environ.get(key) for key in keys}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def ask(address: tuple[str, int], headers: dict[str, str]) -> dict[str, Any]:
    conn = http.client.HTTPConnection(*address, timeout=10)
    conn.request("GET", "/", headers=headers)
    answer: dict[str, Any] = json.loads(conn.getresponse().read())
    conn.close()
    return answer


SPOOF = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https", "Host": "h.example"}


def test_server_without_proxy_settings_ignores_forwarded_headers(harness: Any) -> None:
    seen = ask(harness.serve(echo), SPOOF)
    assert seen["REMOTE_ADDR"] == "127.0.0.1"
    assert seen["wsgi.url_scheme"] == "http"


def test_server_with_proxy_hops_believes_its_proxy(harness: Any) -> None:
    seen = ask(harness.serve(echo, proxy_hops=1), {**SPOOF, "X-Forwarded-Host": "shop.example"})
    assert seen == {
        "REMOTE_ADDR": "203.0.113.9",
        "wsgi.url_scheme": "https",
        "HTTP_HOST": "shop.example",
        "SERVER_NAME": "shop.example",
        "SERVER_PORT": "443",
    }


def test_server_with_trusted_proxies_checks_the_peer(harness: Any) -> None:
    assert ask(harness.serve(echo, trusted_proxies=("127.0.0.0/8",)), SPOOF)["REMOTE_ADDR"] == (
        "203.0.113.9"
    )
    untrusted = harness.serve(echo, trusted_proxies=("10.0.0.0/8",))
    assert ask(untrusted, SPOOF)["REMOTE_ADDR"] == "127.0.0.1"


def test_the_access_log_names_the_client_behind_the_proxy(
    harness: Any, caplog: pytest.LogCaptureFixture
) -> None:
    address = harness.serve(echo, proxy_hops=1, access_log=True)
    with caplog.at_level("INFO", logger="micro.access"):
        ask(address, {"X-Forwarded-For": "198.51.100.23"})
        deadline = time.monotonic() + 10
        while not caplog.records and time.monotonic() < deadline:
            time.sleep(0.01)
    assert caplog.records[0].getMessage().startswith("198.51.100.23 - - [")
