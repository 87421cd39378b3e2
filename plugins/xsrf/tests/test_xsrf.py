"""The ``xsrf`` plugin as a user sees it: an App that enabled it by name, driven by WebTest.

The plugin comes in through the entry point of the installed micro-xsrf distribution.
"""

from __future__ import annotations

import base64
import hmac
import re
import time
from typing import Any

import pytest
from micro_xsrf import xsrf_form_html
from micro_xsrf.tokens import mask, new_secret
from webtest import TestApp

from micro import App, PluginError, RequestHandler, Response, skip_middleware
from micro.plugins import PluginRegistry
from micro.web.signing import create_signed_value

SECRET = "test secret, long enough to be a real one"


class FormPage(RequestHandler):
    def get(self) -> None:
        self.write(
            f"<form method='post' action='/submit'>{self.helpers.xsrf_form_html()}"
            "<input name='title' value='hello'><button>go</button></form>"
            f"<p id='token'>{self.helpers.xsrf_token}</p>"
        )


class Webhook(RequestHandler):
    skip_middleware = frozenset({"xsrf"})

    def post(self) -> None:
        self.write("hook ok")


def make_app(**settings: Any) -> App:
    app = App(plugins=["xsrf"], settings={"cookie_secret": SECRET, **settings})
    app.add_route("/", FormPage)
    app.add_route("/hook", Webhook)

    @app.route("/fn")
    def fn_form(request: Any) -> str:
        return f"<form method='post' action='/submit'>{xsrf_form_html(request)}</form>"

    @app.route("/submit", methods=["POST", "PUT", "PATCH", "DELETE"])
    def submit(request: Any) -> Response:
        return Response(f"saved {request.method}")

    @app.route("/safe", methods=["GET", "OPTIONS"])
    def safe(request: Any) -> str:
        return "safe"

    @app.route("/api/hook", methods=["POST"])
    @skip_middleware("xsrf")
    def api_hook(request: Any) -> str:
        return "api hook ok"

    return app


@pytest.fixture
def client() -> TestApp:
    return TestApp(make_app())


def token_from(page: Any) -> str:
    match = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
    assert match is not None, page.text
    return match.group(1)


def test_the_plugin_is_the_installed_distributions_entry_point() -> None:
    info = PluginRegistry().info("xsrf")
    assert (info.distribution, info.entry_point.value) == ("micro-xsrf", "micro_xsrf:plugin")


def test_a_form_with_its_token_goes_through(client: TestApp) -> None:
    page = client.get("/")
    cookie = page.headers["Set-Cookie"]
    assert cookie.startswith("_xsrf=1|")  # signed, with a timestamp
    assert "Path=/" in cookie
    assert "SameSite=Lax" in cookie
    assert "HttpOnly" not in cookie  # JavaScript may echo it
    assert "Secure" not in cookie  # plain http here
    assert page.form.submit().text == "saved POST"


def test_function_routes_get_the_form_field_too(client: TestApp) -> None:
    page = client.get("/fn")
    assert page.form["_xsrf"].value
    assert page.form.submit().text == "saved POST"


def test_the_token_is_masked_afresh_on_every_response(client: TestApp) -> None:
    first, second = client.get("/"), client.get("/")
    tokens = {token_from(first), token_from(second)}
    assert len(tokens) == 2
    assert second.html.find(id="token").text == token_from(second)  # one per response
    cookie = client.cookies["_xsrf"].strip('"')
    payload = cookie.split("|")[2]
    for page in (first, second):
        assert payload not in page.text  # the secret itself never appears in a page
    for token in tokens:  # every masked form is valid with the same cookie
        assert client.post("/submit", {"_xsrf": token}).text == "saved POST"


def test_a_post_without_a_token_is_403_with_a_reason(client: TestApp) -> None:
    client.get("/")
    refused = client.post("/submit", {"title": "x"}, status=403)
    assert "XSRF token missing" in refused.text
    assert refused.status.startswith("403 XSRF token missing")


def test_a_post_without_the_cookie_is_refused(client: TestApp) -> None:
    token = token_from(client.get("/"))
    client.cookiejar.clear()
    assert "XSRF cookie missing" in client.post("/submit", {"_xsrf": token}, status=403).text


@pytest.mark.parametrize(
    "cookie",
    [
        "garbage",
        create_signed_value("another secret", "_xsrf", new_secret()),
        create_signed_value(SECRET, "other_cookie", new_secret()),
        create_signed_value(SECRET, "_xsrf", b"short"),
        create_signed_value(SECRET, "_xsrf", new_secret(), clock=lambda: time.time() - 15 * 86400),
    ],
    ids=["garbage", "foreign-key", "other-cookie", "short-secret", "expired"],
)
def test_a_forged_or_expired_cookie_is_refused(client: TestApp, cookie: str) -> None:
    client.set_cookie("_xsrf", cookie)
    page = client.get("/")
    assert "_xsrf=" in page.headers["Set-Cookie"]  # a fresh cookie replaces it
    client.set_cookie("_xsrf", cookie)  # ...but the attacker keeps sending theirs
    refused = client.post("/submit", {"_xsrf": token_from(page)}, status=403)
    assert "XSRF cookie invalid or expired" in refused.text


def test_a_token_for_another_secret_does_not_match(client: TestApp) -> None:
    client.get("/")
    foreign = mask(new_secret())
    refused = client.post("/submit", {"_xsrf": foreign}, status=403)
    assert "does not match" in refused.text
    assert "does not match" in client.post("/submit", {"_xsrf": "%%%"}, status=403).text


@pytest.mark.parametrize("header", ["X-XSRFToken", "X-CSRFToken"])
def test_headers_carry_the_token(client: TestApp, header: str) -> None:
    token = token_from(client.get("/"))
    assert client.post("/submit", headers={header: token}).text == "saved POST"


def test_javascript_may_echo_the_cookie_value(client: TestApp) -> None:
    client.get("/")
    cookie = client.cookies["_xsrf"].strip('"')
    assert client.post("/submit", headers={"X-XSRFToken": cookie}).text == "saved POST"


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_every_unsafe_method_is_checked(client: TestApp, method: str) -> None:
    token = token_from(client.get("/"))
    send = getattr(client, method)
    assert "XSRF token missing" in send("/submit", status=403).text
    assert send("/submit", headers={"X-XSRFToken": token}).text == f"saved {method.upper()}"


def test_safe_methods_are_not_checked(client: TestApp) -> None:
    assert client.get("/safe").text == "safe"
    assert client.head("/safe").status_int == 200
    assert client.options("/safe").status_int == 200


def test_routes_can_opt_out(client: TestApp) -> None:
    assert client.post("/hook").text == "hook ok"
    assert client.post("/api/hook").text == "api hook ok"


def test_unrouted_unsafe_requests_get_the_routing_answer_not_403(client: TestApp) -> None:
    assert client.post("/nowhere", status=404).status_int == 404
    refused = client.post("/safe", status=405)
    assert refused.headers["Allow"] == "GET, HEAD, OPTIONS"
    client.put("/api/hook", status=405)  # an opted-out route, with a method it lacks


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"Sec-Fetch-Site": "cross-site"}, "cross-site request refused"),
        ({"Origin": "https://evil.example"}, "another origin refused"),
        ({"Origin": "null"}, "another origin refused"),
        ({"Origin": "http://localhost:8080"}, "another origin refused"),
    ],
)
def test_cross_site_requests_are_refused_even_with_a_token(
    client: TestApp, headers: dict[str, str], reason: str
) -> None:
    token = token_from(client.get("/"))
    refused = client.post("/submit", {"_xsrf": token}, headers=headers, status=403)
    assert reason in refused.text


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"},
        {"Origin": "http://localhost:80"},
        {"Sec-Fetch-Site": "none"},
    ],
)
def test_same_origin_requests_pass(client: TestApp, headers: dict[str, str]) -> None:
    token = token_from(client.get("/"))
    assert client.post("/submit", {"_xsrf": token}, headers=headers).text == "saved POST"


def test_trusted_origins_may_post_cross_site() -> None:
    client = TestApp(make_app(xsrf_trusted_origins=["https://admin.example:443"]))
    token = token_from(client.get("/"))
    headers = {"Origin": "https://admin.example", "Sec-Fetch-Site": "cross-site"}
    assert client.post("/submit", {"_xsrf": token}, headers=headers).text == "saved POST"


def test_rotated_secrets_still_verify_old_cookies() -> None:
    old = TestApp(make_app(cookie_secret="old secret"))
    token = token_from(old.get("/"))
    cookie = old.cookies["_xsrf"].strip('"')
    new = TestApp(make_app(cookie_secret=["new secret", "old secret"]))
    new.set_cookie("_xsrf", cookie)
    assert new.post("/submit", {"_xsrf": token}).text == "saved POST"


def test_the_cookie_is_secure_over_https(client: TestApp) -> None:
    page = client.get("/", extra_environ={"wsgi.url_scheme": "https"})
    assert "Secure" in page.headers["Set-Cookie"]


def test_settings_rename_the_cookie() -> None:
    client = TestApp(make_app(xsrf_cookie_name="csrf"))
    page = client.get("/")
    assert page.headers["Set-Cookie"].startswith("csrf=")
    assert page.form.submit().text == "saved POST"


def test_pages_without_a_token_set_no_cookie(client: TestApp) -> None:
    assert "Set-Cookie" not in client.get("/safe").headers


def test_tokens_are_compared_in_constant_time(
    client: TestApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = token_from(client.get("/"))
    payload = client.cookies["_xsrf"].strip('"').split("|")[2]
    secret = base64.urlsafe_b64decode(payload)
    compared: list[Any] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.extend((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert client.post("/submit", {"_xsrf": token}).text == "saved POST"
    # The cookie's signature check compares too: the secret itself must be among
    # what compare_digest saw, i.e. the token check went through it.
    assert secret in compared


def test_a_missing_cookie_secret_fails_at_start_up() -> None:
    with pytest.raises(PluginError, match=r"'xsrf'.*micro-xsrf.*cookie_secret"):
        App(plugins=["xsrf"])


def test_the_function_helpers_need_the_plugin(caplog: pytest.LogCaptureFixture) -> None:
    app = App()

    @app.route("/")
    def page(request: Any) -> str:
        return xsrf_form_html(request)

    TestApp(app).get("/", status=500)
    assert "'xsrf' plugin is not enabled" in caplog.text
