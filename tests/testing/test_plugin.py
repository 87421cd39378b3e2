"""micro's pytest plugin (micro.testing, through the pytest11 entry point), run by pytester.

Each test writes a small project (a conftest.py with an ``app`` fixture and a test
module) and runs pytest on it in-process: the plugin is found the way a user's pytest
finds it, by the installed entry point.
"""

from __future__ import annotations

import socket
import sys
import textwrap
from importlib.metadata import entry_points

import pytest

from micro import App, Request, Response
from micro.testing.client import XSRF_SECRET_BYTES, MicroTestApp
from micro.web.cookies import InvalidCookie

pytest_plugins = ["pytester"]

APP = """
import pytest
from micro import App, RequestHandler


def make_app():
    app = App(plugins=["xsrf"], settings={"cookie_secret": "test-secret"})

    @app.route("/")
    def home(request):
        return request.environ.get("REMOTE_ADDR") or "in-process"

    @app.route("/form", methods=["POST"])
    def form(request):
        return "got " + request.get_body_argument("name")

    class Login(RequestHandler):
        def post(self):
            self.set_signed_cookie("user", self.get_body_argument("user"),
                                   secure=self.request.scheme == "https")
            self.write("ok")

    class Me(RequestHandler):
        def get(self):
            user = self.get_signed_cookie("user")
            self.write((user or b"nobody").decode())

    app.add_route("/login", Login)
    app.add_route("/me", Me)
    return app


@pytest.fixture
def app():
    return make_app()
"""


def write_project(pytester: pytest.Pytester, tests: str) -> None:
    pytester.makeconftest(APP)
    pytester.makepyfile(test_user=textwrap.dedent(tests))


def test_the_plugin_is_registered_by_entry_point() -> None:
    names = {ep.value for ep in entry_points(group="pytest11")}
    assert "micro.testing" in names


def test_testapp_wraps_the_users_app_fixture(pytester: pytest.Pytester) -> None:
    write_project(
        pytester,
        """
        def test_home(testapp):
            assert testapp.get("/").text == "in-process"
        """,
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_same_suite_runs_in_process_and_over_http(pytester: pytest.Pytester) -> None:
    write_project(
        pytester,
        """
        def test_home(testapp, micro_transport):
            expected = "127.0.0.1" if micro_transport == "http" else "in-process"
            assert testapp.get("/").text == expected

        def test_form_post_and_404(testapp):
            assert testapp.post("/form", {"name": "ada"}).text == "got ada"
            testapp.get("/nowhere", status=404)
        """,
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-v", "--micro-transport=both")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*test_home?wsgi? PASSED*", "*test_home?http? PASSED*"])
    only_http = pytester.runpytest("-p", "no:cacheprovider", "--micro-transport=http")
    only_http.assert_outcomes(passed=2)


def test_live_server_serves_real_http_and_stops_after(pytester: pytest.Pytester) -> None:
    write_project(
        pytester,
        """
        import urllib.request

        PORTS = []

        def test_live(live_server):
            assert live_server.url.startswith("http://127.0.0.1:")
            with urllib.request.urlopen(live_server.url + "/", timeout=5) as response:
                assert response.read() == b"127.0.0.1"
            PORTS.append(live_server.port)
            with open("port.txt", "w") as f:
                f.write(str(live_server.port))
        """,
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    port = int((pytester.path / "port.txt").read_text())
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.settimeout(2)
        probe.connect(("127.0.0.1", port))


def test_xsrf_token_is_filled_in_and_can_be_turned_off(pytester: pytest.Pytester) -> None:
    write_project(
        pytester,
        """
        def test_filled(testapp):
            assert testapp.post("/form", {"name": "ada"}).text == "got ada"
            assert testapp.post_json("/login", {}, status=400)  # token ok, bad body

        def test_refused_without(testapp):
            testapp.fill_xsrf = False
            res = testapp.post("/form", {"name": "ada"}, status=403)
            assert "XSRF" in res.text
        """,
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "--micro-transport=both")
    result.assert_outcomes(passed=4)


def test_https_testapp_gets_and_returns_secure_cookies(pytester: pytest.Pytester) -> None:
    write_project(
        pytester,
        """
        def test_secure(https_testapp):
            res = https_testapp.post("/login", {"user": "alice"})
            assert "; Secure" in res.headers["Set-Cookie"]
            assert https_testapp.get("/me").text == "alice"

        def test_plain(testapp):
            res = testapp.post("/login", {"user": "bob"})
            assert "Secure" not in res.headers["Set-Cookie"]
        """,
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "--micro-transport=both")
    result.assert_outcomes(passed=4)


def test_signed_cookies_readable_and_settable(pytester: pytest.Pytester) -> None:
    write_project(
        pytester,
        """
        def test_read(testapp):
            testapp.post("/login", {"user": "alice"})
            assert testapp.signed_cookie("user") == b"alice"
            assert testapp.cookies["user"] != "alice"  # the raw value is signed
            assert testapp.signed_cookie("absent") is None

        def test_set(testapp):
            testapp.post("/login", {"user": "alice"})
            testapp.set_signed_cookie("user", "carol")  # replaces the app's cookie
            assert testapp.get("/me").text == "carol"
            testapp.set_cookie("user", "forged")
            assert testapp.get("/me").text == "nobody"
        """,
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "--micro-transport=both")
    result.assert_outcomes(passed=4)


def test_missing_app_fails_with_a_clear_message(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_user="""
        def test_home(testapp):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*define a fixture named `app`*"])
    assert "Traceback" not in result.stdout.str()


def test_app_from_the_ini_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        hello_app="""
        from micro import App
        app = App()
        app.add_route("/", lambda request: "from ini")
        """
    )
    pytester.makeini("[pytest]\nmicro_app = hello_app:app\n")
    pytester.makepyfile(
        test_user="""
        def test_home(testapp):
            assert testapp.get("/").text == "from ini"
        """
    )
    pytester.syspathinsert()
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_without_webtest_the_fixtures_skip_and_live_server_works(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "webtest", None)  # import webtest -> ImportError
    write_project(
        pytester,
        """
        import urllib.request

        def test_uses_webtest(testapp):
            pass

        def test_live(live_server):
            with urllib.request.urlopen(live_server.url + "/", timeout=5) as response:
                assert response.read() == b"127.0.0.1"
        """,
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*need WebTest (pip install WebTest)*"])


def test_xsrf_secret_length_matches_the_plugin() -> None:
    from micro_xsrf.tokens import TOKEN_BYTES

    assert XSRF_SECRET_BYTES == TOKEN_BYTES


def test_micro_test_app_helpers_need_a_micro_app() -> None:
    def plain(environ: dict[str, object], start_response: object) -> list[bytes]:
        raise AssertionError("not called")

    from micro.errors import ConfigError

    with pytest.raises(ConfigError, match="needs the micro App"):
        MicroTestApp(plain).signed_cookie("user")
    assert MicroTestApp(App()).signed_cookie("user") is None


def cookie_echo() -> App:
    app = App()

    @app.route("/cookie")
    def cookie(request: Request) -> str:
        return repr(request.cookies.get("flavour"))

    @app.route("/bake")
    def bake(request: Request) -> Response:
        response = Response("baked")
        response.set_cookie("flavour", "from-app")
        return response

    return app


def test_set_cookie_sends_the_value_as_is_and_replaces_the_apps() -> None:
    testapp = MicroTestApp(cookie_echo())
    testapp.set_cookie("flavour", "vanilla!#$%&'()*+-./:<=>?@[]^_`{|}~")
    assert testapp.get("/cookie").text == repr("vanilla!#$%&'()*+-./:<=>?@[]^_`{|}~")
    testapp.get("/bake")
    assert testapp.get("/cookie").text == "'from-app'"  # the app's cookie took its place
    testapp.set_cookie("flavour", "mint")
    assert testapp.get("/cookie").text == "'mint'"
    assert [c.value for c in testapp.cookiejar if c.name == "flavour"] == ["mint"]


@pytest.mark.parametrize("value", ["two words", "a;b", 'say "hi"', "back\\slash", "a,b"])
def test_set_cookie_refuses_what_no_app_could_set(value: str) -> None:
    testapp = MicroTestApp(cookie_echo())
    testapp.set_cookie("flavour", "kept")
    with pytest.raises(InvalidCookie, match="cookie 'flavour': value may hold only"):
        testapp.set_cookie("flavour", value)
    assert testapp.get("/cookie").text == "'kept'"  # the jar is as it was


def test_set_cookie_refuses_a_name_that_is_not_a_token() -> None:
    with pytest.raises(InvalidCookie, match="invalid cookie name 'two words'"):
        MicroTestApp(cookie_echo()).set_cookie("two words", "x")
