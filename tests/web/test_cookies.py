"""Cookies: Set-Cookie attributes and validation, signed cookies with rotation and expiry."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from webtest import TestApp

from micro import App, ConfigError, Request, RequestHandler, Response
from micro.web.cookies import InvalidCookie, format_set_cookie
from micro.web.signing import create_signed_value, decode_signed_value


def test_set_cookie_attributes() -> None:
    app = App()

    @app.route("/set")
    def set_(request: Request) -> Response:
        r = Response("ok")
        r.set_cookie(
            "sid",
            "abc",
            max_age=60,
            expires=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
            path="/app",
            domain="example.com",
            secure=True,
            httponly=True,
            samesite="strict",
        )
        r.set_cookie("plain", "1", samesite=None)
        r.delete_cookie("old")
        return r

    res = TestApp(app).get("/set")
    cookies = res.headers.getall("Set-Cookie")
    assert cookies == [
        "sid=abc; Max-Age=60; Expires=Wed, 02 Jan 2030 03:04:05 GMT; Path=/app; "
        "Domain=example.com; Secure; HttpOnly; SameSite=Strict",
        "plain=1; Path=/",
        "old=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/",
    ]


@pytest.mark.parametrize(
    ("name", "value", "options"),
    [
        ("bad name", "v", {}),
        ("semi;colon", "v", {}),
        ("ok", "a;b", {}),
        ("ok", "a b", {}),
        ("ok", "a\r\nSet-Cookie: evil=1", {}),
        ("ok", "v", {"path": "/x;Domain=evil"}),
        ("ok", "v", {"samesite": "sometimes"}),
        ("ok", "v", {"samesite": "None"}),  # None without Secure is refused by browsers
        ("ok", "v", {"expires": datetime(2030, 1, 1)}),  # naive datetime
    ],
)
def test_invalid_cookies_are_refused(name: str, value: str, options: dict[str, Any]) -> None:
    with pytest.raises(InvalidCookie):
        format_set_cookie(name, value, **options)


def test_cookies_are_read_from_the_request() -> None:
    app = App()

    @app.route("/read")
    def read(request: Request) -> dict[str, Any]:
        return {"a": request.get_cookie("a"), "missing": request.get_cookie("zz", "d")}

    assert TestApp(app).get("/read", headers={"Cookie": "a=1; junk; b=2"}).json == {
        "a": "1",
        "missing": "d",
    }


SECRET = "s3cret-key-for-tests-only"


class Session(RequestHandler):
    def get(self) -> None:
        value = self.get_signed_cookie("user")
        self.write({"user": value.decode() if value else None})

    def post(self) -> None:
        self.set_signed_cookie("user", self.get_argument("name"))
        self.write("set")


def session_app(secret: Any) -> App:
    app = App(settings={"cookie_secret": secret})
    app.route("/session")(Session)
    return app


def test_signed_cookie_round_trip_and_httponly() -> None:
    t = TestApp(session_app(SECRET))
    res = t.post("/session", {"name": "ann"})
    header = res.headers["Set-Cookie"]
    assert "HttpOnly" in header
    assert t.get("/session").json == {"user": "ann"}


def test_tampered_or_swapped_signed_cookie_is_refused() -> None:
    signed = create_signed_value(SECRET, "user", "ann")
    version, ts, _payload, mac = signed.split("|")
    forged = "|".join([version, ts, "Ym9i", mac])  # "bob"
    t = TestApp(session_app(SECRET))
    assert t.get("/session", headers={"Cookie": f"user={forged}"}).json == {"user": None}
    other = create_signed_value(SECRET, "admin", "ann")  # signed for another cookie
    assert t.get("/session", headers={"Cookie": f"user={other}"}).json == {"user": None}
    assert t.get("/session", headers={"Cookie": f"user={signed}"}).json == {"user": "ann"}


def test_key_rotation_signs_with_first_verifies_with_any() -> None:
    old = create_signed_value("old-key", "user", "ann")
    rotated = ["new-key", "old-key"]
    assert decode_signed_value(rotated, "user", old) == b"ann"
    new = create_signed_value(rotated, "user", "ann")
    assert decode_signed_value("new-key", "user", new) == b"ann"
    assert decode_signed_value("old-key", "user", new) is None
    t = TestApp(session_app(rotated))
    assert t.get("/session", headers={"Cookie": f"user={old}"}).json == {"user": "ann"}


def test_signed_value_expires_and_rejects_the_future() -> None:
    signed = create_signed_value(SECRET, "user", "ann", clock=lambda: 1_000_000.0)
    day = 86400.0
    assert decode_signed_value(SECRET, "user", signed, clock=lambda: 1_000_000.0 + day) == b"ann"
    expired = decode_signed_value(
        SECRET, "user", signed, max_age_days=1, clock=lambda: 1_000_000.0 + 2 * day
    )
    assert expired is None
    assert decode_signed_value(SECRET, "user", signed, clock=lambda: 1_000_000.0 - day) is None
    for junk in ("", "x", "1|a|b|c", "2|1|YQ==|00", "|||"):
        assert decode_signed_value(SECRET, "user", junk) is None


def test_app_without_secret_refuses_to_sign() -> None:
    app = App()
    with pytest.raises(ConfigError, match="cookie_secret"):
        app.create_signed_value("user", "ann")
    caught: list[BaseException] = []

    class Signs(RequestHandler):
        def get(self) -> None:
            try:
                self.set_signed_cookie("user", "ann")
            except ConfigError as exc:
                caught.append(exc)
                raise

    app.route("/sign")(Signs)
    res = TestApp(app).get("/sign", status=500)
    assert "Set-Cookie" not in res.headers
    assert "cookie_secret" in str(caught[0])


def test_app_signing_helpers() -> None:
    app = App(settings={"cookie_secret": SECRET})
    signed = app.create_signed_value("token", b"\x00bytes")
    assert app.decode_signed_value("token", signed) == b"\x00bytes"
    assert app.decode_signed_value("token", signed + "0") is None


def test_handler_cookie_helpers_and_function_route_signed_cookie() -> None:
    class Cookies(RequestHandler):
        def get(self) -> None:
            self.set_cookie("seen", self.get_cookie("seen", "0") or "0", httponly=True)
            self.clear_cookie("old")
            self.write("ok")

    app = App(settings={"cookie_secret": SECRET})
    app.route("/cookies")(Cookies)

    @app.route("/whoami")
    def whoami(request: Request) -> str:
        value = request.get_signed_cookie("user")
        return value.decode() if value else "nobody"

    t = TestApp(app)
    res = t.get("/cookies", headers={"Cookie": "seen=3"})
    assert res.headers.getall("Set-Cookie") == [
        "seen=3; Path=/; HttpOnly; SameSite=Lax",
        "old=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/",
    ]
    signed = app.create_signed_value("user", "ann")
    t.reset()
    assert t.get("/whoami", headers={"Cookie": f"user={signed}"}).text == "ann"
    assert t.get("/whoami", headers={"Cookie": "user=forged"}).text == "nobody"


def test_every_signed_cookie_helper_signs_and_verifies_through_the_app() -> None:
    # One place decides how cookies are signed: an App that changes it (as the xsrf
    # plugin's cookie already goes through it) changes it for handlers and requests too.
    class PrefixedApp(App):
        def create_signed_value(self, name: str, value: str | bytes) -> str:
            return "v2-" + super().create_signed_value(name, value)

        def decode_signed_value(
            self, name: str, value: str | None, max_age_days: float = 31
        ) -> bytes | None:
            if value is None or not value.startswith("v2-"):
                return None
            return super().decode_signed_value(name, value[3:], max_age_days)

    class Session(RequestHandler):
        def get(self) -> None:
            self.write({"handler": str(self.get_signed_cookie("user"))})

        def post(self) -> None:
            self.set_signed_cookie("user", "ann")

    app = PrefixedApp(settings={"cookie_secret": SECRET})
    app.route("/session")(Session)

    @app.route("/fn")
    def fn(request: Request) -> dict[str, str]:
        return {"request": str(request.get_signed_cookie("user"))}

    t = TestApp(app)
    assert t.post("/session").headers["Set-Cookie"].startswith("user=v2-1|")
    assert t.get("/session").json == {"handler": "b'ann'"}
    assert t.get("/fn").json == {"request": "b'ann'"}
    plain = create_signed_value(SECRET, "user", "ann")  # not the app's format: refused
    t.reset()
    assert t.get("/session", headers={"Cookie": f"user={plain}"}).json == {"handler": "None"}
    assert t.get("/fn", headers={"Cookie": f"user={plain}"}).json == {"request": "None"}
