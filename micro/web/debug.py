"""Framework layer: the debug-mode traceback page for an unhandled exception.

Only :func:`micro.web.errorpages.default_error_page` calls this, and only when the app runs
with ``debug`` on (``App(debug=True)``, the ``debug`` setting or ``micro serve
--debug``); without it a 500 page says "Internal Server Error" and nothing else.

The page shows the exception, then each frame, most recent last: file, line,
function, the source line and the frame's local variables (``repr``, shortened).
Everything that comes from the program (messages, source, values) is HTML-escaped,
so an exception message holding ``<script>`` shows as text.
"""

from __future__ import annotations

import html
import linecache
import reprlib
import traceback

from micro.wsgitypes import ExcInfo

__all__ = ["traceback_page"]


_STYLE = (
    "body{font-family:sans-serif;margin:2em}pre{background:#f4f4f4;padding:.5em;"
    "overflow:auto}.frame{border-top:1px solid #ccc;padding:.5em 0}"
    "table{font-family:monospace;font-size:90%}td{padding:0 1em 0 0;vertical-align:top}"
)
_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 200


def _locals(frame_locals: dict[str, object]) -> str:
    rows = []
    for name, value in sorted(frame_locals.items()):
        try:
            shown = _REPR.repr(value)
        except Exception as exc:  # a broken __repr__ must not break the page
            shown = f"<repr failed: {type(exc).__name__}>"
        rows.append(f"<tr><td>{html.escape(name)}</td><td>{html.escape(shown)}</td></tr>")
    return f"<table>{''.join(rows)}</table>" if rows else ""


def traceback_page(status: int, reason: str, exc_info: ExcInfo) -> str:
    """The HTML page for ``exc_info`` (every program-supplied text escaped)."""
    exc_type, exc, tb = exc_info
    title = html.escape(f"{status}: {reason}")
    summary = html.escape("".join(traceback.format_exception_only(exc_type, exc)).strip())
    frames = []
    for frame, lineno in traceback.walk_tb(tb):
        code = frame.f_code
        source = linecache.getline(code.co_filename, lineno, frame.f_globals).strip()
        frames.append(
            '<div class="frame">'
            f"<div><b>{html.escape(code.co_filename)}</b>, line {lineno},"
            f" in <b>{html.escape(code.co_name)}</b></div>"
            f"<pre>{html.escape(source)}</pre>{_locals(dict(frame.f_locals))}</div>"
        )
    full = html.escape("".join(traceback.format_exception(exc_type, exc, tb)))
    return (
        f"<!DOCTYPE html><html><head><title>{title}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{title}</h1><h2>{summary}</h2>"
        "<p>Debug mode is on: this page is for the developer, never for production.</p>"
        f"<h3>Traceback (most recent call last)</h3>{''.join(frames)}"
        f"<h3>As text</h3><pre>{full}</pre></body></html>"
    )
