"""Static files and gzip: micro against nginx and Tornado, side by side under wrk.

    python benchmarks/bench_static.py [--rounds 3] [--duration 5] [--markdown FILE]

Four servers, each its own process on 127.0.0.1, started and stopped by this script:

- micro: `App(plugins=["static", "gzip"])` under micro's own server (4 threads), files
  under /static/ through the static plugin, and a route /json that returns a ~20 KB dict;
- micro-wsgi (files only): a bare WSGI function under micro's server (4 threads) that
  hands the file to `wsgi.file_wrapper`, no App and no plugins: the server's share of
  micro's cost, so the table shows how much the framework layer adds;
- Tornado: one process, `StaticFileHandler` on /static/ and a handler writing the same
  dict to /json, with `compress_response=True`;
- nginx (files only): a foreground master (`daemon off`) from a config written into a
  temporary directory, `worker_processes auto` (2 here, Debian's default), sendfile on,
  no access log; stopped by its PID.

Cases: a 1 MB and a 1 KB file (random bytes) with keep-alive, and the 20 KB JSON
answer with `Accept-Encoding: gzip`. Every server must first answer each case right
(status 200, the exact file bytes; a gzip-encoded body that decodes to the same JSON).
Rounds are interleaved (nginx, Tornado, micro, nginx, ...). The table gives median
requests and megabytes per second, median p99 latency, and the ratios to nginx (files)
and to Tornado (every case). Needs wrk and nginx (`apt-get install wrk nginx`) and the
peers (`python -m pip install -r benchmarks/requirements.txt`).

`python benchmarks/bench_static.py --serve micro|micro-wsgi|tornado --root DIR --port N` runs one of
the Python servers in the foreground; the bench uses it to start them.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import (
    HERE,
    HOST,
    BenchError,
    ServerProcess,
    WrkOptions,
    WrkResult,
    child_env,
    environment,
    fmt,
    free_port,
    http_get,
    median,
    require_module,
    require_tool,
    run_wrk,
    table,
    temp_dir,
    terminate_on_signals,
    write_markdown,
)

FILES = {"1m.bin": 1024 * 1024, "1k.bin": 1024}
PREFIX = "/static/"
SERVERS = ("nginx", "tornado", "micro", "micro-wsgi")


def _payload() -> dict[str, Any]:
    """A deterministic JSON document of about 20 KB, as compressible as real API output."""
    items: list[dict[str, Any]] = []
    while len(json.dumps({"items": items})) < 20 * 1024:
        i = len(items)
        items.append(
            {
                "id": i,
                "name": f"item-{i:04d}",
                "price": round(i * 1.25, 2),
                "tags": ["alpha", "beta"] if i % 2 else ["gamma"],
                "active": i % 3 == 0,
            }
        )
    return {"items": items}


PAYLOAD = _payload()


@dataclass(frozen=True)
class Case:
    label: str
    path: str
    headers: dict[str, str]
    servers: tuple[str, ...]


CASES = (
    Case("1 MB file", PREFIX + "1m.bin", {}, SERVERS),
    Case("1 KB file", PREFIX + "1k.bin", {}, SERVERS),
    Case("20 KB JSON, gzip", "/json", {"Accept-Encoding": "gzip"}, ("tornado", "micro")),
)


# --- the Python servers (run by this script in a child process) -----------------------


def micro_app(root: Path) -> Any:
    from micro.web import App  # type: ignore[import-not-found,unused-ignore]

    app = App(
        plugins=["static", "gzip"],
        settings={"static_path": str(root), "static_url_prefix": PREFIX},
    )

    def json_route(request: Any) -> dict[str, Any]:
        return PAYLOAD

    app.route("/json")(json_route)
    return app


def __getattr__(name: str) -> Any:
    """`bench_static:app` for `micro serve`: the micro app over $BENCH_STATIC_ROOT."""
    if name == "app":
        return micro_app(Path(os.environ["BENCH_STATIC_ROOT"]))
    raise AttributeError(name)


def wsgi_files(root: Path) -> Any:
    """The files of FILES through wsgi.file_wrapper, with no framework in between."""

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        name = environ["PATH_INFO"].removeprefix(PREFIX)
        if name not in FILES:  # only the bench's own files: nothing to traverse
            start_response("404 Not Found", [("Content-Length", "0")])
            return []
        fileobj = open(root / name, "rb")  # noqa: SIM115  # closed by the server
        size = os.fstat(fileobj.fileno()).st_size
        headers = [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))]
        start_response("200 OK", headers)
        return environ["wsgi.file_wrapper"](fileobj, 64 * 1024)

    return app


def serve_micro(root: Path, port: int, threads: int, *, bare: bool = False) -> None:
    from micro.server import serve  # type: ignore[import-not-found,unused-ignore]

    serve(wsgi_files(root) if bare else micro_app(root), host=HOST, port=port, threads=threads)


def serve_tornado(root: Path, port: int) -> None:
    import asyncio

    import tornado.web

    class JSONHandler(tornado.web.RequestHandler):
        def get(self) -> None:
            self.write(PAYLOAD)

    async def run() -> None:
        app = tornado.web.Application(
            [
                (PREFIX + "(.*)", tornado.web.StaticFileHandler, {"path": str(root)}),
                ("/json", JSONHandler),
            ],
            compress_response=True,
        )
        app.listen(port, address=HOST)
        await asyncio.Event().wait()

    asyncio.run(run())


# --- nginx --------------------------------------------------------------------------------


def nginx_conf(prefix: Path, root: Path, port: int, workers: str) -> str:
    temps = "\n".join(
        f"    {kind}_temp_path {prefix / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""daemon off;
worker_processes {workers};
pid {prefix / "nginx.pid"};
error_log stderr warn;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
{temps}
    server {{
        listen {HOST}:{port};
        location {PREFIX} {{ alias {root}/; }}
    }}
}}
"""


def nginx_process(prefix: Path, root: Path, port: int, workers: str, logs: Path) -> ServerProcess:
    nginx = require_tool("nginx")
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_conf(prefix, root, port, workers))
    # -e: nginx opens its compiled-in error log before it reads the config; send it to stderr.
    argv = [nginx, "-p", str(prefix), "-c", str(conf), "-e", "stderr"]
    return ServerProcess("nginx", argv, port, log_dir=logs)


# --- checks and the run -------------------------------------------------------------------


def make_files(root: Path) -> dict[str, bytes]:
    root.mkdir(parents=True)
    contents = {}
    for name, size in FILES.items():
        data = os.urandom(size)
        (root / name).write_bytes(data)
        (root / name).chmod(0o644)
        contents[name] = data
    return contents


def checker(server: str, contents: dict[str, bytes]) -> Any:
    def check(port: int) -> None:
        for case in CASES:
            if server not in case.servers:
                continue
            reply = http_get(port, case.path, case.headers)
            if reply.status != 200:
                raise BenchError(f"{server} GET {case.path}: status {reply.status}")
            if case.path.startswith(PREFIX):
                if reply.body != contents[case.path.removeprefix(PREFIX)]:
                    raise BenchError(f"{server} GET {case.path}: wrong body")
                continue
            if reply.headers.get("content-encoding") != "gzip":
                raise BenchError(f"{server} GET /json was not gzip-encoded: {reply.headers}")
            if json.loads(gzip.decompress(reply.body)) != PAYLOAD:
                raise BenchError(f"{server} GET /json: the decoded body is not the payload")

    return check


def report(
    results: dict[str, dict[str, list[WrkResult]]], *, markdown: bool
) -> tuple[str, list[str]]:
    headers = ["case", "server", "req/s", "MB/s", "vs nginx", "vs tornado", "p99 ms", "errors"]
    rows = []
    lines = []
    for case in CASES:
        by = results.get(case.label)
        if by is None:  # no server of this run serves the case
            continue
        rps = {s: median([r.rps for r in runs]) for s, runs in by.items()}
        for server, runs in by.items():
            mbs = median([r.transfer_bps for r in runs]) / 1e6
            vs_nginx = f"{rps[server] / rps['nginx']:.2f}x" if rps.get("nginx") else "-"
            vs_tornado = f"{rps[server] / rps['tornado']:.2f}x" if rps.get("tornado") else "-"
            p99 = median([r.p99_ms for r in runs])
            errors = str(sum(r.errors for r in runs))
            cells = [fmt(rps[server]), fmt(mbs, 1), vs_nginx, vs_tornado, fmt(p99, 2), errors]
            rows.append([case.label, server, *cells])
        if "micro" in rps and "tornado" in rps:
            ratio = rps["micro"] / rps["tornado"]
            ok = "met" if ratio > 1.0 else "MISSED"
            lines.append(f"- {case.label}: micro {ratio:.2f}x Tornado (target > 1x: {ok})")
        if case.label == "1 MB file" and "micro" in rps and "nginx" in rps:
            ratio = rps["micro"] / rps["nginx"]
            ok = "met" if ratio >= 0.5 else "MISSED"
            lines.append(f"- 1 MB file: micro {ratio:.2f}x nginx (target >= 0.5x: {ok})")
            if "micro-wsgi" in rps:
                bare = rps["micro-wsgi"] / rps["nginx"]
                lines.append(
                    f"  (micro's server alone, micro-wsgi: {bare:.2f}x nginx; the App and "
                    f"plugins cost {1 - rps['micro'] / rps['micro-wsgi']:.0%} of its throughput)"
                )
    return table(headers, rows, markdown=markdown), lines


def bench(args: argparse.Namespace) -> int:
    terminate_on_signals()
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    require_tool("wrk")
    if "nginx" in servers:
        require_tool("nginx")
    if "tornado" in servers:
        require_module("tornado", "tornado")
    options = WrkOptions(args.duration, args.connections, args.wrk_threads)
    cases = [c for c in CASES if any(s in servers for s in c.servers)]
    results = {c.label: {s: [] for s in c.servers if s in servers} for c in cases}

    with temp_dir("micro-bench-static-") as tmp, ExitStack() as stack:
        tmp.chmod(0o755)  # nginx workers run as an unprivileged user and must read the files
        root = tmp / "root"
        contents = make_files(root)
        root.chmod(0o755)
        procs: dict[str, ServerProcess] = {}
        for name in servers:
            port = free_port()
            if name == "nginx":
                proc = nginx_process(tmp, root, port, args.nginx_workers, tmp)
            else:
                argv = [sys.executable, str(HERE / "bench_static.py"), "--serve", name,
                        "--root", str(root), "--port", str(port),
                        "--threads", str(args.threads)]  # fmt: skip
                proc = ServerProcess(name, argv, port, env=child_env(), log_dir=tmp)
            stack.enter_context(proc)
            proc.wait_ready(checker(name, contents))
            procs[name] = proc
            print(f"{name}: ready on {HOST}:{port}", flush=True)
        warm = WrkOptions(1.0, options.connections, options.threads)
        for case in cases:
            for name in results[case.label]:
                run_wrk(f"http://{HOST}:{procs[name].port}{case.path}", warm, case.headers)
        for rnd in range(1, args.rounds + 1):
            for case in cases:
                for name in results[case.label]:
                    proc = procs[name]
                    url = f"http://{HOST}:{proc.port}{case.path}"
                    res = run_wrk(url, options, case.headers)
                    if not proc.alive():
                        raise BenchError(f"{name} died during the run:\n{proc.log_tail()}")
                    results[case.label][name].append(res)
                    print(f"round {rnd}/{args.rounds} {case.label:17} {name:8} "
                          f"{res.rps:9,.0f} req/s {res.transfer_bps / 1e6:8.1f} MB/s "
                          f"p99 {res.p99_ms:8.2f} ms errors {res.errors}", flush=True)  # fmt: skip
        for name, proc in procs.items():  # still answering right after the load
            checker(name, contents)(proc.port)

    text, lines = report(results, markdown=False)
    print()
    print(text)
    print("\n".join(lines))
    env = environment(
        ["tornado"], {"wrk": ["wrk", "--version"], "nginx": [require_tool("nginx"), "-v"]}
    )
    env.append(
        f"- settings: micro and micro-wsgi {args.threads} threads; Tornado one process; nginx "
        f"worker_processes {args.nginx_workers}, sendfile on; wrk {options.threads} threads, "
        f"{options.connections} connections, {options.duration:g} s per run, {args.rounds} "
        "interleaved rounds, keep-alive; medians over rounds; gzip level 6 and minimum "
        "length 1024 on both micro (gzip plugin defaults) and Tornado (fixed)"
    )
    md, _ = report(results, markdown=True)
    write_markdown(
        args.markdown,
        "Static files and gzip: micro, Tornado, nginx",
        env,
        md + ("\n\n" + "\n".join(lines) if lines else ""),
        [],
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run (5)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--threads", type=int, default=4, help="micro's worker threads (4)")
    parser.add_argument("--nginx-workers", default="auto", help="nginx worker_processes (auto)")
    parser.add_argument(
        "--servers", default=",".join(SERVERS), help=f"subset of {','.join(SERVERS)}"
    )
    parser.add_argument("--markdown", type=Path, help="also write the report as markdown here")
    parser.add_argument(
        "--serve", choices=["micro", "micro-wsgi", "tornado"], help=argparse.SUPPRESS
    )
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve is None:
        return bench(args)
    if args.root is None or args.port is None:
        parser.error("--serve needs --root and --port")
    if args.serve in ("micro", "micro-wsgi"):
        serve_micro(args.root, args.port, args.threads, bare=args.serve == "micro-wsgi")
    else:
        serve_tornado(args.root, args.port)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as err:
        sys.exit(f"bench_static: {err}")
    except KeyboardInterrupt:
        sys.exit(130)
