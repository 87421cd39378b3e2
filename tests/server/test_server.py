"""The Server object: start, address, stop, context manager, config checks."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable
from typing import Any

import pytest

from micro.errors import ConfigError
from micro.server import Server, ServerConfig

Start = Callable[..., Any]


def app(environ: dict[str, Any], start_response: Start) -> list[bytes]:
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]


def test_context_manager_binds_an_ephemeral_port_and_stops() -> None:
    with Server(app, ServerConfig(port=0, threads=2)) as server:
        host, port = server.address
        assert host == "127.0.0.1"
        assert port > 0
        conn = http.client.HTTPConnection(host, port, timeout=5)
        conn.request("GET", "/")
        assert conn.getresponse().read() == b"ok"
        conn.close()
    with pytest.raises(ConnectionRefusedError):
        http.client.HTTPConnection(host, port, timeout=5).request("GET", "/")


def test_stop_lets_a_request_in_flight_finish_and_closes_idle_connections() -> None:
    entered = threading.Event()
    release = threading.Event()

    def slow(environ: dict[str, Any], start_response: Start) -> list[bytes]:
        entered.set()
        release.wait(5)
        start_response("200 OK", [("Content-Length", "4")])
        return [b"done"]

    server = Server(slow, ServerConfig(port=0, threads=2))
    server.start()
    address = server.address
    idle = http.client.HTTPConnection(*address, timeout=5)
    idle.connect()
    busy = http.client.HTTPConnection(*address, timeout=5)
    busy.request("GET", "/")
    assert entered.wait(5)
    stopper = threading.Thread(target=server.stop)
    stopper.start()
    release.set()
    response = busy.getresponse()
    assert response.read() == b"done"
    stopper.join(10)
    assert not stopper.is_alive()
    assert idle.sock is not None
    assert idle.sock.recv(1) == b""
    # Closed by the server: http.client already dropped it after "Connection: close",
    # or the server closed it right after the answer.
    assert busy.sock is None or busy.sock.recv(1) == b""
    idle.close()
    busy.close()


def test_serve_forever_returns_after_stop() -> None:
    server = Server(app, ServerConfig(port=0, threads=1))
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    for _ in range(100):  # bounded wait for the bind
        try:
            assert server.address[1] > 0
            break
        except ConfigError:
            threading.Event().wait(0.01)
    server.stop()
    thread.join(5)
    assert not thread.is_alive()


def test_address_in_use_raises_oserror() -> None:
    with Server(app, ServerConfig(port=0, threads=1)) as first:
        port = first.address[1]
        with pytest.raises(OSError):
            Server(app, ServerConfig(port=port, threads=1)).start()


@pytest.mark.parametrize(
    "fields",
    [{"port": 70000}, {"threads": 0}, {"idle_timeout": 0}, {"url_scheme": "ftp"}],
)
def test_config_rejects_bad_values(fields: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        ServerConfig(**fields)


def test_non_callable_app_is_refused() -> None:
    with pytest.raises(ConfigError):
        Server("not an app")  # type: ignore[arg-type]
