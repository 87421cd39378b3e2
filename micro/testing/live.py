"""Testing layer: :class:`LiveServer`, an app under micro's own server on a free port.

Used by the ``live_server`` fixture and usable on its own (a context manager). The
server is imported when a LiveServer is made, not when this module is: the pytest
plugin imports this module in every test run, most of which never start a server.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from micro.wsgitypes import WSGIApp

if TYPE_CHECKING:
    from micro.server import Server

__all__ = ["LiveServer"]


class LiveServer:
    """``app`` served by micro's server on ``host`` (a free port) until :meth:`stop`.

    ``url`` is ``http://127.0.0.1:<port>``. The server believes ``X-Forwarded-*``
    headers from 127.0.0.1 only when ``trust_local_proxy`` is true (the default), so
    that :class:`HTTPProxy` can pass the https scheme of a test request along.
    """

    def __init__(
        self,
        app: WSGIApp,
        *,
        host: str = "127.0.0.1",
        threads: int = 4,
        trust_local_proxy: bool = True,
    ) -> None:
        from micro.server import Server, ServerConfig

        config = ServerConfig(
            host=host,
            port=0,
            threads=threads,
            trusted_proxies=("127.0.0.1",) if trust_local_proxy else (),
        )
        self.app = app
        self.server: Server = Server(app, config)
        self.host = host
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> LiveServer:
        self.server.start()
        self.port = self.server.address[1]
        return self

    def stop(self) -> None:
        self.server.stop(timeout=5.0)

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
