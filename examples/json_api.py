"""A small JSON API: list, create, read and delete items, errors answered as JSON.

Run it with ``micro serve examples/json_api.py`` and try::

    curl -s localhost:8000/items -d '{"name": "pen", "price": 3}'
    curl -s localhost:8000/items/1
"""

from __future__ import annotations

import itertools
from typing import Any

from micro import App, HTTPError, Request, Response


def make_app() -> App:
    """A fresh app with its own store (the store lives in the app, not in the module)."""
    app = App()
    items: dict[int, dict[str, Any]] = {}
    ids = itertools.count(1)

    @app.route("/items", methods=["GET"], name="items")
    def list_items(request: Request) -> list[dict[str, Any]]:
        return [items[k] for k in sorted(items)]

    @app.route("/items", methods=["POST"])
    def create_item(request: Request) -> Response:
        data = request.json  # 400 on a body that is not JSON
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            raise HTTPError(400, "An item needs a string 'name'")
        price = data.get("price", 0)
        if not isinstance(price, int | float) or isinstance(price, bool) or price < 0:
            raise HTTPError(400, "'price' must be a non-negative number")
        item = {"id": next(ids), "name": data["name"], "price": price}
        items[item["id"]] = item
        response = Response.json(item, 201)
        response.headers.set("Location", app.reverse_url("item", item["id"]))
        return response

    @app.route("/items/{id:d}", methods=["GET"], name="item")
    def get_item(request: Request, id: int) -> dict[str, Any]:
        if id not in items:
            raise HTTPError(404, f"No item {id}")
        return items[id]

    @app.route("/items/{id:d}", methods=["DELETE"])
    def delete_item(request: Request, id: int) -> None:
        if items.pop(id, None) is None:
            raise HTTPError(404, f"No item {id}")

    # Every error of this API is JSON, whatever the client's Accept says.
    for status in (400, 404, 405, 413, 500):

        @app.error_handler(status)
        def as_json(request: Request, error: HTTPError) -> dict[str, Any]:
            return {"error": error.reason, "status": error.status}

    return app


app = make_app()
