"""Plugin layer: the seam for request-body parsers, and what a parser works with.

micro parses ``application/x-www-form-urlencoded`` and JSON itself (standard library);
any other media type, ``multipart/form-data`` first of all, is parsed by the
:class:`BodyParser` a plugin registers with ``app.add_body_parser(media_type, parser)``
(the ``forms`` plugin, distribution ``micro-forms``, registers one on the ``multipart``
library). ``request.form``-style reads (``body_arguments``, ``files``, ``get_argument``)
call the parser once, with a :class:`FormBody`, and keep its :class:`Form`.

The rules that must not depend on which library parses are here, so that every parser
keeps them: :meth:`FormBody.chunks` stops a body past ``max_size`` with a 413, the
limit errors say which limit, uploads are spooled to disk past ``spool_size``, and an
upload the parser made is closed when the parse fails. The framework layer imports
this module (it may import the plugin layer); nothing here knows the App.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from typing import IO, NamedTuple, Protocol

from micro.errors import HTTPError

__all__ = ["BodyParser", "Form", "FormBody", "Readable", "UploadedFile"]

BLOCK = 64 * 1024
"""How much of the body :meth:`FormBody.chunks` reads at a time."""


class Readable(Protocol):
    """The body's stream as a parser sees it: ``wsgi.input`` (PEP 3333)."""

    def read(self, size: int, /) -> bytes: ...


class UploadedFile:
    """One uploaded file: ``filename``, ``content_type``, ``size`` and the open ``file``."""

    __slots__ = ("content_type", "file", "filename", "headers", "name", "size")

    def __init__(
        self, name: str, filename: str, content_type: str, headers: dict[str, str], file: IO[bytes]
    ) -> None:
        self.name = name
        self.filename = filename
        self.content_type = content_type
        self.headers = headers
        self.file = file
        self.size = 0

    def read(self) -> bytes:
        self.file.seek(0)
        return self.file.read()

    def close(self) -> None:
        self.file.close()

    def __repr__(self) -> str:
        return f"<UploadedFile {self.name}={self.filename!r} {self.size} bytes>"


class Form(NamedTuple):
    """What a body parser returns: text fields and uploaded files, by field name."""

    fields: dict[str, list[str]]
    files: dict[str, list[UploadedFile]]


class FormBody:
    """One request body to parse: its stream, its Content-Type, its limits.

    ``media_type`` is lower-case without parameters; ``options`` are the Content-Type's
    parameters (``boundary``, ``charset``), keys lower-cased. ``length`` is the
    Content-Length (None for a chunked body). The limits come from the App's settings:
    ``max_size`` (``max_upload_size``) caps the whole body, ``spool_size``
    (``multipart_spool_size``) the upload bytes kept in memory and each text field,
    ``max_parts`` (``max_multipart_parts``) the number of parts.
    """

    __slots__ = (
        "_stream",
        "_uploads",
        "length",
        "max_parts",
        "max_size",
        "media_type",
        "options",
        "spool_size",
    )

    def __init__(
        self,
        stream: Readable,
        media_type: str,
        options: Mapping[str, str],
        length: int | None,
        *,
        max_size: int,
        spool_size: int,
        max_parts: int,
    ) -> None:
        self._stream = stream
        self._uploads: list[UploadedFile] = []
        self.media_type = media_type
        self.options = options
        self.length = length
        self.max_size = max_size
        self.spool_size = spool_size
        self.max_parts = max_parts

    def chunks(self, block: int = BLOCK) -> Iterator[bytes]:
        """The body, block by block, to its end; 413 once it passes ``max_size``."""
        remaining = self.length
        total = 0
        while remaining is None or remaining > 0:
            want = block if remaining is None else min(block, remaining)
            chunk = self._stream.read(want)
            if not chunk:
                return
            if remaining is not None:
                remaining -= len(chunk)
            total += len(chunk)
            if total > self.max_size:
                raise HTTPError(413, "Upload too large")
            yield chunk

    def boundary(self) -> str:
        """The ``boundary`` parameter of a multipart body (RFC 2046 5.1.1); 400 without one."""
        boundary = self.options.get("boundary")
        if not boundary:
            raise HTTPError(400, f"{self.media_type} without a boundary")
        if len(boundary) > 70:
            raise HTTPError(400, f"Invalid {self.media_type} boundary (over 70 characters)")
        return boundary

    def upload(
        self, name: str, filename: str, content_type: str, headers: dict[str, str]
    ) -> UploadedFile:
        """A new, empty upload, kept in memory up to ``spool_size`` bytes, then on disk.

        ``filename`` is reduced to its last path component (some browsers send the
        client's whole path). The parser writes the part's bytes to ``upload.file``
        and adds their count to ``upload.size``; the upload is closed for it if the
        parse fails, and by the App after the response otherwise.
        """
        filename = filename.replace("\\", "/").rsplit("/", 1)[-1]
        spool = tempfile.SpooledTemporaryFile(max_size=self.spool_size)  # noqa: SIM115
        upload = UploadedFile(name, filename, content_type, headers, spool)
        self._uploads.append(upload)
        return upload

    def check_field(self, name: str, size: int) -> None:
        """413 when text field ``name`` has grown past ``spool_size`` bytes."""
        if size > self.spool_size:
            raise HTTPError(413, f"Form field {name!r} too large")

    def decode_field(self, name: str, data: bytes, charset: str = "utf-8") -> str:
        """Text field ``name`` as text (413 past ``spool_size``, 400 when not ``charset``)."""
        self.check_field(name, len(data))
        try:
            return data.decode(charset)
        except (LookupError, UnicodeDecodeError):
            raise HTTPError(400, f"Form field {name!r} is not {charset}") from None

    def too_many_parts(self) -> HTTPError:
        """The answer to a body of more than ``max_parts`` parts (413)."""
        return HTTPError(413, f"Too many multipart parts (more than {self.max_parts})")

    def over_limit(self, reason: str) -> HTTPError:
        """The answer to a body past another limit of the parser's (413, saying which)."""
        return HTTPError(413, f"{self.media_type} body over a limit: {reason}")

    def malformed(self, reason: str) -> HTTPError:
        """The answer to a body the parser refused (400, saying why)."""
        return HTTPError(400, f"Malformed {self.media_type} body: {reason}")

    def close_uploads(self) -> None:
        """Close every upload made so far (the framework calls it when a parse fails)."""
        for upload in self._uploads:
            upload.close()


class BodyParser(Protocol):
    """Parses request bodies of one media type into a :class:`Form`.

    Registered with ``app.add_body_parser(media_type, parser)``. It reads the body
    through ``body.chunks()``, makes uploads with ``body.upload(...)``, and raises the
    :class:`~micro.errors.HTTPError` that ``body`` names for a bad body or a limit; it
    never reads past the body's end. Called once per request, from a worker thread:
    keep per-request state in locals.
    """

    def __call__(self, body: FormBody, /) -> Form: ...
