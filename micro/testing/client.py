"""Testing layer: :class:`MicroTestApp`, a WebTest ``TestApp`` that knows micro apps.

Three frictions of testing a micro app with plain WebTest are removed here:

- XSRF: when the app enables the ``xsrf`` plugin, every unsafe request (POST, PUT,
  PATCH, DELETE ...) that carries no ``X-XSRFToken`` header gets one: the value of the
  XSRF cookie in the cookie jar, which the plugin accepts as the token (a signed cookie
  is minted with the app's ``cookie_secret`` when the jar has none). Forms, JSON and
  uploads all pass. ``fill_xsrf=False`` (or the attribute) turns it off, to test
  refusals.
- https: ``https=True`` makes every request ``wsgi.url_scheme = https`` on
  ``localhost:443``, so the app sets ``Secure`` cookies and the jar sends them back.
- Signed cookies: :meth:`MicroTestApp.signed_cookie` reads one from the jar with the
  app's secret; :meth:`MicroTestApp.set_signed_cookie` puts one there (a logged-in
  user, say). ``set_cookie`` replaces a cookie of the same name, as a browser would.

``micro_app`` is the micro App whose settings these use; it defaults to ``app`` when
that is one, and must be given when ``app`` is something else (a proxy to a live
server, a WSGI wrapper). Needs WebTest; :mod:`micro.testing` imports this lazily.
"""

from __future__ import annotations

import http.cookiejar
import secrets
from typing import Any

import webtest  # type: ignore[import-untyped]

from micro.errors import ConfigError
from micro.http.forwarded import default_port
from micro.web.cookies import format_set_cookie

__all__ = ["XSRF_SECRET_BYTES", "MicroTestApp"]

# The length of the secret the xsrf plugin keeps in its cookie (micro_xsrf.tokens.
# TOKEN_BYTES; micro does not import plugins, a test keeps the two equal).
XSRF_SECRET_BYTES = 32
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_TOKEN_HEADERS = ("X-XSRFToken", "X-CSRFToken")


class MicroTestApp(webtest.TestApp):  # type: ignore[misc]
    """WebTest's TestApp plus XSRF filling, https and signed cookies (module docs)."""

    def __init__(
        self,
        app: Any,
        *,
        micro_app: Any = None,
        https: bool = False,
        fill_xsrf: bool = True,
        extra_environ: dict[str, Any] | None = None,
        **options: Any,
    ) -> None:
        environ = dict(extra_environ or {})
        if https:
            environ.setdefault("wsgi.url_scheme", "https")
            environ.setdefault("HTTP_HOST", "localhost")
            environ.setdefault("SERVER_PORT", default_port("https"))
        super().__init__(app, extra_environ=environ, **options)
        self.micro_app = micro_app if micro_app is not None else app
        self.fill_xsrf = fill_xsrf

    # -- signed cookies ----------------------------------------------------------------

    def _settings(self) -> dict[str, Any]:
        settings = getattr(self.micro_app, "settings", None)
        if not isinstance(settings, dict):
            raise ConfigError("this helper needs the micro App: pass micro_app=... to MicroTestApp")
        return settings

    def signed_cookie(self, name: str, max_age_days: float = 31) -> bytes | None:
        """The verified value of the signed cookie ``name`` in the jar, or None."""
        self._settings()
        value = self.cookies.get(name)
        if value is None:
            return None
        result: bytes | None = self.micro_app.decode_signed_value(
            name, _unquote_cookie(value), max_age_days=max_age_days
        )
        return result

    def set_signed_cookie(self, name: str, value: str | bytes) -> None:
        """Put ``name`` in the jar (replacing any), signed with the app's ``cookie_secret``."""
        self._settings()
        self.set_cookie(name, self.micro_app.create_signed_value(name, value))

    def set_cookie(self, name: str, value: str) -> None:
        """Put ``name`` in the jar, replacing every cookie of that name already there.

        WebTest's own ``set_cookie`` adds a second cookie next to one the app set
        (their domains are spelled differently), and the app then sees both.

        The value goes as it is, and must be one the app could set itself: a token name
        and cookie-octets (RFC 6265), else :class:`micro.web.cookies.InvalidCookie`
        names the cookie, as ``Response.set_cookie`` does. (WebTest would escape a
        space or ``;`` in octal, which micro, like browsers, never decodes: the app
        would see ``\\073`` where the test meant ``;``.)
        """
        format_set_cookie(name, value)  # raises InvalidCookie for what no app could set
        for cookie in [c for c in self.cookiejar if c.name == name]:
            self.cookiejar.clear(cookie.domain, cookie.path, cookie.name)
        host = str(self.extra_environ.get("HTTP_HOST", "localhost"))
        self._put_cookie(host, name, value)

    # -- XSRF --------------------------------------------------------------------------

    def _xsrf_cookie_name(self) -> str | None:
        """The XSRF cookie's name when the app runs the xsrf middleware, else None."""
        middleware = getattr(self.micro_app, "middleware", ())
        if not any(getattr(m, "name", None) == "xsrf" for m in middleware):
            return None
        return str(self._settings().get("xsrf_cookie_name", "_xsrf"))

    def do_request(self, req: Any, status: Any = None, expect_errors: Any = None) -> Any:
        if (
            self.fill_xsrf
            and req.method not in _SAFE_METHODS
            and not any(h in req.headers for h in _TOKEN_HEADERS)
        ):
            name = self._xsrf_cookie_name()
            if name is not None:
                req.headers["X-XSRFToken"] = self._xsrf_cookie(req, name)
        return super().do_request(req, status=status, expect_errors=expect_errors)

    def _xsrf_cookie(self, req: Any, name: str) -> str:
        """The XSRF cookie this request will carry (put in the jar when missing)."""
        probe = webtest.TestRequest.blank(req.url, dict(req.environ))
        self.cookiejar.add_cookie_header(webtest.utils._RequestCookieAdapter(probe))
        value = probe.cookies.get(name)
        if value:
            return str(value)
        value = self.micro_app.create_signed_value(name, secrets.token_bytes(XSRF_SECRET_BYTES))
        self._put_cookie(req.host, name, value)
        return str(value)

    def _put_cookie(self, host: str, name: str, value: str) -> None:
        """A session cookie for ``host`` (a Host header value), as a server would set it."""
        host = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if "." not in host:
            host += ".local"  # how http.cookiejar spells a dotless request host
        self.cookiejar.set_cookie(
            http.cookiejar.Cookie(
                version=0,
                name=name,
                value=value,
                port=None,
                port_specified=False,
                domain=host,
                domain_specified=True,
                domain_initial_dot=False,
                path="/",
                path_specified=True,
                secure=False,
                expires=None,
                discard=True,
                comment=None,
                comment_url=None,
                rest={},
            )
        )


def _unquote_cookie(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value
