"""Plugin layer of micro: find plugins through entry points, order them, set them up.

A plugin is any installed distribution that declares an entry point in the
``micro.plugins`` group; the entry point's name is the plugin's name and its
object is a *factory* (usually the plugin class) that returns a fresh
:class:`Plugin` for each app, so per-app state (caches, secrets) never leaks from
one app to another. micro's own plugins (``plugins/`` in the repository) are
found exactly the same way: nothing in ``micro/`` imports them.

Enabling is explicit: ``App(plugins=["static", "xsrf", "gzip"])`` (or the
``plugins`` setting) calls :func:`install_plugins`, which

1. discovers the entry points (through :class:`PluginRegistry`),
2. imports and instantiates each enabled plugin, checks its ``api_version``
   and its ``requires``,
3. orders them: a stable topological sort of the user's list under the
   plugins' ``before``/``after`` constraints (the user's order wins wherever the
   constraints leave a choice, so the result is deterministic),
4. merges every plugin's ``settings`` defaults under ``app.settings``, then
5. calls ``plugin.setup(app)`` in that order, so the middleware a plugin adds
   sits in the chain in the resolved order (the first one sees the request first).

Any failure there (unknown name, failing import, API mismatch, missing
requirement, cycle, broken setup) raises :class:`~micro.errors.PluginError`
at start-up, naming the plugin, its entry point and its distribution.

Why a registry object rather than a module cache: the house rule forbids
module-level mutable state, and for good reason here: a module cache (or
``functools.cache``, which is the same thing) would be filled by whichever app
or test asked first and would never see a distribution installed later in the
process. Discovery therefore runs once per :class:`PluginRegistry`, and the
registry belongs to whoever creates it: the CLI makes one per command, an App
makes one when it enables plugins (a process normally builds one app, hence
"once per process"), and a process that builds several apps can share one by
passing it as ``settings["plugin_registry"]``. Importing ``micro`` discovers
nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from micro.errors import MicroError, PluginError
from micro.plugins.api import API_VERSION, GROUP, CliCommand, Plugin, PluginHost
from micro.plugins.ordering import CycleError, resolve_order

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

__all__ = [
    "FIRST_PARTY",
    "PluginInfo",
    "PluginRegistry",
    "discover",
    "enabled_plugins",
    "install_plugins",
]


FIRST_PARTY: Mapping[str, str] = MappingProxyType(
    {
        "forms": "micro-forms",
        "gzip": "micro-transforms",
        "metrics": "micro-metrics",
        "sessions": "micro-sessions",
        "static": "micro-static",
        "templates": "micro-templates",
        "xsrf": "micro-xsrf",
    }
)
"""micro's own plugins (plugins/ in its repository) by name: the distribution to install.

Only for error messages (a name that is not installed, a request that needs a plugin's
hook); discovery never uses it."""


@dataclass(frozen=True)
class PluginInfo:
    """One discovered entry point: enough to list a plugin without importing it."""

    name: str
    entry_point: EntryPoint

    @property
    def distribution(self) -> str:
        dist = self.entry_point.dist
        return dist.name if dist is not None else "?"

    @property
    def version(self) -> str:
        dist = self.entry_point.dist
        return dist.version if dist is not None else "?"

    def describe(self) -> str:
        """``plugin 'x' (entry point x = pkg:obj in distribution dist 1.0)``: for errors."""
        return (
            f"plugin {self.name!r} (entry point {self.name} = {self.entry_point.value}"
            f" in distribution {self.distribution} {self.version})"
        )


class PluginRegistry:
    """The installed plugins of one group, discovered on first use and then kept.

    Each registry scans the entry points at most once (the first call that needs
    them) and imports each plugin module at most once; every :meth:`create`
    still returns a fresh plugin instance.
    """

    def __init__(self, group: str = GROUP) -> None:
        self.group = group
        self._found: dict[str, list[PluginInfo]] | None = None
        self._factories: dict[str, Callable[[], Any]] = {}

    def _scan(self) -> dict[str, list[PluginInfo]]:
        if self._found is None:
            # Imported on first use: importing micro must not pay for importlib.metadata.
            from importlib.metadata import entry_points

            found: dict[str, list[PluginInfo]] = {}
            for ep in entry_points(group=self.group):
                found.setdefault(ep.name, []).append(PluginInfo(ep.name, ep))
            self._found = dict(sorted(found.items()))
        return self._found

    def discover(self) -> dict[str, PluginInfo]:
        """Installed plugins by name (sorted); for a name declared twice, the first."""
        return {name: infos[0] for name, infos in self._scan().items()}

    def info(self, name: str) -> PluginInfo:
        """The entry point of plugin ``name``; PluginError if unknown or ambiguous."""
        infos = self._scan().get(name)
        if not infos:
            installed = ", ".join(self._scan()) or "none"
            hint = ""
            if self.group == GROUP and name in FIRST_PARTY:
                dist = FIRST_PARTY[name]
                hint = f"; it is micro's own, in the distribution {dist}: pip install {dist}"
            raise PluginError(
                f"unknown plugin {name!r}: no entry point of that name in group"
                f" {self.group!r} (installed: {installed}){hint}"
            )
        if len(infos) > 1:
            both = "; ".join(i.describe() for i in infos)
            raise PluginError(f"plugin {name!r} is declared more than once: {both}")
        return infos[0]

    def create(self, name: str) -> Plugin:
        """Import plugin ``name`` (once), build a fresh instance and check it."""
        info = self.info(name)
        factory = self._factories.get(name)
        if factory is None:
            try:
                factory = info.entry_point.load()
            except Exception as exc:  # any import-time failure is the plugin's
                raise PluginError(f"{info.describe()} failed to import: {exc!r}") from exc
            if not callable(factory):
                raise PluginError(
                    f"{info.describe()} is not callable: the object must be a factory"
                )
            self._factories[name] = factory
        try:
            plugin = factory()
        except Exception as exc:
            raise PluginError(f"{info.describe()} failed to initialise: {exc!r}") from exc
        _check(plugin, info)
        return plugin  # type: ignore[no-any-return]  # _check proved the shape

    def resolve(self, names: Iterable[str]) -> list[Plugin]:
        """Fresh instances of the enabled ``names`` in their resolved chain order."""
        requested = list(dict.fromkeys(names))  # first mention wins; order kept
        plugins = {name: self.create(name) for name in requested}
        for name, plugin in plugins.items():
            missing = [r for r in plugin.requires if r not in plugins]
            if missing:
                raise PluginError(
                    f"{self.info(name).describe()} requires {', '.join(map(repr, missing))},"
                    " which is not enabled"
                )
        constraints = {n: (tuple(p.before), tuple(p.after)) for n, p in plugins.items()}
        try:
            order = resolve_order(requested, constraints)
        except CycleError as exc:
            chain = " -> ".join(exc.cycle)
            where = "; ".join(self.info(n).describe() for n in dict.fromkeys(exc.cycle))
            raise PluginError(f"plugin ordering cycle {chain}: {where}") from None
        return [plugins[name] for name in order]

    def cli_commands(
        self, broken: dict[str, MicroError] | None = None
    ) -> dict[str, tuple[PluginInfo, CliCommand]]:
        """Subcommands every installed plugin adds.

        A plugin that fails to load is an error; with ``broken`` it is recorded there
        (name: error) instead, and the other plugins' commands are still returned.
        """
        commands: dict[str, tuple[PluginInfo, CliCommand]] = {}
        for name in self._scan():
            try:
                info = self.info(name)
                method = getattr(self.create(name), "cli_commands", None)
                added = {} if method is None else dict(method())
            except MicroError as exc:
                if broken is None:
                    raise
                broken[name] = exc
                continue
            except Exception as exc:  # cli_commands() itself failed: the plugin's fault
                error = PluginError(f"{info.describe()} failed to list its commands: {exc!r}")
                if broken is None:
                    raise error from exc
                broken[name] = error
                continue
            for command, func in added.items():
                if command in commands:
                    other = commands[command][0].describe()
                    raise PluginError(
                        f"{info.describe()} and {other} both add the command {command!r}"
                    )
                commands[command] = (info, func)
        return commands


def _check(plugin: object, info: PluginInfo) -> None:
    for attr in ("name", "api_version", "before", "after", "requires", "settings", "setup"):
        if not hasattr(plugin, attr):
            raise PluginError(f"{info.describe()} is not a micro plugin: it has no {attr!r}")
    name = getattr(plugin, "name", None)
    if name != info.name:
        raise PluginError(f"{info.describe()} calls itself {name!r}: the names must agree")
    version = getattr(plugin, "api_version", None)
    if version != API_VERSION:
        raise PluginError(
            f"{info.describe()} targets plugin API version {version!r},"
            f" but this micro provides version {API_VERSION}"
        )


def discover(registry: PluginRegistry | None = None) -> dict[str, PluginInfo]:
    """Installed plugins by name, through ``registry`` (a fresh one if not given)."""
    return (registry or PluginRegistry()).discover()


def install_plugins(
    app: PluginHost[Any, Any], names: Iterable[str], *, registry: PluginRegistry | None = None
) -> list[Plugin]:
    """Enable ``names`` on ``app``: resolve, merge settings defaults, set up in order.

    The registry is ``registry``, else ``app.settings["plugin_registry"]``, else a
    new one. Returns the plugins in their resolved order.
    """
    settings = app.settings
    if registry is None:
        registry = settings.get("plugin_registry") or PluginRegistry()
    plugins = registry.resolve(names)
    for plugin in plugins:
        for key, value in plugin.settings.items():
            settings.setdefault(key, value)
    for plugin in plugins:
        try:
            plugin.setup(app)
        except PluginError:
            raise
        except Exception as exc:
            what = registry.info(plugin.name).describe()
            kind = "" if isinstance(exc, MicroError) else f"{type(exc).__name__}: "
            raise PluginError(f"{what} failed to set up: {kind}{exc}") from exc
    return plugins


def enabled_plugins(app: object) -> list[str]:
    """The plugin names an app enabled (``app.plugins`` or the ``plugins`` setting)."""
    names: list[str] = []
    for plugin in getattr(app, "plugins", None) or ():
        names.append(plugin if isinstance(plugin, str) else plugin.name)
    settings = getattr(app, "settings", None) or {}
    names += [n for n in settings.get("plugins", ()) if isinstance(n, str)]
    return names
