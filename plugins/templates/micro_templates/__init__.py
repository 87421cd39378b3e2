"""micro-templates: the ``templates`` plugin, Jinja2 behind ``render``.

Enabled with ``App(plugins=["templates"], settings={"template_path": "templates"})``;
the entry point ``templates`` in the ``micro.plugins`` group names :func:`plugin`.
Its setup gives the App a :class:`~micro_templates.engine.JinjaEngine` through the
App's template-engine hook (``app.set_template_engine``), the one documented seam
any other engine plugs into the same way. Then:

- ``self.render("post.html", post=post)`` in a RequestHandler finishes the
  response with the page;
- ``return request.render("post.html", post=post)`` in a function route returns
  a Response.

Settings: ``template_path`` (a folder or a list of them, default ``templates``),
``template_globals`` (extra names every template sees). ``debug`` reloads
templates that changed. ``app.template_engine.environment`` is the Jinja2
Environment, for filters and tests of your own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from micro import PluginApp
from micro_templates.engine import AUTOESCAPE_EXTENSIONS, HelperContext, JinjaEngine, TemplateError

__all__ = [
    "AUTOESCAPE_EXTENSIONS",
    "HelperContext",
    "JinjaEngine",
    "TemplateError",
    "TemplatesPlugin",
    "plugin",
]


class TemplatesPlugin:
    """The ``templates`` plugin: a JinjaEngine set as the App's template engine."""

    name = "templates"
    api_version = 1
    before: Sequence[str] = ()
    after: Sequence[str] = ()
    requires: Sequence[str] = ()
    settings: Mapping[str, Any] = MappingProxyType(
        {"template_path": "templates", "template_globals": MappingProxyType({})}
    )

    def setup(self, app: PluginApp) -> None:
        settings = app.settings
        engine = JinjaEngine(
            settings["template_path"],
            globals=settings["template_globals"],
        )
        app.set_template_engine(engine)


def plugin() -> TemplatesPlugin:
    """The entry point's factory: a fresh plugin for each app."""
    return TemplatesPlugin()
