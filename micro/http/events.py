"""sans-IO HTTP layer: the events a RequestParser returns, and its limits.

A request arrives as one :class:`RequestHead`, zero or more :class:`Data`, then one
:class:`EndOfMessage`. :class:`ConnectionClosed` says the peer closed between
requests; :data:`NEED_DATA` says the parser needs more bytes first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Final

from micro.errors import ConfigError
from micro.http.hosts import HostCache


@dataclass(frozen=True, slots=True)
class Limits:
    """Size limits of one request; past a limit the parser raises the status shown.

    - ``max_request_line`` (8190 bytes, without CRLF): 414 URI Too Long.
    - ``max_header_bytes`` (65536): the field lines of the head, CRLFs included: 431.
    - ``max_header_count`` (100 field lines): 431.
    - ``max_body_bytes`` (1 GiB): 413, checked against Content-Length when the head
      arrives and against the running total of chunked data.
    - ``max_chunk_line`` (4096 bytes, without CRLF): a longer chunk-size line is a 400.
    - ``max_trailer_bytes`` (16384): the trailer section after the last chunk: 431.

    ``hosts`` is no limit: the :class:`~micro.http.hosts.HostCache` of Host values
    that passed their checks, shared by every parser given these Limits (one
    server's connections); it takes no part in comparisons.
    """

    # ``help`` in a field's metadata makes it a ``micro serve`` option (micro.cli.serve).
    max_request_line: int = field(
        default=8190, metadata={"help": "request line bytes; longer: 414", "metavar": "BYTES"}
    )
    max_header_bytes: int = field(
        default=65536, metadata={"help": "head bytes; larger: 431", "metavar": "BYTES"}
    )
    max_header_count: int = field(
        default=100, metadata={"help": "header fields; more: 431", "metavar": "N"}
    )
    max_body_bytes: int = field(
        default=1_073_741_824,
        metadata={"help": "request body bytes; more: 413", "metavar": "BYTES"},
    )
    max_chunk_line: int = 4096
    max_trailer_bytes: int = 16384
    hosts: HostCache = field(default_factory=HostCache, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for f in fields(self):
            if not f.init:
                continue
            name = f.name
            value = getattr(self, name)
            if type(value) is not int or value < (0 if name == "max_body_bytes" else 1):
                raise ConfigError(f"Limits.{name} must be a positive int, got {value!r}")


@dataclass(slots=True)
class RequestHead:
    """The request line and header section of one request, checked and digested.

    ``target`` is the request-target as sent (latin-1); ``path`` its path, still
    percent-encoded (``"*"`` for asterisk-form, ``"/"`` for an absolute-form target
    with an empty path); ``query`` what follows the first ``?``. ``headers`` keeps
    every field line in arrival order, names lower-cased, values without their
    surrounding whitespace. ``host`` is the authority of an absolute-form target,
    else the Host field, else ``""``. ``content_length`` is None when the body is
    chunked or absent; ``keep_alive`` says whether the client lets the connection
    stay open after this exchange; ``expect_continue`` is True only for an HTTP/1.1
    request with ``Expect: 100-continue`` that has a body to send.
    """

    method: str
    target: str
    path: str
    query: str
    http_version: str
    headers: list[tuple[str, str]]
    host: str
    scheme: str | None
    content_length: int | None
    chunked: bool
    keep_alive: bool
    expect_continue: bool


@dataclass(slots=True)
class Data:
    """A piece of the request body, already freed of chunked framing."""

    data: bytes


@dataclass(frozen=True, slots=True)
class EndOfMessage:
    """The request body is complete; ``trailers`` are the chunked trailer fields.

    Immutable (``trailers`` becomes a tuple whatever sequence it is given), so the
    end of every message without trailers can be one shared :data:`END_OF_MESSAGE`.
    """

    trailers: Sequence[tuple[str, str]] = ()

    def __post_init__(self) -> None:
        if type(self.trailers) is not tuple:
            object.__setattr__(self, "trailers", tuple(self.trailers))


@dataclass(slots=True)
class ConnectionClosed:
    """The peer closed the connection between two requests."""


class NeedData:
    """Type of :data:`NEED_DATA`: the parser needs more bytes to say anything."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = NeedData()
# PERF: what the parser returns at the end of each message without trailers (most
# of them): building an EndOfMessage per request cost about as much as a regex.
END_OF_MESSAGE: Final = EndOfMessage()

Event = RequestHead | Data | EndOfMessage | ConnectionClosed | NeedData
