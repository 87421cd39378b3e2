"""Broadcast groups across processes through a real redis-server.

Two Apps, each behind its own micro server, stand for two processes (or two
machines): they share nothing but the Redis URL.
"""

from __future__ import annotations

import contextlib
from typing import Any

from micro_websocket import WebSocketHandler, groups_of
from websockets.sync.client import connect

from micro import App

from .conftest import Serve


class Room(WebSocketHandler):
    def open(self, room: str) -> None:
        self.groups.join(room, self)
        self.write_message("joined")

    def on_message(self, message: str | bytes) -> None:
        self.groups.publish(self.path_args[0], message)


def make_app(redis_url: str) -> App:
    app = App(plugins=["websocket"], settings={"websocket_redis_url": redis_url})
    app.add_route(r"/room/(\w+)", Room)
    return app


def test_a_message_reaches_the_other_server_through_redis(serve: Serve, redis_url: str) -> None:
    apps = [make_app(redis_url), make_app(redis_url)]
    addresses = [serve(app, threads=2) for app in apps]
    try:
        with contextlib.ExitStack() as stack:
            one, two, elsewhere = (
                stack.enter_context(connect(f"ws://{h}:{p}/room/{room}"))
                for (h, p), room in zip(addresses + addresses[:1], ["x", "x", "y"], strict=True)
            )
            for ws in (one, two, elsewhere):
                assert ws.recv(timeout=5) == "joined"
            one.send("text from one")
            assert two.recv(timeout=5) == "text from one"
            assert one.recv(timeout=5) == "text from one"  # delivered once, locally
            two.send(b"\x00bytes from two")
            assert one.recv(timeout=5) == b"\x00bytes from two"
            assert two.recv(timeout=5) == b"\x00bytes from two"
            groups_of(apps[1]).publish("y", "from a thread")  # not a member's handler
            assert elsewhere.recv(timeout=5) == "from a thread"
            for ws in (one, two):
                try:
                    extra: Any = ws.recv(timeout=0.2)
                except TimeoutError:
                    extra = None
                assert extra is None  # nothing twice, nothing from room y
    finally:
        for app in apps:
            groups_of(app).close()
