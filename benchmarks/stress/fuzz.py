"""Stress harness (benchmarks/stress): fuzz — random and mutated requests over sockets.

One job: send N (default 100,000) requests made by fuzzcases.py to the server, from a
few threads, on fresh connections (one request each) and pipelined on shared ones
(between valid requests, sometimes sent in small fragments; in 30% of those the
valid ones before the mutated go one at a time, each after the previous answer, so
the mutated one reaches a kept-alive idle connection), and judge every byte that
comes back with framing.py. After sending, the client half-closes (SHUT_WR) and reads
until the server closes.

A connection passes when the server's bytes are a sequence of complete, well-formed
HTTP/1.1 responses ended by a clean close (FIN, possibly with no response at all),
no response is a 500 (the app never fails, so a 500 is the server's own error), and
the unmutated requests at the head of the connection got exactly their expected
responses (up to the first response announcing ``Connection: close``; a valid request
received but neither answered nor preceded by an announced close counts as dropped).
Valid requests answered with a close they did not ask for are counted by kind.

It fails when a response is misframed or truncated, the connection is reset (RST:
the client can lose the response), or the server neither answers nor closes within
--conn-timeout seconds of the half-close (a stall). A reset right after a 2xx/3xx
response that announced ``Connection: close`` is counted apart and is not a failure
when the client asked to close (Connection: close or HTTP/1.0) and then pipelined
more, which RFC 9112 §9.6 forbids; it is one when the request was valid and did not
ask to close (the server chose to close and did not drain first).
Pass: every connection passes, health probes (a GET every second) all succeed, the
server process is alive, normal requests are served correctly afterwards, and the
server's open file descriptors are back to (within 10 of) their count before the run.

Failing exchanges are saved (request and response bytes) under --artifacts.

    python benchmarks/stress/fuzz.py [--count 100000] [--seed S] [--clients 6]
"""

from __future__ import annotations

import argparse
import collections
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from common import (
    finish,
    main_guard,
    raise_fd_limit,
    running_server,
    server_args,
    timed_requests,
)
from exchange import Exchange, exchange, final_checks
from framing import FramingError, Response, Truncated, parse_responses
from fuzzcases import Case, CaseMaker

FAILURES = ("misframed", "truncated", "reset", "stall", "server-error", "valid-mismatch")


@dataclass
class Tally:
    """Shared by the client threads (guarded by its lock)."""

    target: int
    deadline: float
    artifacts: Path
    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: int = 0  # mutated requests (the budget)
    valid_sent: int = 0  # valid requests pipelined around them or sent alone
    http10_status_lines: int = 0
    connections: int = 0
    stepwise: int = 0  # connections whose valid prefix went one request at a time
    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    samples: list[str] = field(default_factory=list)
    saved: int = 0
    bytes_sent: int = 0
    slowest_close: float = 0.0
    harness_errors: list[str] = field(default_factory=list)
    framings: collections.Counter[str] = field(default_factory=collections.Counter)
    # valid requests (by kind) answered with Connection: close they did not ask for
    unasked_close: collections.Counter[str] = field(default_factory=collections.Counter)

    def claim(self, n: int) -> int:
        """Reserve up to n requests of the budget; 0 when done or out of time."""
        with self.lock:
            if time.monotonic() > self.deadline:
                return 0
            n = min(n, self.target - self.sent)
            self.sent += max(n, 0)
            return max(n, 0)


def judge(cases: list[Case], ex: Exchange) -> tuple[str, str, list[Response]]:
    """Outcome name, detail, and the parsed responses of one connection."""
    if ex.stalled:
        return "stall", f"no close within the timeout after {len(ex.received)} bytes", []
    head = len(cases) == 1 and cases[0].head
    try:
        responses, _ = parse_responses(ex.received, eof=True, head=head)
    except Truncated as exc:
        if ex.reset:
            return "reset", f"reset inside a response: {exc}", []
        return "truncated", str(exc), []
    except FramingError as exc:
        return "misframed", str(exc), []
    if ex.reset:
        finals = [r for r in responses if r.status >= 200]
        last = finals[-1] if finals else None
        if last is not None and 200 <= last.status < 400 and last.closes:
            answered = cases[len(finals) - 1] if len(finals) <= len(cases) else None
            if answered is not None and answered.expect is not None and not answered.expect.closes:
                detail = (
                    f"reset after the server chose to close (answer to valid request "
                    f"{len(finals) - 1}, {answered.base}, which did not ask to close)"
                )
                return "reset", detail, responses
            # The client asked for the close (Connection: close, or HTTP/1.0) and then
            # sent more, which RFC 9112 §9.6 forbids; the server may close at once.
            return "reset-after-close", "client pipelined past its own close", responses
        return "reset", f"reset after {len(responses)} complete response(s)", responses
    return judge_responses(cases, responses)


def judge_responses(
    cases: list[Case], responses: list[Response]
) -> tuple[str, str, list[Response]]:
    finals = [r for r in responses if r.status >= 200]
    for r in finals:
        if r.status == 500:
            return "server-error", f"500 response: {r.body[:200]!r}", responses
    # The unmutated requests before the first mutated one must get their exact answers,
    # up to the first response that announces the close (a server may close after any
    # response it marks so; the client then retries the rest). A valid request that
    # was received but neither answered nor preceded by an announced close was dropped.
    for i, case in enumerate(cases):
        if case.expect is None:
            break
        if i >= len(finals):
            detail = f"valid request {i} ({case.base}) got no response and no announced close"
            return "valid-mismatch", detail, responses
        got = finals[i]
        want = case.expect
        if (want.status is not None and got.status != want.status) or (
            want.body is not None and got.body != want.body
        ):
            detail = (
                f"valid request {i} ({case.base}): want {want.status} {want.body!r}, "
                f"got {got.status} {got.body[:100]!r}"
            )
            return "valid-mismatch", detail, responses
        if want.closes or got.closes:
            break
    return ("ok" if responses else "silent-close"), "", responses


def unasked_close(cases: list[Case], responses: list[Response]) -> str | None:
    """The valid request whose answer closed the connection though it did not ask to."""
    finals = [r for r in responses if r.status >= 200]
    for case, got in zip(cases, finals, strict=False):
        if case.expect is None or case.expect.closes:
            return None
        if got.closes:
            return case.base
    return None


def framing_of(r: Response) -> str:
    if r.chunked:
        return "chunked"
    if r.close_delimited:
        return "until-close"
    if r.values(b"content-length"):
        return "content-length"
    return "no-body"


def plan(maker: CaseMaker, rng: random.Random, mutated: int, max_pipeline: int) -> list[Case]:
    """The requests of one connection: `mutated` mutated cases, alone or pipelined
    between valid ones (a valid prefix whose answers are checked, then a tail)."""
    cases = [maker.mutated() for _ in range(mutated)]
    if rng.random() < 0.35 or any(c.head for c in cases):
        heads = [c for c in cases if c.head]
        return heads[:1] if heads else cases  # a HEAD goes alone (its framing is special)
    room = max(0, max_pipeline - len(cases))
    prefix = [maker.valid() for _ in range(rng.randint(0, min(4, room)))]
    tail = [maker.valid() for _ in range(rng.randint(0, min(4, room - len(prefix))))]
    return prefix + cases + tail


def client(index: int, tally: Tally, host: str, port: int, args: argparse.Namespace) -> None:
    try:
        client_loop(index, tally, host, port, args)
    except Exception as exc:  # a harness bug: make the run fail loudly, not quietly
        with tally.lock:
            tally.harness_errors.append(f"client {index}: {exc!r}")
        raise


def client_loop(index: int, tally: Tally, host: str, port: int, args: argparse.Namespace) -> None:
    rng = random.Random(f"{args.seed}/{index}")
    maker = CaseMaker(rng, host)
    while True:
        if rng.random() < 0.05:
            cases = [maker.valid(head_ok=True)]  # a valid request alone, HEAD included
        else:
            n = tally.claim(1 if rng.random() < 0.8 else rng.randint(2, 3))
            if n == 0:
                return
            cases = plan(maker, rng, n, args.max_pipeline)
            unsent = n - sum(1 for c in cases if c.expect is None)
            if unsent:
                with tally.lock:
                    tally.sent -= unsent  # a HEAD was picked out: the others are not sent
        # Sometimes the valid prefix goes one request at a time (keep-alive reuse: the
        # rest then reaches an idle connection), up to the first that may close.
        steps: tuple[bytes, ...] = ()
        if rng.random() < 0.3:
            for case in cases[:-1]:
                if case.expect is None or case.expect.closes:
                    break
                steps += (case.data,)
        payload = b"".join(c.data for c in cases[len(steps) :])
        fragment = len(payload) < 8192 and rng.random() < 0.15
        ex = exchange(
            host, port, payload, rng if fragment else None, args.conn_timeout, steps=steps
        )
        outcome, detail, responses = judge(cases, ex)
        with tally.lock:
            tally.connections += 1
            tally.stepwise += bool(steps)
            tally.valid_sent += sum(1 for c in cases if c.expect is not None)
            tally.bytes_sent += len(payload)
            tally.outcomes[outcome] += 1
            tally.slowest_close = max(tally.slowest_close, ex.close_seconds)
            closer = unasked_close(cases, responses)
            if closer is not None:
                tally.unasked_close[closer] += 1
            for r in responses:
                tally.statuses[r.status] += 1
                tally.framings[framing_of(r)] += 1
                tally.http10_status_lines += r.minor == 0
            if outcome in FAILURES:
                record(tally, outcome, detail, cases, payload, ex)


def record(
    tally: Tally, outcome: str, detail: str, cases: list[Case], payload: bytes, ex: Exchange
) -> None:
    tally.saved += 1
    if tally.saved > 200:
        return
    stem = tally.artifacts / f"{tally.saved:03d}-{outcome}"
    stem.with_suffix(".request").write_bytes(payload)
    stem.with_suffix(".response").write_bytes(ex.received)
    described = "; ".join(f"{c.base}[{','.join(c.mutations)}]" for c in cases)
    line = (
        f"{stem.name}: {outcome}: {detail}\n    cases: {described}\n"
        f"    sent {len(payload)} bytes: {payload[:300]!r}\n"
        f"    got {len(ex.received)} bytes: {ex.received[:300]!r}"
    )
    if len(tally.samples) < 30:
        tally.samples.append(line)
    with (tally.artifacts / "failures.txt").open("a") as f:
        f.write(line + "\n")


def health(host: str, port: int, stop: threading.Event, failures: list[str]) -> list[float]:
    latencies: list[float] = []
    while not stop.wait(1.0):
        probe = timed_requests(host, port, 1, keepalive=False, timeout=5.0)
        failures.extend(probe.failures)
        latencies.extend(probe.latencies)
    return latencies


def run(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="mutated requests to send")
    parser.add_argument("--seed", default=None, help="default: random (printed)")
    parser.add_argument("--clients", type=int, default=6, help="client threads")
    parser.add_argument("--max-pipeline", type=int, default=16)
    parser.add_argument(
        "--conn-timeout",
        type=float,
        default=10.0,
        help="seconds the server gets to close after the client's half-close",
    )
    parser.add_argument("--time-limit", type=float, default=900.0, help="seconds for the run")
    parser.add_argument("--artifacts", type=Path, default=None)
    server_args(parser)
    args = parser.parse_args(argv)
    if args.seed is None:
        args.seed = str(random.randrange(10**9))
    artifacts = args.artifacts or Path(tempfile.mkdtemp(prefix="micro-fuzz-"))
    artifacts.mkdir(parents=True, exist_ok=True)
    raise_fd_limit(args.clients * 4 + 100)
    print(f"fuzz: seed {args.seed}, {args.count} requests, artifacts in {artifacts}", flush=True)

    with running_server(impl=args.impl, threads=args.threads, via_cli=args.via_cli) as server:
        fds_before = server.fd_count()
        tally = Tally(args.count, time.monotonic() + args.time_limit, artifacts)
        stop = threading.Event()
        probe_failures: list[str] = []
        probe_latencies: list[float] = []

        def probe() -> None:
            probe_latencies.extend(health(server.host, server.port, stop, probe_failures))

        prober = threading.Thread(target=probe, name="health")
        clients = [
            threading.Thread(
                target=client, name=f"fuzz-{i}", args=(i, tally, server.host, server.port, args)
            )
            for i in range(args.clients)
        ]
        t0 = time.monotonic()
        prober.start()
        try:
            for t in clients:
                t.start()
            for t in clients:
                t.join()
        finally:
            tally.deadline = 0.0  # stops the clients if we got here by an exception
            stop.set()
            prober.join()
        elapsed = time.monotonic() - t0
        alive = server.alive()
        after = final_checks(server.host, server.port) if alive else ["server process died"]
        fds_after = server.settled_fds(fds_before) if alive else -1
        stderr = server.stderr_text()

    failed = {k: tally.outcomes[k] for k in FAILURES if tally.outcomes[k]}
    thread_deaths = stderr.count("Exception in thread")
    tracebacks = stderr.count("Traceback")
    complete = tally.sent >= args.count
    figures = {
        "requests": tally.sent,
        "stepwise_connections": tally.stepwise,
        "valid_requests": tally.valid_sent,
        "http10_status_lines": tally.http10_status_lines,
        "connections": tally.connections,
        "seconds": round(elapsed, 1),
        "mb_sent": round(tally.bytes_sent / 1e6, 1),
        "outcomes": dict(tally.outcomes),
        "statuses": dict(sorted(tally.statuses.items())),
        "framings": dict(tally.framings),
        "slowest_close_s": round(tally.slowest_close, 3),
        "health_probes": len(probe_latencies) + len(probe_failures),
        "health_failures": probe_failures[:5],
        "health_max_ms": round(max(probe_latencies, default=0) * 1000, 1),
        "server_alive": alive,
        "server_fds_before_after": (fds_before, fds_after),
        "server_threads": server.threads,
        "micro_source": server.source,
        "after_failures": after,
        "server_tracebacks": tracebacks,
        "server_thread_deaths": thread_deaths,
        "harness_errors": tally.harness_errors,
        "unasked_close": dict(tally.unasked_close),
        "seed": args.seed,
        "artifacts": str(artifacts),
        "samples": tally.samples[:10],
    }
    ok = (
        not tally.harness_errors
        and complete
        and alive
        and not failed
        and not probe_failures
        and not after
        and thread_deaths == 0
        and fds_after <= fds_before + 10
    )
    summary = (
        f"{tally.sent} mutated (+{tally.valid_sent} valid) requests on "
        f"{tally.connections} connections in {elapsed:.0f} s "
        f"(seed {args.seed}): failures {failed or 0}, "
        f"clean {tally.outcomes['ok']} + silent closes {tally.outcomes['silent-close']} "
        f"+ resets after a client's own close {tally.outcomes['reset-after-close']}, "
        f"server {'alive' if alive else 'DEAD'}, afterwards "
        f"{'OK' if not after else after[0]}; health probes failed {len(probe_failures)}; "
        f"server fds {fds_before} -> {fds_after}"
    )
    if tally.harness_errors:
        summary += f"; HARNESS ERRORS {tally.harness_errors}"
    if not complete:
        summary += f"; only {tally.sent} of {args.count} sent within {args.time_limit:g} s"
    if tracebacks:
        print(
            f"server stderr has {tracebacks} traceback(s); first:\n"
            + stderr[stderr.index("Traceback") :][:3000]
        )
    for sample in tally.samples[:5]:
        print(sample)
    print("status counts:", dict(sorted(tally.statuses.items())))
    print("response framings:", dict(tally.framings))
    return finish("fuzz", ok, summary, figures, args.json)


def main(argv: list[str] | None = None) -> int:
    return main_guard("fuzz", run, argv)


if __name__ == "__main__":
    sys.exit(main())
