"""The exception tree of micro (a leaf module: it imports nothing from micro).

Every error micro raises derives from :class:`MicroError`, so an application can
catch them all in one place. Errors that end in an HTTP answer carry the status
(and a short reason) to answer with; errors that are a programmer's mistake
(a bad route, a missing secret, a broken plugin) name the problem in their message
and are raised when the mistake is made, usually at start-up.

::

    MicroError
    ├── ProtocolError              the client broke HTTP: answer `status`, then close
    │   ├── BadRequest             400
    │   ├── ContentTooLarge        413
    │   ├── URITooLong             414
    │   ├── HeaderFieldsTooLarge   431
    │   ├── NotImplementedByServer 501
    │   └── VersionNotSupported    505
    ├── HTTPError                  a handler answers `status` (the connection lives on)
    ├── InvalidResponse            the application produced a response HTTP cannot carry
    ├── ConfigError                a setting or an argument is wrong
    ├── RoutingError               a route cannot be registered or reversed
    └── PluginError                a plugin cannot be found, ordered or loaded
"""

from __future__ import annotations

from micro.status import reason_phrase

__all__ = [
    "BadRequest",
    "ConfigError",
    "ContentTooLarge",
    "HTTPError",
    "HeaderFieldsTooLarge",
    "InvalidResponse",
    "MicroError",
    "NotImplementedByServer",
    "PluginError",
    "ProtocolError",
    "RoutingError",
    "URITooLong",
    "VersionNotSupported",
]


class MicroError(Exception):
    """Root of every exception micro raises."""


class ProtocolError(MicroError):
    """The peer sent bytes that are not acceptable HTTP/1.1.

    ``status`` is the response status to send before closing the connection and
    ``reason`` a short, client-safe explanation for the response body.
    """

    status: int = 400

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        if status is not None:
            self.status = status
        self.reason = reason

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reason!r}, status={self.status})"


class BadRequest(ProtocolError):
    status = 400


class ContentTooLarge(ProtocolError):
    status = 413


class URITooLong(ProtocolError):
    status = 414


class HeaderFieldsTooLarge(ProtocolError):
    status = 431


class NotImplementedByServer(ProtocolError):
    status = 501


class VersionNotSupported(ProtocolError):
    status = 505


class HTTPError(MicroError):
    """Raised by application code to answer with an HTTP error status.

    ``reason`` replaces the standard reason phrase when given; ``log_message``
    is for the server log only and never reaches the client; ``headers`` are
    added to the error response (for example ``Allow`` on a 405 or
    ``Retry-After`` on a 503).
    """

    def __init__(
        self,
        status: int = 500,
        reason: str | None = None,
        log_message: str | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        if not 100 <= status <= 599:
            raise ValueError(f"HTTP status must be in 100..599, got {status}")
        self.status = status
        self.reason = reason or reason_phrase(status)
        self.log_message = log_message
        self.headers = dict(headers or {})
        super().__init__(f"HTTP {status}: {self.reason}")


class InvalidResponse(MicroError):
    """The application gave a status line or header HTTP cannot carry (CR, LF, NUL, ...).

    The server answers 500 instead and logs this error; nothing of the bad response
    reaches the client.
    """


class ConfigError(MicroError):
    """A setting, argument or environment value is invalid."""


class RoutingError(MicroError):
    """A route cannot be registered (conflict, bad pattern) or a URL reversed."""


class PluginError(MicroError):
    """A plugin cannot be discovered, ordered, imported or set up."""
