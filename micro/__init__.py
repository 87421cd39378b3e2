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

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "HTTPError",
    "MicroError",
    "PluginError",
    "ProtocolError",
    "RoutingError",
    "__version__",
]
