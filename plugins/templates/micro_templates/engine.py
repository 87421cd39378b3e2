"""micro-templates: the Jinja2 engine behind ``self.render()`` and ``request.render()``.

micro asks the enabled template engine for text through one method,
``render(request, name, context)``, with a context that already holds micro's
standard names (``request``, ``current_user``, ``reverse_url`` ...; see
docs/templates.md). This engine adds what is Jinja2's to decide:

- templates come from the ``template_path`` folder (or folders); autoescaping is
  on for ``.html``, ``.htm``, ``.xml`` and ``.xhtml`` templates and off for others;
- in debug mode (the app's ``debug`` setting, read at every render, so ``micro
  serve --debug`` counts) every render checks the file's modification time, so an
  edited template shows on the next request; otherwise compiled templates are kept;
- any helper a plugin registered (``xsrf_form_html``, ``static_url`` ...) is
  found by its bare name, looked up only when a template uses it
  (:class:`HelperContext`), so a page that shows no XSRF field sets no XSRF cookie;
- a missing template or a syntax error becomes a :class:`TemplateError` that
  names the file and the line, keeping Jinja2's traceback (whose frames point
  into the template files) so the debug page shows the template frame.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import jinja2
from jinja2.runtime import Context
from jinja2.utils import missing

from micro.errors import ConfigError, MicroError

if TYPE_CHECKING:
    from micro import Request

__all__ = ["AUTOESCAPE_EXTENSIONS", "HelperContext", "JinjaEngine", "TemplateError"]

AUTOESCAPE_EXTENSIONS = ("html", "htm", "xml", "xhtml")


class TemplateError(MicroError):
    """A template is missing or does not parse; the message names the file and line."""


def _helper(request: Any, name: str) -> Any:
    """The plugin helper ``name`` for ``request``, or Jinja2's ``missing``."""
    try:
        return getattr(request.helpers, name)
    except AttributeError:
        return missing


class HelperContext(Context):
    """A Jinja2 context that falls back to the request's plugin helpers.

    Jinja2 documents ``resolve_or_missing`` as the method a custom context overrides.
    """

    def resolve_or_missing(self, key: str) -> Any:
        value = super().resolve_or_missing(key)
        if value is missing and not key.startswith("_"):
            request = self.parent.get("request")
            if request is not None:
                value = _helper(request, key)
        return value


class _Environment(jinja2.Environment):
    context_class = HelperContext


def _template_location(tb: TracebackType | None) -> str | None:
    """``file, line N`` of the innermost template frame of a Jinja2 traceback."""
    where = None
    while tb is not None:
        # Jinja2 rewrites tracebacks: frames of template code run in globals
        # that hold the exception being re-raised, and carry the template's file.
        if "__jinja_exception__" in tb.tb_frame.f_globals:
            where = f"{tb.tb_frame.f_code.co_filename}, line {tb.tb_lineno}"
        tb = tb.tb_next
    return where


class JinjaEngine:
    """Renders the templates of ``path`` with Jinja2 (see the module docstring)."""

    def __init__(
        self,
        path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        *,
        globals: Mapping[str, Any] | None = None,
    ) -> None:
        paths = [path] if isinstance(path, str | os.PathLike) else list(path)
        self.paths = [os.path.abspath(os.fspath(p)) for p in paths]
        for folder in self.paths:
            if not os.path.isdir(folder):
                raise ConfigError(f"template_path {folder!r} is not a folder")
        self.environment = _Environment(
            loader=jinja2.FileSystemLoader(self.paths),
            autoescape=jinja2.select_autoescape(AUTOESCAPE_EXTENSIONS, default_for_string=True),
            auto_reload=False,  # set from the app's debug setting at each render
            keep_trailing_newline=True,
        )
        self.environment.globals.update(globals or {})

    def render(self, request: Request, name: str, context: Mapping[str, Any]) -> str:
        """The text of template ``name`` rendered with ``context``."""
        debug = bool(request.app.settings.get("debug"))
        if debug is not self.environment.auto_reload:
            self.environment.auto_reload = debug
        try:
            return self.environment.get_template(name).render(context)
        except jinja2.TemplateSyntaxError as exc:
            where = f"{exc.filename or exc.name}, line {exc.lineno}"
            error = TemplateError(f"template syntax error in {where}: {exc.message}")
            raise error.with_traceback(exc.__traceback__) from exc
        except jinja2.TemplateNotFound as exc:
            folders = ", ".join(self.paths)
            message = f"template {exc.name!r} not found in {folders}"
            asker = _template_location(exc.__traceback__)
            if asker is not None:
                message += f" (asked for by {asker})"
            raise TemplateError(message).with_traceback(exc.__traceback__) from exc

    def __repr__(self) -> str:
        return f"JinjaEngine({self.paths!r})"
