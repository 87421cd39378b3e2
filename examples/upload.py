"""File upload: a multipart form, files read from spooled temporary files, limits.

- ``GET /`` shows the form (``enctype="multipart/form-data"``).
- ``POST /upload`` takes one or more ``file`` fields and a ``note``; it answers with
  each file's name, size, type and SHA-256, computed block by block from the upload's
  temporary file (micro spools big uploads to disk, so memory stays flat).
- The ``max_upload_size`` setting caps the whole body: past it, 413.
- ``multipart/form-data`` bodies are parsed by the ``forms`` plugin (distribution
  ``micro-forms``, on the ``multipart`` library): ``pip install -e plugins/forms``.

Run it: ``python -m micro serve examples/upload.py`` and open http://127.0.0.1:8000/,
or ``curl -F file=@README.md -F note=hi http://127.0.0.1:8000/upload``.
"""

from __future__ import annotations

import hashlib
import html
from typing import Any

from micro import App, HTTPError, Request

FORM = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Upload</title></head><body>
<h1>Upload files</h1>
<form action="/upload" method="post" enctype="multipart/form-data">
<input type="file" name="file" multiple>
<input type="text" name="note" placeholder="a note">
<button type="submit">Send</button>
</form>
</body></html>
"""


def make_app(max_upload_size: int = 20 * 1024 * 1024) -> App:
    app = App(plugins=["forms"], settings={"max_upload_size": max_upload_size})

    @app.route("/")
    def form(request: Request) -> str:
        return FORM

    @app.route("/upload", methods=["POST"])
    def upload(request: Request) -> dict[str, Any]:
        files = request.files.get("file", [])
        if not files:
            raise HTTPError(400, "Send at least one file in the 'file' field")
        received = []
        for upload in files:
            digest = hashlib.sha256()
            upload.file.seek(0)
            while block := upload.file.read(64 * 1024):
                digest.update(block)
            received.append(
                {
                    # Never trust a client's file name for a path; here it is only shown.
                    "filename": html.escape(upload.filename),
                    "size": upload.size,
                    "content_type": upload.content_type,
                    "sha256": digest.hexdigest(),
                }
            )
        return {"note": request.get_body_argument("note", ""), "files": received}

    return app


app = make_app()
