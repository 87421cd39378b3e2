"""Framework layer: ``@authenticated``, a route or handler method for logged-in users only.

The user is ``request.current_user`` in a function route (the App's
``@app.user_loader``) and ``self.current_user`` in a RequestHandler (its
``get_current_user()``, which asks the App's loader unless overridden). Without
a user, GET and HEAD are redirected to the ``login_url`` setting with
``?next=<the path and query asked for>``; any other method gets a 403, since
a redirect would drop its body. A missing ``login_url`` is a ConfigError.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlencode

from micro.errors import ConfigError, HTTPError
from micro.web.handler import RequestHandler
from micro.web.request import Request
from micro.web.response import Response

__all__ = ["authenticated", "login_redirect"]

_F = TypeVar("_F", bound=Callable[..., Any])


def login_redirect(request: Request) -> str:
    """The ``login_url`` setting with ``next`` set to what ``request`` asked for."""
    login_url = request.settings.get("login_url")
    if not login_url:
        raise ConfigError("@authenticated: set the 'login_url' setting (the login page's URL)")
    target = request.environ.get("SCRIPT_NAME", "") + request.path
    if request.query:
        target += "?" + request.query
    separator = "&" if "?" in login_url else "?"
    return f"{login_url}{separator}{urlencode({'next': target})}"


def authenticated(method: _F) -> _F:
    """Let only a logged-in user through (see the module docstring)."""

    @functools.wraps(method)
    def wrapper(first: Any, *args: Any, **kwargs: Any) -> Any:
        handler = first if isinstance(first, RequestHandler) else None
        request: Request = first.request if handler is not None else first
        user = handler.current_user if handler is not None else request.current_user
        if not user:
            if request.method not in ("GET", "HEAD"):
                raise HTTPError(403, "Login required")
            url = login_redirect(request)
            if handler is None:
                return Response.redirect(url)
            handler.redirect(url)
            return None
        return method(first, *args, **kwargs)

    return cast(_F, wrapper)
