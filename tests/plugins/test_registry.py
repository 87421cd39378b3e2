"""micro.plugins: discovery through entry points, ordering, start-up errors.

The plugins used here are real installed distributions: the first-party ones under
plugins/, the third-party example under examples/thirdparty_plugin (both installed
by requirements-dev.txt), and throwaway distributions that a test writes into a
temporary directory on sys.path (a ``.dist-info`` with METADATA and
entry_points.txt, exactly what pip leaves behind) to provoke each error.
"""

from __future__ import annotations

import importlib.metadata
import itertools
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from webtest import TestApp

from micro.errors import PluginError
from micro.plugins import PluginRegistry, install_plugins, resolve_order
from micro.web import App

_ids = itertools.count()


@pytest.fixture
def fake_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Install a throwaway distribution: ``fake_dist(dist, {ep: "mod:obj"}, {mod: source})``.

    Module names get a unique suffix (``{n}`` in names and sources) so that no two
    tests share an entry in sys.modules.
    """
    monkeypatch.syspath_prepend(str(tmp_path))

    def make(dist: str, entry_points: dict[str, str], modules: dict[str, str]) -> str:
        n = str(next(_ids))
        info = tmp_path / f"{dist.replace('-', '_')}-1.2.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2\n")
        lines = "".join(f"{k} = {v.replace('{n}', n)}\n" for k, v in entry_points.items())
        (info / "entry_points.txt").write_text("[micro.plugins]\n" + lines)
        for name, source in modules.items():
            (tmp_path / f"{name.replace('{n}', n)}.py").write_text(textwrap.dedent(source))
        return n

    return make


PLUGIN_SOURCE = """
    class Plugin:
        name = {name!r}
        api_version = {api}
        before = {before}
        after = {after}
        requires = {requires}
        settings = {{}}

        def setup(self, app):
            pass

    def plugin():
        return Plugin()
"""


def plugin_module(
    name: str,
    api: int = 1,
    before: tuple[str, ...] = (),
    after: tuple[str, ...] = (),
    requires: tuple[str, ...] = (),
) -> str:
    return PLUGIN_SOURCE.format(name=name, api=api, before=before, after=after, requires=requires)


# -- discovery --------------------------------------------------------------------------


def test_installed_plugins_are_discovered_with_their_distributions() -> None:
    found = PluginRegistry().discover()
    assert {n: (i.distribution, i.version) for n, i in found.items()}.items() >= {
        "gzip": ("micro-transforms", "0.1.0"),
        "static": ("micro-static", "0.1.0"),
        "xsrf": ("micro-xsrf", "0.1.0"),
        "poweredby": ("micro-poweredby-example", "0.3.1"),
    }.items()
    assert found["xsrf"].entry_point.value == "micro_xsrf:plugin"


def test_importing_micro_discovers_and_imports_no_plugin() -> None:
    code = (
        "import sys, micro, micro.web\n"
        "loaded = [m for m in ('importlib.metadata', 'micro_xsrf',"
        " 'micro_static', 'micro_transforms', 'micro_poweredby') if m in sys.modules]\n"
        "print(loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_registry_scans_entry_points_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = importlib.metadata.entry_points

    def counting(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(importlib.metadata, "entry_points", counting)
    registry = PluginRegistry()
    registry.discover()
    registry.resolve(["gzip", "xsrf"])
    App(plugins=["gzip"], settings={"plugin_registry": registry})
    App(plugins=["poweredby"], settings={"plugin_registry": registry})
    assert calls == [{"group": "micro.plugins"}]
    PluginRegistry().discover()  # another owner, another scan (it may see new installs)
    assert len(calls) == 2


def test_a_new_registry_sees_a_distribution_installed_later(fake_dist: Any) -> None:
    before = PluginRegistry().discover()
    fake_dist("late-plugin", {"late": "late_{n}:plugin"}, {"late_{n}": plugin_module("late")})
    assert "late" not in before
    assert PluginRegistry().discover()["late"].distribution == "late-plugin"


# -- ordering ---------------------------------------------------------------------------


def test_order_without_constraints_is_the_users_order() -> None:
    assert resolve_order(["c", "a", "b"], {}) == ["c", "a", "b"]


def test_order_honours_constraints_and_otherwise_the_users_order() -> None:
    constraints = {"gzip": (("static", "xsrf"), ()), "static": (("xsrf",), ())}
    assert resolve_order(["static", "xsrf", "gzip"], constraints) == ["gzip", "static", "xsrf"]
    # xsrf was listed first: static, which must precede it, moves up with it
    assert resolve_order(["xsrf", "other", "static"], constraints) == ["static", "xsrf", "other"]
    # "after" and constraints on plugins that are not enabled
    constraints = {"a": ((), ("c",)), "b": (("zzz",), ("missing",))}
    assert resolve_order(["a", "b", "c"], constraints) == ["c", "a", "b"]


def test_order_is_deterministic_for_the_same_input() -> None:
    constraints = {"d": (("a",), ()), "c": ((), ("b",))}
    results = {tuple(resolve_order(["a", "b", "c", "d"], constraints)) for _ in range(5)}
    assert results == {("d", "a", "b", "c")}
    assert resolve_order(["b", "a"], {"a": (("b",), ())}) == ["a", "b"]


def test_the_first_party_plugins_order_themselves_in_an_app() -> None:
    app = App(
        plugins=["static", "xsrf", "gzip"],
        settings={"cookie_secret": "s", "static_path": str(Path(__file__).parent)},
    )
    assert [m.name for m in app.middleware] == ["gzip", "static", "xsrf"]


def test_plugins_may_also_come_from_the_plugins_setting() -> None:
    app = App(settings={"plugins": ["poweredby", "gzip"]})
    assert [m.name for m in app.middleware] == ["gzip", "poweredby"]


# -- the third-party example ------------------------------------------------------------


def test_third_party_plugin_is_discovered_ordered_and_used(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("hello")
    app = App(
        plugins=["static", "poweredby", "gzip"],
        settings={"static_path": str(tmp_path), "poweredby_banner": "tests"},
    )
    # poweredby declares after=gzip, before=static
    assert [m.name for m in app.middleware] == ["gzip", "poweredby", "static"]
    client = TestApp(app)
    assert client.get("/_poweredby").json == {"plugin": "poweredby", "banner": "tests"}
    # Outside "static" in the chain, so even a file it answers gets the header.
    static = client.get("/static/a.txt")
    assert static.text == "hello"
    assert static.headers["X-Powered-By"] == "tests"
    assert client.get("/nowhere", status=404).headers["X-Powered-By"] == "tests"


def test_plugin_settings_are_defaults_under_the_users_settings() -> None:
    assert App(plugins=["poweredby"]).settings["poweredby_banner"] == "micro"
    app = App(plugins=["poweredby"], settings={"poweredby_banner": "mine"})
    assert app.settings["poweredby_banner"] == "mine"


def test_plugin_cli_commands_are_collected(capsys: pytest.CaptureFixture[str]) -> None:
    info, command = PluginRegistry().cli_commands()["poweredby"]
    assert info.distribution == "micro-poweredby-example"
    assert command(["hi"]) == 0
    assert capsys.readouterr().out.strip() == '{"banner": "hi"}'


# -- errors at start-up -----------------------------------------------------------------


def test_unknown_plugin_is_an_error_listing_what_is_installed() -> None:
    with pytest.raises(PluginError, match=r"unknown plugin 'nope'.*installed: .*xsrf"):
        App(plugins=["nope"])


def test_a_missing_first_party_plugin_names_the_distribution_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.metadata

    everything = importlib.metadata.entry_points

    def without_templates(**select: Any) -> Any:
        found = everything(**select)
        return [ep for ep in found if ep.dist is None or ep.dist.name != "micro-templates"]

    # As on a machine where micro-templates was never installed.
    monkeypatch.setattr(importlib.metadata, "entry_points", without_templates)
    with pytest.raises(PluginError) as caught:
        App(plugins=["templates"])
    message = str(caught.value)
    assert "unknown plugin 'templates'" in message
    assert message.endswith("distribution micro-templates: pip install micro-templates")
    with pytest.raises(PluginError) as caught:
        App(plugins=["tmplates"])  # a typo is not given an install hint
    assert "pip install" not in str(caught.value)


def test_failing_import_names_plugin_entry_point_and_distribution(fake_dist: Any) -> None:
    fake_dist("broken-dist", {"broken": "broken_{n}:plugin"}, {"broken_{n}": "raise OSError(7)"})
    with pytest.raises(PluginError) as caught:
        App(plugins=["broken"])
    message = str(caught.value)
    assert "plugin 'broken'" in message
    assert "entry point broken = broken_" in message
    assert "distribution broken-dist 1.2" in message
    assert "failed to import: OSError(7)" in message


def test_api_version_mismatch_is_an_error(fake_dist: Any) -> None:
    fake_dist(
        "future-dist", {"future": "future_{n}:plugin"}, {"future_{n}": plugin_module("future", 2)}
    )
    with pytest.raises(
        PluginError, match=r"'future'.*future-dist.*API version 2.*provides version 1"
    ):
        App(plugins=["future"])


def test_missing_requirement_is_an_error(fake_dist: Any) -> None:
    fake_dist(
        "needy-dist",
        {"needy": "needy_{n}:plugin"},
        {"needy_{n}": plugin_module("needy", requires=("xsrf",))},
    )
    with pytest.raises(PluginError, match=r"'needy'.*needy-dist.*requires 'xsrf'.*not enabled"):
        App(plugins=["needy", "gzip"])


def test_a_cycle_is_an_error_naming_every_plugin_in_it(fake_dist: Any) -> None:
    fake_dist(
        "cycle-dist",
        {"ca": "ca_{n}:plugin", "cb": "cb_{n}:plugin", "cc": "cc_{n}:plugin"},
        {
            "ca_{n}": plugin_module("ca", before=("cb",)),
            "cb_{n}": plugin_module("cb", before=("cc",)),
            "cc_{n}": plugin_module("cc", before=("ca",)),
        },
    )
    with pytest.raises(PluginError) as caught:
        App(plugins=["gzip", "ca", "cb", "cc"])
    message = str(caught.value)
    assert "cycle ca -> cb -> cc -> ca" in message
    for name in ("ca", "cb", "cc"):
        assert f"entry point {name} = {name}_" in message
    assert "cycle-dist 1.2" in message
    # Without the plugin that closes the loop, the same plugins order fine.
    registry = PluginRegistry()
    assert [p.name for p in registry.resolve(["cb", "ca"])] == ["ca", "cb"]


def test_a_plugin_whose_name_disagrees_with_its_entry_point_is_refused(fake_dist: Any) -> None:
    fake_dist("liar-dist", {"liar": "liar_{n}:plugin"}, {"liar_{n}": plugin_module("other")})
    with pytest.raises(PluginError, match=r"'liar'.*liar-dist.*calls itself 'other'"):
        App(plugins=["liar"])


def test_an_object_that_is_not_a_plugin_is_refused(fake_dist: Any) -> None:
    fake_dist("odd-dist", {"odd": "odd_{n}:make"}, {"odd_{n}": "def make():\n    return 42\n"})
    with pytest.raises(PluginError, match=r"'odd'.*odd-dist.*not a micro plugin"):
        App(plugins=["odd"])


def test_a_name_declared_by_two_distributions_is_ambiguous(fake_dist: Any) -> None:
    fake_dist("twin-dist", {"xsrf": "twin_{n}:plugin"}, {"twin_{n}": plugin_module("xsrf")})
    with pytest.raises(PluginError, match=r"'xsrf' is declared more than once.*micro-xsrf"):
        App(plugins=["xsrf"], settings={"cookie_secret": "s"})


def test_a_failing_setup_names_the_plugin() -> None:
    with pytest.raises(PluginError, match=r"'static'.*micro-static.*static_path"):
        App(plugins=["static"])


def test_install_plugins_returns_the_resolved_plugins() -> None:
    class Bare:
        def __init__(self) -> None:
            self.settings: dict[str, Any] = {}
            self.added: list[str] = []

        def add_middleware(self, middleware: Any) -> None:
            self.added.append(middleware.name)

        def add_helper(self, name: str, factory: Any) -> None:
            pass

        def add_route(self, *args: Any, **kwargs: Any) -> None:
            pass

    app = Bare()
    plugins = install_plugins(app, ["poweredby", "gzip", "poweredby"])
    assert [p.name for p in plugins] == ["gzip", "poweredby"]
    assert app.added == ["gzip", "poweredby"]
    assert app.settings["gzip_min_length"] == 1024


def test_static_and_gzip_give_head_and_304_the_fields_of_the_200(tmp_path: Path) -> None:
    from webob import Request as Blank  # raw: WebTest would decode the gzip body

    (tmp_path / "site.css").write_text("body { color: black; }\n" * 100)
    app = App(plugins=["static", "gzip"], settings={"static_path": str(tmp_path)})

    def call(method: str = "GET", **headers: str) -> tuple[str, dict[str, str]]:
        request = Blank.blank("/static/site.css", method=method, headers=headers)
        status, fields, body = request.call_application(app)
        getattr(body, "close", lambda: None)()
        return status, dict(fields)

    status, get = call(**{"Accept-Encoding": "gzip"})
    etag = get["ETag"]
    assert etag.startswith('W/"') and get["Content-Encoding"] == "gzip"
    _, head = call("HEAD", **{"Accept-Encoding": "gzip"})
    for name in ("Content-Encoding", "Vary", "ETag", "Content-Type"):
        assert head.get(name) == get.get(name), name
    status, again = call(**{"Accept-Encoding": "gzip", "If-None-Match": etag})
    assert status.startswith("304")
    assert (again["ETag"], again["Vary"]) == (etag, "Accept-Encoding")
