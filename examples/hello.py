"""The smallest micro app: the README's serve command runs this file."""

from __future__ import annotations

from micro import App, Request

app = App()


@app.route("/")
def hello(request: Request) -> str:
    return "Hello, world!\n"
