"""Stress harness (benchmarks/stress): the server under test, run in its own process.

One job: serve a hello-world WSGI app with micro's server (or, to check the harness
itself, waitress or the single-threaded wsgiref) on 127.0.0.1, print the bound
address on stdout, and stop when stdin reaches EOF (the harness died or closed it)
or on SIGTERM/SIGINT. Running in a child process lets the harness read the server's
RSS from /proc/PID/status and lets the server crash without taking the harness with
it.

    python benchmarks/stress/serve_app.py [--threads N] [--set idle_timeout=120] [--impl micro]

Prints ``LISTENING <host> <port> threads=<n> micro=<package dir>`` once it listens.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import signal
import sys
import threading
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

HELLO = b"Hello, world!\n"

StartResponse = Callable[..., Any]


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """Hello world; under /echo it reads the whole body and answers its length; under
    /upload it reads the body in pieces and answers its length and CRC-32; under
    /stream it answers hello world in three pieces without a Content-Length (so the
    server must frame it: chunked, or by closing).

    The body read is guarded so that a 500 can only come from the server itself:
    whatever wsgi.input raises on a broken body becomes this app's own 400.
    """
    path = environ.get("PATH_INFO", "")
    if path.startswith("/upload"):
        # Reads the body in 1 MiB pieces (never whole: it may be gigabytes) and
        # answers its length and CRC-32.
        stream = environ["wsgi.input"]
        total = crc = 0
        while piece := stream.read(1 << 20):
            total += len(piece)
            crc = zlib.crc32(piece, crc)
        reply = f"{total} {crc:08x}\n".encode()
        start_response(
            "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(reply)))]
        )
        return [reply]
    if path.startswith("/stream"):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return iter([HELLO[:7], HELLO[7:13], HELLO[13:]])
    if path.startswith("/echo"):
        try:
            body = environ["wsgi.input"].read()
        except Exception as exc:  # the server's error for a bad body; never a 500 from here
            reply = f"bad body: {type(exc).__name__}\n".encode()
            start_response(
                "400 Bad Request",
                [("Content-Type", "text/plain"), ("Content-Length", str(len(reply)))],
            )
            return [reply]
        reply = f"{len(body)}\n".encode()
    else:
        reply = HELLO
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(reply)))])
    return [reply]


def parse_setting(text: str) -> tuple[str, Any]:
    """``name=value`` with value read as int, float, bool or None when it looks like one."""
    name, sep, raw = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected name=value, got {text!r}")
    value: Any = raw
    if raw in ("None", "none"):
        value = None
    elif raw in ("True", "true", "False", "false"):
        value = raw.lower() == "true"
    else:
        for convert in (int, float):
            try:
                value = convert(raw)
                break
            except ValueError:
                continue
    return name, value


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def wait_for_stop() -> None:
    """Block until stdin closes or a stop signal arrives."""
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def watch_stdin() -> None:
        # The harness keeps our stdin open; EOF means it is gone, so we go too.
        try:
            while os.read(sys.stdin.fileno(), 4096):
                pass
        except OSError:
            pass
        stop.set()

    threading.Thread(target=watch_stdin, name="stdin-watch", daemon=True).start()
    while not stop.wait(0.5):
        pass


def serve_micro(threads: int | None, settings: dict[str, Any]) -> None:
    from micro.server import Server, ServerConfig

    known = {f.name for f in dataclasses.fields(ServerConfig)}
    unknown = sorted(set(settings) - known - {"max_body_bytes"})
    if unknown:
        print(f"serve_app: ServerConfig has no field(s) {unknown}; ignored", file=sys.stderr)
    fields = {k: v for k, v in settings.items() if k in known}
    if "max_body_bytes" in settings:  # a Limits field: the big-upload stress raises it
        from micro.http import Limits

        fields["limits"] = Limits(max_body_bytes=settings.pop("max_body_bytes"))
    if threads is not None:
        fields["threads"] = threads
    config = ServerConfig(host="127.0.0.1", port=0, **fields)
    server = Server(app, config)
    server.start()
    try:
        host, port = server.address[:2]
        import micro

        source = Path(micro.__file__).resolve().parent
        print(f"LISTENING {host} {port} threads={config.threads} micro={source}", flush=True)
        wait_for_stop()
    finally:
        server.stop(timeout=5.0)


def serve_waitress(threads: int | None) -> None:
    """Reference server, only to check the harness itself against a known server."""
    import waitress.server  # type: ignore[import-untyped]

    server = waitress.server.create_server(
        app, host="127.0.0.1", port=0, threads=threads or 4, connection_limit=5000
    )
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    host, port = server.socket.getsockname()[:2]
    thread.start()
    print(f"LISTENING {host} {port} threads={threads or 4}", flush=True)
    wait_for_stop()
    server.close()


def serve_wsgiref() -> None:
    """A deliberately weak server (one thread, blocking reads): the stress scripts
    must FAIL against it, which shows that they can fail."""
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = make_server("127.0.0.1", 0, app, handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, name="wsgiref", daemon=True)
    thread.start()
    print(f"LISTENING 127.0.0.1 {server.server_port} threads=1", flush=True)
    wait_for_stop()
    server.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", choices=("micro", "waitress", "wsgiref"), default="micro")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--set", dest="settings", type=parse_setting, action="append", default=[])
    args = parser.parse_args(argv)
    raise_fd_limit()
    if args.impl == "micro":
        serve_micro(args.threads, dict(args.settings))
    elif args.impl == "waitress":
        serve_waitress(args.threads)
    else:
        serve_wsgiref()
    return 0


if __name__ == "__main__":
    sys.exit(main())
