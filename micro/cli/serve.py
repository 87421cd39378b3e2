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
import signal
import sys
from collections.abc import Callable
from dataclasses import fields
from typing import Any

from micro.cli.options import Option, dataclass_options, dataclass_values
from micro.cli.target import app_location, load_app
from micro.errors import ConfigError
from micro.wsgitypes import WSGIApp

__all__ = ["DEVELOPMENT", "default_target", "options", "parse_bind", "run"]

DEVELOPMENT = "development"


def parse_bind(value: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[IPv6]:PORT`` into (host, port)."""
    host, sep, port = value.rpartition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    if not (port.isascii() and port.isdigit()):
        raise argparse.ArgumentTypeError(f"the port in {value!r} is not a number")
    if not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(
            f"port {int(port)} is out of range: ports are 1 to 65535 (0 picks a free one)"
        )
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host or "127.0.0.1", int(port)


def default_target(given: str | None) -> str:
    """The TARGET to serve: the one given, else ``MICRO_APP``, else ``./app.py``."""
    if given:
        return given
    from_environment = os.environ.get("MICRO_APP", "").strip()
    if from_environment:
        return from_environment
    if os.path.isfile("app.py"):
        return "app.py"
    raise ConfigError(
        "no TARGET: name the app (module:attr or file.py), set MICRO_APP, or put it in ./app.py"
    )


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


def options() -> list[Option]:
    """The options of ``micro serve``: the server's derived from its settings, plus the
    command's own (where to listen, TLS files, processes, development switches)."""
    from micro.http import Limits
    from micro.server import ServerConfig
    from micro.server.config import PRODUCTION

    derived = dataclass_options(ServerConfig)
    return [
        Option(
            "target",
            "module:attr or path/to/file.py[:attr]; default: $MICRO_APP, else ./app.py",
            metavar="TARGET",
            kind="optional",
        ),
        Option(
            "--bind",
            "where to listen",
            ("127.0.0.1", 8000),
            parse_bind,
            "HOST:PORT",
            shown="127.0.0.1:8000",
        ),
        *[o for o in derived if o.group is None],
        *dataclass_options(Limits),
        Option(
            "--debug",
            "tracebacks in error pages, static files re-read on every request (a micro App)",
            False,
            kind="switch",
            group=DEVELOPMENT,
        ),
        Option(
            "--reload",
            "restart when a Python file of the app changes",
            False,
            kind="switch",
            group=DEVELOPMENT,
        ),
        Option(
            "--reload-interval",
            "how often --reload looks at the files",
            1.0,
            _positive(float),
            "SECONDS",
            group=DEVELOPMENT,
        ),
        Option("--certfile", "serve HTTPS with this certificate", metavar="PEM", group=PRODUCTION),
        Option("--keyfile", "the certificate's private key", metavar="PEM", group=PRODUCTION),
        Option(
            "--processes",
            "worker processes sharing the address (pre-fork; 'auto': one per core)",
            1,
            _processes,
            "N|auto",
            group=PRODUCTION,
        ),
        *[o for o in derived if o.group is not None],
    ]


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
    from micro.cli.reload import is_child, serve_as_child
    from micro.http import Limits
    from micro.server import Server, ServerConfig

    args.target = default_target(args.target)
    if args.reload and not is_child():
        return _run_reloader(args)
    serve_as_child()  # under --reload: the supervisor alone decides when to stop
    app = load_app(args.target, full_traceback=args.debug or args.reload)
    if args.debug:
        _enable_debug(app, args.target)
        if args.access_log is None:  # unless --no-access-log or MICRO_ACCESS_LOG said no
            args.access_log = True  # while developing, every request is worth a line
    host, port = args.bind
    from_flags = dataclass_values(args, options())
    limit_names = {f.name for f in fields(Limits)}
    limits = Limits(**{k: v for k, v in from_flags.items() if k in limit_names})
    config = ServerConfig(
        host=host,
        port=port,
        limits=limits,
        ssl_context=_ssl_context(args),
        **{k: v for k, v in from_flags.items() if k not in limit_names},
    )
    _setup_logging(bool(args.access_log))
    if args.processes > 1:
        return _run_processes(args, app, config)
    server = Server(app, config)
    try:
        server.start()
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ConfigError(f"cannot listen on {host}:{port}: {reason}") from exc
    from micro.server.signals import GRACEFUL_SIGNALS, serve_until_signalled

    def ready() -> None:
        _announce(args.target, config, server.address, f"{config.threads} threads")

    # A --reload child stops on its supervisor's SIGTERM only (see serve_as_child).
    signals = (signal.SIGTERM,) if is_child() else GRACEFUL_SIGNALS
    return serve_until_signalled(server, config.graceful_timeout, signals, ready=ready)


def _announce(target: str, config: Any, address: tuple[str, int], workers: str) -> None:
    from micro.cli.reload import report_modules

    # Only in a --reload child: tell the supervisor what to watch, before the banner,
    # so that a file saved once "serving" shows is already watched.
    report_modules()
    host, port = address
    shown = f"[{host}]" if ":" in host else host
    print(
        f"micro: serving {target} on {config.url_scheme}://{shown}:{port}/ "
        f"({workers}; Ctrl-C stops)",
        flush=True,
    )


def _run_reloader(args: argparse.Namespace) -> int:
    from micro.cli.reload import Reloader

    where = app_location(args.target)[0]
    extra = [where] if where.endswith(".py") and os.path.isfile(where) else []
    command = [sys.executable, "-m", "micro", *args.argv]
    grace = args.graceful_timeout + 5  # the child's own grace, and a margin to exit
    reloader = Reloader(command, interval=args.reload_interval, extra_files=extra, grace=grace)
    return reloader.run()


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
    from micro.cli.reload import is_child
    from micro.server.processes import Supervisor
    from micro.server.signals import GRACEFUL_SIGNALS

    # A --reload child stops on its supervisor's SIGTERM only (see serve_as_child).
    stop_signals = (signal.SIGTERM,) if is_child() else GRACEFUL_SIGNALS
    supervisor = Supervisor(app, config, args.processes, stop_signals=stop_signals)
    try:
        address = supervisor.bind()
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ConfigError(f"cannot listen on {config.host}:{config.port}: {reason}") from exc
    workers = f"{args.processes} processes x {config.threads} threads"
    return supervisor.run(ready=lambda: _announce(args.target, config, address, workers))
