"""The worker pool on its own: a stop never strands a request a worker already holds."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from micro.http import RequestHead
from micro.server import ServerConfig
from micro.server.body import BodyPolicy
from micro.server.channel import Channel
from micro.server.context import ServerContext
from micro.server.limits import Overloaded
from micro.server.workers import WorkerPool

Start = Callable[..., Any]


class NoLoop:
    """A loop stub: a connection given back is just closed (the test reads its answers)."""

    def __init__(self) -> None:
        self.given_back = threading.Event()

    def resume(self, channel: Channel) -> None:
        channel.close()
        self.given_back.set()

    def linger(self, channel: Channel) -> None:
        channel.close()
        self.given_back.set()

    def leader(self) -> int:
        return 0

    def serving(self) -> bool:
        return False


def _channel_with_head(
    config: ServerConfig, requests: bytes
) -> tuple[socket.socket, Channel, RequestHead]:
    client, server = socket.socketpair()
    client.settimeout(5.0)
    channel = Channel(server, ("127.0.0.1", 1), config.limits)
    client.sendall(requests)
    select.select([server], [], [], 5.0)
    data = channel.recv_nowait()
    assert data
    channel.parser.feed(data)
    head = channel.parser.next_event()
    assert type(head) is RequestHead
    # What the I/O loop does before it submits: the request is read whole.
    channel.start_request(head, BodyPolicy())
    assert channel.read_body()
    return client, channel, head


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_pipelined_request_is_answered_when_stop_begins_as_its_turn_comes() -> None:
    # The interleaving a real stop can hit: the worker has answered the first request
    # and found a pipelined second one while others wait; stop() puts its end markers
    # on the queue before the worker decides where that second request goes.
    config = ServerConfig(threads=1)
    pool: WorkerPool
    others: list[tuple[socket.socket, Channel, RequestHead]] = []
    stopper: list[threading.Thread] = []

    def app(environ: dict[str, Any], start_response: Start) -> list[bytes]:
        if environ["PATH_INFO"] == "/first":
            other = _channel_with_head(config, b"GET /other HTTP/1.1\r\nHost: x\r\n\r\n")
            others.append(other)
            pool.submit(other[1], other[2])
            stopping = threading.Thread(target=pool.stop, args=(5.0,))
            stopping.start()
            stopper.append(stopping)
            deadline = time.monotonic() + 5.0
            while pool.pending() < 2 and time.monotonic() < deadline:
                time.sleep(0.001)  # stop() puts its marker at once, behind /other
            assert pool.pending() == 2
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    ctx = ServerContext(app, config, 0)
    pool = WorkerPool(ctx, config.threads, NoLoop())
    client, channel, head = _channel_with_head(
        config,
        b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    pool.submit(channel, head)
    pool.start()
    try:
        answers = _read_all(client)
        assert answers.count(b"HTTP/1.1 200 OK\r\n") == 2
        assert answers.endswith(b"ok")
        assert others and _read_all(others[0][0]).startswith(b"HTTP/1.1 200 OK\r\n")
    finally:
        for thread in stopper:
            thread.join(5.0)
        client.close()
        for other in others:
            other[0].close()
            other[1].close()
        channel.close()


def test_a_stopped_pool_refuses_a_request_instead_of_stranding_it() -> None:
    # The I/O loop may submit a head just as a stop whose drain timed out stops the
    # pool: refused, the loop answers 503; queued, nobody would ever answer or close it.
    config = ServerConfig(threads=1)
    pool = WorkerPool(ServerContext(lambda e, s: [], config, 0), config.threads, NoLoop())
    pool.start()
    pool.stop(5.0)
    client, channel, head = _channel_with_head(config, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        with pytest.raises(Overloaded):
            pool.submit(channel, head)
        assert pool.pending() == 0
    finally:
        client.close()
        channel.close()


def _second_request_after_the_first_answer(threads: int) -> bytes:
    """What a keep-alive client gets when it sends its next request only after the
    first answer arrived (not pipelined), from a pool whose loop closes whatever it
    is given back."""
    config = ServerConfig(threads=threads)

    def app(environ: dict[str, Any], start_response: Start) -> list[bytes]:
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    # A generous window, so that a loaded machine cannot make the client late.
    loop = NoLoop()
    pool = WorkerPool(ServerContext(app, config, 0), threads, loop, next_request_wait=5.0)
    client, channel, head = _channel_with_head(config, b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n")
    pool.start()
    try:
        deadline = time.monotonic() + 30
        while pool.busy() and time.monotonic() < deadline:
            time.sleep(0.01)  # until every thread waits on the queue
        assert pool.busy() == 0
        pool.submit(channel, head)
        first = b""
        while not first.endswith(b"ok"):
            chunk = client.recv(65536)
            assert chunk, "the first answer never came"
            first += chunk
        # Late enough that the worker's one non-blocking read has found nothing. With no
        # free worker, it then gives the connection back at once: wait for that. With
        # one, it waits for the client's next request, which nothing outside shows.
        if threads == 1:
            assert loop.given_back.wait(30)
        else:
            time.sleep(0.2)
        try:
            client.sendall(b"GET /2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return first + _read_all(client)
        except (BrokenPipeError, ConnectionResetError):
            return first  # the connection was given back to the loop, which closed it
    finally:
        pool.stop(5.0)
        client.close()
        channel.close()


def test_a_free_worker_lets_the_busy_one_wait_for_its_clients_next_request() -> None:
    # Two threads: one is free for new work, so the one that answered keeps the
    # connection for a moment and serves the next request itself (NoLoop would
    # have closed it).
    answers = _second_request_after_the_first_answer(threads=2)
    assert answers.count(b"HTTP/1.1 200 OK\r\n") == 2


def test_with_no_free_worker_the_connection_goes_back_to_the_loop_at_once() -> None:
    # One thread: nobody else would take new requests, so it never waits on a client.
    answers = _second_request_after_the_first_answer(threads=1)
    assert answers.count(b"HTTP/1.1 200 OK\r\n") == 1
