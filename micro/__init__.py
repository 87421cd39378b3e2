"""micro: a Python web microframework with its own threaded HTTP/1.1 server.

This module only re-exports the public API; see the layers (micro.web, micro.routing,
micro.plugins, micro.server, micro.http, micro.cli, micro.testing) for the code.
"""

from micro.errors import (
    ConfigError,
    HTTPError,
    MicroError,
    PluginError,
    ProtocolError,
    RoutingError,
)
from micro.web import (
    App,
    CallNext,
    FileBody,
    Middleware,
    PluginApp,
    Request,
    RequestHandler,
    Response,
    URLSpec,
    authenticated,
    skip_middleware,
)

__version__ = "0.1.0"

__all__ = [
    "App",
    "CallNext",
    "ConfigError",
    "FileBody",
    "HTTPError",
    "MicroError",
    "Middleware",
    "PluginApp",
    "PluginError",
    "ProtocolError",
    "Request",
    "RequestHandler",
    "Response",
    "RoutingError",
    "URLSpec",
    "__version__",
    "authenticated",
    "skip_middleware",
]
