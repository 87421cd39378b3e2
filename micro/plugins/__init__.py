"""Plugin layer: find plugins through entry points, order them, set them up.

The mechanism only (no command line: ``micro plugins`` lives in :mod:`micro.cli`).
:mod:`micro.plugins.api` says what a plugin is and what it may use of the App;
:mod:`micro.plugins.bodies` is the seam for request-body parsers;
:mod:`micro.plugins.registry` discovers, checks and installs; :mod:`micro.plugins.ordering`
orders. This module only re-exports their public names.
"""

from micro.plugins.api import (
    API_VERSION,
    GROUP,
    CliCommand,
    Plugin,
    PluginHost,
    PluginMiddleware,
    Session,
    SessionInterface,
    TemplateEngine,
)
from micro.plugins.bodies import BodyParser, Form, FormBody, UploadedFile
from micro.plugins.ordering import resolve_order
from micro.plugins.registry import (
    PluginInfo,
    PluginRegistry,
    discover,
    enabled_plugins,
    install_plugins,
)

__all__ = [
    "API_VERSION",
    "GROUP",
    "BodyParser",
    "CliCommand",
    "Form",
    "FormBody",
    "Plugin",
    "PluginHost",
    "PluginInfo",
    "PluginMiddleware",
    "PluginRegistry",
    "Session",
    "SessionInterface",
    "TemplateEngine",
    "UploadedFile",
    "discover",
    "enabled_plugins",
    "install_plugins",
    "resolve_order",
]
