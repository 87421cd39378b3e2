"""micro-forms: ``multipart/form-data`` bodies (RFC 7578) parsed as they stream in.

The parsing is the ``multipart`` library's push parser (Bottle's author's, one
pure-Python module with no dependencies, fuzzed and kept up). :class:`MultipartParser`
feeds it the body block by block through micro's :class:`~micro.plugins.FormBody` and
turns its events (a part's head, chunks of its body, the part's end) into text fields
and uploads. ``FormBody`` keeps the rules that do not depend on the library: the body's
size limit, uploads spooled to disk past ``multipart_spool_size``, the 413 and 400
answers and what they say.
"""

from __future__ import annotations

from typing import Any

from multipart import (  # type: ignore[import-untyped]  # it ships no py.typed
    MultipartError,
    MultipartSegment,
    ParserLimitReached,
    PushMultipartParser,
)

from micro.plugins import Form, FormBody, UploadedFile

__all__ = ["MAX_HEADER_SIZE", "MultipartParser"]

MAX_HEADER_SIZE = 16 * 1024
"""The longest header line of a part the parser accepts (longer: 413)."""


class _Part:
    """The part being read: a text field's bytes so far, or the upload it goes to."""

    __slots__ = ("charset", "name", "text", "upload")

    def __init__(self, segment: Any, body: FormBody) -> None:
        name = segment.name
        if not name:
            raise body.malformed("a part without a form-data name")
        self.name: str = name
        self.charset: str = segment.charset or "utf-8"
        self.text = bytearray()
        self.upload: UploadedFile | None = None
        if segment.filename is not None:
            headers = {key.lower(): value for key, value in segment.headerlist}
            ctype = headers.get("content-type", "application/octet-stream")
            self.upload = body.upload(name, str(segment.filename), ctype, headers)

    def write(self, data: bytes, body: FormBody) -> None:
        if self.upload is not None:
            self.upload.file.write(data)
            self.upload.size += len(data)
            return
        self.text += data
        body.check_field(self.name, len(self.text))

    def finish(self, form: Form, body: FormBody) -> None:
        if self.upload is not None:
            self.upload.file.seek(0)
            form.files.setdefault(self.name, []).append(self.upload)
            return
        value = body.decode_field(self.name, bytes(self.text), self.charset)
        form.fields.setdefault(self.name, []).append(value)


class MultipartParser:
    """The ``multipart/form-data`` body parser (a :class:`micro.plugins.BodyParser`)."""

    __slots__ = ("max_header_size",)

    def __init__(self, max_header_size: int = MAX_HEADER_SIZE) -> None:
        self.max_header_size = max_header_size

    def __call__(self, body: FormBody, /) -> Form:
        boundary = body.boundary()
        try:
            parser = PushMultipartParser(
                boundary,
                content_length=-1 if body.length is None else body.length,
                max_header_size=self.max_header_size,
            )
        except MultipartError as exc:
            raise body.malformed(f"invalid boundary: {exc}") from None
        form = Form({}, {})
        part: _Part | None = None
        parts = 0
        try:
            with parser:
                for chunk in body.chunks():
                    for event in parser.parse(chunk):
                        if isinstance(event, MultipartSegment):
                            parts += 1
                            if parts > body.max_parts:
                                raise body.too_many_parts()
                            part = _Part(event, body)
                        elif event is None:
                            if part is not None:
                                part.finish(form, body)
                            part = None
                        elif part is not None:
                            part.write(event, body)
                    if parser.closed:
                        break  # the closing delimiter: what follows is epilogue
        except ParserLimitReached as exc:
            raise body.over_limit(str(exc)) from None
        except MultipartError as exc:
            raise body.malformed(str(exc)) from None
        return form

    def __repr__(self) -> str:
        return f"<MultipartParser max_header_size={self.max_header_size}>"
