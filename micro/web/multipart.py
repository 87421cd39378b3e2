"""Framework layer: ``multipart/form-data`` request bodies (RFC 7578), streamed.

The parsing itself is the ``multipart`` library's push parser (Bottle's, a single
pure-Python module with no dependencies, fuzzed and kept up): micro feeds it the body
block by block from ``wsgi.input`` and turns its events into fields and files. File
parts go into a :class:`tempfile.SpooledTemporaryFile` that moves to disk past
``spool_size`` bytes, so a large upload never sits whole in memory. Limits raise
:class:`HTTPError` 413 (whole body past ``max_size``, more than ``max_parts`` parts, a
text field past ``spool_size``); a malformed body raises 400 with the parser's reason.
"""

from __future__ import annotations

import re
import tempfile
from typing import IO, Any

from multipart import (  # type: ignore[import-untyped]  # it ships no py.typed
    MultipartError,
    MultipartSegment,
    ParserLimitReached,
    PushMultipartParser,
)

from micro.errors import HTTPError

__all__ = ["UploadedFile", "parse_multipart", "parse_options_header"]

_BLOCK = 64 * 1024
_MAX_HEAD = 16 * 1024
_PARAM = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:\\"|[^"])*"|[^;]*)')


def parse_options_header(value: str) -> tuple[str, dict[str, str]]:
    """``'form-data; name="a"'`` -> ``("form-data", {"name": "a"})`` (keys lower-cased)."""
    main, _, rest = value.partition(";")
    params: dict[str, str] = {}
    for match in _PARAM.finditer(";" + rest):
        key, raw = match.group(1).lower(), match.group(2).strip()
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            # Only \" is unescaped: browsers send Windows paths with bare backslashes.
            raw = raw[1:-1].replace('\\"', '"')
        params[key] = raw
    return main.strip().lower(), params


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


def _http_error(exc: Exception, max_parts: int) -> HTTPError:
    """The answer to a body the parser refused: 413 for a limit, else 400, with why."""
    if isinstance(exc, ParserLimitReached):
        if "segment count" in str(exc):
            return HTTPError(413, f"Too many multipart parts (more than {max_parts})")
        return HTTPError(413, f"Multipart body over a limit: {exc}")
    return HTTPError(400, f"Malformed multipart body: {exc}")


def parse_multipart(
    stream: Any,
    boundary: str,
    length: int | None,
    *,
    max_size: int,
    spool_size: int,
    max_parts: int,
) -> tuple[dict[str, list[str]], dict[str, list[UploadedFile]]]:
    """Parse a form body into text fields and uploaded files.

    ``length`` is the body's Content-Length (None when chunked); ``max_size`` caps the
    whole body, ``spool_size`` the upload bytes kept in memory and each text field,
    ``max_parts`` the number of parts. A limit passed is a 413, a bad body a 400.
    """
    if not 1 <= len(boundary) <= 70:  # RFC 2046 5.1.1
        raise HTTPError(400, "Invalid multipart boundary")
    fields: dict[str, list[str]] = {}
    files: dict[str, list[UploadedFile]] = {}
    try:
        _parse(stream, boundary, length, fields, files, max_size, spool_size, max_parts)
    except BaseException:
        for upload in (f for items in files.values() for f in items):
            upload.close()
        raise
    return fields, files


class _Part:
    """The part being read: a text field's bytes so far, or the upload it goes to."""

    __slots__ = ("charset", "name", "text", "upload")

    def __init__(self, segment: Any, spool_size: int, files: dict[str, list[UploadedFile]]) -> None:
        name = segment.name
        if not name:
            raise HTTPError(400, "Multipart part without a form-data name")
        self.name: str = name
        self.charset: str = segment.charset or "utf-8"
        self.text = bytearray()
        self.upload: UploadedFile | None = None
        if segment.filename is not None:
            # Some browsers send the client's whole path: keep the last component.
            filename = str(segment.filename).replace("\\", "/").rsplit("/", 1)[-1]
            headers = {key.lower(): value for key, value in segment.headerlist}
            ctype = headers.get("content-type", "application/octet-stream")
            sink = tempfile.SpooledTemporaryFile(max_size=spool_size)  # noqa: SIM115
            self.upload = UploadedFile(name, filename, ctype, headers, sink)
            files.setdefault(name, []).append(self.upload)

    def write(self, data: bytes, spool_size: int) -> None:
        if self.upload is not None:
            self.upload.file.write(data)
            self.upload.size += len(data)
            return
        self.text += data
        if len(self.text) > spool_size:
            raise HTTPError(413, f"Form field {self.name!r} too large")

    def finish(self, fields: dict[str, list[str]]) -> None:
        if self.upload is not None:
            self.upload.file.seek(0)
            return
        try:
            fields.setdefault(self.name, []).append(self.text.decode(self.charset))
        except (LookupError, UnicodeDecodeError):
            raise HTTPError(400, f"Form field {self.name!r} is not {self.charset}") from None


def _parse(
    stream: Any,
    boundary: str,
    length: int | None,
    fields: dict[str, list[str]],
    files: dict[str, list[UploadedFile]],
    max_size: int,
    spool_size: int,
    max_parts: int,
) -> None:
    try:
        parser = PushMultipartParser(
            boundary,
            content_length=-1 if length is None else length,
            max_header_size=_MAX_HEAD,
            max_segment_count=max_parts,
        )
    except MultipartError as exc:
        raise HTTPError(400, f"Invalid multipart boundary: {exc}") from None
    remaining = length
    total = 0
    part: _Part | None = None
    try:
        with parser:
            while not parser.closed:
                want = _BLOCK if remaining is None else min(_BLOCK, remaining)
                chunk: bytes = stream.read(want) if want > 0 else b""
                if remaining is not None:
                    remaining -= len(chunk)
                total += len(chunk)
                if total > max_size:
                    raise HTTPError(413, "Upload too large")
                # Events: a segment (a part's head), its body in chunks, None at its end.
                for event in parser.parse(chunk):
                    if isinstance(event, MultipartSegment):
                        part = _Part(event, spool_size, files)
                    elif event is None:
                        if part is not None:
                            part.finish(fields)
                        part = None
                    elif part is not None:
                        part.write(event, spool_size)
    except MultipartError as exc:
        raise _http_error(exc, max_parts) from None
