"""Framework layer: ``micro.App``, the WSGI app that joins router, middleware and handlers.

One call is three named steps:

1. **route** (:meth:`App._route`): build a lazy :class:`~micro.web.request.Request`
   and find what answers it: the matched route's endpoint (a function route or a
   RequestHandler, see :mod:`micro.web.endpoint`), or the App's own
   :class:`~micro.web.endpoint.Answer` for 404, 405 with ``Allow``, the automatic
   OPTIONS answer and trailing-slash redirects, all decided before any middleware runs;
2. **chain** (:meth:`App._run_chain`): run that route's prebuilt middleware chain
   around the endpoint; an HTTPError becomes an error response (a custom
   ``@app.error_handler(status)`` or the default HTML/JSON page), any other exception
   a logged 500;
3. **send** (:func:`micro.web.send.send_response`): Content-Length for buffered bodies, no body for
   HEAD, ``wsgi.file_wrapper`` for files, and every cookie marked ``Secure`` when
   the request came over https (directly or through a trusted proxy).

Plugins extend the App through hooks as well as middleware: ``add_helper``,
``set_template_engine`` (what ``render`` uses, :mod:`micro.web.templating`),
``set_session_interface`` (what opens ``request.session``) and ``add_body_parser``
(what parses a form body of a media type, :mod:`micro.web.forms`). ``@app.user_loader``
names the function that finds ``request.current_user``.

An async route (``async def``) takes the same steps with its chain awaited on the
App's asyncio loop (:meth:`App._call_async`, :mod:`micro.web.aio`); under micro's
server the worker thread does not wait for it (``micro.defer``).

Trailing slashes are strict (``/a`` and ``/a/`` are different routes). With the
``redirect_trailing_slash`` setting, a path that only misses or has an extra slash is
redirected: 301 for GET/HEAD, 308 for other methods so that the body is sent again.

Unknown hosts answer 404 rather than Tornado 3's redirect to the default host: a
redirect would leak which hosts the app serves and turns a misconfigured DNS name
into a loop, while a 404 says plainly that this server has nothing there.

PERF: what can be known at registration is known then (handler kind, allowed
methods, middleware opt-outs: one endpoint per route); each route's chain is built
once;
the Request parses nothing until asked; the per-call path allocates the Request,
the Response and its header list, and little else.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from micro.errors import ConfigError, HTTPError, MicroError, ProtocolError, RoutingError
from micro.http.forwarded import PROXY_HEADERS, ForwardedRule
from micro.plugins import api as plugin_api
from micro.routing import (
    FieldType,
    MethodNotAllowed,
    NotFound,
    Query,
    Route,
    TrailingSlashRedirect,
)
from micro.web.aio import LoopThread, build_async_chain
from micro.web.endpoint import Answer, AppRouter, Endpoint, make_endpoint
from micro.web.errorpages import default_error_page
from micro.web.forms import check_media_type
from micro.web.groups import RouteGroup, route_decorator
from micro.web.middleware import CallNext, Middleware, build_chain, check_names
from micro.web.mount import Mount, Mounts, mounted_environ
from micro.web.request import Request
from micro.web.response import Response, to_response
from micro.web.send import send_response
from micro.web.signing import create_signed_value, decode_signed_value
from micro.wsgitypes import DEFER_KEY, Environ, ExcInfo, Resume, StartResponse

if TYPE_CHECKING:
    import asyncio
    import concurrent.futures

    from micro.plugins.api import SessionInterface, TemplateEngine
    from micro.plugins.bodies import BodyParser

__all__ = ["DEFAULT_SETTINGS", "App", "PluginApp", "URLSpec"]

log = logging.getLogger("micro.web")

PluginApp = plugin_api.PluginHost[Request, Response]
"""What a plugin's ``setup(app)`` may use of the App (``micro.App`` satisfies it)."""

_T = TypeVar("_T")

DEFAULT_SETTINGS: Mapping[str, Any] = {
    "debug": False,  # tracebacks in error pages
    "cookie_secret": None,  # str or list of str (first signs, any verifies)
    # Forwarded headers, believed only from trusted proxies (micro.http.forwarded):
    "proxy_hops": 0,  # N proxies stand in front of the app, or...
    "trusted_proxies": (),  # ...the peers (addresses or networks) that are proxies
    "proxy_headers": PROXY_HEADERS[0],  # x-forwarded, or forwarded (RFC 7239)
    "redirect_trailing_slash": False,  # 301/308 to the other spelling of the path
    "max_body_size": 10 * 1024 * 1024,  # request.body / json / urlencoded forms: 413
    "max_upload_size": 100 * 1024 * 1024,  # a whole multipart body: 413
    "multipart_spool_size": 1024 * 1024,  # upload bytes kept in memory; text field cap
    "max_multipart_parts": 1000,  # more parts: 413
    "login_url": None,  # where @authenticated sends anonymous GET/HEAD requests
}


class URLSpec:
    """A Tornado-style URL spec: pattern, handler, ``initialize`` kwargs and a name."""

    __slots__ = ("handler", "kwargs", "name", "pattern")

    def __init__(
        self,
        pattern: str,
        handler: Any,
        kwargs: Mapping[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        self.pattern = pattern
        self.handler = handler
        self.kwargs = dict(kwargs or {})
        self.name = name

    def __repr__(self) -> str:
        return f"URLSpec({self.pattern!r}, {self.handler!r}, name={self.name!r})"


_MISSES_MAX = 4096
# Only paths up to this long are remembered: 4,096 paths of up to 8 KB each (the
# request line's limit) would let a client make the App hold 32 MB of them.
_MISS_PATH_MAX = 256


class App:
    """A WSGI application; see the module docstring for what one call does."""

    def __init__(
        self,
        *,
        settings: Mapping[str, Any] | None = None,
        plugins: Sequence[str] = (),
        middleware: Sequence[Middleware] = (),
        debug: bool = False,
    ) -> None:
        self.settings: dict[str, Any] = {**DEFAULT_SETTINGS, **(settings or {})}
        if debug:
            self.settings["debug"] = True
        self.router = AppRouter(
            redirect_trailing_slash=bool(self.settings["redirect_trailing_slash"])
        )
        self._forwarded = ForwardedRule.from_settings(
            self.settings.get("proxy_hops") or 0,
            self.settings.get("trusted_proxies") or (),
            self.settings["proxy_headers"],
        )
        self.plugins: tuple[str, ...] = tuple(plugins)
        self._middleware: list[Middleware] = list(middleware)
        check_names(self._middleware)  # a duplicate is refused here, not at every request
        self._helpers: dict[str, Callable[[Request], Any]] = {}
        self._error_handlers: dict[int, Callable[[Request, HTTPError], Any]] = {}
        self._frozen = False
        self._lock = threading.Lock()
        self._host_routing = False
        self._not_found = Answer(404)
        # path -> (method, host, router generation) of a request no route took (a 404):
        # the same request again skips the router's search and its NotFound.
        self._misses: dict[str, tuple[str, str, int]] = {}
        self._template_engine: TemplateEngine[Request] | None = None
        self._session_interface: SessionInterface[Request] | None = None
        self._body_parsers: dict[str, BodyParser] = {}
        self._user_loader: Callable[[Request], Any] | None = None
        self._mounts = Mounts()
        self._mounted_in: tuple[App, str] | None = None  # (parent, prefix) once mounted
        self._aio = LoopThread()
        # The loop's thread ends with the App (tests and reloads build many Apps).
        weakref.finalize(self, self._aio.stop)
        names = list(plugins)
        names += [n for n in self.settings.get("plugins", ()) if n not in names]
        if names:
            # Imported here: importing micro discovers and loads no plugin machinery.
            from micro.plugins import install_plugins

            install_plugins(self, names)

    @property
    def debug(self) -> bool:
        return bool(self.settings.get("debug"))

    # -- registration --------------------------------------------------------------

    def add_route(
        self,
        pattern: str,
        target: Callable[..., object],
        *,
        methods: Iterable[str] | None = None,
        name: str | None = None,
        host: str | None = None,
        kwargs: Mapping[str, Any] | None = None,
        middleware: Sequence[Middleware] = (),
        skip_middleware: Iterable[str] = (),
    ) -> Route:
        """Register a function or RequestHandler class; returns the router's Route.

        ``middleware`` run for this route only, inside the App's; ``skip_middleware``
        names middleware (the App's or these) this route leaves out (route groups
        pass both).
        """
        endpoint, allowed = make_endpoint(pattern, target, methods, kwargs)
        if middleware:
            check_names([*self._middleware, *middleware])
            endpoint.middleware = tuple(middleware)
        if skip_middleware:
            if isinstance(skip_middleware, str):
                raise ConfigError(f"skip_middleware is a list of names, not {skip_middleware!r}")
            endpoint.skip = endpoint.skip | frozenset(skip_middleware)
        route = self.router.add(pattern, endpoint, methods=allowed, name=name, host=host)
        if host is not None:
            self._host_routing = True
        return route

    def route(
        self,
        pattern: str,
        methods: Iterable[str] | None = None,
        name: str | None = None,
        host: str | None = None,
        kwargs: Mapping[str, Any] | None = None,
    ) -> Callable[[_T], _T]:
        """Decorator form of :meth:`add_route` for functions and RequestHandler classes."""
        return route_decorator(self.add_route, pattern, methods, name, host, kwargs)

    def add_handlers(self, host_pattern: str, specs: Iterable[Any]) -> None:
        """Tornado's ``add_handlers``: URL specs for one host pattern (``.*$`` = any host)."""
        host = None if host_pattern in (".*", ".*$", "") else host_pattern
        for spec in specs:
            if not isinstance(spec, URLSpec):
                if not isinstance(spec, tuple | list) or not 2 <= len(spec) <= 4:
                    raise RoutingError(
                        f"a URL spec is (pattern, handler[, kwargs[, name]]), not {spec!r}"
                    )
                spec = URLSpec(*spec)
            self.add_route(
                spec.pattern, spec.handler, name=spec.name, host=host, kwargs=spec.kwargs
            )

    def group(
        self,
        prefix: str = "",
        *,
        host: str | None = None,
        name: str | None = None,
        middleware: Sequence[Middleware] = (),
        skip_middleware: Iterable[str] = (),
    ) -> RouteGroup:
        """Routes under ``prefix`` (and ``host``), named ``name.<route>``, with their own
        middleware inside the App's; see :mod:`micro.web.groups`."""
        return RouteGroup(
            self,
            prefix=prefix,
            host=host,
            name=name,
            middleware=middleware,
            skip_middleware=skip_middleware,
        )

    def mount(self, prefix: str, app: Any) -> Mount:
        """Serve ``prefix`` and everything under it with the WSGI app ``app``.

        The mounted app gets the prefix in SCRIPT_NAME (PEP 3333) and runs outside this
        App's middleware; a micro App mounted here builds its URLs under the prefix.
        See :mod:`micro.web.mount`.
        """
        if app is self:
            raise RoutingError("an App cannot be mounted in itself")
        mount = self._mounts.add(prefix, app)
        if isinstance(app, App):
            app._mounted_in = (self, prefix)
        return mount

    @property
    def mounts(self) -> list[Mount]:
        """The mounted WSGI apps, in the order mounted."""
        return list(self._mounts)

    @property
    def script_name(self) -> str:
        """Where this App is mounted in its parents ('' when it is not)."""
        if self._mounted_in is None:
            return ""
        parent, prefix = self._mounted_in
        return parent.script_name + prefix

    def field_type(
        self,
        name: str,
        converter: object | None = None,
        *,
        regex: str | None = None,
        to_python: Callable[[str], Any] | None = None,
        to_url: Callable[[Any], str] | None = None,
        examples: Iterable[str] | None = None,
        spans: bool = False,
    ) -> FieldType:
        """Add a ``{name:type}`` field type for the routes added after it.

        Refused (RoutingError) when ``to_url`` gives text its own ``regex`` does not
        match, or that does not convert back; see :meth:`micro.routing.Router.field_type`.
        """
        return self.router.field_type(
            name,
            converter,
            regex=regex,
            to_python=to_python,
            to_url=to_url,
            examples=examples,
            spans=spans,
        )

    def error_handler(self, status: int) -> Callable[[_T], _T]:
        """Decorate ``fn(request, error) -> str | bytes | dict | Response`` to answer ``status``."""
        if not isinstance(status, int) or not 400 <= status <= 599:
            raise ConfigError(f"error handlers are for statuses 400..599, not {status!r}")

        def register(fn: _T) -> _T:
            self._error_handlers[status] = fn  # type: ignore[assignment]
            return fn

        return register

    def add_middleware(self, middleware: Middleware) -> None:
        """Append to the chain (the first added sees the request first)."""
        if self._frozen:
            raise ConfigError("add_middleware after the first request: the chain is built")
        check_names([*self._middleware, middleware])
        self._middleware.append(middleware)

    @property
    def middleware(self) -> tuple[Middleware, ...]:
        return tuple(self._middleware)

    def add_helper(self, name: str, factory: Callable[[Request], Any]) -> None:
        """Make ``request.helpers.<name>`` (and ``handler.helpers.<name>``) ``factory(request)``."""
        if not name.isidentifier() or name.startswith("_"):
            raise ConfigError(f"helper name {name!r} is not a public identifier")
        self._helpers[name] = factory

    def helper(self, name: str, request: Request) -> Any:
        """The value of helper ``name`` for ``request``; AttributeError if none is called so."""
        factory = self._helpers.get(name)
        if factory is None:
            raise AttributeError(f"no helper {name!r} (app.add_helper registers one)")
        return factory(request)

    def set_template_engine(self, engine: TemplateEngine[Request]) -> None:
        """Make ``engine`` the one ``render`` uses (a plugin's hook; one per app)."""
        if self._template_engine is not None:
            raise ConfigError(
                f"two template engines: {self._template_engine!r} is set, {engine!r} is not"
            )
        self._template_engine = engine

    @property
    def template_engine(self) -> TemplateEngine[Request] | None:
        return self._template_engine

    def set_session_interface(self, interface: SessionInterface[Request]) -> None:
        """Make ``interface`` the one that opens ``request.session`` (one per app)."""
        if self._session_interface is not None:
            raise ConfigError(
                f"two session interfaces: {self._session_interface!r} is set, {interface!r} is not"
            )
        self._session_interface = interface

    @property
    def session_interface(self) -> SessionInterface[Request] | None:
        return self._session_interface

    def add_body_parser(self, media_type: str, parser: BodyParser) -> None:
        """Make ``parser`` read form bodies of ``media_type`` (a plugin's hook; one per type).

        ``media_type`` is ``type/subtype`` without parameters; urlencoded and JSON
        bodies are micro's own. ``request.body_arguments``, ``files`` and the
        ``get_argument`` family call the parser for a body of that type.
        """
        media_type = check_media_type(media_type)
        if media_type in self._body_parsers:
            raise ConfigError(
                f"two body parsers for {media_type}: {self._body_parsers[media_type]!r}"
                f" is set, {parser!r} is not"
            )
        self._body_parsers[media_type] = parser

    def body_parser(self, media_type: str) -> BodyParser | None:
        """The parser registered for ``media_type`` (lower-case), or None."""
        return self._body_parsers.get(media_type)

    def user_loader(self, loader: Callable[[Request], Any]) -> Callable[[Request], Any]:
        """Decorate ``loader(request) -> user or None``: what ``current_user`` asks."""
        self._user_loader = loader
        return loader

    def load_user(self, request: Request) -> Any:
        """The user of ``request`` by the app's user loader (None without one)."""
        return None if self._user_loader is None else self._user_loader(request)

    def reverse_url(self, name: str, *args: Any, **kwargs: Any) -> str:
        """The path of the route called ``name`` (no script name, no host, no query)."""
        return str(self.router.reverse(name, *args, **kwargs))

    def url_for(
        self,
        name: str,
        *args: Any,
        _query: Query | None = None,
        _external: bool = False,
        **kwargs: Any,
    ) -> str:
        """The URL of the route called ``name``, outside any request.

        Under the prefix this App is mounted at, with ``_query`` (a mapping or pairs)
        after it; a host route's URL is absolute on the one host its pattern names.
        ``request.url_for`` (and a handler's) also knows the request's SCRIPT_NAME,
        scheme and host. Values the route would not match back raise RoutingError.
        """
        return self.router.url_for(
            name,
            *args,
            _query=_query,
            _external=_external,
            _script_name=self.script_name,
            **kwargs,
        )

    def create_signed_value(self, name: str, value: str | bytes) -> str:
        """Sign ``value`` for cookie ``name`` with the first ``cookie_secret``."""
        return create_signed_value(self.settings.get("cookie_secret"), name, value)

    def decode_signed_value(
        self, name: str, value: str | None, max_age_days: float = 31
    ) -> bytes | None:
        return decode_signed_value(
            self.settings.get("cookie_secret"), name, value, max_age_days=max_age_days
        )

    def freeze(self) -> None:
        """Check the middleware and fix the chain now (otherwise the first request does)."""
        with self._lock:
            if not self._frozen:
                check_names(self._middleware)
                self._frozen = True

    # -- one request: route, chain, send ---------------------------------------------

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if self._forwarded is not None:
            self._forwarded.fix(environ)
        if self._mounts.any:
            mount = self._mounts.find(environ.get("PATH_INFO") or "/")
            if mount is not None:
                result: Iterable[bytes] = mount.app(mounted_environ(environ, mount), start_response)
                return result
        request, endpoint = self._route(environ)
        if endpoint.async_methods and request.method in endpoint.async_methods:
            return self._call_async(request, endpoint, start_response)
        response = self._run_chain(request, endpoint)
        return send_response(request, response, start_response)

    def _route(self, environ: Environ) -> tuple[Request, Endpoint]:
        """The Request and what answers it: the matched route's endpoint, or an Answer."""
        method: str = environ["REQUEST_METHOD"]
        path: str = environ.get("PATH_INFO") or "/"
        if not path.isascii():
            try:  # WSGI hands the raw bytes over as latin-1 (PEP 3333).
                path = path.encode("latin-1").decode("utf-8")
            except UnicodeError:
                path = ""
        host = environ.get("HTTP_HOST", "") if self._host_routing else ""
        router = self.router
        generation = router.generation
        missed = self._misses.get(path)
        if missed is not None and missed == (method, host, generation):
            # PERF: a 404 seen before (static files: the plugin answers them) costs a
            # look-up instead of the router's search and a raised NotFound.
            return Request.for_match(self, environ, path, None), self._not_found
        try:
            match = router.match(path, method, host)
        except MicroError as exc:
            request = Request.for_match(self, environ, path, None)
            answer = self._no_route(exc, environ, path, method)
            if answer is self._not_found and len(path) <= _MISS_PATH_MAX:
                if len(self._misses) >= _MISSES_MAX:
                    self._misses.clear()
                self._misses[path] = (method, host, generation)
            return request, answer
        endpoint: Endpoint = match.route.target  # AppRouter makes every target an Endpoint
        return Request.for_match(self, environ, path, match), endpoint

    def _run_chain(self, request: Request, endpoint: Endpoint) -> Response:
        """The endpoint's middleware chain; exceptions become error responses here."""
        try:
            chain = endpoint.chain or self._build_chain(endpoint)
            return chain(request)
        except HTTPError as exc:
            return self.handle_error(request, exc)
        except Exception as exc:
            return self.handle_exception(request, exc)

    def _build_chain(self, endpoint: Endpoint) -> CallNext:
        """The middleware chain around ``endpoint``, without the ones its route skips.

        Built once per route (on its first request; a second thread building it at the
        same time builds the same chain), so the per-request path only calls it.
        """
        self.freeze()
        run = endpoint.entry()
        middleware = [*self._middleware, *endpoint.middleware]
        if not middleware:
            # Nothing sees the answer before _run_chain, which turns an HTTPError into
            # its page exactly as ``innermost`` below would.
            endpoint.chain = run
            return run

        def innermost(request: Request) -> Response:
            try:
                return run(request)
            except HTTPError as exc:  # as an answer, so that middleware see it
                return self.handle_error(request, exc)

        chain = build_chain(middleware, innermost, endpoint.skip)
        endpoint.chain = chain
        return chain

    # -- async routes (micro.web.aio) ------------------------------------------------

    def asyncio_loop(self) -> asyncio.AbstractEventLoop:
        """The loop this App runs coroutines on (a thread of its own, started now if need be)."""
        return self._aio.loop()

    def _call_async(
        self, request: Request, endpoint: Endpoint, start_response: StartResponse
    ) -> Iterable[bytes]:
        """Run the async chain on the loop; under micro's server without holding this thread.

        When the server drops the exchange (the client went away, ``defer_timeout``,
        a graceful stop), the coroutine is cancelled: nobody is left to answer.
        """
        coro = self._run_async_chain(request, endpoint)
        defer = request.environ.get(DEFER_KEY)
        if defer is None:  # another WSGI server, or WebTest: this thread waits
            return send_response(request, self._aio.run(coro), start_response)
        resume: Resume = defer()
        future = self._aio.submit(coro)
        dropped: list[str] = []

        def drop(reason: str) -> None:
            # Cancelling the concurrent future cancels the coroutine's task on the
            # App's loop (asyncio hands the cancel over thread-safely).
            dropped.append(reason)
            future.cancel()

        def done(f: concurrent.futures.Future[Response]) -> None:
            if dropped:
                return  # the server answered, or the client left: nothing to send
            try:
                response = f.result()
            except BaseException as exc:  # cancelled: the loop was stopped under it
                response = self.handle_exception(request, Exception(f"not finished: {exc!r}"))

            def send(environ: Environ, start: StartResponse) -> Iterable[bytes]:
                return send_response(request, response, start)

            resume(send)

        future.add_done_callback(done)
        resume.on_drop(drop)
        return []

    async def _run_async_chain(self, request: Request, endpoint: Endpoint) -> Response:
        try:
            chain = endpoint.async_chain
            if chain is None:
                self.freeze()

                async def innermost(request: Request) -> Response:
                    try:
                        return await endpoint.call_async(request)
                    except HTTPError as exc:
                        return self.handle_error(request, exc)

                chain = build_async_chain(
                    [*self._middleware, *endpoint.middleware], innermost, endpoint.skip
                )
                endpoint.async_chain = chain
            return await chain(request)
        except HTTPError as exc:
            return self.handle_error(request, exc)
        except Exception as exc:
            return self.handle_exception(request, exc)

    def _no_route(self, exc: MicroError, environ: Environ, path: str, method: str) -> Endpoint:
        """The App's own endpoint for a request no route takes."""
        if not path:
            return Answer(HTTPError(400, "Path is not UTF-8"))
        if isinstance(exc, NotFound):
            return self._not_found
        if isinstance(exc, MethodNotAllowed):
            allow = ", ".join(sorted(exc.allowed))
            if method == "OPTIONS":
                response = Response(None, 204)
                response.headers.items.append(("Allow", allow))
                return Answer(response)
            return Answer(HTTPError(405, headers={"Allow": allow}))
        if isinstance(exc, TrailingSlashRedirect):
            location = environ.get("SCRIPT_NAME", "") + exc.location
            query = environ.get("QUERY_STRING")
            if query:
                location += "?" + query
            return Answer(Response.redirect(location, exc.status))
        raise exc

    # -- errors --------------------------------------------------------------------

    def handle_error(
        self, request: Request, error: HTTPError, exc_info: ExcInfo | None = None
    ) -> Response:
        """The response for an HTTPError: the app's handler for its status, or the default."""
        if error.log_message:
            log.warning("%s %s: %s", request.method, request.path, error.log_message)
        return self.error_page(request, error, exc_info)

    def error_page(
        self, request: Request, error: HTTPError, exc_info: ExcInfo | None = None
    ) -> Response:
        """handle_error without the logging (a RequestHandler has logged already)."""
        custom = self._error_handlers.get(error.status)
        if custom is not None:
            try:
                result = custom(request, error)
                response = to_response(result)
                if not isinstance(result, Response):
                    response.status = error.status
                    response.reason = error.reason
                for key, value in error.headers.items():
                    response.headers.set(key, value)
                return response
            except Exception as exc:
                log.exception("error handler for %d failed", error.status)
                error, exc_info = HTTPError(500), (type(exc), exc, exc.__traceback__)
        return default_error_page(
            error.status,
            error.reason,
            accept=request.environ.get("HTTP_ACCEPT"),
            debug=self.debug,
            exc_info=exc_info,
            headers=error.headers,
        )

    def handle_exception(self, request: Request, exc: Exception) -> Response:
        """Log an unexpected exception (never to wsgi.errors) and answer 500.

        A ProtocolError (BadRequest, ContentTooLarge ...) raised by app code answers
        its own status instead, like an HTTPError.
        """
        if isinstance(exc, ProtocolError):
            return self.handle_error(request, HTTPError(exc.status, exc.reason))
        log.error("%s %s failed", request.method, request.path, exc_info=exc)
        error = HTTPError(500)
        error.__cause__ = exc
        return self.handle_error(request, error, (type(exc), exc, exc.__traceback__))
