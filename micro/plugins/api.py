"""Plugin layer: what a plugin is, and what it may use of the App, as Protocols.

The plugin mechanism sits below the framework: :mod:`micro.web` imports it, never the
other way round, so nothing here can name ``micro.App``, ``Request`` or ``Response``.
Instead :class:`PluginHost` lists exactly what a plugin's ``setup(app)`` may use
(settings, middleware, routes, helpers, the template engine, the session interface
and body parsers, :mod:`micro.plugins.bodies`), generic in the framework's request
and response types; ``micro.App`` satisfies ``PluginHost[Request, Response]``, which
:mod:`micro` exports as ``micro.PluginApp`` for plugin authors to annotate with.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

from micro.plugins.bodies import BodyParser
from micro.routing import Route

__all__ = [
    "API_VERSION",
    "GROUP",
    "CliCommand",
    "Plugin",
    "PluginHost",
    "PluginMiddleware",
    "Session",
    "SessionInterface",
    "TemplateEngine",
]

API_VERSION = 1
"""The plugin API this micro provides; a plugin's ``api_version`` must equal it."""

GROUP = "micro.plugins"
"""The entry-point group plugins are declared in."""

CliCommand = Callable[[list[str]], int]
"""A subcommand a plugin adds to ``micro``: the words after its name in, exit status out."""

RequestT = TypeVar("RequestT")
ResponseT = TypeVar("ResponseT")
RequestT_contra = TypeVar("RequestT_contra", contravariant=True)


class PluginMiddleware(Protocol[RequestT, ResponseT]):
    """A middleware as the plugin layer sees it (``micro.Middleware`` is the same shape)."""

    name: str

    def __call__(
        self, request: RequestT, call_next: Callable[[RequestT], ResponseT]
    ) -> ResponseT: ...


class TemplateEngine(Protocol[RequestT_contra]):
    """What ``render`` asks of the template engine a plugin sets (docs/templates.md).

    ``context`` already holds the caller's names and micro's standard ones
    (``request``, ``current_user``, ``reverse_url`` ...); the engine returns the
    text of template ``name``. Errors are the engine's to raise, naming the file.
    """

    def render(self, request: RequestT_contra, name: str, context: Mapping[str, Any]) -> str: ...


class Session(MutableMapping[str, Any]):
    """``request.session``: a mutable mapping of str keys that can move to a new id.

    An abstract class rather than a Protocol, so that a session is a real
    ``MutableMapping`` (``get``, ``pop``, ``setdefault`` ... come with it); a session
    plugin subclasses it. Defined here, where the session interface that returns it
    is; :mod:`micro.web` re-exports it for handlers that annotate with it.
    """

    __slots__ = ()

    @abstractmethod
    def regenerate(self) -> None:
        """Keep the data under a new session id (on login: no session fixation)."""


class SessionInterface(Protocol[RequestT_contra]):
    """Opens ``request.session`` on first use; saving is the plugin's own middleware's job."""

    def open_session(self, request: RequestT_contra) -> Session: ...


class PluginHost(Protocol[RequestT, ResponseT]):
    """What a plugin may use of the App it is set up on, and nothing more."""

    @property
    def settings(self) -> dict[str, Any]:
        """The app's settings; a plugin's own defaults are merged in before ``setup``."""
        ...

    def add_middleware(self, middleware: PluginMiddleware[RequestT, ResponseT]) -> None: ...

    def add_route(
        self,
        pattern: str,
        target: Callable[..., object],
        *,
        methods: Iterable[str] | None = None,
        name: str | None = None,
        host: str | None = None,
        kwargs: Mapping[str, Any] | None = None,
    ) -> Route: ...

    def add_helper(self, name: str, factory: Callable[[RequestT], object]) -> None: ...

    def set_template_engine(self, engine: TemplateEngine[RequestT]) -> None:
        """Make ``engine`` the one ``render`` uses (one engine per app)."""
        ...

    def set_session_interface(self, interface: SessionInterface[RequestT]) -> None:
        """Make ``interface`` the one that opens ``request.session`` (one per app)."""
        ...

    def add_body_parser(self, media_type: str, parser: BodyParser) -> None:
        """Make ``parser`` read request bodies of ``media_type`` (one per media type)."""
        ...


@runtime_checkable
class Plugin(Protocol):
    """What a plugin factory returns.

    ``before``/``after`` name plugins this one must precede/follow in the chain
    when both are enabled (a constraint on an absent plugin is ignored);
    ``requires`` names plugins that must be enabled too. ``settings`` are
    defaults merged under ``app.settings`` (the user's values win). ``setup``
    adds middleware, routes and helpers. A plugin may also define
    ``cli_commands() -> Mapping[str, CliCommand]`` to add subcommands to the
    ``micro`` command.
    """

    @property
    def name(self) -> str: ...
    @property
    def api_version(self) -> int: ...
    @property
    def before(self) -> Sequence[str]: ...
    @property
    def after(self) -> Sequence[str]: ...
    @property
    def requires(self) -> Sequence[str]: ...
    @property
    def settings(self) -> Mapping[str, Any]: ...
    # Any: the plugin layer does not know the framework's Request and Response types;
    # a plugin annotates its own setup with micro.PluginApp (= PluginHost[Request, Response]).
    def setup(self, app: PluginHost[Any, Any]) -> None: ...
