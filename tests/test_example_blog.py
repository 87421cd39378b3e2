"""examples/blog: a small real app (templates, sessions, login, SQLite), driven like a browser.

WebTest fills and submits the real forms (with the hidden XSRF field the pages
carry), follows redirects and links to the versioned assets, and plays the part of
the page's JavaScript for the delete buttons. The real browser drives it in
tests/test_blog_browser.py.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from webob import Request as Blank
from webtest import TestApp

ROOT = Path(__file__).resolve().parent.parent
BLOG = ROOT / "examples" / "blog" / "app.py"


@pytest.fixture(scope="module")
def blog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    # Importing app.py builds its module-level app: point it at a temporary instance.
    saved = os.environ.get("MICRO_BLOG_INSTANCE")
    os.environ["MICRO_BLOG_INSTANCE"] = str(tmp_path_factory.mktemp("blog-import"))
    try:
        spec = importlib.util.spec_from_file_location("micro_blog_example", BLOG)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        if saved is None:
            del os.environ["MICRO_BLOG_INSTANCE"]
        else:
            os.environ["MICRO_BLOG_INSTANCE"] = saved


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    return tmp_path / "instance"


@pytest.fixture
def browser(blog: Any, instance: Path, monkeypatch: pytest.MonkeyPatch) -> TestApp:
    monkeypatch.setenv("MICRO_BLOG_USER", "ann")
    monkeypatch.setenv("MICRO_BLOG_PASSWORD", "correct horse")
    return TestApp(blog.make_app(blog_instance_path=str(instance)))


def log_in(
    browser: TestApp, name: str = "ann", password: str = "correct horse", status: int = 303
) -> Any:
    form = browser.get("/login").forms["login-form"]
    form["name"], form["password"] = name, password
    return form.submit(status=status)


def publish(browser: TestApp, title: str, body: str) -> Any:
    form = browser.get("/").forms["new-post"]
    form["title"], form["body"] = title, body
    return form.submit()


def test_the_plugins_are_chained_in_their_resolved_order(blog: Any) -> None:
    assert [m.name for m in blog.app.middleware] == ["sessions", "gzip", "static", "xsrf"]


def test_logging_in_and_writing_a_post(browser: TestApp) -> None:
    home = browser.get("/")
    assert "Nothing written yet." in home.text
    assert "new-post" not in home.forms  # no form for visitors
    welcome = log_in(browser)
    assert (welcome.status_int, welcome.headers["Location"]) == (303, "/")
    page = welcome.follow()
    assert page.html.find(id="user").text == "ann"
    assert page.html.find("p", class_="flash").text == "Welcome, ann."
    created = publish(browser, "First <post>", "Hello from the test.")
    assert created.status_int == 303
    page = created.follow()
    article = page.html.find("article")
    assert article.h2.text == "First <post>"  # escaped in the HTML, shown as typed
    assert "Hello from the test." in article.text
    assert "by ann" in article.text
    assert page.html.find("p", class_="flash").text == "Published “First <post>”."
    assert browser.get("/").html.find("p", class_="flash") is None  # shown once


def test_posts_outlive_the_app(blog: Any, browser: TestApp, instance: Path) -> None:
    log_in(browser)
    publish(browser, "Kept", "in SQLite")
    assert (instance / "blog.db").is_file()
    restarted = TestApp(blog.make_app(blog_instance_path=str(instance)))
    assert restarted.get("/").html.find("article").h2.text == "Kept"


def test_a_wrong_password_is_refused(browser: TestApp) -> None:
    refused = log_in(browser, password="wrong", status=403)
    assert refused.html.find("p", class_="flash").text == "Wrong name or password."
    assert refused.html.find(id="name")["value"] == "ann"
    assert browser.get("/").html.find(id="user") is None


def test_login_sends_back_to_the_page_asked_for_and_only_to_our_own(browser: TestApp) -> None:
    form = browser.get("/login?next=/posts").forms["login-form"]
    assert form["next"].value == "/posts"
    form["name"], form["password"] = "ann", "correct horse"
    assert form.submit().headers["Location"].endswith("/posts")
    form = browser.get("/login?next=//evil.example/").forms["login-form"]
    form["name"], form["password"] = "ann", "correct horse"
    assert form.submit().headers["Location"] == "/"


def test_login_rotates_the_session_and_logout_ends_it(browser: TestApp) -> None:
    browser.get("/")
    log_in(browser)
    session = browser.cookies["session"]
    page = browser.get("/")
    page.forms[0].submit().follow()  # the "Log out" button
    assert browser.get("/").html.find(id="user") is None
    stolen = TestApp(browser.app)
    stolen.set_cookie("session", session)
    assert stolen.get("/").html.find(id="user") is None  # the server forgot it


def test_visitors_cannot_write_or_delete(browser: TestApp) -> None:
    page = browser.get("/")
    token = page.html.find("meta", attrs={"name": "xsrf-token"})["content"]
    refused = browser.post("/posts", {"title": "spam", "body": "spam", "_xsrf": token}, status=403)
    assert "Login required" in refused.text
    browser.delete("/posts/1", headers={"X-XSRFToken": token}, status=403)


def test_a_forged_post_is_refused(browser: TestApp) -> None:
    log_in(browser)
    refused = browser.post("/posts", {"title": "spam", "body": "spam"}, status=403)
    assert "XSRF token missing" in refused.text
    cross = browser.get("/").forms["new-post"]
    cross["title"], cross["body"] = "spam", "spam"
    refused = cross.submit(headers={"Origin": "https://evil.example"}, status=403)
    assert "another origin" in refused.text
    assert "spam" not in browser.get("/").text


def test_the_script_deletes_with_the_header_token(browser: TestApp) -> None:
    log_in(browser)
    page = publish(browser, "Doomed", "to be deleted").follow()
    token = page.html.find("meta", attrs={"name": "xsrf-token"})["content"]
    target = page.html.find("button", attrs={"data-delete": True})["data-delete"]
    browser.delete(target, status=403)  # without the header
    browser.delete(target, headers={"X-XSRFToken": token}, status=204)
    assert "Doomed" not in browser.get("/").text
    browser.delete(target, headers={"X-XSRFToken": token}, status=404)


def test_assets_and_the_favicon_come_versioned_and_cacheable(browser: TestApp) -> None:
    home = browser.get("/")
    css = home.html.find("link", rel="stylesheet")["href"]
    icon = home.html.find("link", rel="icon")["href"]
    js = home.html.find("script")["src"]
    assert re.fullmatch(r"/static/site\.css\?v=[0-9a-f]{16}", css)
    assert re.fullmatch(r"/static/site\.js\?v=[0-9a-f]{16}", js)
    assert re.fullmatch(r"/static/favicon\.svg\?v=[0-9a-f]{16}", icon)
    for url, kind in ((css, "text/css"), (js, "javascript"), (icon, "image/svg+xml")):
        asset = browser.get(url)
        assert kind in asset.content_type
        assert asset.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "button[data-delete]" in browser.get(js).text
    assert browser.get("/favicon.ico", status=301).headers["Location"].endswith(icon)


@pytest.mark.parametrize("path", ["/", "/static/site.css"])
def test_pages_and_assets_are_gzipped(browser: TestApp, path: str) -> None:
    status, headers, body = Blank.blank(path, headers={"Accept-Encoding": "gzip"}).call_application(
        browser.app
    )
    fields = dict(headers)
    assert status.startswith("200")
    assert fields["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in fields["Vary"]
    text = gzip.decompress(b"".join(body))
    assert text.startswith(b"<!DOCTYPE html>" if path == "/" else b"/* micro blog example")


def test_the_blog_user_command_creates_a_user(blog: Any, instance: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "micro", "blog-user", "bob", "--instance", str(instance)],
        env={**os.environ, "MICRO_BLOG_PASSWORD": "bob's secret"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"user 'bob' saved in {instance / 'blog.db'}\n"
    browser = TestApp(blog.make_app(blog_instance_path=str(instance)))
    assert log_in(browser, "bob", "bob's secret").status_int == 303
