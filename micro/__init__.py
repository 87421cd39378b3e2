"""micro: a Python web microframework with its own threaded HTTP/1.1 server.

This module only re-exports the public API; see the submodules for the code.
"""

from micro.errors import (
    ConfigError,
    HTTPError,
    MicroError,
    PluginError,
    ProtocolError,
    RoutingError,
)
from micro.handler import RequestHandler
from micro.middleware import Middleware, skip_middleware
from micro.request import Request
from micro.response import Response
from micro.web import App, URLSpec

__version__ = "0.1.0"

__all__ = [
    "App",
    "ConfigError",
    "HTTPError",
    "MicroError",
    "Middleware",
    "PluginError",
    "ProtocolError",
    "Request",
    "RequestHandler",
    "Response",
    "RoutingError",
    "URLSpec",
    "__version__",
    "skip_middleware",
]
