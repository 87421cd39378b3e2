"""examples/blog: a browser-facing app using xsrf, static and gzip, driven like a browser.

WebTest fills and submits the real form (with the hidden XSRF field the page
carries), follows links to the versioned CSS and JS, and plays the part of the
page's JavaScript for the delete buttons.
"""

from __future__ import annotations

import gzip
import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from webob import Request as Blank
from webtest import TestApp

BLOG = Path(__file__).resolve().parent.parent / "examples" / "blog" / "app.py"


@pytest.fixture(scope="module")
def blog() -> ModuleType:
    spec = importlib.util.spec_from_file_location("micro_blog_example", BLOG)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def browser(blog: Any) -> TestApp:
    return TestApp(blog.make_app(cookie_secret="blog test secret"))


def test_the_plugins_are_chained_in_their_resolved_order(blog: Any) -> None:
    assert [m.name for m in blog.app.middleware] == ["gzip", "static", "xsrf"]


def test_writing_a_post_through_the_form(browser: TestApp) -> None:
    home = browser.get("/")
    assert "Nothing written yet." in home.text
    form = home.forms["new-post"]
    assert form["_xsrf"].value  # the hidden field from xsrf_form_html()
    form["title"] = "First <post>"
    form["body"] = "Hello from the test."
    created = form.submit()
    assert created.status_int == 303
    page = created.follow()
    article = page.html.find("article")
    assert article.h2.text == "First <post>"  # escaped in the HTML, shown as typed
    assert "Hello from the test." in article.text


def test_a_forged_post_is_refused(browser: TestApp) -> None:
    browser.get("/")
    refused = browser.post("/posts", {"title": "spam", "body": "spam"}, status=403)
    assert "XSRF token missing" in refused.text
    cross = browser.get("/").forms["new-post"]
    cross["title"], cross["body"] = "spam", "spam"
    refused = cross.submit(headers={"Origin": "https://evil.example"}, status=403)
    assert "another origin" in refused.text
    assert "spam" not in browser.get("/").text


def test_the_script_deletes_with_the_header_token(browser: TestApp) -> None:
    form = browser.get("/").forms["new-post"]
    form["title"], form["body"] = "Doomed", "to be deleted"
    page = form.submit().follow()
    token = page.html.find("meta", attrs={"name": "xsrf-token"})["content"]
    target = page.html.find("button", attrs={"data-delete": True})["data-delete"]
    browser.delete(target, status=403)  # without the header
    browser.delete(target, headers={"X-XSRFToken": token}, status=204)
    assert "Doomed" not in browser.get("/").text


def test_css_and_js_come_versioned_and_cacheable(browser: TestApp) -> None:
    home = browser.get("/")
    css = home.html.find("link", rel="stylesheet")["href"]
    js = home.html.find("script")["src"]
    assert re.fullmatch(r"/static/site\.css\?v=[0-9a-f]{16}", css)
    assert re.fullmatch(r"/static/site\.js\?v=[0-9a-f]{16}", js)
    for url, kind in ((css, "text/css"), (js, "javascript")):
        asset = browser.get(url)
        assert kind in asset.content_type
        assert asset.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "button[data-delete]" in browser.get(js).text


@pytest.mark.parametrize("path", ["/", "/static/site.css"])
def test_pages_and_assets_are_gzipped(blog: Any, path: str) -> None:
    app = blog.make_app(cookie_secret="blog test secret")
    status, headers, body = Blank.blank(path, headers={"Accept-Encoding": "gzip"}).call_application(
        app
    )
    headers = dict(headers)
    assert status.startswith("200")
    assert headers["Content-Encoding"] == "gzip"
    assert headers["Vary"] == "Accept-Encoding"
    text = gzip.decompress(b"".join(body))
    assert text.startswith(b"<!DOCTYPE html>" if path == "/" else b"/* micro blog example")
