"""micro-websocket: broadcast groups, in one process or across processes through Redis.

A group is a name; WebSocket handlers join and leave it, and anyone (a handler, a
plain HTTP route, a background thread) publishes a message to it::

    groups = groups_of(app)            # or self.groups in a WebSocketHandler
    groups.join("room:lobby", self)
    groups.publish("room:lobby", "hello")   # every member's write_message, any thread

By default a group lives in this process. With the ``websocket_redis_url`` setting
(``redis://127.0.0.1:6379/0``) each publish also goes to Redis pub/sub, and each
process delivers what the others published to its own members, so ``micro serve
--processes N`` and several machines behind one balancer share their groups. One
subscriber thread per process listens (not one per connection).

Delivery is best effort, like the network: a member whose socket is closed is
dropped from its groups; a member too slow to read is closed by its send buffer limit.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from micro.errors import ConfigError
from micro_websocket.connection import WebSocketClosedError, server_frame

if TYPE_CHECKING:
    from micro_websocket.handler import WebSocketHandler

__all__ = ["Broker", "Groups", "RedisBroker", "groups_of"]

log = logging.getLogger("micro.websocket")
SETTING = "websocket.groups"  # where the plugin keeps an app's Groups


class Broker(Protocol):
    """Carries published messages to the other processes (Redis, or nothing)."""

    def publish(self, group: str, message: str | bytes) -> None: ...
    def start(self, deliver: Callable[[str, str | bytes], object]) -> None: ...
    def stop(self) -> None: ...


class Groups:
    """The groups of one app in this process (thread-safe)."""

    def __init__(self, broker: Broker | None = None) -> None:
        self._lock = threading.Lock()
        self._members: dict[str, set[WebSocketHandler]] = {}
        self._joined: dict[WebSocketHandler, set[str]] = {}
        self._broker = broker
        # The subscriber starts on first use in each process: ``--processes`` loads
        # the app (and so these groups) before it forks, and threads do not survive
        # a fork.
        self._broker_pid = 0

    def _ensure_broker(self) -> None:
        if self._broker is not None and self._broker_pid != os.getpid():
            with self._lock:
                if self._broker_pid != os.getpid():
                    self._broker.start(self.deliver)
                    self._broker_pid = os.getpid()

    def join(self, group: str, handler: WebSocketHandler) -> None:
        self._ensure_broker()
        with self._lock:
            self._members.setdefault(group, set()).add(handler)
            self._joined.setdefault(handler, set()).add(group)

    def leave(self, group: str, handler: WebSocketHandler) -> None:
        with self._lock:
            self._forget(group, handler)
            names = self._joined.get(handler)
            if names is not None:
                names.discard(group)
                if not names:
                    del self._joined[handler]

    def leave_all(self, handler: WebSocketHandler) -> None:
        """Leave every group (done for you when the connection closes)."""
        with self._lock:
            for group in self._joined.pop(handler, ()):
                self._forget(group, handler)

    def members(self, group: str) -> int:
        """How many connections of this process are in ``group``."""
        with self._lock:
            return len(self._members.get(group, ()))

    def publish(self, group: str, message: str | bytes) -> int:
        """Send ``message`` to every member, here and (with Redis) in other processes.

        Returns the number of members of this process it was written to.
        """
        if not isinstance(message, str | bytes):
            raise TypeError(f"publish takes str or bytes, not {type(message).__name__}")
        if self._broker is not None:
            self._ensure_broker()
            self._broker.publish(group, message)
        return self.deliver(group, message)

    def deliver(self, group: str, message: str | bytes) -> int:
        """Write ``message`` to this process's members of ``group`` only."""
        with self._lock:
            members = list(self._members.get(group, ()))
        if not members:
            return 0
        frame = server_frame(message)
        sent = 0
        for handler in members:
            try:
                handler.write_prepared(message, frame)
                sent += 1
            except WebSocketClosedError:
                self.leave(group, handler)
        return sent

    def close(self) -> None:
        if self._broker is not None and self._broker_pid == os.getpid():
            self._broker.stop()
            self._broker_pid = 0

    def _forget(self, group: str, handler: WebSocketHandler) -> None:
        members = self._members.get(group)
        if members is not None:
            members.discard(handler)
            if not members:
                del self._members[group]


class RedisBroker:
    """Redis pub/sub between processes (needs ``pip install micro-websocket[redis]``).

    Each message is published on ``<prefix><group>`` as one byte of kind (``t`` text,
    ``b`` binary), this process's 16-character id, then the payload; the subscriber
    skips its own messages (they were delivered locally already).
    """

    def __init__(self, url: str, prefix: str = "micro-ws:") -> None:
        try:
            import redis
        except ImportError:
            raise ConfigError(
                "websocket_redis_url needs redis-py: pip install 'micro-websocket[redis]'"
            ) from None
        self._redis: Any = redis.Redis.from_url(url)
        self._prefix = prefix
        self._id = os.urandom(8).hex().encode("ascii")
        self._pubsub: Any = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def publish(self, group: str, message: str | bytes) -> None:
        if isinstance(message, str):
            kind, data = b"t", message.encode("utf-8")
        else:
            kind, data = b"b", message
        self._redis.publish(self._prefix + group, kind + self._id + data)

    def start(self, deliver: Callable[[str, str | bytes], object]) -> None:
        # A new id in each process: an app loaded before a fork shares its object.
        self._id = os.urandom(8).hex().encode("ascii")
        self._stopping.clear()
        pubsub = self._redis.pubsub()
        pubsub.psubscribe(self._prefix + "*")
        # Wait for the subscription to be confirmed, so that a publish right after
        # start() (another process's, or a test's) is not missed.
        for _ in range(50):
            message = pubsub.get_message(timeout=0.1)
            if message is not None and message.get("type") == "psubscribe":
                break
        self._pubsub = pubsub
        self._thread = threading.Thread(
            target=self._listen, args=(deliver,), name="micro-ws-redis", daemon=True
        )
        self._thread.start()

    def _listen(self, deliver: Callable[[str, str | bytes], object]) -> None:
        prefix = len(self._prefix)
        while not self._stopping.is_set():
            try:
                message = self._pubsub.get_message(timeout=0.2)
            except Exception:
                if self._stopping.is_set():
                    return
                log.exception("the Redis subscription failed; retrying in 1 s")
                self._stopping.wait(1.0)
                continue
            if message is None or message.get("type") != "pmessage":
                continue
            data: bytes = message["data"]
            if data[1:17] == self._id:
                continue
            channel = message["channel"]
            group = (channel.decode() if isinstance(channel, bytes) else channel)[prefix:]
            payload: str | bytes = data[17:]
            if data[:1] == b"t":
                payload = data[17:].decode("utf-8", "replace")
            try:
                deliver(group, payload)
            except Exception:
                log.exception("delivering a Redis message to group %r failed", group)

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(2.0)
        if self._pubsub is not None:
            self._pubsub.close()
        self._redis.close()


def groups_of(app: Any) -> Groups:
    """The :class:`Groups` of ``app`` (the ``websocket`` plugin creates them)."""
    groups = app.settings.get(SETTING)
    if groups is None:
        raise ConfigError('broadcast groups need the plugin: App(plugins=["websocket"])')
    return groups  # type: ignore[no-any-return]
