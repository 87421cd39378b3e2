"""Command-line layer: ``micro serve TARGET``, any WSGI app under micro's own server.

TARGET is ``module:attr`` or ``path/to/file.py[:attr]`` (attr defaults to ``app``).
The options map onto :class:`~micro.server.ServerConfig` and
:class:`~micro.http.Limits`; ``--reload`` hands over to :mod:`micro.cli.reload`,
``--processes N`` to the pre-fork supervisor of :mod:`micro.server.processes`.
The server is imported only when the command runs, so ``micro --help`` stays quick.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from micro.cli.target import load_app, split_target
from micro.errors import ConfigError
from micro.wsgitypes import WSGIApp

__all__ = ["configure", "parse_bind", "run"]


def parse_bind(value: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[IPv6]:PORT`` into (host, port)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host or "127.0.0.1", int(port)


def _positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return convert


def _cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # no sched_getaffinity (macOS, Windows)
        return os.cpu_count() or 1


def _processes(text: str) -> int:
    """``--processes``: a positive count, or ``auto`` for one process per core."""
    if text.strip().lower() == "auto":
        return _cores()
    value: int = _positive(int)(text)
    return value


def _not_negative(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not value >= 0:
            raise argparse.ArgumentTypeError(f"must not be negative, got {text}")
        return value

    return convert


def configure(parser: argparse.ArgumentParser) -> None:
    from micro.http import Limits
    from micro.server import ServerConfig

    defaults = ServerConfig()
    limits = Limits()
    parser.add_argument("target", metavar="TARGET", help="module:attr or path/to/file.py[:attr]")
    parser.add_argument(
        "--bind",
        type=parse_bind,
        default=("127.0.0.1", 8000),
        metavar="HOST:PORT",
        help="where to listen (default 127.0.0.1:8000)",
    )
    parser.add_argument(
        "--threads", type=_positive(int), default=defaults.threads, help="worker threads"
    )
    parser.add_argument("--backlog", type=_positive(int), default=defaults.backlog)
    for name in ("idle", "head", "body", "write"):
        parser.add_argument(
            f"--{name}-timeout",
            type=_positive(float),
            default=getattr(defaults, f"{name}_timeout"),
            metavar="SECONDS",
        )
    parser.add_argument(
        "--min-body-rate",
        type=_not_negative(float),
        default=defaults.min_body_rate,
        metavar="BYTES_PER_S",
        help="after --body-timeout seconds a body must average this rate, else 408 (0: off)",
    )
    for name in ("max_request_line", "max_header_bytes", "max_header_count", "max_body_bytes"):
        parser.add_argument(
            "--" + name.replace("_", "-"), type=_positive(int), default=getattr(limits, name)
        )
    parser.add_argument(
        "--spool-threshold",
        type=_not_negative(int),
        default=defaults.spool_threshold,
        metavar="BYTES",
        help="request bodies larger than this go to a temporary file",
    )
    parser.add_argument(
        "--max-discard",
        type=_not_negative(int),
        default=defaults.max_discard,
        metavar="BYTES",
        help="what the server still reads and drops after refusing a request",
    )
    parser.add_argument(
        "--spool-dir",
        default=defaults.spool_dir,
        metavar="DIR",
        help="where those temporary files go (default: the system's temporary directory)",
    )
    parser.add_argument(
        "--access-log", action="store_true", help="log each request (Combined Log Format)"
    )
    dev = parser.add_argument_group("development")
    dev.add_argument(
        "--debug",
        action="store_true",
        help="tracebacks in error pages, static files re-read on every request (a micro App)",
    )
    dev.add_argument(
        "--reload", action="store_true", help="restart when a Python file of the app changes"
    )
    dev.add_argument(
        "--reload-interval",
        type=_positive(float),
        default=1.0,
        metavar="SECONDS",
        help="how often --reload looks at the files (default 1)",
    )
    _configure_production(parser, defaults)


def _configure_production(parser: argparse.ArgumentParser, defaults: Any) -> None:
    group = parser.add_argument_group("production (see docs/deployment.md)")
    group.add_argument("--certfile", metavar="PEM", help="serve HTTPS with this certificate")
    group.add_argument("--keyfile", metavar="PEM", help="the certificate's private key")
    group.add_argument(
        "--processes",
        type=_processes,
        default=1,
        metavar="N|auto",
        help="worker processes sharing the address (pre-fork; 'auto': one per core; default 1)",
    )
    group.add_argument(
        "--graceful-timeout",
        type=_positive(float),
        default=defaults.graceful_timeout,
        metavar="SECONDS",
        help="on SIGTERM/SIGINT, how long requests under way may take to finish",
    )
    group.add_argument(
        "--max-connections",
        type=_positive(int),
        default=None,
        metavar="N",
        help="stop accepting while N connections are open",
    )
    group.add_argument(
        "--max-pending",
        type=_positive(int),
        default=None,
        metavar="N",
        help="answer 503 when N complete requests already wait for a worker thread",
    )
    group.add_argument(
        "--proxy-hops",
        type=_positive(int),
        default=0,
        metavar="N",
        help="trust forwarded headers written by N proxies in front",
    )
    group.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        metavar="ADDR[/BITS]",
        help="trust forwarded headers from this address or network (repeatable)",
    )
    group.add_argument(
        "--proxy-headers",
        choices=("x-forwarded", "forwarded"),
        default="x-forwarded",
        help="which headers the proxies write (default x-forwarded)",
    )


def _setup_logging(access_log: bool) -> None:
    root = logging.getLogger("micro")
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
    if access_log:
        access = logging.getLogger("micro.access")
        if not access.handlers:
            handler = logging.StreamHandler(sys.stdout)
            handler.setFormatter(logging.Formatter("%(message)s"))
            access.addHandler(handler)
            access.propagate = False


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from micro.cli.reload import is_child
    from micro.http import Limits
    from micro.server import Server, ServerConfig

    if args.reload and not is_child():
        return _run_reloader(args)
    app = load_app(args.target)
    if args.debug:
        _enable_debug(app, args.target)
    host, port = args.bind
    limits = replace(
        Limits(),
        max_request_line=args.max_request_line,
        max_header_bytes=args.max_header_bytes,
        max_header_count=args.max_header_count,
        max_body_bytes=args.max_body_bytes,
    )
    config = ServerConfig(
        host=host,
        port=port,
        threads=args.threads,
        backlog=args.backlog,
        limits=limits,
        idle_timeout=args.idle_timeout,
        head_timeout=args.head_timeout,
        body_timeout=args.body_timeout,
        min_body_rate=args.min_body_rate,
        spool_threshold=args.spool_threshold,
        spool_dir=args.spool_dir,
        max_discard=args.max_discard,
        write_timeout=args.write_timeout,
        access_log=args.access_log,
        ssl_context=_ssl_context(args),
        max_connections=args.max_connections,
        max_pending=args.max_pending,
        graceful_timeout=args.graceful_timeout,
        proxy_hops=args.proxy_hops,
        trusted_proxies=tuple(args.trusted_proxy),
        proxy_headers=args.proxy_headers,
    )
    _setup_logging(args.access_log)
    if args.processes > 1:
        return _run_processes(args, app, config)
    server = Server(app, config)
    try:
        server.start()
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ConfigError(f"cannot listen on {host}:{port}: {reason}") from exc
    from micro.server.signals import serve_until_signalled

    def ready() -> None:
        _announce(args.target, config, server.address, f"{config.threads} threads")

    return serve_until_signalled(server, config.graceful_timeout, ready=ready)


def _announce(target: str, config: Any, address: tuple[str, int], workers: str) -> None:
    host, port = address
    shown = f"[{host}]" if ":" in host else host
    print(
        f"micro: serving {target} on {config.url_scheme}://{shown}:{port}/ "
        f"({workers}; Ctrl-C stops)",
        flush=True,
    )
    from micro.cli.reload import report_modules

    report_modules()  # only in a --reload child: tell the supervisor what to watch


def _run_reloader(args: argparse.Namespace) -> int:
    from micro.cli.reload import Reloader

    where = split_target(args.target)[0]
    extra = [where] if where.endswith(".py") and os.path.isfile(where) else []
    command = [sys.executable, "-m", "micro", *args.argv]
    return Reloader(command, interval=args.reload_interval, extra_files=extra).run()


def _enable_debug(app: Any, target: str) -> None:
    settings = getattr(app, "settings", None)
    if not isinstance(settings, dict):
        raise ConfigError(f"--debug needs a micro App; {target} is a {type(app).__name__}")
    settings["debug"] = True
    print("micro: debug mode: tracebacks go to the client; never in production", file=sys.stderr)


def _ssl_context(args: argparse.Namespace) -> Any:
    if args.certfile is None:
        if args.keyfile is not None:
            raise ConfigError("--keyfile needs --certfile")
        return None
    from micro.server.tls import server_context

    return server_context(args.certfile, args.keyfile)


def _run_processes(args: argparse.Namespace, app: WSGIApp, config: Any) -> int:
    from micro.server.processes import Supervisor

    supervisor = Supervisor(app, config, args.processes)
    try:
        address = supervisor.bind()
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ConfigError(f"cannot listen on {config.host}:{config.port}: {reason}") from exc
    workers = f"{args.processes} processes x {config.threads} threads"
    return supervisor.run(ready=lambda: _announce(args.target, config, address, workers))
