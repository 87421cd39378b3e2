"""RequestShortcuts (micro.web.shortcuts): what a handler reads of its request and App."""

from __future__ import annotations

from typing import Any

from webtest import TestApp

from micro import App, RequestHandler


class Reader(RequestHandler):
    def post(self, item: str) -> None:
        self.write(
            {
                "setting": self.settings["greeting"],
                "path": self.reverse_url("item", "7"),
                "url": self.url_for("item", "8", _query={"x": "1"}),
                "q": self.get_query_argument("q"),
                "b": self.get_body_argument("b"),
                "any": self.get_argument("b"),
                "all": self.get_arguments("q"),
                "missing": self.get_argument("nope", None),
                "cookie": self.get_cookie("flavour", "none"),
                "signed": self.get_signed_cookie("who"),
                "item": item,
            }
        )


def test_a_handler_reads_its_request_and_app_through_its_shortcuts() -> None:
    app = App(settings={"greeting": "hi", "cookie_secret": "s" * 32})
    app.add_route("/items/{item}", Reader, name="item")
    client = TestApp(app)
    client.set_cookie("flavour", "mint")
    resp = client.post("/items/3?q=one&q=two", {"b": " body "})
    expected: dict[str, Any] = {
        "setting": "hi",
        "path": "/items/7",
        "url": "/items/8?x=1",
        "q": "two",
        "b": "body",
        "any": "body",
        "all": ["one", "two"],
        "missing": None,
        "cookie": "mint",
        "signed": None,
        "item": "3",
    }
    assert resp.json == expected
    assert "Missing argument q" in client.post("/items/3", {"b": "x"}, status=400).text
