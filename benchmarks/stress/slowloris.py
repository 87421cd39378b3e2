"""Stress harness (benchmarks/stress): slowloris — many slow clients must not starve others.

One job: hold N connections (default 500) that each send one byte of a never-ending
request head every second for D seconds (default 20), reopening any the server closes,
while a normal client times sequential requests spread over the attack.
Pass: zero failed requests, p99 under the limit (100 ms), server alive.

Half the attackers dribble from the first byte of the request line; the other half
send "GET / HTTP/1.1" and Host at once and then dribble header bytes. All attackers
live in one thread on a selector; the normal client runs in another.

    python benchmarks/stress/slowloris.py [--connections 500] [--seconds 20]
"""

from __future__ import annotations

import argparse
import errno
import selectors
import socket
import sys
import threading
import time
from dataclasses import dataclass, field

from common import (
    Timed,
    finish,
    main_guard,
    raise_fd_limit,
    running_server,
    server_args,
    timed_requests,
)

HEADER_LINE = b"X-Slow-Loris: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"


@dataclass
class Attacker:
    sock: socket.socket
    burst: bytes  # sent at the first tick (empty for attackers that dribble from byte 0)
    prefix: bytes  # dribbled once, then HEADER_LINE cycles: the head never ends
    next_send: float
    sent: int = 0

    def next_byte(self) -> bytes:
        if self.sent < len(self.prefix):
            return self.prefix[self.sent : self.sent + 1]
        pos = (self.sent - len(self.prefix)) % len(HEADER_LINE)
        return HEADER_LINE[pos : pos + 1]


@dataclass
class AttackStats:
    opened: int = 0
    closed_by_server: int = 0
    connect_failures: int = 0
    bytes_sent: int = 0
    responses_bytes: int = 0
    open_samples: list[int] = field(default_factory=list)
    first_close_after: float | None = None


def open_attacker(index: int, host: str, port: int, now: float) -> Attacker:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    code = sock.connect_ex((host, port))
    if code not in (0, errno.EINPROGRESS):
        sock.close()
        raise OSError(code, "connect failed")
    head = f"GET /?loris={index} HTTP/1.1\r\nHost: {host}\r\n".encode()
    # Odd attackers send the request line and Host at once and dribble header bytes;
    # even ones dribble from the first byte of the request line.
    burst, prefix = (head, b"") if index % 2 else (b"", head)
    # Spread the first sends over a second so the server sees a steady trickle.
    return Attacker(sock, burst, prefix, now + (index % 100) / 100)


def attack(
    host: str, port: int, count: int, seconds: float, stats: AttackStats, stop: threading.Event
) -> None:
    """Hold `count` slow connections for `seconds`; reopen what the server closes."""
    sel = selectors.DefaultSelector()
    attackers: dict[int, Attacker] = {}
    start = time.monotonic()
    end = start + seconds
    index = 0

    def add(now: float) -> None:
        nonlocal index
        try:
            att = open_attacker(index, host, port, now)
        except OSError:
            stats.connect_failures += 1
            return
        index += 1
        stats.opened += 1
        attackers[att.sock.fileno()] = att
        sel.register(att.sock, selectors.EVENT_READ)

    def drop(fd: int, now: float) -> None:
        att = attackers.pop(fd)
        sel.unregister(att.sock)
        att.sock.close()
        stats.closed_by_server += 1
        if stats.first_close_after is None:
            stats.first_close_after = now - start

    try:
        now = time.monotonic()
        while len(attackers) < count:
            add(now)
        last_sample = 0.0
        while not stop.is_set():
            now = time.monotonic()
            if now >= end:
                break
            for key, _ in sel.select(timeout=0.05):
                fd = key.fd
                try:
                    data = attackers[fd].sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if data:
                    stats.responses_bytes += len(data)
                else:
                    drop(fd, now)
            for fd, att in list(attackers.items()):
                if att.next_send > now:
                    continue
                try:
                    # Before the connect completes, or if the server stopped reading:
                    # skip this tick rather than block.
                    if att.burst:
                        att.burst = att.burst[att.sock.send(att.burst) :]
                    else:
                        att.sent += att.sock.send(att.next_byte())
                    stats.bytes_sent += 1
                except BlockingIOError:
                    pass
                except OSError:
                    drop(fd, now)
                    continue
                att.next_send += 1.0
            while len(attackers) < count and now < end - 1:
                add(now)
            if now - last_sample >= 1.0:
                stats.open_samples.append(len(attackers))
                last_sample = now
    finally:
        for att in attackers.values():
            att.sock.close()
        sel.close()


def run(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--p99-ms", type=float, default=100.0)
    parser.add_argument(
        "--keepalive",
        action="store_true",
        help="the normal client reuses one connection (default: one per request)",
    )
    server_args(parser)
    args = parser.parse_args(argv)
    raise_fd_limit(args.connections + 200)

    with running_server(impl=args.impl, threads=args.threads, via_cli=args.via_cli) as server:
        # Warm up the worker pool so the first timed request is not a cold start.
        warm = timed_requests(server.host, server.port, 20, keepalive=False)
        if warm.failures:
            return finish(
                "slowloris", False, f"server not answering: {warm.failures[0]}", {}, args.json
            )
        fds_before = server.fd_count()
        stats = AttackStats()
        stop = threading.Event()
        attacker = threading.Thread(
            target=attack,
            args=(server.host, server.port, args.connections, args.seconds, stats, stop),
            name="slowloris",
        )
        attacker.start()
        try:
            # Let the attack establish itself, then spread the requests over the rest.
            ramp = min(3.0, args.seconds / 5)
            time.sleep(ramp)
            window = args.seconds - ramp - 1.0
            timed: Timed = timed_requests(
                server.host,
                server.port,
                args.requests,
                keepalive=args.keepalive,
                interval=window / args.requests,
                deadline=time.monotonic() + args.seconds + 30,
            )
        finally:
            stop.set()
            attacker.join(timeout=30)
        alive = server.alive()
        rss_mib = server.rss_kib() / 1024 if alive else float("nan")
        # The attackers are closed now; the server should drop their sockets.
        fds_after = server.settled_fds(fds_before) if alive else -1

    p50, p99, worst = timed.ms(50), timed.ms(99), timed.ms(100)
    open_min = min(stats.open_samples, default=0)
    figures = {
        "connections": args.connections,
        "seconds": args.seconds,
        "requests": args.requests,
        "failures": len(timed.failures),
        "p50_ms": round(p50, 2),
        "p99_ms": round(p99, 2),
        "max_ms": round(worst, 2),
        "attack_open_min": open_min,
        "attack_opened_total": stats.opened,
        "attack_closed_by_server": stats.closed_by_server,
        "attack_first_close_s": stats.first_close_after,
        "attack_connect_failures": stats.connect_failures,
        "attack_bytes_sent": stats.bytes_sent,
        "server_alive": alive,
        "server_fds_before_after": (fds_before, fds_after),
        "server_threads": server.threads,
        "micro_source": server.source,
        "rss_mib_end": round(rss_mib, 1),
        "failure_samples": timed.failures[:5],
    }
    ok = (
        alive
        and not timed.failures
        and p99 < args.p99_ms
        and len(timed.latencies) > 0
        and fds_after <= fds_before + 10
    )
    summary = (
        f"{args.requests} requests under {args.connections} slow connections for "
        f"{args.seconds:g} s: {len(timed.failures)} failures, p50 {p50:.1f} ms, "
        f"p99 {p99:.1f} ms (limit {args.p99_ms:g}), max {worst:.1f} ms; attackers held "
        f">= {open_min}, {stats.closed_by_server} closed by server and reopened; "
        f"server fds {fds_before} -> {fds_after}"
    )
    if timed.failures:
        print("first failures:", *timed.failures[:5], sep="\n  ")
    return finish("slowloris", ok, summary, figures, args.json)


def main(argv: list[str] | None = None) -> int:
    return main_guard("slowloris", run, argv)


if __name__ == "__main__":
    sys.exit(main())
