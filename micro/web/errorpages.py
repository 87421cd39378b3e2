"""Framework layer: default error responses, as HTML or JSON chosen by ``Accept``.

A client that prefers ``application/json`` (or any ``+json`` type) over ``text/html``
gets ``{"status": 404, "reason": "Not Found"}``; everyone else gets a small HTML page.
The traceback is included only when the app runs with ``debug`` on: in the JSON
body's ``traceback``, or as the page of :mod:`micro.web.debug` (frames, source, locals).
"""

from __future__ import annotations

import html
import traceback

from micro.web.response import Response, json_bytes
from micro.wsgitypes import ExcInfo

__all__ = ["default_error_page", "prefers_json"]


def _quality(params: list[str]) -> float:
    for param in params:
        key, _, value = param.strip().partition("=")
        if key.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def prefers_json(accept: str | None) -> bool:
    """True when ``Accept`` ranks a JSON type strictly above HTML."""
    if not accept:
        return False
    best_json = best_html = 0.0
    for item in accept.split(","):
        media, *params = item.split(";")
        media = media.strip().lower()
        q = _quality(params)
        if media == "application/json" or media.endswith("+json"):
            best_json = max(best_json, q)
        elif media in ("text/html", "application/xhtml+xml", "text/*", "*/*"):
            # Wildcards count for HTML: a browser's "*/*;q=0.8" must not turn into JSON.
            best_html = max(
                best_html, q if media in ("text/html", "application/xhtml+xml") else q - 0.001
            )
    return best_json > 0 and best_json > best_html


def default_error_page(
    status: int,
    reason: str,
    *,
    accept: str | None,
    debug: bool = False,
    exc_info: ExcInfo | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """The default error page for ``status``."""
    # Only the page that shows the traceback formats it (the HTML page does so itself).
    shown = exc_info if debug else None
    if status in (204, 304) or status < 200:
        response = Response(None, status, headers=headers, reason=reason)
    elif prefers_json(accept):
        data: dict[str, object] = {"status": status, "reason": reason}
        if shown:
            data["traceback"] = "".join(traceback.format_exception(*shown))
        response = Response(
            [json_bytes(data)],
            status,
            headers=headers,
            content_type="application/json; charset=utf-8",
            reason=reason,
        )
    else:
        if shown:
            from micro.web.debug import traceback_page  # debug mode only: not on the hot path

            page = traceback_page(status, reason, shown)
        else:
            title = html.escape(f"{status}: {reason}")
            page = f"<!DOCTYPE html><html><head><title>{title}</title></head>"
            page += f"<body><h1>{title}</h1></body></html>"
        response = Response(
            [page.encode("utf-8")],
            status,
            headers=headers,
            content_type="text/html; charset=utf-8",
            reason=reason,
        )
    return response
