"""Streaming responses: bytes leave as they are produced, not when the handler ends.

Two ways, both on micro's server (chunked on HTTP/1.1, since no length is known):

- ``/count?n=5``: a function route returns a generator; each item is one chunk.
- ``/events``: a RequestHandler whose ``get`` is a generator; every ``yield`` flushes
  what was written so far (the first ``yield`` sends the status and headers), here as
  Server-Sent Events a browser's ``EventSource`` can read.

Run it: ``python -m micro serve examples/streaming.py`` then
``curl -N http://127.0.0.1:8000/count?n=5`` shows the lines arriving one by one.
``delay`` (seconds between items, default 0.2, at most 2) makes that visible.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

from micro import App, HTTPError, Request, RequestHandler

MAX_ITEMS = 1000


def _number(request: Request, name: str, default: float, top: float) -> float:
    try:
        value = float(request.get_query_argument(name, str(default)))
    except ValueError:
        raise HTTPError(400, f"{name} must be a number") from None
    if not 0 <= value <= top:
        raise HTTPError(400, f"{name} must be between 0 and {top:g}")
    return value


def make_app(delay: float = 0.2) -> App:
    app = App()

    @app.route("/count")
    def count(request: Request) -> Iterator[str]:
        n = int(_number(request, "n", 10, MAX_ITEMS))
        pause = _number(request, "delay", delay, 2)

        def lines() -> Iterator[str]:
            for i in range(1, n + 1):
                if i > 1:
                    time.sleep(pause)
                yield f"{i}\n"

        # Validation happened above, before the first byte: a bad n is still a clean 400.
        return lines()

    class Events(RequestHandler):
        def get(self) -> Iterator[None]:
            n = int(_number(self.request, "n", 3, MAX_ITEMS))
            pause = _number(self.request, "delay", delay, 2)
            self.set_header("Content-Type", "text/event-stream")
            self.set_header("Cache-Control", "no-cache")
            for i in range(1, n + 1):
                if i > 1:
                    time.sleep(pause)
                self.write(f"id: {i}\ndata: {json.dumps({'tick': i}, separators=(',', ':'))}\n\n")
                yield  # flush this event now

    app.add_route("/events", Events)
    return app


app = make_app()
