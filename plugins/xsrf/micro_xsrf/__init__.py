"""micro-xsrf: the ``xsrf`` plugin, cross-site request forgery protection as middleware.

Enabled with ``App(plugins=["xsrf"], settings={"cookie_secret": ...})``; the entry
point ``xsrf`` in the ``micro.plugins`` group names :func:`plugin`.

How it protects (double-submit cookie, hardened):

- A random secret lives in the cookie ``xsrf_cookie_name``, signed and
  timestamped by the App (``cookie_secret``, :mod:`micro.signing`; rotation works), so
  it expires after ``xsrf_max_age_days`` and cannot be forged without the key.
- Pages carry a *masked* form of it (``xsrf_token``, ``xsrf_form_html()``),
  masked afresh for every response, so compressed pages leak nothing (BREACH).
- Every request whose method is not safe (GET, HEAD, OPTIONS, TRACE) must echo
  it, in the form field ``_xsrf`` or the header ``X-XSRFToken`` / ``X-CSRFToken``;
  the comparison is constant-time. JavaScript may also echo the cookie's own value.
- Before that, a request that says it is cross-site (``Sec-Fetch-Site:
  cross-site``) or comes from another origin (``Origin``) is refused, unless its
  origin is listed in ``xsrf_trusted_origins``.
- A refusal is a 403 whose reason says what was wrong.

A route opts out with ``@skip_middleware("xsrf")`` (or ``skip_middleware =
{"xsrf"}`` on a handler class), e.g. a webhook authenticated some other way.
Handlers get ``self.helpers.xsrf_token`` and ``self.helpers.xsrf_form_html()`` (the
app's helper namespace; ``request.helpers`` is the same); function routes can also call
:func:`xsrf_token` and :func:`xsrf_form_html` with the request.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from micro.errors import HTTPError
from micro.web import normalize_secrets
from micro_xsrf.tokens import TOKEN_BYTES, mask, matches, new_secret

if TYPE_CHECKING:
    from micro.web import PluginApp, Request, Response

__all__ = ["HTML", "XSRFMiddleware", "XSRFPlugin", "plugin", "xsrf_form_html", "xsrf_token"]

FIELD = "_xsrf"
HEADERS = ("X-XSRFToken", "X-CSRFToken")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_DEFAULT_PORTS = MappingProxyType({"http": "80", "https": "443"})


class _Token:
    """The XSRF secret of one request (kept on ``request.state.xsrf``)."""

    __slots__ = ("cookie_value", "had_cookie", "masked", "secret", "used", "valid")

    def __init__(self, middleware: XSRFMiddleware, request: Request) -> None:
        name = middleware.cookie_name
        cookie = request.cookies.get(name)
        # The App's signing (micro.signing underneath): cookie_secret, with rotation.
        secret = request.app.decode_signed_value(name, cookie, max_age_days=middleware.max_age_days)
        self.had_cookie = cookie is not None
        self.valid = secret is not None and len(secret) == TOKEN_BYTES
        self.secret = secret if secret is not None and self.valid else new_secret()
        self.cookie_value = cookie if cookie is not None and self.valid else ""
        self.masked: str | None = None
        self.used = False

    def token(self) -> str:
        """This response's masked token (one fresh mask per response)."""
        self.used = True
        if self.masked is None:
            self.masked = mask(self.secret)
        return self.masked


class XSRFMiddleware:
    """Refuse unsafe requests without a matching token; issue the cookie (module docstring)."""

    name = "xsrf"

    def __init__(
        self,
        *,
        cookie_name: str = "_xsrf",
        max_age_days: float = 14,
        trusted_origins: Sequence[str] = (),
        cookie_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.cookie_name = cookie_name
        self.max_age_days = max_age_days
        self.trusted_origins = frozenset(_normalize_origin(o) for o in trusted_origins)
        self.cookie_options = dict(cookie_options or {})

    def token_for(self, request: Request) -> _Token:
        state = request.state
        token = getattr(state, "xsrf", None)
        if not isinstance(token, _Token):
            token = _Token(self, request)
            state.xsrf = token
        return token

    def __call__(self, request: Request, call_next: Callable[[Request], Response]) -> Response:
        # PERF: a safe request costs one method check and one look at request.state
        # when it shows no token: the cookie is only verified (and a secret only
        # drawn) when a check or a page needs it.
        # A request no route takes is answered 404/405 by the App and changes
        # nothing: it is not checked (as Django and Flask-WTF do), so API clients
        # see the routing answer, not a 403.
        if request.method not in SAFE_METHODS and request.route is not None:
            self.check(request, self.token_for(request))
        response = call_next(request)
        token = request.peek_state("xsrf")
        if isinstance(token, _Token) and token.used:
            # Re-signing on every page that shows a token keeps the timestamp fresh
            # for active users; the secret stays, so tokens in other tabs stay valid.
            self._set_cookie(request, response, token)
        return response

    def check(self, request: Request, token: _Token) -> None:
        """Raise HTTPError(403) unless ``request`` may change state."""
        headers = request.headers
        origin = headers.get("Origin")
        trusted = origin is not None and _normalize_origin(origin) in self.trusted_origins
        if not trusted:
            if (headers.get("Sec-Fetch-Site") or "").strip().lower() == "cross-site":
                raise HTTPError(403, "XSRF: cross-site request refused (Sec-Fetch-Site)")
            if origin is not None and _normalize_origin(origin) != _own_origin(request):
                # The origin goes to the log only: a reason should not echo client input.
                raise HTTPError(
                    403,
                    "XSRF: request from another origin refused (Origin)",
                    log_message=f"Origin {origin!r} is not {_own_origin(request)!r}",
                )
        if not token.valid:
            what = "invalid or expired" if token.had_cookie else "missing"
            raise HTTPError(403, f"XSRF cookie {what}")
        submitted = next((v for v in map(headers.get, HEADERS) if v), None)
        if submitted is None:
            submitted = request.get_body_argument(FIELD, None)
        if not submitted:
            raise HTTPError(
                403, f"XSRF token missing: send the {FIELD!r} field or an X-XSRFToken header"
            )
        if not matches(submitted, token.secret, token.cookie_value):
            raise HTTPError(403, "XSRF token does not match the XSRF cookie")

    def _set_cookie(self, request: Request, response: Response, token: _Token) -> None:
        value = request.app.create_signed_value(self.cookie_name, token.secret)
        options: dict[str, Any] = {
            "path": "/",
            "samesite": "Lax",
            "secure": request.scheme == "https",
            # Not HttpOnly: JavaScript may read the cookie to echo it in a header.
            "httponly": False,
            "max_age": int(self.max_age_days * 86400),
        }
        options.update(self.cookie_options)
        response.set_cookie(self.cookie_name, value, **options)


def _normalize_origin(origin: str) -> str:
    """``scheme://host[:port]`` lower-cased, the default port dropped."""
    origin = origin.strip().lower().rstrip("/")
    scheme, sep, host = origin.partition("://")
    if not sep:
        return origin  # "null" and other opaque origins compare as themselves
    name, colon, port = host.rpartition(":")
    if colon and "]" not in port and port == _DEFAULT_PORTS.get(scheme):
        host = name
    return f"{scheme}://{host}"


def _own_origin(request: Request) -> str:
    return _normalize_origin(f"{request.scheme}://{request.host}")


def xsrf_token(request: Request) -> str:
    """The masked token for this response, for function routes (handlers have a helper)."""
    try:
        return str(request.helpers.xsrf_token)
    except AttributeError:
        raise LookupError("xsrf_token: the 'xsrf' plugin is not enabled on this app") from None


class HTML(str):
    """Text that is HTML already: template engines that honour ``__html__`` (Jinja2,
    MarkupSafe) insert it as it is instead of escaping it."""

    __slots__ = ()

    def __html__(self) -> str:
        return str(self)


def xsrf_form_html(request: Request) -> HTML:
    """``<input type="hidden" name="_xsrf" value="...">`` for a form on this response."""
    value = html.escape(xsrf_token(request), quote=True)
    return HTML(f'<input type="hidden" name="{FIELD}" value="{value}">')


class XSRFPlugin:
    """The ``xsrf`` plugin: the middleware plus the ``xsrf_token``/``xsrf_form_html`` helpers."""

    name = "xsrf"
    api_version = 1
    before: Sequence[str] = ()
    after: Sequence[str] = ()
    requires: Sequence[str] = ()
    settings: Mapping[str, Any] = MappingProxyType(
        {
            "xsrf_cookie_name": "_xsrf",
            "xsrf_max_age_days": 14,
            "xsrf_trusted_origins": (),
            "xsrf_cookie_options": MappingProxyType({}),
        }
    )

    def setup(self, app: PluginApp) -> None:
        settings = app.settings
        normalize_secrets(settings.get("cookie_secret"))  # missing: a start-up ConfigError
        middleware = XSRFMiddleware(
            cookie_name=settings["xsrf_cookie_name"],
            max_age_days=settings["xsrf_max_age_days"],
            trusted_origins=settings["xsrf_trusted_origins"],
            cookie_options=settings["xsrf_cookie_options"],
        )
        app.add_middleware(middleware)

        def token_helper(request: Request) -> str:
            return middleware.token_for(request).token()

        def form_helper(request: Request) -> Callable[[], HTML]:
            middleware.token_for(request)
            return lambda: xsrf_form_html(request)

        app.add_helper("xsrf_token", token_helper)
        app.add_helper("xsrf_form_html", form_helper)


def plugin() -> XSRFPlugin:
    """The entry point's factory: a fresh plugin for each app."""
    return XSRFPlugin()
