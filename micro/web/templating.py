"""Framework layer: what ``render`` needs besides the engine, the seam to a template engine.

micro has no template language of its own. A plugin (``templates``, on Jinja2)
sets an engine with ``app.set_template_engine(engine)``; an engine is anything
with ``render(request, name, context) -> str``
(:class:`micro.plugins.api.TemplateEngine`), so another engine plugs in the same
way. ``Request.render`` and ``RequestHandler.render`` merge the caller's names
over micro's standard ones (``Request.template_context``), ask the engine, and
send the text with the Content-Type of the template's extension.
"""

from __future__ import annotations

import mimetypes

from micro.errors import ConfigError

__all__ = ["content_type_for", "no_engine"]

_TEXT_TYPES = ("application/xml", "application/json", "application/javascript", "image/svg+xml")


def content_type_for(name: str) -> str:
    """The Content-Type of a page rendered from template ``name`` (HTML when unsure)."""
    guessed, _ = mimetypes.guess_type(name, strict=False)
    if guessed is None:
        return "text/html; charset=utf-8"
    if guessed.startswith("text/") or guessed in _TEXT_TYPES:
        return f"{guessed}; charset=utf-8"
    return guessed


def no_engine(name: str) -> ConfigError:
    """The error of ``render`` on an app without a template engine."""
    return ConfigError(
        f"render({name!r}): this app has no template engine; enable the 'templates'"
        " plugin (App(plugins=['templates'])) or set one with app.set_template_engine()"
    )
