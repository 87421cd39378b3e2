"""What mypy --strict sees of a user's handler: real methods pass, misspellings fail.

Plugin helpers live in ``self.helpers`` (micro.web.request.Helpers), not behind a
``__getattr__`` on RequestHandler, so a typo on the handler or its request is an error.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

HANDLERS = """
from micro import App, PluginApp, Request, RequestHandler
from micro.web import Session


class Page(RequestHandler):
    def get(self, name: str) -> None:
        token = self.helpers.xsrf_token  # plugin helpers: a namespace of their own
        self.write(f"{self.request.path} {self.get_argument('q', '')} {token}")


def setup(app: PluginApp) -> None:
    app.add_helper("shout", lambda request: request.path.upper())


def status_of(request: Request) -> str:
    sent: str | None = request.headers.get("X-Status")
    asked: str = request.get_argument("status", "200")
    maybe: str | None = request.get_query_argument("status", None)
    return sent or maybe or asked


def log_in(request: Request, user: str) -> Session:
    session: Session = request.session  # the framework's name for what it is
    session.regenerate()
    session["user"] = user
    visits: int = session.setdefault("visits", 0)  # a MutableMapping[str, Any]
    session["visits"] = visits + 1
    return session


app = App()
setup(app)  # the App is a PluginApp
route = app.add_route("/page/{name}", Page)
print(route.pattern)
"""

TYPOS = """
from micro import RequestHandler


class Page(RequestHandler):
    def get(self) -> None:
        self.wirte("x")
        print(self.reqeust.path)
"""

SEAMS = """
from micro import App, Request


def seams(request: Request) -> None:
    header = request.headers.get("X-Name")
    header.upper()  # str | None: mypy wants a check first
    number: int = request.get_argument("n")  # a str (400 when missing), never Any
    fallback: str = request.get_argument("n", None)  # str | None with a None default
    route: str = App().add_route("/", lambda request: "hi")  # a Route
    request.set_cookie("a", "b")  # the Request has no set_cookie
"""


def mypy(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    module = tmp_path / "handlers.py"
    module.write_text(source, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", str(module)],
        cwd=ROOT,  # shares the suite's mypy cache: micro is not checked again
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_handler_using_the_api_passes_mypy_strict(tmp_path: Path) -> None:
    result = mypy(tmp_path, HANDLERS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_misspelled_attribute_on_a_handler_fails_mypy_strict(tmp_path: Path) -> None:
    result = mypy(tmp_path, TYPOS)
    assert result.returncode == 1, result.stdout + result.stderr
    assert '"Page" has no attribute "wirte"' in result.stdout
    assert '"Page" has no attribute "reqeust"' in result.stdout


def test_the_public_seams_are_typed(tmp_path: Path) -> None:
    out = mypy(tmp_path, SEAMS).stdout
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert len(errors) == 5, out
    assert 'Item "None" of "str | None" has no attribute "upper"' in out
    assert 'expression has type "str", variable has type "int"' in out
    assert 'Argument 2 to "get_argument" of "RequestArguments" has incompatible type "None"' in out
    assert 'expression has type "Route", variable has type "str"' in out
    assert '"Request" has no attribute "set_cookie"' in out
