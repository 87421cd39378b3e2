"""Stress harness (benchmarks/stress): one raw exchange on a connection, for the fuzzer.

One job: connect, send a payload (whole or in random fragments) while reading whatever
comes back, half-close, and read until the server closes — noting a reset (RST) or a
stall (no close in time) instead of raising. Also the normal-request checks the fuzzer
runs at the end.
"""

from __future__ import annotations

import contextlib
import random
import selectors
import socket
import time
from dataclasses import dataclass

from common import HELLO
from framing import FramingError, parse_responses


@dataclass
class Exchange:
    received: bytes
    reset: bool = False  # ECONNRESET while sending or reading
    stalled: bool = False  # the server neither closed nor reset within the timeout
    connect_failed: bool = False
    close_seconds: float = 0.0  # from the half-close to the server's close


def exchange(
    host: str,
    port: int,
    payload: bytes,
    fragment: random.Random | None,
    timeout: float,
    *,
    steps: tuple[bytes, ...] = (),
) -> Exchange:
    """Send `payload`, half-close, read to EOF. `fragment`: send in random small pieces.

    `steps` come first, one at a time, each sent only once the previous one was
    answered: keep-alive reuse, so that `payload` reaches a connection that went back
    to idle rather than one still busy with a pipeline.
    """
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError:
        return Exchange(b"", connect_failed=True, stalled=True)
    received = bytearray()
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for answered, step in enumerate(steps, start=1):
            try:
                sock.sendall(step)
                while count_finals(received) < answered:
                    data = sock.recv(65536)
                    if not data:
                        return Exchange(bytes(received))  # closed: judge what came
                    received += data
                if announced_close(received):
                    # A client that waits for answers sends nothing after this one.
                    return pump(sock, b"", None, timeout, received)
            except TimeoutError:
                return Exchange(bytes(received), stalled=True)
            except ConnectionResetError:
                return Exchange(bytes(received), reset=True)
            except BrokenPipeError:
                return Exchange(bytes(received))  # closed before this step: judge the rest
        return pump(sock, payload, fragment, timeout, received)
    finally:
        sock.close()


def announced_close(received: bytearray) -> bool:
    try:
        responses, _ = parse_responses(bytes(received), eof=False)
    except FramingError:
        return True
    return bool(responses) and responses[-1].closes


def count_finals(received: bytearray) -> int:
    """Complete final (non-1xx) responses so far; a huge number if misframed (the
    judge will say so later, the waiting stops now)."""
    try:
        responses, _ = parse_responses(bytes(received), eof=False)
    except FramingError:
        return 1 << 30
    return sum(1 for r in responses if r.status >= 200)


def pump(
    sock: socket.socket,
    payload: bytes,
    fragment: random.Random | None,
    timeout: float,
    received: bytearray,
) -> Exchange:
    """Write `payload` while reading, half-close, read until the server closes."""
    reset = False
    sel = selectors.DefaultSelector()
    try:
        sock.setblocking(False)
        pending = memoryview(payload)
        writing = True
        sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
        deadline = time.monotonic() + timeout
        shut_at = 0.0

        def stop_writing() -> None:
            nonlocal writing, shut_at
            writing = False
            shut_at = time.monotonic()
            sel.modify(sock, selectors.EVENT_READ)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)

        if not pending:
            stop_writing()
        while True:
            now = time.monotonic()
            if now > deadline:
                return Exchange(bytes(received), reset, stalled=True)
            for _, mask in sel.select(timeout=min(0.5, deadline - now)):
                if mask & selectors.EVENT_READ:
                    try:
                        data = sock.recv(262144)
                    except BlockingIOError:
                        data = None
                    except ConnectionResetError:
                        reset = True
                        data = b""
                    if data == b"":
                        close = time.monotonic() - shut_at if shut_at else 0.0
                        return Exchange(bytes(received), reset, close_seconds=close)
                    if data:
                        received += data
                if writing and mask & selectors.EVENT_WRITE:
                    piece = pending
                    if fragment is not None:
                        piece = pending[: fragment.randint(1, 64)]
                    try:
                        sent = sock.send(piece)
                    except BlockingIOError:
                        sent = 0
                    except BrokenPipeError:
                        sent = len(pending)  # the server stopped reading; read what it said
                    except ConnectionResetError:
                        reset = True
                        sent = len(pending)
                    pending = pending[sent:]
                    if sent:
                        # Progress while sending keeps the connection within its time.
                        deadline = time.monotonic() + timeout
                    if not pending:
                        stop_writing()
                    elif fragment is not None and fragment.random() < 0.05:
                        time.sleep(0.002)
    finally:
        sel.close()


def final_checks(host: str, port: int) -> list[str]:
    """Normal requests after the fuzzing: a GET and a chunked POST each split at every
    byte, pipelined GETs, POST with a Content-Length body and with a chunked body."""
    problems: list[str] = []
    request = f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    body = b"x" * 1000
    post = (
        f"POST /echo HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    chunked = (
        f"POST /echo HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    ).encode()
    checks = [
        ("GET", request, [HELLO]),
        ("3 pipelined GETs", request * 3, [HELLO] * 3),
        ("POST Content-Length", post, [b"1000\n"]),
        ("POST chunked", chunked, [b"5\n"]),
    ]
    problems += split_checks(host, port, request, HELLO)
    problems += split_checks(host, port, chunked, b"5\n")
    for name, payload, bodies in checks:
        ex = exchange(host, port, payload, None, 10.0)
        if ex.stalled or ex.reset:
            problems.append(f"{name}: {'stalled' if ex.stalled else 'reset'}")
            continue
        try:
            responses, _ = parse_responses(ex.received, eof=True)
        except FramingError as exc:
            problems.append(f"{name}: {exc}")
            continue
        got = [r.body for r in responses if r.status == 200]
        if got != bodies:
            problems.append(f"{name}: want {bodies!r}, got {ex.received[:300]!r}")
    return problems


def split_checks(host: str, port: int, request: bytes, body: bytes) -> list[str]:
    """The request sent in two writes 20 ms apart, split at every byte: each must get
    a 200 with `body`.

    TCP may cut a request anywhere: inside its final CRLFCRLF, a chunk-size line, ...
    """
    problems: list[str] = []
    for cut in range(1, len(request)):
        try:
            with socket.create_connection((host, port), timeout=5) as sock:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.sendall(request[:cut])
                time.sleep(0.02)
                sock.sendall(request[cut:])
                sock.shutdown(socket.SHUT_WR)
                received = b""
                while chunk := sock.recv(65536):
                    received += chunk
        except OSError as exc:
            problems.append(f"split after byte {cut} ({request[:cut][-8:]!r}): {exc!r}")
            continue
        try:
            responses, _ = parse_responses(received, eof=True)
        except FramingError as exc:
            problems.append(f"split after byte {cut}: {exc}")
            continue
        if [r.body for r in responses] != [body]:
            problems.append(
                f"split after byte {cut} ({request[:cut][-8:]!r}): got {received[:120]!r}"
            )
    return problems
