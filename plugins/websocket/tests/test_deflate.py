"""permessage-deflate with a bounded inflater (micro_websocket.deflate), over loopback.

A compression bomb is a small compressed message that inflates to far more than
``websocket_max_message_size``. These tests send bombs from a raw client (so the
client's own memory stays out of the measure) and check what a client sees (a Close
1009 with a reason, then the end of the connection) and what the server spends
(tracemalloc's peak, far below the inflated size).
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import time
import tracemalloc
import zlib
from typing import Any, Literal

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.sync.client import connect

from .conftest import Serve
from .test_websocket import Echo, make_app

LIMIT = 1024 * 1024
BOMB = 50 * 1024 * 1024  # inflated size of a bomb: fifty times the limit
TEXT, BINARY, CONTINUATION, CLOSE = 0x1, 0x2, 0x0, 0x8


def deflate_parts(parts: list[bytes]) -> list[bytes]:
    """The payloads of one message's frames, compressed as RFC 7692 says."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    payloads = [compressor.compress(part) + compressor.flush(zlib.Z_SYNC_FLUSH) for part in parts]
    assert payloads[-1].endswith(b"\x00\x00\xff\xff")
    payloads[-1] = payloads[-1][:-4]
    return payloads


def client_frame(opcode: int, payload: bytes, *, fin: bool = True, rsv1: bool = False) -> bytes:
    """One masked frame, as a client sends it."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    size = len(payload)
    if size < 126:
        head = bytes((first, 0x80 | size))
    elif size < 65536:
        head = bytes((first, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((first, 0x80 | 127)) + size.to_bytes(8, "big")
    mask = os.urandom(4)
    key = (mask * (size // 4 + 1))[:size]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(size, "big")
    return head + mask + masked


def compressed_message(opcode: int, parts: list[bytes]) -> bytes:
    """The frames of one compressed message, one frame per part."""
    payloads = deflate_parts(parts)
    frames = []
    for i, payload in enumerate(payloads):
        fin = i == len(payloads) - 1
        frames.append(
            client_frame(opcode if i == 0 else CONTINUATION, payload, fin=fin, rsv1=i == 0)
        )
    return b"".join(frames)


class RawClient:
    """A WebSocket client on a plain socket that offers permessage-deflate."""

    def __init__(self, host: str, port: int, path: str = "/ws/a") -> None:
        self.sock = socket.create_connection((host, port), timeout=5)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                f"Sec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
            ).encode()
        )
        self.data = b""
        while b"\r\n\r\n" not in self.data:
            self.data += self.recv()
        head, _, self.data = self.data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 "), head
        assert b"permessage-deflate" in head.lower(), head

    def recv(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("the server closed the connection")
        return chunk

    def frame(self) -> tuple[int, bytes]:
        """The next (opcode, payload) from the server; compressed payloads inflated."""
        while len(self.data) < 2:
            self.data += self.recv()
        first, size = self.data[0], self.data[1] & 0x7F
        start = 2
        if size >= 126:
            start = 4 if size == 126 else 10
            while len(self.data) < start:
                self.data += self.recv()
            size = int.from_bytes(self.data[2:start], "big")
        while len(self.data) < start + size:
            self.data += self.recv()
        payload, self.data = self.data[start : start + size], self.data[start + size :]
        if first & 0x40:
            payload = zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff")
        return first & 0x0F, payload

    def close_frame(self) -> tuple[int, str, list[tuple[int, bytes]]]:
        """Read up to the server's Close: its code, its reason, and the frames before it."""
        before = []
        while True:
            opcode, payload = self.frame()
            if opcode == CLOSE:
                return int.from_bytes(payload[:2], "big"), payload[2:].decode(), before
            before.append((opcode, payload))

    def closes_within(self, seconds: float) -> bool:
        """Answer the server's Close, then wait for it to end the TCP connection."""
        self.sock.sendall(client_frame(CLOSE, (1009).to_bytes(2, "big")))
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                self.recv()
            except (EOFError, ConnectionResetError):
                return True
        return False


def send_and_measure(
    client: RawClient, wire: bytes
) -> tuple[int, str, list[tuple[int, bytes]], int]:
    """Send ``wire``, read the server's Close; also the peak of traced memory on the way."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        # The server may close before it read everything: its Close is queued all the same.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            client.sock.sendall(wire)
        code, reason, before = client.close_frame()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return code, reason, before, peak


@pytest.fixture
def limited(serve: Serve) -> tuple[str, int]:
    return serve(make_app(websocket_max_message_size=LIMIT, websocket_close_timeout=5.0))


@pytest.mark.parametrize(
    "frames",
    [[BOMB], [LIMIT * 6 // 10, BOMB], [BOMB // 10] * 10],
    ids=["one frame", "a bomb after 0.6 MiB", "a bomb in ten frames"],
)
def test_a_deflate_bomb_closes_with_1009_and_memory_stays_bounded(
    limited: tuple[str, int], frames: list[int]
) -> None:
    wire = compressed_message(BINARY, [bytes(size) for size in frames])
    assert len(wire) < 200 * 1024  # small on the wire ...
    client = RawClient(*limited)
    try:
        assert client.frame() == (TEXT, b"hello a")
        code, reason, before, peak = send_and_measure(client, wire)
        assert (code, reason) == (1009, f"message over {LIMIT} bytes")
        assert before == []  # nothing of the bomb was echoed back
        # ... and the server never held much more than the limit (50 MiB inflated).
        assert peak < 8 * LIMIT, f"{peak} bytes traced at the peak"
        assert client.closes_within(3.0)  # the closing handshake completes, no timeout
    finally:
        client.sock.close()


def test_a_fragmented_message_crossing_the_limit_closes_with_1009(
    limited: tuple[str, int],
) -> None:
    third = b"t" * (LIMIT // 3 + 1)  # three of these are just over the limit
    client = RawClient(*limited)
    try:
        assert client.frame() == (TEXT, b"hello a")
        wire = compressed_message(TEXT, [third, third, third, b"after"])
        wire += compressed_message(TEXT, [b"not delivered"])
        code, reason, before, _ = send_and_measure(client, wire)
        assert (code, reason, before) == (1009, f"message over {LIMIT} bytes", [])
        assert client.closes_within(3.0)
    finally:
        client.sock.close()


def test_compressed_messages_up_to_the_limit_arrive_whole(limited: tuple[str, int]) -> None:
    host, port = limited
    text = "é" * (LIMIT // 2)  # exactly the limit in UTF-8 bytes
    noise = os.urandom(LIMIT)  # does not compress at all
    with connect(f"ws://{host}:{port}/ws/a", max_size=None) as ws:
        assert ws.recv(timeout=5) == "hello a"
        ws.send(text)
        assert ws.recv(timeout=10) == text
        ws.send([noise[: LIMIT // 2], noise[LIMIT // 2 :]])  # two frames, one message
        assert ws.recv(timeout=10) == noise
        ws.send(b"z" * (LIMIT + 1))  # one byte over
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
        assert (ws.close_code, ws.close_reason) == (1009, f"message over {LIMIT} bytes")


@pytest.mark.parametrize(
    "factory",
    [
        ClientPerMessageDeflateFactory(client_max_window_bits=9),
        ClientPerMessageDeflateFactory(client_no_context_takeover=True),
        ClientPerMessageDeflateFactory(server_max_window_bits=10, server_no_context_takeover=True),
    ],
    ids=["client_max_window_bits=9", "client_no_context_takeover", "server_window"],
)
def test_negotiated_parameters_keep_working(
    limited: tuple[str, int], factory: ClientPerMessageDeflateFactory
) -> None:
    host, port = limited
    with connect(f"ws://{host}:{port}/ws/a", extensions=[factory], compression=None) as ws:
        assert ws.response is not None
        assert "permessage-deflate" in ws.response.headers["Sec-WebSocket-Extensions"]
        assert ws.recv(timeout=5) == "hello a"
        for i in range(3):  # later messages refer back to earlier ones (context takeover)
            message = f"message {i} " + "abcdefgh" * 5000
            ws.send(message)
            assert ws.recv(timeout=5) == message


class Lean(Echo):
    """The docs' narrower compression options."""

    def get_compression_options(self) -> dict[str, Any]:
        return {"client_max_window_bits": 10, "client_no_context_takeover": True}


@pytest.mark.parametrize("offer_bits", [True, None], ids=["offered", "not offered"])
def test_a_narrow_client_window_is_only_assumed_once_agreed(
    serve: Serve, offer_bits: Literal[True] | None
) -> None:
    app = make_app()
    app.add_route(r"/lean/(\w+)", Lean)
    host, port = serve(app)
    factory = ClientPerMessageDeflateFactory(client_max_window_bits=offer_bits)
    with connect(f"ws://{host}:{port}/lean/x", extensions=[factory], compression=None) as ws:
        assert ws.response is not None
        agreed = ws.response.headers["Sec-WebSocket-Extensions"]
        assert ("client_max_window_bits=10" in agreed) is bool(offer_bits)
        assert ws.recv(timeout=5) == "hello x"
        # The second frame repeats the first, 4 KiB back: past a 10-bit window, so only
        # a client told to keep to 10 bits avoids it; one that was not told may refer
        # back that far (across frames, where the inflater's window is all there is).
        block = os.urandom(4096)
        ws.send([block, block])
        assert ws.recv(timeout=5) == block * 2


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (client_frame(BINARY, b"\xff\xff\xff\xff", rsv1=True), 1007),  # not deflate data
        (client_frame(TEXT, b"caf\xe9"), 1007),  # not UTF-8
        (client_frame(CONTINUATION, b"x", rsv1=True), 1002),  # RSV1 on a continuation
    ],
    ids=["corrupt deflate", "bad utf-8", "rsv1 on a continuation"],
)
def test_a_broken_frame_gets_a_close_frame_that_says_why(
    limited: tuple[str, int], frame: bytes, code: int
) -> None:
    client = RawClient(*limited)
    try:
        assert client.frame() == (TEXT, b"hello a")
        client.sock.sendall(frame)
        received, reason, before = client.close_frame()
        assert (received, before) == (code, [])
        assert reason  # wsproto's words for what was wrong
    finally:
        client.sock.close()
