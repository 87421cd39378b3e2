"""Debug mode: the traceback page (escaped, never without debug), static files re-read,
and ``micro serve --debug`` end to end."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from webtest import TestApp

from micro import App, Request, RequestHandler

ROOT = Path(__file__).resolve().parent.parent.parent
EVIL = "<script>alert('x')</script>"


def make_app(debug: bool) -> App:
    app = App(debug=debug)

    @app.route("/boom")
    def boom(request: Request) -> str:
        secret_local = "<b>local & value</b>"
        raise ValueError(EVIL + secret_local)

    class Broken(RequestHandler):
        def get(self) -> None:
            {}["missing-" + EVIL]  # a KeyError on purpose

    app.add_route("/handler", Broken)
    return app


@pytest.mark.parametrize("path", ["/boom", "/handler"])
def test_debug_page_shows_the_traceback_escaped(path: str) -> None:
    res = TestApp(make_app(debug=True)).get(path, status=500)
    assert res.content_type == "text/html"
    page = res.text
    assert "Traceback (most recent call last)" in page
    assert ("ValueError" if path == "/boom" else "KeyError") in page
    assert EVIL not in page  # never raw markup from the program
    assert "&lt;script&gt;" in page
    assert "test_debug.py" in page  # the frame of the failing function
    if path == "/boom":
        assert "secret_local" in page and "&lt;b&gt;local &amp; value&lt;/b&gt;" in page
        assert "<b>local" not in page


def test_debug_page_puts_your_frames_first_with_context_and_collapses_micro() -> None:
    page = TestApp(make_app(debug=True)).get("/boom", status=500).text
    yours = page.index('class="frame yours"')
    collapsed = page.index("frames of micro and libraries</summary>")
    # This file's frame comes first, highlighted; micro's own come after, in <details>.
    assert "test_debug.py" in page[yours:collapsed]
    assert "micro/web/app.py" not in page[:collapsed]
    assert "micro/web/app.py" in page[collapsed:]
    assert page.count('class="frame yours"') == 1
    # Context: the line before the failing one, and the failing line marked.
    frame = page[yours:collapsed]
    assert "secret_local = &quot;&lt;b&gt;local &amp; value&lt;/b&gt;&quot;" in frame
    (current,) = [line for line in frame.split('<span class="current">')[1:2]]
    assert current.split("</span>")[0].strip().endswith("raise ValueError(EVIL + secret_local)")


def test_a_failure_inside_micro_shows_every_frame_open() -> None:
    from micro.web.debug import is_app_file, traceback_page

    try:
        App(middleware=[object()])  # type: ignore[list-item]  # micro raises, no app frame
    except Exception as exc:
        inside = exc.__traceback__.tb_next if exc.__traceback__ else None  # from micro down
        page = traceback_page(500, "Internal Server Error", (type(exc), exc, inside))
    assert "frames of micro and libraries" not in page and "Traceback (most recent" in page
    assert is_app_file(__file__) and not is_app_file(sys.modules["micro"].__file__ or "")
    assert not is_app_file(pytest.__file__) and not is_app_file("<frozen importlib>")


@pytest.mark.parametrize("path", ["/boom", "/handler"])
def test_no_traceback_without_debug(path: str) -> None:
    res = TestApp(make_app(debug=False)).get(path, status=500)
    assert "Internal Server Error" in res.text
    for leak in ("Traceback", "ValueError", "KeyError", "test_debug.py", "alert", "script"):
        assert leak not in res.text


def test_json_clients_get_the_traceback_only_in_debug() -> None:
    headers = {"Accept": "application/json"}
    res = TestApp(make_app(debug=True)).get("/boom", headers=headers, status=500)
    assert "ValueError" in res.json["traceback"]
    res = TestApp(make_app(debug=False)).get("/boom", headers=headers, status=500)
    assert res.json == {"status": 500, "reason": "Internal Server Error"}


def test_client_errors_show_no_traceback_even_in_debug() -> None:
    res = TestApp(make_app(debug=True)).get("/nowhere", status=404)
    assert "Traceback" not in res.text


def static_app(root: Path, debug: bool) -> App:
    return App(plugins=["static"], settings={"static_path": str(root), "debug": debug})


@pytest.mark.parametrize("debug", [True, False])
def test_static_files_are_looked_at_afresh_in_debug(tmp_path: Path, debug: bool) -> None:
    css = tmp_path / "site.css"
    css.write_text("a{color:red}")
    t = TestApp(static_app(tmp_path, debug))
    first = t.get("/static/site.css", headers={"Accept-Encoding": "gzip"})
    assert not first.headers["ETag"].endswith('-gz"')
    # Same size, same modification time: the change time (which no tool puts back)
    # tells that these are other bytes, which need another ETag.
    stamp = css.stat()
    css.write_text("a{color:tan}")
    os.utime(css, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    (tmp_path / "site.css.gz").write_bytes(gzip.compress(b"a{color:tan}"))
    second = t.get("/static/site.css", headers={"Accept-Encoding": "gzip"})
    # (WebTest unpacks gzip bodies and drops Content-Encoding; the ETag tells.)
    assert second.text == "a{color:tan}"
    if debug:
        assert second.headers["ETag"].endswith('-gz"')
        assert second.headers["ETag"].split("-")[0] != first.headers["ETag"].rstrip('"')
    else:
        # Another ETag for the new bytes at once; the .gz sibling that was missing is
        # remembered missing for a moment (fast, and right within two seconds).
        assert not second.headers["ETag"].endswith('-gz"')
        assert second.headers["ETag"] != first.headers["ETag"]


APP_FILE = f"""
from micro import App

app = App()


@app.route("/boom")
def boom(request):
    raise RuntimeError({EVIL!r})
"""


def serve(micro_serve: Any, tmp_path: Path, *flags: str) -> tuple[int, str]:
    """Run ``micro serve`` on the app file, GET /boom, stop; (status, body)."""
    source = tmp_path / "boom_app.py"
    source.write_text(APP_FILE)
    with micro_serve(source, *flags) as served:
        try:
            urllib.request.urlopen(served.url + "boom", timeout=5)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        raise AssertionError("/boom did not fail")


def test_micro_serve_debug_flag(micro_serve: Any, tmp_path: Path) -> None:
    status, body = serve(micro_serve, tmp_path, "--debug")
    assert status == 500
    assert "RuntimeError" in body and "Traceback (most recent call last)" in body
    assert EVIL not in body and "&lt;script&gt;" in body
    status, body = serve(micro_serve, tmp_path)
    assert status == 500
    assert "RuntimeError" not in body and "Traceback" not in body


def test_debug_flag_needs_a_micro_app(tmp_path: Path) -> None:
    source = tmp_path / "plain_wsgi.py"
    source.write_text("def app(environ, start_response):\n    return []\n")
    result = subprocess.run(
        [sys.executable, "-m", "micro", "serve", str(source), "--debug"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr == "micro: error: --debug needs a micro App; " + (
        f"{source} is a function\n"
    )
