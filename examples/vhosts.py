"""One process, two sites: an API host and a www host, chosen by the Host header.

Tornado-style host patterns (anchored, case-insensitive, port ignored); a request for
any other host falls back to the default group, which here only has a small landing
page, and everything else there is a 404.
"""

from __future__ import annotations

from micro import App, Request, RequestHandler


class Home(RequestHandler):
    def initialize(self, site: str) -> None:
        self.site = site

    def get(self) -> None:
        self.write(f"<h1>Welcome to {self.site}</h1>")


class Status(RequestHandler):
    def get(self) -> None:
        self.write({"ok": True, "host": self.request.host_name})


app = App()
app.add_handlers(
    r"(www\.)?example\.com",
    [
        ("/", Home, {"site": "example.com"}, "home"),
        (r"/about", Home, {"site": "example.com (about)"}),
    ],
)
app.add_handlers(r"api\.example\.com", [("/status", Status, {}, "status")])


@app.route("/")
def landing(request: Request) -> str:
    return "Nothing for this host name; try www.example.com or api.example.com."
