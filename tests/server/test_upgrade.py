"""The upgrade seam: ``environ["micro.upgrade"]`` then 101, and the loop owns the socket.

A tiny line protocol stands in for WebSockets here, so that what is tested is the
server's part alone: bytes in and out on the I/O loop, writes from other threads,
work on the worker pool, deadlines, closing, and the goodbye on a graceful stop.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from micro.server.upgrade import Transport

from .conftest import Harness


class Lines:
    """Echoes each line upper-cased; ``slow`` runs on a worker; ``bye`` closes."""

    def __init__(self) -> None:
        self.transport: Transport | None = None
        self.events: list[str] = []
        self.threads: set[str] = set()
        self.lost = threading.Event()

    def connection_made(self, transport: Transport, data: bytes) -> None:
        self.transport = transport
        self.threads.add(threading.current_thread().name)
        transport.write(b"welcome\n")
        if data:
            self.data_received(data)

    def data_received(self, data: bytes) -> None:
        transport = self.transport
        assert transport is not None
        self.threads.add(threading.current_thread().name)
        for line in data.splitlines():
            if line == b"bye":
                transport.write(b"goodbye\n")
                transport.close()
            elif line == b"slow":
                transport.submit(
                    lambda: transport.write(threading.current_thread().name.encode() + b"\n")
                )
            elif line == b"timer":
                transport.set_deadline(0.1)
            else:
                transport.write(line.upper() + b"\n")

    def deadline_passed(self) -> None:
        assert self.transport is not None
        self.transport.write(b"tick\n")

    def server_stopping(self) -> None:
        assert self.transport is not None
        self.transport.write(b"stopping\n")
        self.transport.close()

    def connection_lost(self) -> None:
        self.events.append("lost")
        self.lost.set()


def upgrading_app(protocols: list[Lines]) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        upgrade = environ.get("micro.upgrade")
        if upgrade is None:
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"no upgrade offered"]
        protocol = Lines()
        protocols.append(protocol)
        upgrade(protocol)
        start_response("101 Switching Protocols", [("Upgrade", "lines"), ("Connection", "Upgrade")])
        return []

    return app


UPGRADE = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: lines\r\nConnection: Upgrade\r\n\r\n"


def test_the_loop_owns_the_socket_after_101(harness: Harness) -> None:
    protocols: list[Lines] = []
    address = harness.serve(upgrading_app(protocols), threads=1)
    client = harness.client(address)
    client.send(UPGRADE + b"early\n")  # bytes right behind the head reach the protocol
    response = client.response()
    assert response.status == 101
    assert response.header("Upgrade") == "lines"
    assert response.header("Connection") == "Upgrade"
    assert client.file.readline() == b"welcome\n"
    assert client.file.readline() == b"EARLY\n"
    # The only worker is free: another client gets plain HTTP at once.
    other = harness.client(address)
    other.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert other.response().body == b"no upgrade offered"
    client.send(b"slow\n")
    assert client.file.readline().startswith(b"micro-worker-")  # a worker, not the loop
    client.send(b"timer\n")
    assert client.file.readline() == b"tick\n"
    client.send(b"bye\n")
    assert client.file.readline() == b"goodbye\n"
    assert client.closed_by_server()
    protocol = protocols[0]
    assert protocol.lost.wait(5)
    assert protocol.threads == {"micro-io"}  # protocol methods ran on the I/O loop only
    assert protocol.events == ["lost"]


def test_writes_from_any_thread_keep_their_order(harness: Harness) -> None:
    protocols: list[Lines] = []
    address = harness.serve(upgrading_app(protocols), threads=1)
    client = harness.client(address)
    client.send(UPGRADE)
    assert client.response().status == 101
    assert client.file.readline() == b"welcome\n"
    transport = protocols[0].transport
    assert transport is not None
    big = b"x" * 100_000 + b"\n"
    for i in range(50):  # 5 MB: more than the socket buffers take at once
        transport.write(str(i).encode() + big)
    for i in range(50):
        assert client.file.readline() == str(i).encode() + big


def test_a_peer_closing_ends_the_protocol(harness: Harness) -> None:
    protocols: list[Lines] = []
    address = harness.serve(upgrading_app(protocols))
    client = harness.client(address)
    client.send(UPGRADE)
    assert client.response().status == 101
    client.close()
    deadline = time.monotonic() + 5
    while not protocols and time.monotonic() < deadline:
        time.sleep(0.01)
    assert protocols[0].lost.wait(5)


def test_a_101_without_the_upgrade_call_is_a_500(harness: Harness) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("101 Switching Protocols", [("Upgrade", "lines")])
        return []

    address = harness.serve(app)
    client = harness.client(address)
    client.send(UPGRADE)
    assert client.response().status == 500


def test_no_upgrade_entry_without_an_upgrade_header(harness: Harness) -> None:
    seen: list[bool] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append("micro.upgrade" in environ)
        start_response("200 OK", [])
        return [b""]

    address = harness.serve(app)
    client = harness.client(address)
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert client.response().status == 200
    assert seen == [False]


def test_a_graceful_stop_lets_the_protocol_say_goodbye(harness: Harness) -> None:
    protocols: list[Lines] = []
    address = harness.serve(upgrading_app(protocols))
    client = harness.client(address)
    client.send(UPGRADE)
    assert client.response().status == 101
    assert client.file.readline() == b"welcome\n"
    server = harness.servers[0]
    assert server.stop(timeout=5.0)
    assert client.file.readline() == b"stopping\n"
    assert client.closed_by_server()
    assert protocols[0].lost.is_set()
