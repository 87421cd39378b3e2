"""examples/blog in a real browser: Debian's chromium, driven by Playwright for Python.

The blog runs as ``python -m micro serve examples/blog/app.py`` on a free loopback port,
with its instance folder in a temporary directory and a user from the environment.
Chromium (``/usr/bin/chromium``, installed by ``.ci/run``; Playwright never downloads
a browser here) logs in, publishes a post, reloads and still sees it, deletes it with
the page's JavaScript button, submits a forged form from another site (refused), and
loads the static assets with 200 and then 304. On failure the test saves a screenshot
and names it in the error.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parent.parent
BLOG = ROOT / "examples" / "blog" / "app.py"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.is_file(), reason="Debian's chromium is not installed (.ci/run installs it)"
)


@pytest.fixture
def blog_url(
    micro_serve: Callable[..., contextlib.AbstractContextManager[Any]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[str]:
    monkeypatch.setenv("MICRO_BLOG_INSTANCE", str(tmp_path / "instance"))
    monkeypatch.setenv("MICRO_BLOG_USER", "ann")
    monkeypatch.setenv("MICRO_BLOG_PASSWORD", "correct horse")
    with micro_serve(BLOG) as served:
        assert "serving" in served.banner, served.banner
        yield served.url.rstrip("/")


@pytest.fixture
def page(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            yield browser.new_page()
        finally:
            browser.close()


@contextlib.contextmanager
def screenshot_on_failure(page: Any, path: Path) -> Iterator[None]:
    try:
        yield
    except BaseException as exc:
        with contextlib.suppress(Exception):
            page.screenshot(path=str(path), full_page=True)
        exc.add_note(f"screenshot of the page: {path}")
        raise


def test_a_visitor_logs_in_publishes_reloads_and_deletes(
    blog_url: str, page: Any, tmp_path: Path
) -> None:
    statuses: dict[str, list[int]] = {}
    page.on(
        "response",
        lambda r: (
            statuses.setdefault(r.url.split("?")[0], []).append(r.status)
            if "/static/" in r.url
            else None
        ),
    )
    page.set_default_timeout(15_000)
    with screenshot_on_failure(page, tmp_path / "blog-failure.png"):
        page.goto(blog_url + "/")
        assert page.inner_text("main").strip() == "Nothing written yet."
        expected = {f"{blog_url}/static/{a}": [200] for a in ("site.css", "site.js", "favicon.svg")}
        for _ in range(50):  # the favicon may come after the load event: at most 5 s
            if statuses == expected:
                break
            page.wait_for_timeout(100)
        assert statuses == expected

        page.click("#login")
        page.fill("#name", "ann")
        page.fill("#password", "correct horse")
        page.click("#login-form button[type=submit]")
        page.wait_for_selector("p.flash.success")
        assert page.inner_text("p.flash.success") == "Welcome, ann."
        assert page.inner_text("#user") == "ann"

        page.fill("#title", "Hello from Chromium")
        page.fill("#body", "Written by a real browser <b>not bold</b>.")
        page.click("#new-post button[type=submit]")
        page.wait_for_selector("article h2")
        assert page.inner_text("article h2") == "Hello from Chromium"
        assert "<b>not bold</b>" in page.inner_text("article")  # escaped, shown as typed

        page.reload()
        assert page.inner_text("article h2") == "Hello from Chromium"
        assert page.query_selector("p.flash") is None  # the flash was shown once

        page.click("article button[data-delete]")
        page.wait_for_selector("article", state="detached")
        page.reload()
        assert page.query_selector("article") is None
        assert "Nothing written yet." in page.inner_text("main")


def test_a_forged_cross_site_form_post_is_refused(blog_url: str, page: Any, tmp_path: Path) -> None:
    attacker = "http://attacker.test/"
    forged = (
        f'<form id="f" method="post" action="{blog_url}/posts">'
        '<input name="title" value="spam"><input name="body" value="spam"></form>'
        "<script>document.getElementById('f').submit()</script>"
    )
    page.route(attacker, lambda route: route.fulfill(body=forged, content_type="text/html"))
    page.set_default_timeout(15_000)
    with screenshot_on_failure(page, tmp_path / "forged-failure.png"):
        with page.expect_response(f"{blog_url}/posts") as answer:
            page.goto(attacker)
        assert answer.value.status == 403
        page.wait_for_load_state()
        assert "XSRF: cross-site request refused" in page.content()
        page.goto(blog_url + "/")
        assert "spam" not in page.inner_text("main")


def test_static_assets_answer_200_then_304(blog_url: str, page: Any, tmp_path: Path) -> None:
    # What the server answered, as Chromium's network layer saw it: Playwright (and the
    # DevTools protocol's responseReceived) report a revalidated response as the cached
    # 200; responseReceivedExtraInfo carries the status that came over the wire.
    # The two events of one request come in either order: join them by request id.
    urls: dict[str, str] = {}
    statuses: list[tuple[str, int]] = []
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.on(
        "Network.requestWillBeSent",
        lambda event: urls.__setitem__(event["requestId"], event["request"]["url"]),
    )
    cdp.on(
        "Network.responseReceivedExtraInfo",
        lambda event: statuses.append((event["requestId"], event["statusCode"])),
    )

    def answers(url: str, expected: list[int]) -> list[int]:
        """The statuses of ``url`` once they are ``expected`` (events may trail the page)."""
        for _ in range(50):  # at most 5 s
            found = [status for rid, status in statuses if urls.get(rid) == url]
            if found == expected:
                break
            page.wait_for_timeout(100)
        return found

    page.set_default_timeout(15_000)
    with screenshot_on_failure(page, tmp_path / "assets-failure.png"):
        page.goto(blog_url + "/")
        css = page.get_attribute("link[rel=stylesheet]", "href")
        assert css is not None and css.startswith("/static/site.css?v=")
        assert answers(blog_url + css, [200]) == [200]
        # The versioned URL is immutable: the browser keeps it without asking again.
        # The plain URL is "no-cache": the browser asks again, the server says 304.
        plain = blog_url + css.split("?")[0]
        page.goto(plain)
        page.reload()
        assert answers(plain, [200, 304]) == [200, 304]
        assert "micro blog example" in page.content()
