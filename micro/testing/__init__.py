"""Testing layer: micro's pytest plugin, the WebTest client and the live server.

This package is the ``pytest11`` entry point (installing micro is enough), so it
re-exports the plugin's hooks and fixtures from :mod:`micro.testing.plugin`, plus
:class:`LiveServer` and :class:`HTTPProxy`. :class:`~micro.testing.client.MicroTestApp`
needs WebTest and is imported from :mod:`micro.testing.client`, so that the plugin
loads without WebTest installed.
"""

from micro.testing.httpproxy import HTTPProxy
from micro.testing.live import LiveServer
from micro.testing.plugin import (
    https_testapp,
    live_server,
    live_testapp,
    micro_app,
    micro_transport,
    pytest_addoption,
    pytest_generate_tests,
    testapp,
)

__all__ = [
    "HTTPProxy",
    "LiveServer",
    "https_testapp",
    "live_server",
    "live_testapp",
    "micro_app",
    "micro_transport",
    "pytest_addoption",
    "pytest_generate_tests",
    "testapp",
]
