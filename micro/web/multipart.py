"""Framework layer: a streaming ``multipart/form-data`` parser (RFC 7578).

The stdlib ``cgi`` module is deprecated, so micro reads uploads itself. The body is
read block by block from ``wsgi.input``; file parts go into a
:class:`tempfile.SpooledTemporaryFile` that moves to disk past ``spool_size`` bytes,
so a large upload never sits whole in memory. Limits raise :class:`HTTPError` 413
(whole body past ``max_size``, more than ``max_parts`` parts, a text field past
``spool_size``); a malformed body raises 400.
"""

from __future__ import annotations

import re
import tempfile
from typing import IO, Any

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


def _parse_part_head(raw: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in raw.decode("utf-8", "replace").split("\r\n"):
        name, sep, value = line.partition(":")
        if not sep:
            raise HTTPError(400, "Malformed multipart part header")
        headers[name.strip().lower()] = value.strip()
    return headers


class _Reader:
    """Reads the body in blocks and enforces the size limit."""

    def __init__(self, stream: Any, length: int | None, max_size: int) -> None:
        self.stream = stream
        self.remaining = length
        self.max_size = max_size
        self.total = 0

    def read(self) -> bytes:
        want = _BLOCK if self.remaining is None else min(_BLOCK, self.remaining)
        if want <= 0:
            return b""
        data: bytes = self.stream.read(want)
        if self.remaining is not None:
            self.remaining -= len(data)
        self.total += len(data)
        if self.total > self.max_size:
            raise HTTPError(413, "Upload too large")
        return data


def parse_multipart(
    stream: Any,
    boundary: str,
    length: int | None,
    *,
    max_size: int,
    spool_size: int,
    max_parts: int,
) -> tuple[dict[str, list[str]], dict[str, list[UploadedFile]]]:
    """Parse a form body into text fields and uploaded files."""
    if not 1 <= len(boundary) <= 70:
        raise HTTPError(400, "Invalid multipart boundary")
    fields: dict[str, list[str]] = {}
    files: dict[str, list[UploadedFile]] = {}
    try:
        _parse(_Reader(stream, length, max_size), boundary, fields, files, spool_size, max_parts)
    except BaseException:
        for upload in (f for items in files.values() for f in items):
            upload.close()
        raise
    return fields, files


def _parse(
    reader: _Reader,
    boundary: str,
    fields: dict[str, list[str]],
    files: dict[str, list[UploadedFile]],
    spool_size: int,
    max_parts: int,
) -> None:
    first = b"--" + boundary.encode("latin-1")
    delimiter = b"\r\n" + first
    buf = b""

    # Preamble: everything up to the first boundary line is ignored (RFC 2046 5.1.1).
    while True:
        pos = buf.find(first)
        if pos >= 0:
            buf = buf[pos + len(first) :]
            break
        chunk = reader.read()
        if not chunk:
            raise HTTPError(400, "Multipart body has no boundary")
        buf = buf[-len(first) :] + chunk

    parts = 0
    while True:
        # After a boundary: "--" ends the body, else optional padding and CRLF.
        while len(buf) < 2 or (b"\r\n" not in buf[:80] and buf[:2] != b"--"):
            chunk = reader.read()
            if not chunk:
                raise HTTPError(400, "Truncated multipart body")
            buf += chunk
        if buf[:2] == b"--":
            return
        buf = buf[buf.index(b"\r\n") + 2 :]
        parts += 1
        if parts > max_parts:
            raise HTTPError(413, "Too many multipart parts")

        while (end := buf.find(b"\r\n\r\n")) < 0:
            if len(buf) > _MAX_HEAD:
                raise HTTPError(400, "Multipart part header too large")
            chunk = reader.read()
            if not chunk:
                raise HTTPError(400, "Truncated multipart body")
            buf += chunk
        head = _parse_part_head(buf[:end]) if end else {}
        buf = buf[end + 4 :]
        disposition, params = parse_options_header(head.get("content-disposition", ""))
        name = params.get("name")
        if disposition != "form-data" or name is None:
            raise HTTPError(400, "Multipart part without a form-data name")
        filename = params.get("filename")
        sink: IO[bytes]
        upload: UploadedFile | None = None
        if filename is not None:
            sink = tempfile.SpooledTemporaryFile(max_size=spool_size)  # noqa: SIM115
            filename = filename.replace("\\", "/").rsplit("/", 1)[-1]
            ctype = head.get("content-type", "application/octet-stream")
            upload = UploadedFile(name, filename, ctype, head, sink)
            files.setdefault(name, []).append(upload)
        else:
            text = bytearray()

        # Body: copy bytes until the delimiter, keeping a tail that could start it.
        while True:
            pos = buf.find(delimiter)
            if pos >= 0:
                data, buf = buf[:pos], buf[pos + len(delimiter) :]
            else:
                keep = len(delimiter) - 1
                data, buf = buf[:-keep] if len(buf) > keep else b"", buf[-keep:]
            if upload is not None:
                sink.write(data)
                upload.size += len(data)
            else:
                text += data
                if len(text) > spool_size:
                    raise HTTPError(413, f"Form field {name!r} too large")
            if pos >= 0:
                break
            chunk = reader.read()
            if not chunk:
                raise HTTPError(400, "Truncated multipart body")
            buf += chunk
        if upload is not None:
            sink.seek(0)
        else:
            charset = parse_options_header(head.get("content-type", "text/plain"))[1].get(
                "charset", "utf-8"
            )
            try:
                fields.setdefault(name, []).append(text.decode(charset))
            except (LookupError, UnicodeDecodeError):
                raise HTTPError(400, f"Form field {name!r} is not {charset}") from None
