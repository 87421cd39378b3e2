"""Testing layer: micro's pytest plugin (fixtures) and the live server it runs apps on.

Registered through the ``pytest11`` entry point, so installing micro is enough. The
user names their app by defining a fixture called ``app`` (in a ``conftest.py`` or
the test module) that returns it, or by the ini option ``micro_app = module:attr``
(the same TARGET syntax as ``micro serve``). Fixtures:

- ``testapp``: a :class:`micro.testclient.MicroTestApp` (a WebTest ``TestApp``)
  around the app, in-process; with ``--micro-transport=http`` the same fixture drives
  the app over real HTTP through ``live_server``, and with ``--micro-transport=both``
  every test that uses ``testapp`` runs twice, once each way.
- ``https_testapp``: the same, but every request says ``wsgi.url_scheme = https``
  (so Secure cookies are set and sent back).
- ``live_server``: a :class:`LiveServer`, the app under micro's own server on a free
  port of 127.0.0.1 in background threads, stopped after the test.
- ``live_testapp``: a MicroTestApp that always goes over HTTP to ``live_server``.

WebTest's ``TestApp("http://...")`` needs the WSGIProxy2 distribution; micro does not
add that dependency but brings :class:`HTTPProxy`, a small WSGI app that forwards each
request with :mod:`http.client`, and hands that to TestApp instead.

When WebTest is not installed the plugin stays loaded but inert: the WebTest fixtures
skip with a message saying so, and ``live_server`` (standard library only) still works.
"""

from __future__ import annotations

import http.client
from collections.abc import Callable, Iterator
from http import HTTPStatus
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import pytest

if TYPE_CHECKING:
    from micro.server import Server
    from micro.testclient import MicroTestApp

__all__ = ["HTTPProxy", "LiveServer"]

TRANSPORTS = ("wsgi", "http", "both")
# Hop-by-hop fields (RFC 9110 7.6.1) are the connection's business, never a WSGI app's.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding"}
)
# Characters left as they are when PATH_INFO is turned back into a request target.
_PATH_SAFE = "/!$&'()*+,;=:@-._~"


class LiveServer:
    """``app`` served by micro's server on ``host`` (a free port) until :meth:`stop`.

    ``url`` is ``http://127.0.0.1:<port>``. The server believes ``X-Forwarded-*``
    headers from 127.0.0.1 only when ``trust_local_proxy`` is true (the default), so
    that :class:`HTTPProxy` can pass the https scheme of a test request along.
    """

    def __init__(
        self,
        app: Callable[..., Any],
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

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        # PEP 3333 hands the path over decoded as latin-1; quote its bytes again.
        target = quote((self.prefix + path).encode("latin-1"), safe=_PATH_SAFE)
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
        reason = response.reason
        if not reason:
            try:
                reason = HTTPStatus(response.status).phrase
            except ValueError:  # a status http.HTTPStatus does not list (299, 599 ...)
                reason = "Unknown"
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


def _request_headers(environ: dict[str, Any]) -> list[tuple[str, str]]:
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


# -- the pytest plugin ------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("micro", "micro web framework")
    group.addoption(
        "--micro-transport",
        choices=TRANSPORTS,
        default="wsgi",
        help="how the testapp fixture reaches the app: wsgi (in-process, default), "
        "http (through live_server) or both (each test twice)",
    )
    parser.addini("micro_app", "the app the fixtures test when no `app` fixture is defined")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "micro_transport" not in metafunc.fixturenames:
        return
    if metafunc.config.getoption("micro_transport", "wsgi") == "both":
        metafunc.parametrize("micro_transport", ["wsgi", "http"], indirect=True)


@pytest.fixture
def micro_transport(request: pytest.FixtureRequest) -> str:
    """``wsgi`` or ``http``: how ``testapp`` reaches the app in this test."""
    param = getattr(request, "param", None)
    if isinstance(param, str):
        return param
    return str(request.config.getoption("micro_transport", "wsgi"))


@pytest.fixture
def micro_app(request: pytest.FixtureRequest) -> Any:
    """The user's app: their ``app`` fixture, else the ``micro_app`` ini option."""
    try:
        return request.getfixturevalue("app")
    except pytest.FixtureLookupError:
        pass
    target = request.config.getini("micro_app")
    if not target:
        pytest.fail(
            "micro's fixtures need your app: define a fixture named `app` that returns it "
            "(in conftest.py), or set `micro_app = module:attr` in the pytest ini options",
            pytrace=False,
        )
    from micro.cli import load_app
    from micro.errors import ConfigError

    try:
        return load_app(str(target))
    except ConfigError as exc:
        pytest.fail(f"micro_app = {target}: {exc}", pytrace=False)


@pytest.fixture
def live_server(micro_app: Any) -> Iterator[LiveServer]:
    """The app under micro's server on a free 127.0.0.1 port, for the test's duration."""
    with LiveServer(micro_app) as server:
        yield server


def _make_testapp(
    request: pytest.FixtureRequest, app: Any, transport: str, **options: Any
) -> MicroTestApp:
    try:
        import webtest  # type: ignore[import-untyped]  # noqa: F401  # is WebTest there?
    except ImportError:
        pytest.skip("micro's testapp fixtures need WebTest (pip install WebTest)")
    from micro.testclient import MicroTestApp

    if transport == "http":
        server: LiveServer = request.getfixturevalue("live_server")
        return MicroTestApp(HTTPProxy(server.url), micro_app=app, **options)
    return MicroTestApp(app, **options)


@pytest.fixture
def testapp(request: pytest.FixtureRequest, micro_app: Any, micro_transport: str) -> MicroTestApp:
    """A WebTest TestApp around the app (in-process, or over HTTP; see the module docs)."""
    return _make_testapp(request, micro_app, micro_transport)


@pytest.fixture
def https_testapp(
    request: pytest.FixtureRequest, micro_app: Any, micro_transport: str
) -> MicroTestApp:
    """Like ``testapp``, with every request made as https (Secure cookies work)."""
    return _make_testapp(request, micro_app, micro_transport, https=True)


@pytest.fixture
def live_testapp(request: pytest.FixtureRequest, micro_app: Any) -> MicroTestApp:
    """A WebTest TestApp that always reaches the app over HTTP through ``live_server``."""
    return _make_testapp(request, micro_app, "http")
