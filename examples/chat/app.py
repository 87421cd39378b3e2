"""examples/chat: chat rooms over WebSockets, broadcast to everyone in a room.

Run it with micro's server (WebSockets need it)::

    micro serve examples/chat/app.py
    micro serve examples/chat/app.py --processes 2   # with CHAT_REDIS_URL set

then open http://127.0.0.1:8000/ in two browser tabs. Each room is a broadcast group
of the ``websocket`` plugin; with ``CHAT_REDIS_URL=redis://127.0.0.1:6379/0`` the
groups go through Redis, so people connected to different processes (or machines)
hear each other. ``POST /rooms/<room>/say`` (form field ``text``) speaks into a room
from plain HTTP, e.g. from a script or a cron job.
"""

from __future__ import annotations

import html
import json
import os
from typing import Any

from micro_websocket import WebSocketHandler, groups_of

from micro import App, HTTPError, Request

PAGE = """<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>micro chat: {room}</title>
<style>
  body {{ font: 16px system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; }}
  #log {{ list-style: none; padding: 0; min-height: 10rem; border: 1px solid #ccc; }}
  #log li {{ padding: .2rem .5rem; }} .who {{ font-weight: bold; }}
</style>
<h1>Room <em>{room}</em></h1>
<p id="status">connecting…</p>
<ul id="log"></ul>
<form id="say">
  <input id="name" placeholder="your name" value="guest" size="10">
  <input id="text" placeholder="say something" autocomplete="off" size="30">
  <button>Send</button>
</form>
<script>
const log = document.getElementById("log");
const status = document.getElementById("status");
const scheme = location.protocol === "https:" ? "wss" : "ws";
const socket = new WebSocket(`${{scheme}}://${{location.host}}/ws/{room}`);
socket.onopen = () => {{ status.textContent = "connected"; }};
socket.onclose = () => {{ status.textContent = "disconnected"; }};
socket.onmessage = (event) => {{
  const message = JSON.parse(event.data);
  const item = document.createElement("li");
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = message.name + ": ";
  item.append(who, message.text);
  log.append(item);
}};
document.getElementById("say").onsubmit = (event) => {{
  event.preventDefault();
  const text = document.getElementById("text");
  if (!text.value) return;
  socket.send(JSON.stringify({{name: document.getElementById("name").value, text: text.value}}));
  text.value = "";
}};
</script>
</html>
"""

INDEX = """<!doctype html>
<html lang="en"><meta charset="utf-8"><title>micro chat</title>
<h1>micro chat</h1>
<p>Rooms: <a href="/room/lobby">lobby</a>, <a href="/room/python">python</a>.</p>
</html>
"""

MAX_TEXT = 2000


def make_app(redis_url: str | None = None) -> App:
    settings: dict[str, Any] = {"websocket_redis_url": redis_url}
    app = App(plugins=["websocket"], settings=settings)

    @app.route("/")
    def index(request: Request) -> str:
        return INDEX

    @app.route(r"/room/(\w+)")
    def room_page(request: Request, room: str) -> str:
        return PAGE.format(room=html.escape(room))

    @app.route(r"/ws/(\w+)")
    class ChatSocket(WebSocketHandler):
        def open(self, room: str) -> None:
            self.room = "room:" + room
            self.groups.join(self.room, self)

        def on_message(self, message: str | bytes) -> None:
            try:
                data = json.loads(message)
                name = str(data["name"])[:40] or "guest"
                text = str(data["text"])[:MAX_TEXT]
            except (ValueError, KeyError, TypeError):
                self.write_message(json.dumps({"name": "server", "text": "bad message"}))
                return
            self.groups.publish(self.room, json.dumps({"name": name, "text": text}))

    @app.route(r"/rooms/(\w+)/say", methods=["POST"])
    def say(request: Request, room: str) -> dict[str, int]:
        text = request.get_body_argument("text", "")
        if not text:
            raise HTTPError(400, "the form field 'text' is empty")
        message = json.dumps({"name": "http", "text": text[:MAX_TEXT]})
        return {"delivered_here": groups_of(request.app).publish("room:" + room, message)}

    return app


app = make_app(os.environ.get("CHAT_REDIS_URL") or None)
