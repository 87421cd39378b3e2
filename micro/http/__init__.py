"""sans-IO HTTP/1.1 layer: bytes in, request events out; response bytes checked out.

No sockets, no threads: :class:`RequestParser` turns the bytes of a connection
into :class:`RequestHead` / :class:`Data` / :class:`EndOfMessage` events (or
raises a :class:`~micro.errors.ProtocolError` carrying the status to answer), and
:mod:`micro.http.response` builds what goes back. micro.server does the I/O.
"""

from micro.http.parser import (
    NEED_DATA,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Event,
    Limits,
    NeedData,
    RequestHead,
    RequestParser,
)
from micro.http.response import (
    LAST_CHUNK,
    body_allowed,
    build_response_head,
    encode_chunk,
    error_response,
    http_date,
)

__all__ = [
    "LAST_CHUNK",
    "NEED_DATA",
    "ConnectionClosed",
    "Data",
    "EndOfMessage",
    "Event",
    "Limits",
    "NeedData",
    "RequestHead",
    "RequestParser",
    "body_allowed",
    "build_response_head",
    "encode_chunk",
    "error_response",
    "http_date",
]
