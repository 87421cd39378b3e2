"""The ``templates`` plugin enabled by name: ``self.render`` and ``request.render`` on
Jinja2, with the other plugins' helpers, flash messages and the current user in
templates."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from micro_templates import JinjaEngine
from webtest import TestApp

from micro import App, PluginError, Request, RequestHandler, Response
from micro.plugins import PluginRegistry

SECRET = "a test secret, long enough"

LAYOUT = """<!DOCTYPE html>
<title>{% block title %}{% endblock %}</title>
{% for m in flashed_messages() %}<p class="flash {{ m.category }}">{{ m.message }}</p>{% endfor %}
{% if current_user %}<p id="user">{{ current_user }}</p>{% endif %}
{% block body %}{% endblock %}
"""

PAGE = """{% extends "base.html" %}
{% block title %}{{ title }}{% endblock %}
{% block body %}<form method="post" action="{{ url_for('page') }}">{{ xsrf_form_html() }}</form>
<link rel="stylesheet" href="{{ static_url('site.css') }}">
<p id="site">{{ site }}</p>{% endblock %}
"""


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    templates, static = tmp_path / "templates", tmp_path / "static"
    templates.mkdir()
    static.mkdir()
    (templates / "base.html").write_text(LAYOUT)
    (templates / "page.html").write_text(PAGE)
    (static / "site.css").write_text("body { margin: 0 }\n")
    return templates, static


def make_app(folders: tuple[Path, Path], **settings: Any) -> App:
    templates, static = folders
    app = App(
        plugins=["sessions", "xsrf", "static", "templates"],
        settings={
            "cookie_secret": SECRET,
            "template_path": str(templates),
            "static_path": str(static),
            "template_globals": {"site": "micro blog"},
            **settings,
        },
    )

    @app.user_loader
    def load(request: Request) -> Any:
        return request.session.get("user")

    class Page(RequestHandler):
        def get(self) -> None:
            self.render("page.html", title="A <handler> page")

        def post(self) -> None:
            self.request.session["user"] = "ann"
            self.request.flash("Welcome back, <ann>!", "success")
            self.redirect(self.reverse_url("fn"), status=303)

    app.add_route("/", Page, name="page")

    @app.route("/fn", name="fn")
    def fn(request: Request) -> Response:
        return request.render("page.html", title="A function page")

    return app


def test_the_plugin_is_the_installed_distributions_entry_point() -> None:
    info = PluginRegistry().info("templates")
    assert (info.distribution, info.entry_point.value) == (
        "micro-templates",
        "micro_templates:plugin",
    )


def test_a_handler_renders_a_page_with_the_other_plugins_helpers(
    folders: tuple[Path, Path],
) -> None:
    page = TestApp(make_app(folders)).get("/")
    assert page.content_type == "text/html"
    assert page.html.title.text == "A <handler> page"  # escaped in the HTML
    assert "A &lt;handler&gt; page" in page.text
    assert page.html.form["action"] == "/"
    assert page.html.form.input["name"] == "_xsrf"
    assert re.fullmatch(r"/static/site\.css\?v=\w{16}", page.html.link["href"])
    assert page.html.find(id="site").text == "micro blog"
    assert page.html.find(id="user") is None


def test_flash_messages_and_the_user_reach_the_next_page_once(
    folders: tuple[Path, Path],
) -> None:
    client = TestApp(make_app(folders))
    form = client.get("/").forms[0]
    after = form.submit().follow()
    assert after.html.title.text == "A function page"
    flash = after.html.find("p", class_="flash")
    assert flash["class"] == ["flash", "success"]
    assert flash.text == "Welcome back, <ann>!"
    assert after.html.find(id="user").text == "ann"
    again = client.get("/fn")
    assert again.html.find("p", class_="flash") is None
    assert again.html.find(id="user").text == "ann"


def test_the_engine_is_the_apps(folders: tuple[Path, Path]) -> None:
    app = make_app(folders)
    assert isinstance(app.template_engine, JinjaEngine)
    assert app.template_engine.paths == [str(folders[0])]


def test_a_missing_template_folder_stops_the_app_at_start_up(tmp_path: Path) -> None:
    with pytest.raises(PluginError, match=r"template_path '.*nowhere' is not a folder"):
        App(plugins=["templates"], settings={"template_path": str(tmp_path / "nowhere")})


def test_debug_switched_on_after_start_up_reloads_templates(folders: tuple[Path, Path]) -> None:
    """``micro serve --debug`` sets the setting on an app that is already built."""
    app = make_app(folders)
    client = TestApp(app)
    assert client.get("/fn").html.title.text == "A function page"
    app.settings["debug"] = True
    base = folders[0] / "base.html"
    base.write_text(LAYOUT.replace("<title>", "<title>Edited: "))
    later = base.stat().st_mtime + 2  # a new mtime even on a coarse clock
    os.utime(base, (later, later))
    assert client.get("/fn").html.title.text == "Edited: A function page"
