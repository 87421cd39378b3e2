"""The hello-world WSGI app every server in bench_server.py serves, and a reference ceiling.

`hello` is a plain WSGI callable with no framework around it, so bench_server.py
measures the servers and nothing else: micro, waitress and gunicorn all import
`apps:hello`. `python benchmarks/apps.py asyncio PORT` runs a minimal fixed-response
asyncio server (no parsing beyond finding the end of the head, no WSGI): not a peer, only
the ceiling of what Python itself allows on this machine (bench_server.py --servers
...,asyncio).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

BODY = b"Hello, World!"
CONTENT_TYPE = "text/plain"


def hello(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    if environ["PATH_INFO"] == "/wait":
        time.sleep(0.002)  # bench_server's wait-2ms mode: as if it waited on a database
    if environ.get("CONTENT_LENGTH"):
        # bench_server's POST mode: the body is read (and dropped) before answering.
        stream = environ["wsgi.input"]
        while stream.read(65536):
            pass
    start_response("200 OK", [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(BODY)))])
    return [BODY]


_FIXED = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
    b"Server: asyncio-ceiling\r\n\r\n%s" % (len(BODY), BODY)
)
_FIXED_CLOSE = _FIXED.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if b"connection: close" in head.lower():
                writer.write(_FIXED_CLOSE)
                await writer.drain()
                break
            writer.write(_FIXED)
            await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass
    finally:
        writer.close()


async def _serve_ceiling(port: int) -> None:
    server = await asyncio.start_server(_answer, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "asyncio":
        sys.exit("usage: python benchmarks/apps.py asyncio PORT")
    asyncio.run(_serve_ceiling(int(sys.argv[2])))
