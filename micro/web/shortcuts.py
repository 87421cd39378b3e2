"""Framework layer: a RequestHandler's shortcuts to its request and its App.

:class:`RequestShortcuts` is a base of :class:`micro.web.handler.RequestHandler`: the
settings, URLs, arguments, plugin helpers and cookies a handler reads, each one call
to ``self.request`` or ``self.app``, so that handler code reads as in Tornado
(``self.get_argument("q")``). What a handler writes is in :mod:`micro.web.handler`.
"""

from __future__ import annotations

from typing import Any, TypeVar, overload

from micro.routing import Query
from micro.web.arguments import NO_DEFAULT
from micro.web.request import AppContext, Helpers, Request

__all__ = ["RequestShortcuts"]

_D = TypeVar("_D")


class RequestShortcuts:
    """What a handler reads of its request and App (a base of RequestHandler)."""

    app: AppContext
    request: Request

    @property
    def settings(self) -> dict[str, Any]:
        return self.app.settings

    def reverse_url(self, name: str, *args: Any, **kwargs: Any) -> str:
        """The path of the route called ``name`` (no script name, host or query)."""
        return self.app.reverse_url(name, *args, **kwargs)

    def url_for(
        self,
        name: str,
        *args: Any,
        _query: Query | None = None,
        _external: bool = False,
        **kwargs: Any,
    ) -> str:
        """``self.request.url_for``: the route's URL as this request reaches the App."""
        return self.request.url_for(name, *args, _query=_query, _external=_external, **kwargs)

    @overload
    def get_argument(self, name: str, *, strip: bool = True) -> str: ...
    @overload
    def get_argument(self, name: str, default: _D, strip: bool = True) -> str | _D: ...
    def get_argument(self, name: str, default: Any = NO_DEFAULT, strip: bool = True) -> Any:
        return self.request.get_argument(name, default, strip)

    def get_arguments(self, name: str, strip: bool = True) -> list[str]:
        return self.request.get_arguments(name, strip)

    @overload
    def get_query_argument(self, name: str, *, strip: bool = True) -> str: ...
    @overload
    def get_query_argument(self, name: str, default: _D, strip: bool = True) -> str | _D: ...
    def get_query_argument(self, name: str, default: Any = NO_DEFAULT, strip: bool = True) -> Any:
        return self.request.get_query_argument(name, default, strip)

    @overload
    def get_body_argument(self, name: str, *, strip: bool = True) -> str: ...
    @overload
    def get_body_argument(self, name: str, default: _D, strip: bool = True) -> str | _D: ...
    def get_body_argument(self, name: str, default: Any = NO_DEFAULT, strip: bool = True) -> Any:
        return self.request.get_body_argument(name, default, strip)

    @property
    def helpers(self) -> Helpers:
        """Plugin helpers (``self.helpers.xsrf_form_html()``); see :class:`Helpers`."""
        return self.request.helpers

    # -- cookies (set_cookie and friends write: RequestHandler) ---------------------

    def get_cookie(self, name: str, default: str | None = None) -> str | None:
        return self.request.cookies.get(name, default)

    def get_signed_cookie(self, name: str, max_age_days: float = 31) -> bytes | None:
        return self.request.get_signed_cookie(name, max_age_days)
