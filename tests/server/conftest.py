"""Fixtures for the server tests: a real server on 127.0.0.1 (port 0) and raw clients."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from micro.server import Server, ServerConfig

App = Callable[..., Any]


@dataclass
class Response:
    status: int
    reason: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes
    trailers: list[tuple[str, str]] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        values = [v for n, v in self.headers if n.lower() == name.lower()]
        return ", ".join(values) if values else None


class Client:
    """A raw socket with a response reader that keeps bytes between responses."""

    def __init__(self, address: tuple[str, int], timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(address, timeout=timeout)
        self.file = self.sock.makefile("rb")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _line(self) -> bytes:
        line = self.file.readline(65537)
        if not line:
            raise ConnectionError("connection closed while a response was expected")
        return line

    def response(self, method: str = "GET") -> Response:
        version, status, reason = self._line().decode("latin-1").rstrip("\r\n").split(" ", 2)
        headers = self._fields()
        response = Response(int(status), reason, version, headers, b"")
        code = int(status)
        if method == "HEAD" or code in (204, 304) or code < 200:
            return response
        te = response.header("transfer-encoding")
        length = response.header("content-length")
        if te is not None and te.lower() == "chunked":
            chunks = []
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    break
                chunks.append(self.file.read(size))
                assert self.file.read(2) == b"\r\n"
            response.trailers = self._fields()
            response.body = b"".join(chunks)
        elif length is not None:
            response.body = self.file.read(int(length))
        else:
            response.body = self.file.read()
        return response

    def _fields(self) -> list[tuple[str, str]]:
        fields = []
        while True:
            line = self._line().decode("latin-1").rstrip("\r\n")
            if not line:
                return fields
            name, _, value = line.partition(":")
            fields.append((name, value.strip()))

    def rest(self) -> bytes:
        """Everything until the server closes (raises on timeout)."""
        return self.file.read()

    def closed_by_server(self) -> bool:
        """True if the server closed (EOF or reset) with nothing more to read."""
        try:
            return self.file.read(1) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.file.close()
        self.sock.close()


class Harness:
    """Starts servers for a test and stops them after it."""

    def __init__(self) -> None:
        self.servers: list[Server] = []
        self.clients: list[Client] = []

    def serve(self, app: App, **config: Any) -> tuple[str, int]:
        config.setdefault("threads", 4)
        server = Server(app, ServerConfig(host="127.0.0.1", port=0, **config))
        server.start()
        self.servers.append(server)
        return server.address

    def client(self, address: tuple[str, int], timeout: float = 5.0) -> Client:
        client = Client(address, timeout)
        self.clients.append(client)
        return client

    def close(self) -> None:
        for client in self.clients:
            client.close()
        for server in self.servers:
            server.stop(timeout=5.0)


@pytest.fixture
def harness() -> Iterator[Harness]:
    h = Harness()
    try:
        yield h
    finally:
        h.close()
