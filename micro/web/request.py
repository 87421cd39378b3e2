"""Framework layer: the Request, a lazy view of one WSGI environ.

PERF: building a Request stores what every request has (app, environ, method, path,
route and its arguments) and nothing more. Headers, cookies, the session and the
user (here), and the body, JSON, form, uploads and arguments (its base class
:class:`~micro.web.arguments.RequestArguments`) are parsed the first time they are
asked for and cached on the instance, so a handler that reads nothing pays for nothing.

``remote_ip`` and ``scheme`` are the environ's ``REMOTE_ADDR`` and
``wsgi.url_scheme``. Forwarded headers are never read here: when the App's
``proxy_hops`` or ``trusted_proxies`` setting (or the server's) trusts a proxy,
:class:`micro.http.forwarded.ForwardedRule` has already rewritten the environ from the
part of those headers the trusted proxies wrote, so a client talking to micro
directly cannot choose its own address.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Protocol

from micro.errors import ConfigError, HTTPError
from micro.http.forwarded import default_port
from micro.plugins.bodies import UploadedFile as UploadedFile  # the type of request.files
from micro.routing import Match, Query, Route, Router
from micro.web.arguments import NO_DEFAULT, RequestArguments
from micro.web.cookies import parse_cookie_header
from micro.web.flash import Flash, add_flash, take_flashes
from micro.web.headers import RequestHeaders
from micro.web.response import Response
from micro.web.templating import content_type_for, no_engine
from micro.wsgitypes import Environ, ExcInfo

if TYPE_CHECKING:
    # Types only: importing micro must not load the plugin machinery (entry points).
    import asyncio

    from micro.plugins.api import Session, SessionInterface, TemplateEngine
    from micro.plugins.bodies import BodyParser


class AppContext(Protocol):
    """The App as its requests and handlers see it (``micro.App`` satisfies it).

    A Protocol rather than the App class: the App builds Requests and runs handlers,
    so this module and :mod:`micro.web.handler` cannot import :mod:`micro.web.app`.
    """

    @property
    def settings(self) -> dict[str, Any]: ...

    @property
    def router(self) -> Router: ...

    @property
    def debug(self) -> bool: ...

    def reverse_url(self, name: str, *args: Any, **kwargs: Any) -> str: ...

    def create_signed_value(self, name: str, value: str | bytes) -> str: ...

    def decode_signed_value(
        self, name: str, value: str | None, max_age_days: float = 31
    ) -> bytes | None: ...

    def helper(self, name: str, request: Request) -> Any: ...

    @property
    def template_engine(self) -> TemplateEngine[Request] | None: ...

    @property
    def session_interface(self) -> SessionInterface[Request] | None: ...

    def load_user(self, request: Request) -> Any: ...

    def body_parser(self, media_type: str) -> BodyParser | None: ...

    def error_page(
        self, request: Request, error: HTTPError, exc_info: ExcInfo | None = None
    ) -> Response: ...

    def asyncio_loop(self) -> asyncio.AbstractEventLoop: ...


__all__ = ["NO_DEFAULT", "AppContext", "Helpers", "Request"]

_NOT_YET: Any = object()


class Helpers:
    """The helpers plugins registered (``app.add_helper``), bound to one request.

    ``request.helpers.xsrf_token`` is ``factory(request)`` for the factory registered as
    ``xsrf_token`` (a handler has the same namespace as ``self.helpers``). The lookup is
    dynamic, so it is kept in this namespace of its own, as Tornado keeps its UI modules:
    a ``__getattr__`` on RequestHandler would make mypy accept any attribute of every
    handler, and ``self.wirte("x")`` would pass the type check.
    """

    __slots__ = ("_request",)

    def __init__(self, request: Request) -> None:
        self._request = request

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._request.app.helper(name, self._request)

    def __repr__(self) -> str:
        return f"<Helpers of {self._request!r}>"


class Request(RequestArguments):
    """One HTTP request, as the handler and the middleware see it.

    The body, JSON, form, uploads and arguments come from :class:`RequestArguments`
    (:mod:`micro.web.arguments`).
    """

    app: AppContext

    # PERF: no __slots__: the lazily parsed parts default to these class attributes,
    # so __init__ stores only what every request has, and a cache is filled on demand.
    _state: SimpleNamespace | None = None
    _headers: RequestHeaders | None = None
    _cookies: dict[str, str] | None = None
    _session: Session | None = None
    _flashed: list[Flash] | None = None
    _current_user: Any = _NOT_YET

    def __init__(
        self,
        *,
        app: AppContext,
        environ: Environ,
        method: str,
        path: str,
        route: Route | None = None,
        path_args: tuple[Any, ...] = (),
        path_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.app = app
        self.environ = environ
        self.method = method
        self.path = path
        #: the matched route; None when no route took the request (404, 405, OPTIONS)
        self.route = route
        self.path_args = path_args
        self.path_kwargs: dict[str, Any] = {} if path_kwargs is None else path_kwargs

    @classmethod
    def for_match(
        cls, app: AppContext, environ: Environ, path: str, match: Match | None
    ) -> Request:
        """The App's constructor: the request for ``environ`` and its routing ``match``.

        PERF: positional, and ``__init__`` is skipped: in CPython 3.11 matching seven
        keyword arguments costs about 0.3 µs, a tenth of a hello-world request.
        """
        self = cls.__new__(cls)
        self.app = app
        self.environ = environ
        self.method = environ["REQUEST_METHOD"]
        self.path = path
        if match is None:
            self.route, self.path_args, self.path_kwargs = None, (), {}
        else:
            self.route, self.path_args, self.path_kwargs = match
        return self

    # -- cheap, always-there facts -------------------------------------------------

    @property
    def state(self) -> SimpleNamespace:
        """Per-request scratch space for middleware and plugins."""
        if self._state is None:
            self._state = SimpleNamespace()
        return self._state

    def peek_state(self, name: str, default: Any = None) -> Any:
        """``getattr(request.state, name, default)``, without making ``state`` if it is unused.

        PERF: for a middleware that asks, after the handler ran, whether it left
        something there (most requests never touch ``state``).
        """
        state = self._state
        return default if state is None else getattr(state, name, default)

    @property
    def helpers(self) -> Helpers:
        """The plugins' helpers for this request: ``request.helpers.static_url(...)``."""
        return Helpers(self)

    @property
    def query(self) -> str:
        """The raw query string (without ``?``)."""
        return str(self.environ.get("QUERY_STRING", ""))

    @property
    def headers(self) -> RequestHeaders:
        if self._headers is None:
            self._headers = RequestHeaders(self.environ)
        return self._headers

    @property
    def settings(self) -> dict[str, Any]:
        return self.app.settings

    @property
    def host(self) -> str:
        """The Host header as sent (with a port if any), else the server's name."""
        environ = self.environ
        host = environ.get("HTTP_HOST")
        if host is None:
            host = environ.get("SERVER_NAME", "")
            port = environ.get("SERVER_PORT", "")
            if port and port != default_port(environ.get("wsgi.url_scheme", "http")):
                host = f"{host}:{port}"
        return str(host)

    @property
    def host_name(self) -> str:
        """The host without its port, lower-cased."""
        host = self.host
        if host.startswith("["):  # IPv6 literal
            return host[: host.find("]") + 1].lower()
        return host.rsplit(":", 1)[0].lower() if ":" in host else host.lower()

    @property
    def script_name(self) -> str:
        """SCRIPT_NAME as text: where the App is mounted ('' at the root)."""
        script = str(self.environ.get("SCRIPT_NAME", ""))
        if not script.isascii():
            # WSGI hands the raw bytes over as latin-1 (PEP 3333); kept so if not UTF-8.
            with contextlib.suppress(UnicodeError):
                script = script.encode("latin-1").decode("utf-8")
        return script

    def url_for(
        self,
        name: str,
        *args: Any,
        _query: Query | None = None,
        _external: bool = False,
        **kwargs: Any,
    ) -> str:
        """The URL of the route called ``name`` as this request reaches the App.

        Under the request's SCRIPT_NAME, with ``_query`` (a mapping, a list value
        repeating its key, or pairs) after the path; absolute (this request's scheme
        and host) when ``_external`` is true or the route is on a host pattern (then on
        that host). Values the route would not match back raise RoutingError.
        """
        return self.app.router.url_for(
            name,
            *args,
            _query=_query,
            _external=_external,
            _script_name=self.script_name,
            _scheme=self.scheme,
            _host=self.host,
            **kwargs,
        )

    @property
    def remote_ip(self) -> str:
        return str(self.environ.get("REMOTE_ADDR", ""))

    @property
    def scheme(self) -> str:
        return str(self.environ.get("wsgi.url_scheme", "http"))

    # -- cookies -----------------------------------------------------------------

    @property
    def cookies(self) -> dict[str, str]:
        if self._cookies is None:
            header = self.environ.get("HTTP_COOKIE")
            self._cookies = parse_cookie_header(header) if header else {}
        return self._cookies

    def get_cookie(self, name: str, default: str | None = None) -> str | None:
        return self.cookies.get(name, default)

    def get_signed_cookie(self, name: str, max_age_days: float = 31) -> bytes | None:
        """The verified payload of a signed cookie, or None (missing, forged or too old)."""
        # Through the App, the one place that decides how cookies are signed.
        return self.app.decode_signed_value(name, self.cookies.get(name), max_age_days)

    # -- the user, the session, templates --------------------------------------------

    @property
    def current_user(self) -> Any:
        """The logged-in user: the App's ``@app.user_loader`` asked once (None without one)."""
        if self._current_user is _NOT_YET:
            self._current_user = self.app.load_user(self)
        return self._current_user

    @current_user.setter
    def current_user(self, user: Any) -> None:
        self._current_user = user

    @property
    def session(self) -> Session:
        """This request's session, opened on first use by the app's session interface."""
        if self._session is None:
            interface = self.app.session_interface
            if interface is None:
                raise ConfigError(
                    "request.session: this app has no sessions; enable the 'sessions' plugin"
                    " (App(plugins=['sessions']))"
                )
            self._session = interface.open_session(self)
        return self._session

    def flash(self, message: str, category: str = "info") -> None:
        """Keep a one-time message in the session for a later page to show."""
        add_flash(self.session, message, category)

    def flashed_messages(self) -> list[Flash]:
        """The waiting flash messages as ``(category, message)``, taken out of the session.

        The same list for the rest of this request; empty when the app has no sessions.
        """
        if self._flashed is None:
            has_sessions = self._session is not None or self.app.session_interface is not None
            self._flashed = take_flashes(self.session) if has_sessions else []
        return self._flashed

    def template_context(self, context: Mapping[str, Any], current_user: Any) -> dict[str, Any]:
        """micro's standard template names, overridden by ``context``.

        ``request``, ``current_user``, ``settings``, ``reverse_url`` (the path),
        ``url_for`` (with the request's script name; ``_query=...`` adds a query),
        ``flashed_messages()`` and ``helpers`` (the plugins' helpers).
        """
        names: dict[str, Any] = {
            "request": self,
            "helpers": self.helpers,
            "current_user": current_user,
            "settings": self.app.settings,
            "reverse_url": self.app.reverse_url,
            "url_for": self.url_for,
            "flashed_messages": self.flashed_messages,
        }
        names.update(context)
        return names

    def render_text(self, name: str, context: Mapping[str, Any], current_user: Any) -> str:
        """Template ``name`` rendered by the app's engine (ConfigError without one)."""
        engine = self.app.template_engine
        if engine is None:
            raise no_engine(name)
        return engine.render(self, name, self.template_context(context, current_user))

    def render(self, name: str, /, **context: Any) -> Response:
        """A Response with template ``name`` rendered (for function routes)."""
        text = self.render_text(name, context, self.current_user)
        return Response(text, content_type=content_type_for(name))

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.path}>"
