"""An example third-party micro plugin (``poweredby``): header, route, setting, command.

Nothing in micro knows this package; the ``micro.plugins`` entry point is its only
way in. The entry point names the class, which serves as the plugin's factory.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from micro.web import PluginApp, Request, Response

__all__ = ["PoweredByMiddleware", "PoweredByPlugin"]


class PoweredByMiddleware:
    name = "poweredby"

    def __init__(self, banner: str) -> None:
        self.banner = banner

    def __call__(self, request: Request, call_next: Callable[[Request], Response]) -> Response:
        response = call_next(request)
        response.headers.set("X-Powered-By", self.banner)
        return response


class PoweredByPlugin:
    name = "poweredby"
    api_version = 1
    before: Sequence[str] = ("static",)
    after: Sequence[str] = ("gzip",)
    requires: Sequence[str] = ()
    settings: Mapping[str, Any] = {"poweredby_banner": "micro"}

    def setup(self, app: PluginApp) -> None:
        banner = str(app.settings["poweredby_banner"])
        app.add_middleware(PoweredByMiddleware(banner))
        app.add_helper("powered_by", lambda request: banner)

        def about(request: Request) -> dict[str, Any]:
            return {"plugin": self.name, "banner": banner}

        app.add_route("/_poweredby", about, name="poweredby")

    def cli_commands(self) -> Mapping[str, Callable[[list[str]], int]]:
        return {"poweredby": self.print_banner}

    def print_banner(self, argv: list[str]) -> int:
        print(json.dumps({"banner": argv[0] if argv else self.settings["poweredby_banner"]}))
        return 0
