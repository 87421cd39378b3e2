"""The apps bench_realtime.py serves: micro (WebSockets, async and sync sleeps) and Tornado.

micro: ``python -m micro serve benchmarks/apps_realtime.py:app``.
Tornado: ``python benchmarks/apps_realtime.py tornado PORT``.

Both offer the same three things: ``/ws`` (a WebSocket that joins the broadcast
set), ``POST /publish`` (the body goes to every WebSocket as one text message) and
``/health``. micro also has ``/async-sleep`` and ``/sync-sleep`` (0.1 s each).
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from micro_websocket import WebSocketHandler, groups_of

from micro import App, Request

SLEEP = 0.1

app = App(plugins=["websocket"], settings={"websocket_ping_interval": None})


@app.route("/ws")
class Member(WebSocketHandler):
    def open(self) -> None:
        self.groups.join("all", self)


@app.route("/publish", methods=["POST"])
def publish(request: Request) -> str:
    return str(groups_of(request.app).publish("all", request.body.decode()))


@app.route("/health")
def health(request: Request) -> str:
    return "ok"


@app.route("/async-sleep")
async def async_sleep(request: Request) -> str:
    await asyncio.sleep(SLEEP)
    return "slept"


@app.route("/sync-sleep")
def sync_sleep(request: Request) -> str:
    time.sleep(SLEEP)
    return "slept"


def run_tornado(port: int) -> None:
    import tornado.ioloop
    import tornado.web
    import tornado.websocket

    members: set[Any] = set()

    class TornadoMember(tornado.websocket.WebSocketHandler):
        def open(self) -> None:
            members.add(self)

        def on_close(self) -> None:
            members.discard(self)

    class Publish(tornado.web.RequestHandler):
        def post(self) -> None:
            message = self.request.body.decode()
            for member in list(members):
                member.write_message(message)
            self.write(str(len(members)))

    class Health(tornado.web.RequestHandler):
        def get(self) -> None:
            self.write("ok")

    application = tornado.web.Application(
        [(r"/ws", TornadoMember), (r"/publish", Publish), (r"/health", Health)]
    )
    application.listen(port, "127.0.0.1")
    tornado.ioloop.IOLoop.current().start()


if __name__ == "__main__":
    if sys.argv[1:2] == ["tornado"]:
        run_tornado(int(sys.argv[2]))
