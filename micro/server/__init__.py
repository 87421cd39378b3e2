"""Server layer: micro's HTTP/1.1 server for any WSGI app (standard library only).

An I/O loop on epoll (``selectors`` elsewhere) reads requests without tying up threads; a pool of
worker threads runs the app for complete requests (the thread running the loop
serves quick ones itself); idle keep-alive connections go back to the loop. See
:mod:`micro.server.server` for the entry points re-exported here.
"""

from micro.server.config import ServerConfig, default_threads
from micro.server.environ import FileWrapper
from micro.server.server import Server, serve
from micro.server.stats import STATS_KEY, ServerStats

__all__ = [
    "STATS_KEY",
    "FileWrapper",
    "Server",
    "ServerConfig",
    "ServerStats",
    "default_threads",
    "serve",
]
