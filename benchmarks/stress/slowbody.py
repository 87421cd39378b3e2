"""Stress harness (benchmarks/stress): slow request bodies must not starve others or grow memory.

One job, in three parts, each against its own server (4 worker threads by default):

1. attack: N connections drip a 100,000-byte body one byte a second, N announce a
   body and stall after 10 bytes, N send ``Expect: 100-continue``, wait for the 100
   and then drip, for D seconds (defaults 50 each, 20 s), reopening any the server
   closes; meanwhile a normal client times sequential GETs spread over the attack.
   Pass: 0 failed requests, p99 under the limit (100 ms), server alive.
2. uploads: U concurrent uploads (default 1,000) each announce a body and send half
   of it, then hold; twice: 1 MiB bodies (past the spool threshold: spooled to
   files) and 256 KiB bodies (under it: held in memory). The server's RSS and open
   descriptors before, while they are held, and after they go.
3. big: one upload of G bytes (default 2 GiB; ``max_body_bytes`` raised) sent as fast
   as the client can; the app reads ``wsgi.input`` in 1 MiB pieces and answers the
   length and CRC-32. RSS is sampled every 0.2 s. Pass: the answer is right and the
   RSS peak is at most 64 MiB over the RSS before.

    python benchmarks/stress/slowbody.py [--each 50] [--seconds 20] [--uploads 1000]
                                         [--big-mib 2048]
"""

from __future__ import annotations

import argparse
import errno
import selectors
import socket
import sys
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

from common import (
    ServerProcess,
    StressError,
    Timed,
    finish,
    main_guard,
    raise_fd_limit,
    running_server,
    server_args,
    timed_requests,
)

DRIP_LENGTH = 100_000
KINDS = ("drip", "stall", "continue")


@dataclass
class Attacker:
    sock: socket.socket
    kind: str
    pending: bytes  # still to send at once (the head, and the stalled ones' 10 bytes)
    next_drip: float
    waiting_100: bool = False
    got_100: bool = False


@dataclass
class AttackStats:
    opened: int = 0
    closed_by_server: int = 0
    connect_failures: int = 0
    continues: int = 0
    answers: dict[str, int] = field(default_factory=dict)  # first status line word seen
    open_samples: list[int] = field(default_factory=list)


def head_for(kind: str, index: int, host: str) -> bytes:
    extra = "Expect: 100-continue\r\n" if kind == "continue" else ""
    return (
        f"POST /echo?{kind}={index} HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Length: {DRIP_LENGTH}\r\n{extra}\r\n"
    ).encode()


def open_attacker(kind: str, index: int, host: str, port: int, now: float) -> Attacker:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    code = sock.connect_ex((host, port))
    if code not in (0, errno.EINPROGRESS):
        sock.close()
        raise OSError(code, "connect failed")
    pending = head_for(kind, index, host) + (b"s" * 10 if kind == "stall" else b"")
    att = Attacker(sock, kind, pending, now + 1.0 + (index % 100) / 100)
    att.waiting_100 = kind == "continue"
    return att


def attack(
    host: str, port: int, each: int, seconds: float, stats: AttackStats, stop: threading.Event
) -> None:
    """Hold `each` connections of every kind for `seconds`; reopen what the server closes."""
    sel = selectors.DefaultSelector()
    attackers: dict[int, Attacker] = {}
    end = time.monotonic() + seconds
    index = 0

    def add(kind: str, now: float) -> None:
        nonlocal index
        try:
            att = open_attacker(kind, index, host, port, now)
        except OSError:
            stats.connect_failures += 1
            return
        index += 1
        stats.opened += 1
        attackers[att.sock.fileno()] = att
        sel.register(att.sock, selectors.EVENT_READ)

    def drop(fd: int) -> None:
        att = attackers.pop(fd)
        sel.unregister(att.sock)
        att.sock.close()
        stats.closed_by_server += 1

    def count(kind: str) -> int:
        return sum(1 for a in attackers.values() if a.kind == kind)

    try:
        now = time.monotonic()
        for kind in KINDS:
            for _ in range(each):
                add(kind, now)
        last_sample = 0.0
        while not stop.is_set():
            now = time.monotonic()
            if now >= end:
                break
            for key, _ in sel.select(timeout=0.05):
                att = attackers[key.fd]
                try:
                    data = att.sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    drop(key.fd)
                    continue
                word = data.split(b" ", 2)[1].decode("latin-1") if b" " in data else "?"
                if word == "100" and att.waiting_100:
                    att.waiting_100, att.got_100 = False, True
                    stats.continues += 1
                else:
                    stats.answers[word] = stats.answers.get(word, 0) + 1
            for fd, att in list(attackers.items()):
                try:
                    if att.pending:
                        att.pending = att.pending[att.sock.send(att.pending) :]
                    elif att.kind != "stall" and not att.waiting_100 and att.next_drip <= now:
                        att.sock.send(b"d")
                        att.next_drip += 1.0
                except BlockingIOError:
                    pass
                except OSError:
                    drop(fd)
            if now < end - 1:
                for kind in KINDS:
                    for _ in range(each - count(kind)):
                        add(kind, now)
            if now - last_sample >= 1.0:
                stats.open_samples.append(len(attackers))
                last_sample = now
    finally:
        for att in attackers.values():
            att.sock.close()
        sel.close()


def run_attack(args: argparse.Namespace) -> tuple[bool, str, dict[str, Any]]:
    with running_server(impl=args.impl, threads=args.threads, via_cli=args.via_cli) as server:
        warm = timed_requests(server.host, server.port, 20, keepalive=False)
        if warm.failures:
            raise StressError(f"server not answering: {warm.failures[0]}")
        fds_before = server.fd_count()
        stats = AttackStats()
        stop = threading.Event()
        attacker = threading.Thread(
            target=attack,
            args=(server.host, server.port, args.each, args.seconds, stats, stop),
            name="slowbody",
        )
        attacker.start()
        try:
            ramp = min(3.0, args.seconds / 5)
            time.sleep(ramp)
            window = args.seconds - ramp - 1.0
            timed: Timed = timed_requests(
                server.host,
                server.port,
                args.requests,
                keepalive=False,
                interval=window / args.requests,
                deadline=time.monotonic() + args.seconds + 30,
            )
        finally:
            stop.set()
            attacker.join(timeout=30)
        alive = server.alive()
        fds_after = server.settled_fds(fds_before) if alive else -1
    p50, p99, worst = timed.ms(50), timed.ms(99), timed.ms(100)
    held = min(stats.open_samples, default=0)
    figures = {
        "each": args.each,
        "seconds": args.seconds,
        "requests": args.requests,
        "failures": len(timed.failures),
        "p50_ms": round(p50, 2),
        "p99_ms": round(p99, 2),
        "max_ms": round(worst, 2),
        "attack_open_min": held,
        "attack_opened_total": stats.opened,
        "attack_closed_by_server": stats.closed_by_server,
        "attack_100_continue_received": stats.continues,
        "attack_answers": stats.answers,
        "server_alive": alive,
        "server_fds_before_after": (fds_before, fds_after),
        "failure_samples": timed.failures[:5],
        "micro_source": server.source,
    }
    ok = alive and not timed.failures and p99 < args.p99_ms and fds_after <= fds_before + 10
    summary = (
        f"{args.requests} GETs under {args.each} drippers + {args.each} stalled + {args.each} "
        f"slow 100-continue bodies for {args.seconds:g} s: {len(timed.failures)} failures, "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms (limit {args.p99_ms:g}), max {worst:.1f} ms; "
        f"attackers held >= {held}/{3 * args.each}, {stats.continues} got their 100"
    )
    return ok, summary, figures


def hold_uploads(server: ServerProcess, count: int, size: int, hold: float) -> dict[str, Any]:
    """`count` uploads of `size` bytes that each send half and hold; RSS and fds."""
    half = size // 2
    head = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size
    payload = head + b"u" * half
    rss_before, fds_before = server.rss_kib(), server.fd_count()
    socks: list[socket.socket] = []
    sel = selectors.DefaultSelector()
    left: dict[int, memoryview] = {}
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            code = sock.connect_ex((server.host, server.port))
            if code not in (0, errno.EINPROGRESS):
                sock.close()
                raise StressError(f"connect failed: {errno.errorcode.get(code, code)}")
            socks.append(sock)
            left[sock.fileno()] = memoryview(payload)
            sel.register(sock, selectors.EVENT_WRITE)
        deadline = time.monotonic() + 120
        while left and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=0.5):
                view = left[key.fd]
                try:
                    sent = key.fileobj.send(view)  # type: ignore[union-attr]
                except BlockingIOError:
                    continue
                view = view[sent:]
                if view:
                    left[key.fd] = view
                else:
                    del left[key.fd]
                    sel.unregister(key.fileobj)
        if left:
            raise StressError(f"{len(left)} uploads could not send their first half in 120 s")
        time.sleep(hold)  # the server reads what is in flight
        rss_with, fds_with = server.rss_kib(), server.fd_count()
    finally:
        sel.close()
        for sock in socks:
            sock.close()
    fds_after = server.settled_fds(fds_before)
    time.sleep(1.0)
    rss_after = server.rss_kib()
    return {
        "uploads": count,
        "body_kib": size // 1024,
        "sent_kib_each": half // 1024,
        "rss_before_mib": round(rss_before / 1024, 1),
        "rss_with_mib": round(rss_with / 1024, 1),
        "rss_after_mib": round(rss_after / 1024, 1),
        "fds_before_with_after": (fds_before, fds_with, fds_after),
    }


def run_uploads(args: argparse.Namespace) -> tuple[bool, str, dict[str, Any]]:
    results = []
    with running_server(impl=args.impl, threads=args.threads, via_cli=args.via_cli) as server:
        for size in (1024 * 1024, 256 * 1024):
            results.append(hold_uploads(server, args.uploads, size, args.hold))
        alive = server.alive()
    ok = alive and all(r["fds_before_with_after"][2] <= r["fds_before_with_after"][0] + 10
                       for r in results)  # fmt: skip
    summary = "; ".join(
        f"{r['uploads']} x {r['body_kib']} KiB uploads, {r['sent_kib_each']} KiB sent each: "
        f"RSS {r['rss_before_mib']} -> {r['rss_with_mib']} -> {r['rss_after_mib']} MiB, "
        f"fds {r['fds_before_with_after'][0]} -> {r['fds_before_with_after'][1]} -> "
        f"{r['fds_before_with_after'][2]}"
        for r in results
    )
    return ok, summary, {"runs": results, "server_alive": alive}


def run_big(args: argparse.Namespace) -> tuple[bool, str, dict[str, Any]]:
    total = args.big_mib * 1024 * 1024
    block = bytes(range(256)) * 4096  # 1 MiB
    settings = {"max_body_bytes": total + 1}
    with running_server(
        impl=args.impl, threads=args.threads, via_cli=args.via_cli, settings=settings
    ) as server:
        rss_before = server.rss_kib()
        samples: list[int] = []
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.2):
                try:
                    samples.append(server.rss_kib())
                except (OSError, StressError):
                    return

        sampler = threading.Thread(target=sample, name="rss-sampler")
        sampler.start()
        crc = 0
        started = time.monotonic()
        try:
            with socket.create_connection((server.host, server.port), timeout=120) as sock:
                sock.sendall(
                    b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % total
                )
                for _ in range(args.big_mib):
                    sock.sendall(block)
                    crc = zlib.crc32(block, crc)
                sent = time.monotonic()
                answer = b""
                while b"\r\n\r\n" not in answer or not answer.endswith(b"\n"):
                    more = sock.recv(65536)
                    if not more:
                        break
                    answer += more
        finally:
            done.set()
            sampler.join(10)
        answered = time.monotonic()
        rss_after = server.rss_kib()
        alive = server.alive()
    body = answer.split(b"\r\n\r\n", 1)[-1].decode("latin-1").strip()
    expected = f"{total} {crc:08x}"
    peak = max(samples, default=rss_before)
    growth_mib = (peak - rss_before) / 1024
    ok = alive and answer.startswith(b"HTTP/1.1 200 ") and body == expected and growth_mib <= 64
    figures = {
        "bytes": total,
        "answer": body,
        "expected": expected,
        "send_s": round(sent - started, 1),
        "answer_s": round(answered - started, 1),
        "mib_per_s": round(total / 2**20 / (sent - started), 1),
        "rss_before_mib": round(rss_before / 1024, 1),
        "rss_peak_mib": round(peak / 1024, 1),
        "rss_after_mib": round(rss_after / 1024, 1),
        "server_alive": alive,
    }
    summary = (
        f"one {args.big_mib} MiB upload: sent in {figures['send_s']} s "
        f"({figures['mib_per_s']} MiB/s), answered after {figures['answer_s']} s, "
        f"{'right' if body == expected else f'WRONG ({body!r})'}; RSS "
        f"{figures['rss_before_mib']} -> peak {figures['rss_peak_mib']} -> "
        f"{figures['rss_after_mib']} MiB (limit +64)"
    )
    return ok, summary, figures


def run(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--each", type=int, default=50, help="connections of each slow kind")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--p99-ms", type=float, default=100.0)
    parser.add_argument("--uploads", type=int, default=1000)
    parser.add_argument("--hold", type=float, default=3.0, help="seconds the uploads are held")
    parser.add_argument("--big-mib", type=int, default=2048, help="the big upload, in MiB")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip")
    server_args(parser)
    args = parser.parse_args(argv)
    if args.threads is None:
        args.threads = 4
    raise_fd_limit(max(3 * args.each, args.uploads) + 200)
    skip = set(filter(None, args.skip.split(",")))
    parts = {"attack": run_attack, "uploads": run_uploads, "big": run_big}
    oks, summaries, figures = [], [], {}
    for name, part in parts.items():
        if name in skip:
            continue
        ok, summary, part_figures = part(args)
        print(f"  {name}: {'ok' if ok else 'FAILED'}: {summary}", flush=True)
        oks.append(ok)
        summaries.append(f"{name}: {summary}")
        figures[name] = part_figures
    figures["server_threads"] = args.threads
    figures["micro_source"] = figures.get("attack", {}).get("micro_source", "?")
    return finish("slowbody", all(oks), " | ".join(summaries), figures, args.json)


def main(argv: list[str] | None = None) -> int:
    return main_guard("slowbody", run, argv)


if __name__ == "__main__":
    sys.exit(main())
