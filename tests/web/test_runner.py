"""HandlerRunner (micro.web.runner): how a RequestHandler class is driven through a request.

The life cycle as a handler author sees it (order of the hooks, streaming, errors) is
in test_handler.py; these are the runner's own decisions: what it skips, what it
joins, and what it does when a handler finished before its method.
"""

from __future__ import annotations

from collections.abc import Iterator

from webtest import TestApp

from micro import App, HTTPError, RequestHandler
from micro.web.runner import HandlerRunner


class FinishedInInitialize(RequestHandler):
    def initialize(self, events: list[str]) -> None:
        self.events = events
        self.set_status(202)
        self.finish("answered by initialize")

    def get(self) -> None:
        self.events.append("get")
        self.write("answered by get")

    def on_finish(self) -> None:
        self.events.append("on_finish")


def test_a_handler_finished_before_its_method_is_not_run() -> None:
    events: list[str] = []
    app = App()
    app.add_route("/early", FinishedInInitialize, kwargs={"events": events})
    resp = TestApp(app).get("/early", status=202)
    assert resp.text == "answered by initialize"
    assert events == ["on_finish"]


class QuietGenerator(RequestHandler):
    def get(self) -> Iterator[str]:
        self.set_header("X-Kind", "quiet")
        self.write("written, ")
        if self.get_query_argument("fail", None):
            raise HTTPError(409, "Conflict Before Any Yield")
        self.write("never yielded")
        return
        yield  # a generator that ends before its first yield


def test_a_generator_that_ends_before_yielding_answers_as_one_body() -> None:
    app = App()
    app.add_route("/quiet", QuietGenerator)
    client = TestApp(app)
    resp = client.get("/quiet")
    assert resp.text == "written, never yielded"
    assert resp.headers["X-Kind"] == "quiet"
    assert resp.headers["Content-Length"] == str(len(resp.body))
    failed = client.get("/quiet?fail=1", status=409)
    assert "Conflict Before Any Yield" in failed.text
    assert "X-Kind" not in failed.headers


def test_the_runner_names_its_class() -> None:
    class Hello(RequestHandler):
        def get(self) -> None:
            self.write("hi")

    runner = HandlerRunner(Hello, {})
    assert repr(runner) == "HandlerRunner(Hello)"
    assert runner.methods["HEAD"] == "get"
    app = App()
    app.add_route("/hello", Hello)
    assert TestApp(app).get("/hello").text == "hi"
