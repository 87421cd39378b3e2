"""Real-time benchmarks: idle WebSockets, a broadcast beside Tornado, async sleeps.

Three parts, each against servers started in their own process groups on 127.0.0.1:

- ``idle``: micro (``micro serve``, the websocket plugin) holds N idle WebSockets
  (5,000 by default): its RSS and thread count before and after, so what one open
  WebSocket costs and that it costs no thread;
- ``broadcast``: 1,000 WebSockets on micro and on Tornado's WebSocketHandler (same
  run, interleaved rounds); a POST publishes one message to all of them; the time
  from the POST to the last client's delivery (median over rounds);
- ``async``: 200 concurrent requests to a route that awaits ``asyncio.sleep(0.1)``
  and to the same route written synchronously (``time.sleep``), micro with
  ``--threads 4``: the time to the last answer.

The clients are raw sockets driven by one selector in this process (a WebSocket
handshake without extensions, so neither server compresses), not a client library
with a thread per connection.
"""

from __future__ import annotations

import argparse
import base64
import os
import selectors
import socket
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from harness import (
    HOST,
    ROOT,
    BenchError,
    ServerProcess,
    child_env,
    environment,
    fmt,
    free_port,
    http_get,
    median,
    require_module,
    table,
    temp_dir,
    terminate_on_signals,
    write_markdown,
)

APP = str(Path(__file__).resolve().parent / "apps_realtime.py")


def _proc_status(pid: int) -> dict[str, str]:
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            fields[name] = value.strip()
    return fields


def rss_mb(pid: int) -> float:
    return int(_proc_status(pid)["VmRSS"].split()[0]) / 1024


def threads(pid: int) -> int:
    return int(_proc_status(pid)["Threads"])


def handshake(port: int) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET /ws HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def open_websockets(port: int, count: int, timeout: float = 120.0) -> list[socket.socket]:
    """``count`` WebSockets, handshakes pipelined through one selector; all answered 101."""
    selector = selectors.DefaultSelector()
    socks: list[socket.socket] = []
    pending: dict[socket.socket, bytes] = {}
    deadline = time.monotonic() + timeout
    batch = 200  # connect in batches: the listen backlog is finite
    try:
        for start in range(0, count, batch):
            for _ in range(min(batch, count - start)):
                sock = socket.create_connection((HOST, port), timeout=10)
                sock.sendall(handshake(port))
                sock.setblocking(False)
                socks.append(sock)
                pending[sock] = b""
                selector.register(sock, selectors.EVENT_READ)
            while pending and len(pending) > batch // 2:
                _read_heads(selector, pending, deadline)
        while pending:
            _read_heads(selector, pending, deadline)
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    finally:
        selector.close()
    return socks


def _read_heads(
    selector: selectors.BaseSelector, pending: dict[socket.socket, bytes], deadline: float
) -> None:
    if time.monotonic() > deadline:
        raise BenchError(f"{len(pending)} handshakes unanswered in time")
    for key, _ in selector.select(1.0):
        sock = key.fileobj
        assert isinstance(sock, socket.socket)
        data = pending[sock] + sock.recv(4096)
        if b"\r\n\r\n" in data:
            if not data.startswith(b"HTTP/1.1 101"):
                raise BenchError(f"handshake refused: {data[:80]!r}")
            selector.unregister(sock)
            del pending[sock]
        elif not data:
            raise BenchError("the server closed a connection during its handshake")
        else:
            pending[sock] = data


def micro_server(port: int, threads_: int, log_dir: Path) -> ServerProcess:
    argv = [sys.executable, "-m", "micro", "serve", f"{APP}:app"]
    argv += ["--bind", f"{HOST}:{port}", "--threads", str(threads_)]
    return ServerProcess("micro", argv, port, cwd=ROOT, env=child_env(), log_dir=log_dir)


def tornado_server(port: int, log_dir: Path) -> ServerProcess:
    argv = [sys.executable, APP, "tornado", str(port)]
    return ServerProcess("tornado", argv, port, cwd=ROOT, env=child_env(), log_dir=log_dir)


def healthy(port: int) -> None:
    reply = http_get(port, "/health")
    if reply.body != b"ok":
        raise OSError(f"unexpected answer {reply.status}")


# -- idle -------------------------------------------------------------------------------


def bench_idle(count: int, log_dir: Path) -> tuple[list[list[str]], list[str]]:
    port = free_port()
    with micro_server(port, 4, log_dir) as server:
        server.wait_ready(healthy)
        assert server.proc is not None
        pid = server.proc.pid
        time.sleep(0.5)
        before_rss, before_threads = rss_mb(pid), threads(pid)
        socks = open_websockets(port, count)
        try:
            time.sleep(2.0)  # every open() callback has run
            after_rss, after_threads = rss_mb(pid), threads(pid)
            alive = server.alive()
        finally:
            for sock in socks:
                sock.close()
    rows = [
        ["before", "0", fmt(before_rss, 1), str(before_threads)],
        [f"{count} open", str(count), fmt(after_rss, 1), str(after_threads)],
    ]
    per = (after_rss - before_rss) * 1024 / count
    notes = [
        f"- {count} idle WebSockets: server RSS {after_rss:.1f} MB (target < 100 MB), "
        f"{per:.1f} KB each; threads {before_threads} -> {after_threads} "
        f"({'no extra thread' if after_threads == before_threads else 'EXTRA THREADS'})"
        + ("" if alive else "; THE SERVER DIED"),
    ]
    return rows, notes


# -- broadcast --------------------------------------------------------------------------


def _post(port: int, body: bytes) -> socket.socket:
    sock = socket.create_connection((HOST, port), timeout=10)
    sock.sendall(
        f"POST /publish HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n".encode()
        + body
    )
    return sock


def broadcast_once(port: int, socks: list[socket.socket], size: int) -> float:
    """Seconds from the POST to the last complete delivery of one ``size``-byte message."""
    message = b"m" * size
    frame = 2 + (2 if 126 <= size < 65536 else 0) + size
    selector = selectors.DefaultSelector()
    got = dict.fromkeys(socks, 0)
    for sock in socks:
        selector.register(sock, selectors.EVENT_READ)
    try:
        started = time.perf_counter()
        poster = _post(port, message)
        waiting = len(socks)
        last = started
        deadline = time.monotonic() + 30
        while waiting:
            if time.monotonic() > deadline:
                raise BenchError(f"{waiting} clients had nothing after 30 s")
            for key, _ in selector.select(1.0):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                data = sock.recv(65536)
                if not data:
                    raise BenchError("the server closed a WebSocket")
                got[sock] += len(data)
                if got[sock] >= frame:
                    selector.unregister(sock)
                    waiting -= 1
                    last = time.perf_counter()
        poster.close()
        return last - started
    finally:
        selector.close()


def bench_broadcast(
    clients: int, rounds: int, size: int, log_dir: Path
) -> tuple[list[list[str]], list[str]]:
    times: dict[str, list[float]] = {"micro": [], "tornado": []}
    with ExitStack() as stack:
        servers = {
            "micro": stack.enter_context(micro_server(free_port(), 4, log_dir)),
            "tornado": stack.enter_context(tornado_server(free_port(), log_dir)),
        }
        conns: dict[str, list[socket.socket]] = {}
        for name, server in servers.items():
            server.wait_ready(healthy)
            conns[name] = open_websockets(server.port, clients)
            stack.callback(lambda socks=conns[name]: [s.close() for s in socks])
        time.sleep(1.0)  # every open() callback has joined
        order = list(servers)
        for r in range(rounds):
            for name in order[r % 2 :] + order[: r % 2]:
                times[name].append(broadcast_once(servers[name].port, conns[name], size))
    ratio = median([m / t for m, t in zip(times["micro"], times["tornado"], strict=True)])
    rows = [
        [name, fmt(median(ts) * 1000, 1), f"{min(ts) * 1000:.1f} - {max(ts) * 1000:.1f}"]
        for name, ts in times.items()
    ]
    notes = [
        f"- broadcast of one {size}-byte message to {clients} WebSockets, time to the last "
        f"delivery: micro / Tornado = {ratio:.2f} (median of the per-round ratios)"
    ]
    return rows, notes


# -- async ------------------------------------------------------------------------------


def concurrent_gets(port: int, path: str, count: int) -> float:
    """Seconds until ``count`` simultaneous GETs of ``path`` have all been answered."""
    socks = [socket.create_connection((HOST, port), timeout=30) for _ in range(count)]
    selector = selectors.DefaultSelector()
    try:
        request = f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
        started = time.perf_counter()
        for sock in socks:
            sock.sendall(request)
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ, b"")
        waiting = count
        deadline = time.monotonic() + 60
        while waiting:
            if time.monotonic() > deadline:
                raise BenchError(f"{waiting} requests unanswered after 60 s")
            for key, _ in selector.select(1.0):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                data = key.data + sock.recv(4096)
                if data.endswith(b"slept"):
                    selector.unregister(sock)
                    waiting -= 1
                else:
                    selector.modify(sock, selectors.EVENT_READ, data)
        return time.perf_counter() - started
    finally:
        selector.close()
        for sock in socks:
            sock.close()


def bench_async(count: int, rounds: int, log_dir: Path) -> tuple[list[list[str]], list[str]]:
    times: dict[str, list[float]] = {"/async-sleep": [], "/sync-sleep": []}
    port = free_port()
    with micro_server(port, 4, log_dir) as server:
        server.wait_ready(healthy)
        concurrent_gets(port, "/async-sleep", 4)  # start the App's asyncio loop
        for _ in range(rounds):
            for path in times:
                times[path].append(concurrent_gets(port, path, count))
    rows = [
        [path, fmt(median(ts), 2), f"{min(ts):.2f} - {max(ts):.2f}"] for path, ts in times.items()
    ]
    a, s = median(times["/async-sleep"]), median(times["/sync-sleep"])
    notes = [
        f"- {count} concurrent requests, each waiting 0.1 s, micro --threads 4: async "
        f"{a:.2f} s (target < 0.5 s), the same route written synchronously {s:.2f} s"
    ]
    return rows, notes


def bench(args: argparse.Namespace) -> int:
    terminate_on_signals()
    parts = args.parts.split(",")
    if "broadcast" in parts:
        require_module("tornado", "tornado")
    sections: list[str] = []
    notes: list[str] = []
    with temp_dir("bench-realtime-") as log_dir:
        if "idle" in parts:
            rows, n = bench_idle(args.idle, log_dir)
            sections.append(
                "Idle WebSockets (micro serve, --threads 4):\n\n"
                + table(["state", "WebSockets", "RSS MB", "threads"], rows, markdown=args.md)
            )
            notes += n
        if "broadcast" in parts:
            rows, n = bench_broadcast(args.clients, args.rounds, args.size, log_dir)
            sections.append(
                f"Broadcast to {args.clients} WebSockets, ms to the last delivery:\n\n"
                + table(["server", "median ms", "range"], rows, markdown=args.md)
            )
            notes += n
        if "async" in parts:
            rows, n = bench_async(args.requests, args.rounds, log_dir)
            sections.append(
                f"{args.requests} concurrent requests, seconds to the last answer:\n\n"
                + table(["route", "median s", "range"], rows, markdown=args.md)
            )
            notes += n
    body = "\n\n".join(sections)
    print(body)
    print()
    print("\n".join(notes))
    write_markdown(
        args.markdown,
        "Real time: WebSockets and async handlers (issue 14)",
        environment(["micro-websocket", "wsproto", "tornado"], {}),
        body,
        notes,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--parts", default="idle,broadcast,async", help="subset (all three)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (5)")
    parser.add_argument("--idle", type=int, default=5000, help="idle WebSockets (5000)")
    parser.add_argument("--clients", type=int, default=1000, help="broadcast clients (1000)")
    parser.add_argument("--size", type=int, default=100, help="broadcast message bytes (100)")
    parser.add_argument("--requests", type=int, default=200, help="concurrent requests (200)")
    parser.add_argument("--markdown", type=Path, help="also write the report as markdown here")
    args = parser.parse_args(argv)
    args.md = args.markdown is not None
    return bench(args)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as err:
        sys.exit(f"bench_realtime: {err}")
    except KeyboardInterrupt:
        sys.exit(130)
