"""The Jinja2 engine as a page sees it: autoescaping, helpers by name, reloading, and
errors that name the template file and line."""

from __future__ import annotations

import html
import os
import re
from pathlib import Path
from typing import Any

import pytest
from micro_templates import JinjaEngine, TemplateError
from webtest import TestApp

from micro import App, ConfigError, Request

SECRET = "a test secret, long enough"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def serve(engine: JinjaEngine, name: str, debug: bool = False, **context: Any) -> TestApp:
    """An app whose page is ``name`` rendered by ``engine`` (the xsrf plugin enabled)."""
    app = App(plugins=["xsrf"], settings={"cookie_secret": SECRET}, debug=debug)

    @app.route("/")
    def page(request: Request) -> str:
        return engine.render(request, name, {"request": request, **context})

    return TestApp(app)


def test_html_and_xml_are_escaped_text_is_not(tmp_path: Path) -> None:
    write(tmp_path, "a.html", "<p>{{ text }}</p>")
    write(tmp_path, "a.xml", "<t>{{ text }}</t>")
    write(tmp_path, "a.txt", "{{ text }}")
    engine = JinjaEngine(tmp_path)
    text = "<script>alert(1)</script> & more"
    assert serve(engine, "a.html", text=text).get("/").text == (
        "<p>&lt;script&gt;alert(1)&lt;/script&gt; &amp; more</p>"
    )
    assert "&lt;script&gt;" in serve(engine, "a.xml", text=text).get("/").text
    assert serve(engine, "a.txt", text=text).get("/").text == text


def test_plugin_helpers_are_found_by_name_only_when_used(tmp_path: Path) -> None:
    write(tmp_path, "form.html", "<form>{{ xsrf_form_html() }}</form>")
    write(tmp_path, "plain.html", "<p>{{ missing_name }}</p>")
    engine = JinjaEngine(tmp_path)
    form = serve(engine, "form.html").get("/")
    assert re.fullmatch(
        r'<form><input type="hidden" name="_xsrf" value="[\w-]+"></form>', form.text
    )
    assert "_xsrf" in form.headers["Set-Cookie"]
    plain = serve(engine, "plain.html").get("/")
    assert plain.text == "<p></p>"  # an unknown name is undefined, as in Jinja2
    assert "Set-Cookie" not in plain.headers  # no helper asked for: no XSRF cookie


def failure(engine: JinjaEngine, name: str, caplog: pytest.LogCaptureFixture) -> tuple[str, str]:
    """(the logged error, the debug page) of a page whose template fails."""
    caplog.clear()
    page = serve(engine, name, debug=True).get("/", status=500)
    logged = [r for r in caplog.records if r.exc_info]
    assert len(logged) == 1
    error = logged[0].exc_info[1]  # type: ignore[index]
    assert isinstance(error, TemplateError)
    return str(error), shown(page.text)


def shown(page: str) -> str:
    """The text a browser shows of an HTML page (tags dropped, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def test_a_missing_template_names_the_folder(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    error, page = failure(JinjaEngine(tmp_path), "nope.html", caplog)
    assert error == f"template 'nope.html' not found in {tmp_path}"
    assert error in page


def test_a_missing_include_names_the_including_file_and_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    page = write(tmp_path, "page.html", "<h1>title</h1>\n\n{% include 'parts/nav.html' %}\n")
    error, debug_page = failure(JinjaEngine(tmp_path), "page.html", caplog)
    assert error == (
        f"template 'parts/nav.html' not found in {tmp_path} (asked for by {page}, line 3)"
    )
    # The debug page shows the template's own frame: its file, line and source line.
    assert f"{page}, line 3, in top-level template code" in debug_page
    assert "{% include 'parts/nav.html' %}" in debug_page


def test_a_syntax_error_names_the_file_and_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bad = write(tmp_path, "bad.html", "<p>fine</p>\n{% if x %}\n<p>never closed</p>\n")
    write(tmp_path, "page.html", "{% extends 'bad.html' %}")
    engine = JinjaEngine(tmp_path)
    for name in ("bad.html", "page.html"):
        error, page = failure(engine, name, caplog)
        assert error.startswith(f"template syntax error in {bad}, line 2: Unexpected end")
        assert f"{bad}, line 2, in template" in page
        assert "{% if x %}" in page


def test_an_error_in_template_code_shows_the_template_frame(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    page = write(tmp_path, "page.html", "<p>\n{{ 1 // zero }}\n</p>\n")
    caught = serve(JinjaEngine(tmp_path), "page.html", debug=True, zero=0).get("/", status=500)
    text = shown(caught.text)
    assert "ZeroDivisionError" in text
    assert f"{page}, line 2, in top-level template code" in text
    assert "{{ 1 // zero }}" in text


def test_debug_mode_reloads_a_changed_template(tmp_path: Path) -> None:
    path = write(tmp_path, "page.html", "first")
    developing, production = JinjaEngine(tmp_path), JinjaEngine(tmp_path)
    assert serve(developing, "page.html", debug=True).get("/").text == "first"
    assert serve(production, "page.html").get("/").text == "first"
    path.write_text("second")
    later = os.stat(path).st_mtime + 2  # a new mtime even on a coarse clock
    os.utime(path, (later, later))
    assert serve(developing, "page.html", debug=True).get("/").text == "second"
    assert serve(production, "page.html").get("/").text == "first"  # compiled once, kept


def test_a_template_path_that_is_not_a_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"template_path .* is not a folder"):
        JinjaEngine(tmp_path / "nowhere")
