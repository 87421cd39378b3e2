"""Framework layer: the debug-mode traceback page for an unhandled exception.

Only :func:`micro.web.errorpages.default_error_page` calls this, and only when the app runs
with ``debug`` on (``App(debug=True)``, the ``debug`` setting or ``micro serve
--debug``); without it a 500 page says "Internal Server Error" and nothing else.

The page leads with the exception, then **your code**: the frames of the app's own
files (anything outside micro, the standard library and installed packages), most
recent last, each highlighted with a few lines of source around its line and its
local variables (``repr``, shortened). micro's own frames and the libraries' follow,
collapsed (``<details>``), and the whole traceback as text closes the page. When the
app has no frame in it (a failure inside micro or a library), every frame is shown
open. Everything that comes from the program (messages, source, values) is
HTML-escaped, so an exception message holding ``<script>`` shows as text.
"""

from __future__ import annotations

import html
import linecache
import os
import reprlib
import sysconfig
import traceback
from types import FrameType

from micro.wsgitypes import ExcInfo

__all__ = ["is_app_file", "library_roots", "traceback_page"]

CONTEXT = 3
"""Source lines shown on each side of a frame's current line."""

_STYLE = (
    "body{font-family:sans-serif;margin:2em}pre{background:#f4f4f4;padding:.5em;"
    "overflow:auto;margin:.3em 0}.frame{border-top:1px solid #ccc;padding:.5em 0}"
    ".yours{border-left:4px solid #c00;padding-left:.8em;background:#fff8f0}"
    ".current{background:#ffd7d7;font-weight:bold;display:block}"
    "table{font-family:monospace;font-size:90%}td{padding:0 1em 0 0;vertical-align:top}"
    "summary{cursor:pointer;color:#555;margin:1em 0}"
)
_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 200
_MICRO = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def library_roots() -> tuple[str, ...]:
    """The standard library's and installed packages' folders (real paths, each ending in /)."""
    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if paths.get(k)}
    return tuple(os.path.realpath(r) + os.sep for r in sorted(roots))


def is_app_file(filename: str, libraries: tuple[str, ...] | None = None) -> bool:
    """True for a source file of the app: not micro's, not the standard library's,
    not an installed package's (``<frozen ...>`` and other pseudo-files neither)."""
    if filename.startswith("<"):
        return False
    real = os.path.realpath(filename)
    if real.startswith(_MICRO) or os.path.abspath(filename).startswith(_MICRO):
        return False
    return not real.startswith(libraries if libraries is not None else library_roots())


def _locals(frame_locals: dict[str, object]) -> str:
    rows = []
    for name, value in sorted(frame_locals.items()):
        try:
            shown = _REPR.repr(value)
        except Exception as exc:  # a broken __repr__ must not break the page
            shown = f"<repr failed: {type(exc).__name__}>"
        rows.append(f"<tr><td>{html.escape(name)}</td><td>{html.escape(shown)}</td></tr>")
    return f"<table>{''.join(rows)}</table>" if rows else ""


def _source(frame: FrameType, lineno: int) -> str:
    """The frame's line with CONTEXT lines around it, numbered; its own line marked."""
    filename = frame.f_code.co_filename
    lines = []
    for number in range(max(1, lineno - CONTEXT), lineno + CONTEXT + 1):
        text = linecache.getline(filename, number, frame.f_globals)
        if not text:
            if number > lineno:
                break
            continue
        row = html.escape(f"{number:>5}  {text.rstrip()}")
        lines.append(f'<span class="current">{row}</span>' if number == lineno else row + "\n")
    return f"<pre>{''.join(lines)}</pre>" if lines else ""


def _frame(frame: FrameType, lineno: int, yours: bool) -> str:
    code = frame.f_code
    return (
        f'<div class="frame{" yours" if yours else ""}">'
        f"<div><b>{html.escape(code.co_filename)}</b>, line {lineno},"
        f" in <b>{html.escape(code.co_name)}</b></div>"
        f"{_source(frame, lineno)}{_locals(dict(frame.f_locals))}</div>"
    )


def traceback_page(status: int, reason: str, exc_info: ExcInfo) -> str:
    """The HTML page for ``exc_info`` (every program-supplied text escaped)."""
    exc_type, exc, tb = exc_info
    title = html.escape(f"{status}: {reason}")
    summary = html.escape("".join(traceback.format_exception_only(exc_type, exc)).strip())
    libraries = library_roots()
    walked = list(traceback.walk_tb(tb))
    mine = [(f, n) for f, n in walked if is_app_file(f.f_code.co_filename, libraries)]
    others = [(f, n) for f, n in walked if not is_app_file(f.f_code.co_filename, libraries)]
    if mine:
        body = (
            "<h3>Your code (most recent call last)</h3>"
            + "".join(_frame(f, n, True) for f, n in mine)
            + f"<details><summary>{len(others)} frames of micro and libraries</summary>"
            + "".join(_frame(f, n, False) for f, n in others)
            + "</details>"
        )
    else:
        body = "<h3>Traceback (most recent call last)</h3>" + "".join(
            _frame(f, n, False) for f, n in walked
        )
    full = html.escape("".join(traceback.format_exception(exc_type, exc, tb)))
    return (
        f"<!DOCTYPE html><html><head><title>{title}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{title}</h1><h2>{summary}</h2>"
        "<p>Debug mode is on: this page is for the developer, never for production.</p>"
        f"{body}<details><summary>The whole traceback as text</summary>"
        f"<pre>{full}</pre></details></body></html>"
    )
