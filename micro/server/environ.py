"""Server layer: the request side of WSGI (PEP 3333 environ, wsgi.input, file_wrapper).

:func:`build_environ` turns a parsed :class:`~micro.http.RequestHead` into the environ
dict in one pass over the headers. ``wsgi.input`` is the body the I/O loop already
read whole (:mod:`micro.server.body`): memory or a local spool file, never the
network, so an app that reads it never holds a worker waiting on a client.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO
from urllib.parse import unquote_to_bytes

from micro.http import RequestHead
from micro.http.forwarded import split_host

__all__ = ["FileWrapper", "base_environ", "build_environ"]
_PROTOCOLS = {"1.1": "HTTP/1.1", "1.0": "HTTP/1.0"}
_MAX_KEY_CACHE = 1024


class FileWrapper:
    """``wsgi.file_wrapper``: iterates a file in blocks; the server sends real files
    with ``os.sendfile`` instead of iterating.

    micro's extension: ``offset`` and ``length`` (both or neither) say that
    ``filelike`` is a regular file at ``offset`` with ``length`` bytes to send, so the
    server need not fstat it and ask its position. micro.App passes them when it knows,
    as the third and fourth arguments (PERF: matching keywords would cost a static
    file's answer about 0.2 µs), to a wrapper marked ``micro_offset_length``, so it
    need not import this.
    """

    micro_offset_length = True

    def __init__(
        self,
        filelike: BinaryIO,
        blksize: int = 65536,
        offset: int | None = None,
        length: int | None = None,
    ) -> None:
        self.filelike = filelike
        self.blksize = blksize
        self.offset = offset
        self.length = length

    def __iter__(self) -> Iterator[bytes]:
        while True:
            block = self.filelike.read(self.blksize)
            if not block:
                return
            yield block

    def close(self) -> None:
        close = getattr(self.filelike, "close", None)
        if close is not None:
            close()


def base_environ(
    *, server_name: str, server_port: str, url_scheme: str, errors: Any
) -> dict[str, Any]:
    """The keys every request shares; copied once per request then filled in."""
    return {
        "SCRIPT_NAME": "",
        "SERVER_NAME": server_name,
        "SERVER_PORT": server_port,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": url_scheme,
        "wsgi.errors": errors,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.file_wrapper": FileWrapper,
        "wsgi.input_terminated": True,
    }


class ConnectionEnviron:
    """What the environ of every request on one connection starts from.

    PERF: the shared keys with the peer's address and port are copied once per
    connection, not built per request; and the first request's environ is that
    copy itself, since most connections that close carry a single request (a
    second request builds the base it and every later request copy). The last
    Host value's SERVER_NAME/SERVER_PORT split is kept: a connection's requests
    nearly always repeat it.
    """

    __slots__ = ("_base", "_first", "_peer", "_shared", "host", "server")

    def __init__(self, shared: dict[str, Any], peer: tuple[str, int]) -> None:
        self._shared = shared
        self._peer = peer
        self._base: dict[str, Any] | None = None
        self._first = True
        self.host = ""
        self.server = ("", "")

    def new(self) -> dict[str, Any]:
        """A fresh environ holding the shared keys and the peer's, for one request."""
        base = self._base
        if base is not None:
            return base.copy()
        base = self._shared.copy()
        peer = self._peer
        base["REMOTE_ADDR"] = peer[0]
        base["REMOTE_PORT"] = str(peer[1])
        if self._first:
            self._first = False
            return base
        self._base = base
        return base.copy()

    def server_for(self, host: str, default_port: str) -> tuple[str, str]:
        """SERVER_NAME and SERVER_PORT for a (non-empty) Host value."""
        if host != self.host:
            self.server = split_host(host, default_port)
            self.host = host
        return self.server


def _header_key(name: str) -> str | None:
    if "_" in name:
        # X-Foo_Bar and X-Foo-Bar would both become HTTP_X_FOO_BAR: drop the
        # underscore form so a client cannot spoof a header a proxy vouched for.
        return None
    if name == "content-type":
        return "CONTENT_TYPE"
    if name == "content-length":
        return "CONTENT_LENGTH"
    return "HTTP_" + name.upper().replace("-", "_")


def build_environ(
    conn: ConnectionEnviron,
    keys: dict[str, str | None],
    head: RequestHead,
    body: BinaryIO,
    default_port: str,
) -> dict[str, Any]:
    """The PEP 3333 environ for one request (``keys`` caches header-name conversions)."""
    env = conn.new()
    path = head.path
    if "%" in path:
        path = unquote_to_bytes(path).decode("latin-1")
    env["REQUEST_METHOD"] = head.method
    env["PATH_INFO"] = path
    env["QUERY_STRING"] = head.query
    env["SERVER_PROTOCOL"] = _PROTOCOLS.get(head.http_version) or "HTTP/" + head.http_version
    env["REQUEST_URI"] = env["RAW_URI"] = head.target
    env["wsgi.input"] = body
    if head.host:
        env["SERVER_NAME"], env["SERVER_PORT"] = conn.server_for(head.host, default_port)
    for name, value in head.headers:
        try:
            key = keys[name]
        except KeyError:
            key = _header_key(name)
            if len(keys) < _MAX_KEY_CACHE:
                keys[name] = key
        if key is None:
            continue
        if key in env:
            env[key] += ("; " if key == "HTTP_COOKIE" else ", ") + value
        else:
            env[key] = value
    if head.scheme is not None:
        # RFC 9112 §3.2.2: an absolute-form target's authority replaces Host, so the
        # app sees one host whichever key it reads (SERVER_NAME came from it above).
        env["HTTP_HOST"] = head.host
    if head.content_length is not None:
        env["CONTENT_LENGTH"] = str(head.content_length)
    elif "CONTENT_LENGTH" in env:
        del env["CONTENT_LENGTH"]
    return env
