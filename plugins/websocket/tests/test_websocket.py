"""WebSocketHandler behind micro's own server, over real loopback sockets.

The client side is the ``websockets`` package (a different implementation from the
server's wsproto), or a raw socket where a test needs a client that misbehaves.
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import threading
import time
import wsgiref.simple_server
from collections.abc import Iterator
from typing import Any

import pytest
from micro_websocket import WebSocketClosedError, WebSocketHandler
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from micro import App

from .conftest import Serve


class Echo(WebSocketHandler):
    def open(self, room: str) -> None:
        self.write_message(f"hello {room}")

    def on_message(self, message: str | bytes) -> None:
        if message == "close-me":
            self.close(4001, "asked to")
        elif message == "ping-me":
            self.ping(b"tick")
        else:
            self.write_message(message)

    def on_pong(self, data: bytes) -> None:
        self.write_message(b"pong:" + data)


class Recorder(WebSocketHandler):
    """Records the order of callbacks and how many ran at once."""

    log: list[Any]
    running = 0
    most = 0
    lock = threading.Lock()

    def on_message(self, message: str | bytes) -> None:
        cls = type(self)
        with cls.lock:
            cls.running += 1
            cls.most = max(cls.most, cls.running)
        time.sleep(0.002)
        cls.log.append(message)
        with cls.lock:
            cls.running -= 1
        if message == "last":
            self.write_message("done")

    def on_close(self) -> None:
        type(self).log.append(("closed", self.close_code, self.close_reason))


def make_app(**settings: Any) -> App:
    app = App(plugins=["websocket"], settings=settings)
    app.add_route(r"/ws/(\w+)", Echo)
    return app


@pytest.fixture
def echo(serve: Serve) -> Iterator[str]:
    host, port = serve(make_app())
    yield f"ws://{host}:{port}/ws/lobby"


def test_echo_text_binary_and_fragmented(echo: str) -> None:
    with connect(echo) as ws:
        assert ws.recv(timeout=5) == "hello lobby"
        ws.send("héllo")
        assert ws.recv(timeout=5) == "héllo"
        ws.send(b"\x00\xff" * 1000)
        assert ws.recv(timeout=5) == b"\x00\xff" * 1000
        ws.send(["frag", "men", "ted"])  # one message in three frames
        assert ws.recv(timeout=5) == "fragmented"
        ws.send([b"ab", b"cd"])
        assert ws.recv(timeout=5) == b"abcd"


def test_permessage_deflate_is_negotiated(echo: str) -> None:
    with connect(echo) as ws:
        assert ws.response is not None
        assert "permessage-deflate" in ws.response.headers["Sec-WebSocket-Extensions"]
        ws.recv(timeout=5)
        big = "x" * 200_000  # compresses to a few hundred bytes, both ways
        ws.send(big)
        assert ws.recv(timeout=5) == big
    with connect(echo, compression=None) as ws:
        assert ws.response is not None
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        ws.recv(timeout=5)
        ws.send("plain")
        assert ws.recv(timeout=5) == "plain"


def test_ping_pong_both_ways(echo: str) -> None:
    with connect(echo) as ws:
        ws.recv(timeout=5)
        assert ws.ping(b"client").wait(5)  # the server answers the client's ping
        ws.send("ping-me")  # the handler pings; the client's pong reaches on_pong
        assert ws.recv(timeout=5) == b"pong:tick"


def test_close_codes_both_ways(serve: Serve) -> None:
    Recorder.log = []
    app = make_app()
    app.add_route("/rec", Recorder)
    host, port = serve(app)
    with connect(f"ws://{host}:{port}/ws/a") as ws:
        ws.recv(timeout=5)
        ws.send("close-me")
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
        assert ws.close_code == 4001
        assert ws.close_reason == "asked to"
    with connect(f"ws://{host}:{port}/rec") as ws2:
        ws2.close(4002, "bye")
    deadline = time.monotonic() + 5
    while not Recorder.log and time.monotonic() < deadline:
        time.sleep(0.01)
    assert Recorder.log == [("closed", 4002, "bye")]


def test_callbacks_in_order_one_at_a_time(serve: Serve) -> None:
    Recorder.log, Recorder.most = [], 0
    app = make_app()
    app.add_route("/rec", Recorder)
    host, port = serve(app, threads=4)
    with connect(f"ws://{host}:{port}/rec") as ws:
        for i in range(100):
            ws.send(str(i))
        ws.send("last")
        assert ws.recv(timeout=10) == "done"
    assert Recorder.log[:101] == [str(i) for i in range(100)] + ["last"]
    assert Recorder.most == 1


def test_oversized_message_closes_with_1009(serve: Serve) -> None:
    host, port = serve(make_app(websocket_max_message_size=1000))
    with connect(f"ws://{host}:{port}/ws/a") as ws:
        ws.recv(timeout=5)
        ws.send("y" * 1000)  # at the limit: fine
        assert ws.recv(timeout=5) == "y" * 1000
        with contextlib.suppress(ConnectionClosed):  # the close may cut the send short
            ws.send(["y" * 600, "y" * 600])  # over it, in two frames
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
        assert ws.close_code == 1009


def _status(host: str, port: int, headers: dict[str, str], path: str = "/ws/a") -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(body) < length and (chunk := sock.recv(4096)):
            body += chunk
    return head + b"\r\n\r\n" + body


def _handshake(**extra: str) -> dict[str, str]:
    headers = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
    }
    headers.update(extra)
    return headers


def test_origin_rules(serve: Serve) -> None:
    host, port = serve(make_app())
    foreign = _status(host, port, _handshake(Origin="https://evil.example"))
    assert foreign.startswith(b"HTTP/1.1 403 ")
    assert b"cross-origin WebSocket from https://evil.example refused" in foreign
    same = _status(host, port, _handshake(Origin=f"http://{host}:{port}"))
    assert same.startswith(b"HTTP/1.1 101 ")
    no_origin = _status(host, port, _handshake())  # not a browser: accepted
    assert no_origin.startswith(b"HTTP/1.1 101 ")
    host2, port2 = serve(make_app(websocket_allowed_origins=["https://app.example"]))
    allowed = _status(host2, port2, _handshake(Origin="https://app.example"))
    assert allowed.startswith(b"HTTP/1.1 101 ")
    with pytest.raises(Exception, match="403"):
        connect(f"ws://{host}:{port}/ws/a", origin="https://evil.example")  # type: ignore[arg-type]


def test_bad_handshakes_get_reasons(serve: Serve) -> None:
    host, port = serve(make_app())
    old = _status(host, port, _handshake(**{"Sec-WebSocket-Version": "8"}))
    assert old.startswith(b"HTTP/1.1 426 ")
    assert b"Sec-WebSocket-Version: 13" in old
    no_upgrade = _status(host, port, {})
    assert no_upgrade.startswith(b"HTTP/1.1 400 ")
    assert b"Upgrade: websocket" in no_upgrade
    bad_key = _status(host, port, _handshake(**{"Sec-WebSocket-Key": "short"}))
    assert bad_key.startswith(b"HTTP/1.1 400 ")


def test_426_with_a_reason_under_another_wsgi_server() -> None:
    class Quiet(wsgiref.simple_server.WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = wsgiref.simple_server.make_server("127.0.0.1", 0, make_app(), handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        answer = _status("127.0.0.1", server.server_port, _handshake())
    finally:
        server.shutdown()
        server.server_close()
    assert answer.startswith(b"HTTP/1.0 426 ")
    assert b"WebSockets need micro&#x27;s own server" in answer or b"micro's own server" in answer


def test_idle_ping_then_close_when_no_pong(serve: Serve) -> None:
    Recorder.log = []
    app = make_app(websocket_ping_interval=0.2, websocket_ping_timeout=0.3)
    app.add_route("/rec", Recorder)
    host, port = serve(app)
    # A raw client: it completes the handshake, then never reads or answers.
    sock = socket.create_connection((host, port), timeout=5)
    sock.sendall(
        (
            f"GET /rec HTTP/1.1\r\nHost: {host}\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in _handshake().items())
            + "\r\n"
        ).encode()
    )
    try:
        data = b""
        started = time.monotonic()
        while time.monotonic() - started < 5:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        elapsed = time.monotonic() - started
    finally:
        sock.close()
    assert data.startswith(b"HTTP/1.1 101 ")
    assert b"\x89\x05micro" in data  # an unmasked ping frame with its payload
    assert elapsed < 3
    deadline = time.monotonic() + 5
    while not Recorder.log and time.monotonic() < deadline:
        time.sleep(0.01)
    assert Recorder.log == [("closed", 1006, "no pong within the ping timeout")]


class Flood(WebSocketHandler):
    outcome: list[Any]

    def open(self) -> None:
        chunk = b"z" * 65536
        try:
            for _ in range(2000):  # 128 MiB at most: far past any socket buffer
                self.write_message(chunk)
        except WebSocketClosedError as exc:
            type(self).outcome.append(str(exc))

    def on_close(self) -> None:
        type(self).outcome.append(self.close_code)


def test_a_client_that_does_not_read_is_closed_with_1008(serve: Serve) -> None:
    Flood.outcome = []
    app = make_app(websocket_max_send_buffer=256 * 1024, websocket_close_timeout=0.3)
    app.add_route("/flood", Flood)
    host, port = serve(app)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, port))
    sock.sendall(
        (
            f"GET /flood HTTP/1.1\r\nHost: {host}\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in _handshake().items())
            + "\r\n"
        ).encode()
    )
    try:
        deadline = time.monotonic() + 10
        while len(Flood.outcome) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        sock.close()
    assert Flood.outcome == ["the client does not read: connection closed (1008)", 1008]


def test_groups_broadcast_and_idle_sockets_hold_no_thread(serve: Serve) -> None:
    class Room(WebSocketHandler):
        def open(self, room: str) -> None:
            self.groups.join(room, self)
            self.write_message("joined")

        def on_message(self, message: str | bytes) -> None:
            self.groups.publish(self.path_args[0], message)

    app = make_app()
    app.add_route(r"/room/(\w+)", Room)

    @app.route("/announce")
    def announce(request: Any) -> str:
        from micro_websocket import groups_of

        return str(groups_of(request.app).publish("a", "from http"))

    host, port = serve(app, threads=2)

    def server_threads() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name.startswith("micro-")}

    threads_before = server_threads()
    clients: list[ClientConnection] = []
    with contextlib.ExitStack() as stack:
        for _ in range(20):  # ten times the worker threads, all open at once
            ws = stack.enter_context(connect(f"ws://{host}:{port}/room/a"))
            assert ws.recv(timeout=5) == "joined"
            clients.append(ws)
        other = stack.enter_context(connect(f"ws://{host}:{port}/room/b"))
        assert other.recv(timeout=5) == "joined"
        clients.append(other)
        # 21 open sockets on two workers, and not one server thread more.
        assert server_threads() - threads_before == set()
        import urllib.request

        with urllib.request.urlopen(f"http://{host}:{port}/announce", timeout=5) as r:
            assert r.read() == b"20"
        for ws in clients[:20]:
            assert ws.recv(timeout=5) == "from http"
        clients[0].send("from ws")
        for ws in clients[:20]:
            assert ws.recv(timeout=5) == "from ws"
        with pytest.raises(TimeoutError):
            other.recv(timeout=0.2)  # another room hears nothing


def test_server_stop_says_going_away(serve: Serve) -> None:
    from micro.server import Server, ServerConfig

    server = Server(make_app(), ServerConfig(host="127.0.0.1", port=0, threads=2))
    server.start()
    host, port = server.address
    with connect(f"ws://{host}:{port}/ws/a") as ws:
        ws.recv(timeout=5)
        assert server.stop(timeout=5.0)
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
        assert ws.close_code == 1001


class Guard:
    """A middleware that sees the handshake: no cookie, no WebSocket."""

    name = "guard"

    def __call__(self, request: Any, call_next: Any) -> Any:
        from micro import HTTPError

        if "user" not in request.cookies:
            raise HTTPError(401, "log in first")
        response = call_next(request)
        response.headers.set("X-Guard", "passed")
        return response


class AsyncEcho(WebSocketHandler):
    """Async callbacks: each awaits, and the next one waits for it."""

    def open(self) -> None:
        self.write_message("user " + self.request.cookies["user"])

    async def on_message(self, message: str | bytes) -> None:
        import asyncio

        await asyncio.sleep(0.01 if message == "first" else 0)
        self.write_message(message)


def test_middleware_sees_the_handshake_and_async_callbacks_keep_order(serve: Serve) -> None:
    app = App(plugins=["websocket"], middleware=[Guard()])
    app.add_route("/ws", AsyncEcho)
    host, port = serve(app)
    refused = _status(host, port, _handshake(), path="/ws")
    assert refused.startswith(b"HTTP/1.1 401 ")
    with connect(f"ws://{host}:{port}/ws", additional_headers={"Cookie": "user=ann"}) as ws:
        assert ws.response is not None
        assert ws.response.headers["X-Guard"] == "passed"
        assert ws.recv(timeout=5) == "user ann"
        ws.send("first")
        ws.send("second")
        assert [ws.recv(timeout=5), ws.recv(timeout=5)] == ["first", "second"]


def test_a_broadcast_reaches_plain_and_compressed_members_alike(serve: Serve) -> None:
    class Member(WebSocketHandler):
        def open(self) -> None:
            self.groups.join("all", self)
            self.write_message("joined")

    app = make_app()
    app.add_route("/member", Member)
    host, port = serve(app)
    url = f"ws://{host}:{port}/member"
    with connect(url, compression=None) as plain, connect(url) as deflated:
        for ws in (plain, deflated):
            assert ws.recv(timeout=5) == "joined"
        from micro_websocket import groups_of

        # The three frame lengths of RFC 6455 (7-bit, 16-bit, 64-bit), text and binary.
        for message in ("short", "é" * 200, b"\x00\x01" * 40_000):
            assert groups_of(app).publish("all", message) == 2
            for ws in (plain, deflated):
                assert ws.recv(timeout=5) == message


@pytest.mark.parametrize(
    ("setting", "value", "says"),
    [
        ("websocket_max_message_size", -1, "websocket_max_message_size must be at least 1"),
        ("websocket_max_send_buffer", 0, "websocket_max_send_buffer must be at least 1"),
        ("websocket_ping_timeout", -2.0, "websocket_ping_timeout must be above 0"),
        ("websocket_ping_interval", -5, "websocket_ping_interval must be above 0"),
    ],
)
def test_a_bad_limit_fails_at_start_up_naming_the_setting(
    setting: str, value: Any, says: str
) -> None:
    from micro.errors import ConfigError, PluginError

    with pytest.raises(PluginError, match=says) as failed:
        make_app(**{setting: value})
    assert isinstance(failed.value.__cause__, ConfigError)
