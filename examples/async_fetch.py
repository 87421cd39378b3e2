"""examples/async_fetch.py: an async route that calls other services with an async HTTP client.

``GET /trip/<city>`` asks two upstream services at once (weather and hotels, with
httpx's AsyncClient) and answers with both. The calls overlap, and under micro's
server no thread waits for them: while the route awaits, the worker threads serve
other requests. Run it against the stub upstream in this file::

    python examples/async_fetch.py stub 8001          # the upstream services
    UPSTREAM=http://127.0.0.1:8001 micro serve examples/async_fetch.py

Needs ``pip install httpx``. A blocking client (``requests``, ``urllib``) inside an
``async def`` route would stop every async route of the process while it waits; see
docs/async.md.
"""

from __future__ import annotations

import asyncio
import os
import sys

import httpx

from micro import App, HTTPError, Request

UPSTREAM_DELAY = 0.2  # seconds the stub takes to answer, like a real service would


class Upstream:
    """One AsyncClient for the app's life (its connection pool is reused), made on
    first use: inside the App's asyncio loop, where every async route runs."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(base_url=self.base_url, timeout=5.0)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


def make_app(upstream_url: str) -> App:
    app = App()
    upstream = Upstream(upstream_url)
    app.settings["upstream"] = upstream  # so that whoever stops the app can close it

    @app.route(r"/trip/(\w+)")
    async def trip(request: Request, city: str) -> dict[str, object]:
        client = upstream.client
        try:
            weather, hotels = await asyncio.gather(
                client.get(f"/weather/{city}"), client.get(f"/hotels/{city}")
            )
        except httpx.HTTPError as exc:
            raise HTTPError(502, f"an upstream service failed: {exc}") from None
        if weather.status_code == 404:
            raise HTTPError(404, f"no city called {city}")
        return {"city": city, "weather": weather.json(), "hotels": hotels.json()}

    return app


def make_stub() -> App:
    """The upstream services, stubbed: each answer takes UPSTREAM_DELAY seconds."""
    stub = App()
    forecasts = {"paris": "sunny", "oslo": "snow"}

    @stub.route(r"/weather/(\w+)")
    async def weather(request: Request, city: str) -> dict[str, str]:
        await asyncio.sleep(UPSTREAM_DELAY)
        if city not in forecasts:
            raise HTTPError(404)
        return {"forecast": forecasts[city]}

    @stub.route(r"/hotels/(\w+)")
    async def hotels(request: Request, city: str) -> list[str]:
        await asyncio.sleep(UPSTREAM_DELAY)
        return [f"Hotel {city.title()} {n}" for n in (1, 2)]

    return stub


app = make_app(os.environ.get("UPSTREAM", "http://127.0.0.1:8001"))

if __name__ == "__main__" and sys.argv[1:2] == ["stub"]:
    from micro.server import serve

    serve(make_stub(), port=int(sys.argv[2]))
