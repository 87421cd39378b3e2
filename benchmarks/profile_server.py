"""Where micro's server spends its time under wrk: py-spy samples, summed per function.

    python benchmarks/profile_server.py [--case hello|close|file-1k|file-100k|file-1m|json-gzip]

Starts micro on 127.0.0.1 (the hello app of bench_server.py, or the static/gzip app of
bench_static.py), samples it with py-spy while wrk drives it, and prints the functions
with the most samples: "self" (the frame on top) and "inclusive" (anywhere on the
stack). With --gil (the default) only the thread holding the GIL is sampled, which is
where the CPU time of Python code goes; --no-gil samples every thread that is not idle,
which also shows where threads wait (to get the GIL back after a system call, say).
Needs py-spy (in benchmarks/requirements.txt) and wrk.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from harness import (
    HERE,
    HOST,
    BenchError,
    ServerProcess,
    WrkOptions,
    free_port,
    http_get,
    require_tool,
    run_wrk,
    temp_dir,
    terminate_on_signals,
)

CASES = {
    "hello": ("/", {}),
    "close": ("/", {"Connection": "close"}),
    "file-1k": ("/static/1k.bin", {}),
    "file-100k": ("/static/100k.bin", {}),
    "file-1m": ("/static/1m.bin", {}),
    "json-gzip": ("/json", {"Accept-Encoding": "gzip"}),
}


def summarize(raw: Path, top: int) -> str:
    """Self and inclusive sample shares per function from py-spy's raw (collapsed) output."""
    own: collections.Counter[str] = collections.Counter()
    anywhere: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        own[frames[-1]] += n
        for frame in set(frames):
            anywhere[frame] += n
    if not total:
        return "no samples"
    out = [f"{total} samples", "", "self:"]
    out += [f"  {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    out += ["", "inclusive:"]
    out += [f"  {100 * n / total:5.1f}%  {f}" for f, n in anywhere.most_common(top)]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--case", choices=sorted(CASES), default="hello")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds of load (8)")
    parser.add_argument("--threads", type=int, default=4, help="micro's worker threads (4)")
    parser.add_argument("--gil", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--top", type=int, default=30, help="functions to list (30)")
    parser.add_argument(
        "--lines",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="count samples per source line rather than per function",
    )
    args = parser.parse_args(argv)
    terminate_on_signals()
    py_spy = require_tool("py-spy")
    path, headers = CASES[args.case]
    port = free_port()
    with temp_dir("micro-profile-") as tmp:
        if args.case in ("hello", "close"):
            bind = f"{HOST}:{port}"
            argv_ = [sys.executable, "-m", "micro", "serve", "apps:hello", "--bind", bind,
                     "--threads", str(args.threads)]  # fmt: skip
        else:
            root = tmp / "root"
            root.mkdir()
            deployed = time.time() - 60  # settled, as in bench_static.py
            for name, size in (("1k.bin", 1024), ("100k.bin", 100 * 1024), ("1m.bin", 1 << 20)):
                (root / name).write_bytes(b"x" * size)
                os.utime(root / name, (deployed, deployed))
            argv_ = [sys.executable, str(HERE / "bench_static.py"), "--serve", "micro",
                     "--root", str(root), "--port", str(port),
                     "--threads", str(args.threads)]  # fmt: skip
        with ServerProcess("micro", argv_, port, log_dir=tmp) as proc:

            def ready(p: int) -> None:
                if http_get(p, path, headers).status != 200:
                    raise BenchError(f"GET {path} did not answer 200")

            proc.wait_ready(ready)
            raw = tmp / "profile.txt"
            spy = [py_spy, "record", "--pid", str(proc.proc.pid if proc.proc else 0),
                   "--duration", f"{int(args.duration) + 1}", "--rate", "250", "--format",
                   "raw", "--nonblocking", "-o", str(raw)]  # fmt: skip
            if args.gil:
                spy.append("--gil")
            if not args.lines:
                spy.append("--function")
            with subprocess.Popen(spy, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as rec:
                result = run_wrk(
                    f"http://{HOST}:{port}{path}",
                    WrkOptions(duration=args.duration),
                    headers,
                )
                try:
                    _, err = rec.communicate(timeout=args.duration + 30)
                except subprocess.TimeoutExpired:
                    rec.kill()
                    raise BenchError("py-spy overran its time") from None
            if not raw.exists():
                raise BenchError(f"py-spy wrote nothing: {err.decode(errors='replace')}")
            print(f"{args.case}: {result.rps:,.0f} req/s, p99 {result.p99_ms:.2f} ms, "
                  f"errors {result.errors}")  # fmt: skip
            print(summarize(raw, args.top))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as err:
        sys.exit(f"profile_server: {err}")
    except KeyboardInterrupt:
        sys.exit(130)
