"""The examples work as documented (each example is driven through WebTest)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from webtest import TestApp

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hello() -> None:
    res = TestApp(load("hello").app).get("/")
    assert res.text == "Hello, world!\n"


def test_json_api_crud() -> None:
    t = TestApp(load("json_api").make_app())
    assert t.get("/items").json == []
    res = t.post_json("/items", {"name": "pen", "price": 3}, status=201)
    assert res.json == {"id": 1, "name": "pen", "price": 3}
    assert res.headers["Location"].endswith("/items/1")
    t.post_json("/items", {"name": "ink"}, status=201)
    assert [i["name"] for i in t.get("/items").json] == ["pen", "ink"]
    assert t.get("/items/2").json == {"id": 2, "name": "ink", "price": 0}
    t.delete("/items/1", status=204)
    assert [i["id"] for i in t.get("/items").json] == [2]


def test_json_api_errors_are_json() -> None:
    t = TestApp(load("json_api").make_app())
    res = t.get("/items/9", status=404)
    assert res.json == {"error": "No item 9", "status": 404}
    res = t.get("/items/abc", status=404)
    assert res.json["status"] == 404
    res = t.put("/items/1", status=405)
    assert res.json == {"error": "Method Not Allowed", "status": 405}
    assert res.headers["Allow"] == "DELETE, GET, HEAD, OPTIONS"
    res = t.post("/items", b"{oops", content_type="application/json", status=400)
    assert res.json == {"error": "Invalid JSON body", "status": 400}
    res = t.post_json("/items", {"name": 5}, status=400)
    assert res.json["error"] == "An item needs a string 'name'"
    t.post_json("/items", {"name": "x", "price": -1}, status=400)


def test_vhosts_two_host_patterns() -> None:
    t = TestApp(load("vhosts").app)
    res = t.get("/", headers={"Host": "www.example.com"})
    assert res.text == "<h1>Welcome to example.com</h1>"
    assert t.get("/", headers={"Host": "EXAMPLE.com:8080"}).text.startswith("<h1>")
    assert t.get("/about", headers={"Host": "example.com"}).text.endswith("(about)</h1>")
    res = t.get("/status", headers={"Host": "api.example.com"})
    assert res.json == {"ok": True, "host": "api.example.com"}
    t.get("/status", headers={"Host": "www.example.com"}, status=404)
    t.get("/about", headers={"Host": "api.example.com"}, status=404)
    res = t.get("/", headers={"Host": "other.test"})
    assert res.text.startswith("Nothing for this host")
