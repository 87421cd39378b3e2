"""Testing layer: micro's pytest plugin, the fixtures that drive an app in tests.

Registered through the ``pytest11`` entry point, so installing micro is enough. The
user names their app by defining a fixture called ``app`` (in a ``conftest.py`` or
the test module) that returns it, or by the ini option ``micro_app = module:attr``
(the same TARGET syntax as ``micro serve``), loaded for every test: with a factory,
``micro_app = shop:make_app()``, each test gets a fresh app. Fixtures:

- ``testapp``: a :class:`micro.testing.client.MicroTestApp` (a WebTest ``TestApp``)
  around the app, in-process; with ``--micro-transport=http`` the same fixture drives
  the app over real HTTP through ``live_server``, and with ``--micro-transport=both``
  every test that uses ``testapp`` runs twice, once each way.
- ``https_testapp``: the same, but every request says ``wsgi.url_scheme = https``
  (so Secure cookies are set and sent back).
- ``live_server``: a :class:`~micro.testing.live.LiveServer`, the app under micro's own
  server on a free port of 127.0.0.1 in background threads, stopped after the test.
- ``live_testapp``: a MicroTestApp that always goes over HTTP to ``live_server``.

Over HTTP, WebTest talks to the live server through
:class:`~micro.testing.httpproxy.HTTPProxy`.

When WebTest is not installed the plugin stays loaded but inert: the WebTest fixtures
skip with a message saying so, and ``live_server`` (standard library only) still works.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from micro.cli.target import load_app
from micro.errors import ConfigError
from micro.testing.httpproxy import HTTPProxy
from micro.testing.live import LiveServer

if TYPE_CHECKING:
    from micro.testing.client import MicroTestApp

__all__ = [
    "TRANSPORTS",
    "https_testapp",
    "live_server",
    "live_testapp",
    "micro_app",
    "micro_transport",
    "pytest_addoption",
    "pytest_generate_tests",
    "testapp",
]

TRANSPORTS = ("wsgi", "http", "both")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("micro", "micro web framework")
    group.addoption(
        "--micro-transport",
        choices=TRANSPORTS,
        default="wsgi",
        help="how the testapp fixture reaches the app: wsgi (in-process, default), "
        "http (through live_server) or both (each test twice)",
    )
    parser.addini(
        "micro_app",
        "the app the fixtures test when no `app` fixture is defined"
        " (module:attr, or module:factory() for a fresh app per test)",
    )


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
    from micro.testing.client import MicroTestApp

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
