"""Framework layer: what a request carries besides its head, parsed on first use.

:class:`RequestArguments` is the part of :class:`micro.web.request.Request` that reads
the body: the raw bytes (``max_body_size``), JSON, a form (urlencoded here, other media
types through the App's body parser, uploads limited by ``max_upload_size``), and the
query and body arguments with their Tornado-style accessors (``get_argument`` ...).
Request inherits it; each part is parsed the first time it is asked for and cached.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, overload
from urllib.parse import parse_qs

from micro.errors import HTTPError
from micro.plugins.bodies import Form, FormBody, UploadedFile
from micro.web.forms import URLENCODED, no_parser, parse_options_header, parse_urlencoded
from micro.wsgitypes import Environ

if TYPE_CHECKING:
    from micro.plugins.bodies import BodyParser

__all__ = ["NO_DEFAULT", "BodyContext", "RequestArguments"]

_D = TypeVar("_D")

NO_DEFAULT: Any = object()
"""The ``default`` of ``get_argument`` and friends when none is given (missing: 400)."""
_NOT_YET: Any = object()


class BodyContext(Protocol):
    """What reading a body needs of the App: its settings (the limits) and its parsers.

    :class:`micro.web.request.AppContext`, the App as a request sees it, has both.
    """

    @property
    def settings(self) -> dict[str, Any]: ...

    def body_parser(self, media_type: str) -> BodyParser | None: ...


class _NotJSONNumber(ValueError):
    """NaN, Infinity or -Infinity in a request body: Python's json accepts them, JSON does not."""


def _refuse_constant(name: str) -> Any:
    raise _NotJSONNumber(f"{name} is not a JSON number (RFC 8259)")


class RequestArguments:
    """The body and the arguments of a request (a base of Request, not used alone).

    PERF: the parsed parts default to these class attributes, so a request that
    reads none of them stores nothing.
    """

    app: BodyContext
    environ: Environ

    _query_arguments: dict[str, list[str]] | None = None
    _body_arguments: dict[str, list[str]] | None = None
    _arguments: dict[str, list[str]] | None = None
    _files: dict[str, list[UploadedFile]] | None = None
    #: the uploads parsed so far (the App closes them when the response is done);
    #: empty until the body is read as multipart/form-data
    open_files: tuple[UploadedFile, ...] = ()
    _body: bytes | None = None
    _json: Any = _NOT_YET

    @property
    def content_type(self) -> str:
        return str(self.environ.get("CONTENT_TYPE", ""))

    def _content_length(self) -> int | None:
        raw = self.environ.get("CONTENT_LENGTH")
        if not raw:
            return None
        # isascii: str.isdigit() also takes "\u00b2" (a latin-1 0xB2 byte), which int() refuses.
        if not (raw.isascii() and raw.isdigit()):
            raise HTTPError(400, "Invalid Content-Length")
        return int(raw)

    @property
    def body(self) -> bytes:
        """The whole request body (limited by the ``max_body_size`` setting: 413 past it)."""
        if self._body is None:
            limit = int(self.app.settings["max_body_size"])
            length = self._content_length()
            stream = self.environ.get("wsgi.input")
            if stream is None or length == 0:
                self._body = b""
            elif length is not None:
                if length > limit:
                    raise HTTPError(413, "Request body too large")
                self._body = stream.read(length)
            elif self.environ.get("wsgi.input_terminated"):
                data = stream.read(limit + 1)
                if len(data) > limit:
                    raise HTTPError(413, "Request body too large")
                self._body = data
            else:
                self._body = b""
        return self._body

    @property
    def json(self) -> Any:
        """The body parsed as JSON; a 400 when it is not valid JSON."""
        if self._json is _NOT_YET:
            try:
                self._json = json.loads(self.body, parse_constant=_refuse_constant)
            except _NotJSONNumber as exc:
                raise HTTPError(400, f"Invalid JSON body: {exc}") from None
            except (ValueError, UnicodeDecodeError):
                raise HTTPError(400, "Invalid JSON body") from None
        return self._json

    def _parse_body(self) -> tuple[dict[str, list[str]], dict[str, list[UploadedFile]]]:
        if self._body_arguments is None or self._files is None:
            self._body_arguments, self._files = self._read_form()
            self.open_files = tuple(f for items in self._files.values() for f in items)
        return self._body_arguments, self._files

    def _read_form(self) -> Form:
        """The body as a form: urlencoded here, other types by the app's body parser."""
        media_type, options = parse_options_header(self.content_type)
        if media_type == URLENCODED:
            return parse_urlencoded(self.body)
        parser = self.app.body_parser(media_type)
        if parser is None:
            error = no_parser(media_type)
            if error is not None:
                raise error
            return Form({}, {})
        settings = self.app.settings
        length = self._content_length()
        limit = int(settings["max_upload_size"])
        if length is not None and length > limit:
            raise HTTPError(413, "Upload too large")
        stream = self.environ.get("wsgi.input")
        if stream is None or (length is None and not self.environ.get("wsgi.input_terminated")):
            # No Content-Length and no chunked framing: there is no body to read
            # (reading on would block on, or run past, the connection's next request).
            return Form({}, {})
        body = FormBody(
            stream,
            media_type,
            options,
            length,
            max_size=limit,
            spool_size=int(settings["multipart_spool_size"]),
            max_parts=int(settings["max_multipart_parts"]),
        )
        try:
            return parser(body)
        except BaseException:
            body.close_uploads()
            raise

    @property
    def body_arguments(self) -> dict[str, list[str]]:
        return self._parse_body()[0]

    @property
    def files(self) -> dict[str, list[UploadedFile]]:
        """Uploaded files of a multipart/form-data body, by field name.

        The body parser comes from a plugin (``forms``); without one, a multipart body
        raises ConfigError.
        """
        return self._parse_body()[1]

    @property
    def query_arguments(self) -> dict[str, list[str]]:
        if self._query_arguments is None:
            qs = self.environ.get("QUERY_STRING")
            self._query_arguments = parse_qs(qs, keep_blank_values=True) if qs else {}
        return self._query_arguments

    @property
    def arguments(self) -> dict[str, list[str]]:
        """Query and body arguments together (query values first)."""
        if self._arguments is None:
            merged = {k: list(v) for k, v in self.query_arguments.items()}
            for key, values in self.body_arguments.items():
                merged.setdefault(key, []).extend(values)
            self._arguments = merged
        return self._arguments

    # -- Tornado-style accessors -------------------------------------------------

    @staticmethod
    def _pick(source: Mapping[str, list[str]], name: str, default: Any, strip: bool) -> Any:
        values = source.get(name)
        if not values:
            if default is NO_DEFAULT:
                raise HTTPError(400, f"Missing argument {name}")
            return default
        return values[-1].strip() if strip else values[-1]

    @overload
    def get_argument(self, name: str, *, strip: bool = True) -> str: ...
    @overload
    def get_argument(self, name: str, default: _D, strip: bool = True) -> str | _D: ...
    def get_argument(self, name: str, default: Any = NO_DEFAULT, strip: bool = True) -> Any:
        """The last value of ``name`` from query or body; 400 when missing and no default."""
        return self._pick(self.arguments, name, default, strip)

    def get_arguments(self, name: str, strip: bool = True) -> list[str]:
        values = self.arguments.get(name, [])
        return [v.strip() for v in values] if strip else list(values)

    @overload
    def get_query_argument(self, name: str, *, strip: bool = True) -> str: ...
    @overload
    def get_query_argument(self, name: str, default: _D, strip: bool = True) -> str | _D: ...
    def get_query_argument(self, name: str, default: Any = NO_DEFAULT, strip: bool = True) -> Any:
        return self._pick(self.query_arguments, name, default, strip)

    def get_query_arguments(self, name: str, strip: bool = True) -> list[str]:
        values = self.query_arguments.get(name, [])
        return [v.strip() for v in values] if strip else list(values)

    @overload
    def get_body_argument(self, name: str, *, strip: bool = True) -> str: ...
    @overload
    def get_body_argument(self, name: str, default: _D, strip: bool = True) -> str | _D: ...
    def get_body_argument(self, name: str, default: Any = NO_DEFAULT, strip: bool = True) -> Any:
        return self._pick(self.body_arguments, name, default, strip)

    def get_body_arguments(self, name: str, strip: bool = True) -> list[str]:
        values = self.body_arguments.get(name, [])
        return [v.strip() for v in values] if strip else list(values)
