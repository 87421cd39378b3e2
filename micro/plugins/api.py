"""Plugin layer: what a plugin is, and what it may use of the App, as Protocols.

The plugin mechanism sits below the framework: :mod:`micro.web` imports it, never the
other way round, so nothing here can name ``micro.App``, ``Request`` or ``Response``.
Instead :class:`PluginApp` lists exactly what a plugin's ``setup(app)`` may use
(settings, middleware, routes, helpers), generic in the framework's request and
response types; ``micro.App`` satisfies ``PluginApp[Request, Response]``, which
:mod:`micro` exports as ``micro.PluginApp`` for plugin authors to annotate with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

from micro.routing import Route

__all__ = ["API_VERSION", "GROUP", "CliCommand", "Plugin", "PluginApp", "PluginMiddleware"]

API_VERSION = 1
"""The plugin API this micro provides; a plugin's ``api_version`` must equal it."""

GROUP = "micro.plugins"
"""The entry-point group plugins are declared in."""

CliCommand = Callable[[list[str]], int]
"""A subcommand a plugin adds to ``micro``: the words after its name in, exit status out."""

RequestT = TypeVar("RequestT")
ResponseT = TypeVar("ResponseT")


class PluginMiddleware(Protocol[RequestT, ResponseT]):
    """A middleware as the plugin layer sees it (``micro.Middleware`` is the same shape)."""

    name: str

    def __call__(
        self, request: RequestT, call_next: Callable[[RequestT], ResponseT]
    ) -> ResponseT: ...


class PluginApp(Protocol[RequestT, ResponseT]):
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
    # a plugin annotates its own setup with micro.PluginApp (= PluginApp[Request, Response]).
    def setup(self, app: PluginApp[Any, Any]) -> None: ...
