"""Testing layer: :class:`HTTPProxy`, a WSGI app that forwards each request over HTTP.

WebTest's ``TestApp("http://...")`` needs the WSGIProxy2 distribution; micro does not
add that dependency but brings this small proxy on :mod:`http.client`, so that the
same WebTest calls can reach an app in-process or through a live server.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterable, Iterator
from urllib.parse import quote, urlsplit

from micro.status import reason_phrase
from micro.wsgitypes import Environ, HeaderList, StartResponse

__all__ = ["HTTPProxy"]

# Hop-by-hop fields (RFC 9110 7.6.1) are the connection's business, never a WSGI app's.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding"}
)
# Characters left as they are when PATH_INFO is turned back into a request target.
_TARGET_SAFE = "/!$&'()*+,;=:@-._~"


class HTTPProxy:
    """A WSGI app that sends each request it gets to ``base_url`` over HTTP/1.1.

    The environ's method, path, query, headers (Host included) and body go out as
    they are; an https ``wsgi.url_scheme`` becomes ``X-Forwarded-Proto: https``. The
    answer comes back without its hop-by-hop fields; the body is streamed.
    """

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"HTTPProxy needs an http:// URL, got {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        # PEP 3333 hands the path over decoded as latin-1; quote its bytes again.
        target = quote((self.prefix + path).encode("latin-1"), safe=_TARGET_SAFE)
        if environ.get("QUERY_STRING"):
            target += "?" + environ["QUERY_STRING"]
        headers = _request_headers(environ)
        if not any(k == "Host" for k, _ in headers):
            headers.append(("Host", f"{self.host}:{self.port}"))
        if environ.get("wsgi.url_scheme") == "https":
            headers.append(("X-Forwarded-Proto", "https"))
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length > 0 else b""

        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.putrequest(
                environ["REQUEST_METHOD"], target, skip_host=True, skip_accept_encoding=True
            )
            for name, value in headers:
                conn.putheader(name, value)
            conn.endheaders(body or None)
            response = conn.getresponse()
        except BaseException:
            conn.close()
            raise
        reason = response.reason or reason_phrase(response.status)
        start_response(
            f"{response.status} {reason}",
            [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP],
        )
        return _ResponseBody(conn, response)


class _ResponseBody:
    """The proxied body, read block by block; closing it closes the connection."""

    def __init__(self, conn: http.client.HTTPConnection, response: http.client.HTTPResponse):
        self._conn = conn
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        while block := self._response.read1(65536):
            yield block

    def close(self) -> None:
        self._response.close()
        self._conn.close()


def _request_headers(environ: Environ) -> HeaderList:
    headers: list[tuple[str, str]] = []
    for key, value in environ.items():
        if key.startswith("HTTP_") and key != "HTTP_CONTENT_LENGTH":
            name = "-".join(p.capitalize() for p in key[5:].split("_"))
            if name.lower() not in _HOP_BY_HOP:
                headers.append((name, value))
    if environ.get("CONTENT_TYPE"):
        headers.append(("Content-Type", environ["CONTENT_TYPE"]))
    length = environ.get("CONTENT_LENGTH")
    if length or environ.get("REQUEST_METHOD") in ("POST", "PUT", "PATCH"):
        headers.append(("Content-Length", str(int(length or 0))))
    return headers
