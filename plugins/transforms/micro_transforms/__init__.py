"""micro-transforms: the ``gzip`` plugin, response compression as micro middleware.

Enabled with ``App(plugins=["gzip"])``; the entry point ``gzip`` in the
``micro.plugins`` group names :func:`plugin`. The middleware compresses with gzip
or deflate (the zlib format, which is what HTTP calls "deflate"), whichever the
client's ``Accept-Encoding`` prefers (server preference breaks ties).

It leaves a response alone when it is an informational, 204, 206 or 304 answer,
already has a ``Content-Encoding`` (never compress twice), says
``Cache-Control: no-transform``, has a type outside ``gzip_content_types``, or has a
known length under ``gzip_min_length``. Every response of a compressible type gets
``Vary: Accept-Encoding``, compressed or not, so caches keep the variants apart.

HEAD gets the header fields GET would get (RFC 9110 §9.3.2): the same
``Content-Encoding``, ``Vary`` and ETag. When the app gave HEAD GET's body (micro's
handlers do; the server drops it) that body is compressed for its exact length;
when it gave none, the decision follows its Content-Length and the compressed
length, which only compressing would tell, is left out. A 304 that answers a
client holding the weak ETag of a compressed 200 gets that same weak ETag and the
``Vary``, as RFC 9110 §15.4.5 asks of a 304.

A buffered body (a list) is compressed at once and gets an exact Content-Length.
Any other body (a generator, a file) is compressed chunk by chunk, each chunk
followed by a ``Z_SYNC_FLUSH`` so that what the app streams reaches the client
without waiting for more: the body is never buffered whole. A strong ETag becomes
weak, because the compressed bytes differ from the representation it named.

A 200 with a strong ETag promises the same bytes every time that ETag is sent
(RFC 9110 §8.8.1), so its compressed body is kept (:mod:`micro_transforms.cache`)
and the next answer with the same key is sent from it: the app's body is closed
unread and nothing is compressed again. The key holds everything that decides the
compressed bytes or tells one resource from another: the ETag, the coding, the
level, the Content-Type, the uncompressed length, and the request's host, path and
query (two resources that happen to share an ETag value never share bytes). Only
bodies that can be read whole cheaply take part, up to ``gzip_cache_entry_max``
bytes: a list of bytes, or a ``FileBody`` of known length (read whole, compressed
at once and sent with its exact Content-Length, then kept); no answer with a
Content-Range. Everything else about the answer (fields, HEAD, 304) is what the
path without the cache gives, since only the bytes are kept. In debug mode (the
app's ``debug`` setting, ``micro serve --debug``) the cache is neither read nor
filled: every answer is compressed from the body the app gave.

Settings (defaults below): ``gzip_min_length``, ``gzip_content_types``,
``gzip_level`` (0-9), ``gzip_encodings`` (the codings offered, in preference order),
``gzip_cache_max`` (bytes for the whole cache; 0 turns it off, and so does debug mode),
``gzip_cache_entry_max`` (the biggest uncompressed body kept; 0 turns it off too).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from micro.errors import ConfigError
from micro.web import FileBody
from micro_transforms.cache import CacheStats, CompressedCache
from micro_transforms.codings import WBITS, CompressedStream, compress, read_whole
from micro_transforms.negotiation import choose_encoding, is_compressible

if TYPE_CHECKING:
    from micro.web import PluginApp, Request, Response, ResponseHeaders

__all__ = ["CacheKey", "CompressedStream", "GzipMiddleware", "GzipPlugin", "plugin"]

DEFAULT_CONTENT_TYPES = (
    "text/*",
    "application/json",
    "application/*+json",
    "application/javascript",
    "application/xml",
    "application/*+xml",
    "image/svg+xml",
)

# Defaults of gzip_cache_max (all kept bodies) and gzip_cache_entry_max (one body, uncompressed).
CACHE_MAX = 8 * 1024 * 1024
CACHE_ENTRY_MAX = 1024 * 1024

_UNCOMPRESSED_STATUSES = frozenset({204, 206, 304})
_VARY = ("Vary", "Accept-Encoding")
# The fields the full path of transform reads after the Content-Type.
_READ_LATER = frozenset({"vary", "content-encoding", "content-length", "cache-control"})
_READ_LATER_LENGTHS = frozenset(len(name) for name in _READ_LATER)


class CacheKey(NamedTuple):
    """What decides a kept compressed body, and which resource it belongs to.

    The ETag (strong: same bytes for the same tag), coding, level and uncompressed
    length decide the bytes; the host, path and query name the resource, so that
    another resource with the same ETag value never gets them; the Content-Type
    guards against an app that gives two types of a resource one ETag.
    """

    etag: str
    coding: str
    level: int
    content_type: str
    length: int
    host: str
    path: str
    query: str


class GzipMiddleware:
    """Compress the responses the client may take compressed (see the module docstring)."""

    name = "gzip"

    def __init__(
        self,
        *,
        min_length: int = 1024,
        content_types: Sequence[str] = DEFAULT_CONTENT_TYPES,
        level: int = 6,
        encodings: Sequence[str] = ("gzip", "deflate"),
        cache_max: int = CACHE_MAX,
        cache_entry_max: int = CACHE_ENTRY_MAX,
    ) -> None:
        unknown = [e for e in encodings if e not in WBITS]
        if unknown:
            raise ConfigError(f"gzip_encodings: unsupported coding(s) {unknown}; use gzip/deflate")
        if not 0 <= level <= 9:
            raise ConfigError(f"gzip_level must be in 0..9, got {level!r}")
        _check_size("gzip_min_length", min_length)
        _check_size("gzip_cache_max", cache_max)
        _check_size("gzip_cache_entry_max", cache_entry_max)
        self.min_length = min_length
        self.content_types = tuple(content_types)
        self.level = level
        self.encodings = tuple(encodings)
        self.cache_entry_max = cache_entry_max
        # Compressed bodies of strong-ETag answers; None when gzip_cache_max is 0.
        self.cache = CompressedCache(cache_max) if cache_max and cache_entry_max else None
        # PERF: Content-Type -> compressible, per middleware instance. An app uses
        # a handful of types; the bound only guards against types built per request.
        self._compressible: dict[str, bool] = {}
        # Accept-Encoding value -> the coding chosen for it (see _coding).
        self._codings: dict[str, str | None] = {}

    def __call__(self, request: Request, call_next: Callable[[Request], Response]) -> Response:
        response = call_next(request)
        self.transform(request, response)
        return response

    def transform(self, request: Request, response: Response) -> None:
        """Compress ``response`` in place when the rules allow it.

        PERF: the checks run cheapest first, and nothing that depends on the client
        (Accept-Encoding) is looked at before the response itself proved worth
        compressing: a small or incompressible answer costs a few dictionary look-ups.
        """
        status = response.status
        if status < 200 or status in _UNCOMPRESSED_STATUSES:
            if status == 304:
                _not_modified(request, response.headers)
            return
        headers = response.headers
        # PERF: the Content-Type alone first, and only a 12-letter name is compared:
        # an answer of a type that is never compressed (images, fonts, archives, most
        # static files) costs a short loop without lowercasing any name.
        content_type = ""
        for name, value in headers.items:
            if len(name) == 12 and (name == "Content-Type" or name.lower() == "content-type"):
                content_type = value
                if value:
                    break
        compressible = self._compressible.get(content_type)
        if compressible is None:
            compressible = is_compressible(content_type, self.content_types)
            if len(self._compressible) >= 256:
                self._compressible.clear()
            self._compressible[content_type] = compressible
        if not compressible:
            return
        body = response.body
        if type(body) is list and sum(map(len, body)) < self.min_length:
            for name, _ in headers.items:
                if len(name) in _READ_LATER_LENGTHS and name.lower() in _READ_LATER:
                    break  # the full path below decides
            else:
                # PERF: the common small answer: it only needs to say that it varies.
                headers.items.append(_VARY)
                return
        _add_vary(headers)
        if headers.get("Content-Encoding"):
            return
        buffered = isinstance(body, list | tuple)
        # A HEAD the app answered without a body: decide as GET would, from its length.
        bodiless_head = buffered and request.method == "HEAD" and not any(body)
        length = _length(headers.get("Content-Length"))
        if length is None and buffered and not bodiless_head:
            length = sum(len(chunk) for chunk in body)
        if length is not None and length < self.min_length:
            return
        if "no-transform" in (headers.get("Cache-Control") or "").lower():
            return
        coding = self._coding(request.headers.get("Accept-Encoding"))
        if coding is None:
            return
        if bodiless_head:
            headers.remove("Content-Length")  # GET's compressed length is unknown here
        elif (
            (cache := self.cache) is not None
            # Debug mode (read per request: ``micro serve --debug`` sets it after
            # setup): files and handlers change under the developer's hands, and an
            # app that keeps an ETag across a change must not get old bytes back.
            and not request.app.debug
            and (key := self._cache_key(request, response, coding, content_type)) is not None
        ):
            data = self._compress_cached(cache, key, body, coding)
            response.body = [data]
            headers.set("Content-Length", str(len(data)))
        elif buffered:
            data = compress(b"".join(body), coding, self.level)
            response.body = [data]
            headers.set("Content-Length", str(len(data)))
        else:
            response.body = CompressedStream(body, coding, self.level)
            headers.remove("Content-Length")
        headers.set("Content-Encoding", coding)
        # Byte ranges would count bytes of the uncompressed file (206 is never
        # compressed): a client resuming a compressed download must not be told
        # it can.
        headers.remove("Accept-Ranges")
        etag = headers.get("ETag")
        if etag and not etag.startswith("W/"):
            headers.set("ETag", "W/" + etag)

    def _cache_key(
        self, request: Request, response: Response, coding: str, content_type: str
    ) -> CacheKey | None:
        """The cache key of this answer, or None when it may not use the cache.

        Only a 200 without Content-Range, with a strong ETag, whose body is read
        whole cheaply (a list, or a FileBody of known length) of at most
        ``cache_entry_max`` bytes.
        """
        if response.status != 200:
            return None
        body = response.body
        length: int | None
        if isinstance(body, list | tuple):
            length = sum(map(len, body))
        elif type(body) is FileBody:  # exactly: a subclass may send other bytes
            length = body.length
        else:
            return None
        if length is None or length > self.cache_entry_max:
            return None
        headers = response.headers
        etag = headers.get("ETag")
        if not etag or etag.startswith("W/") or headers.get("Content-Range") is not None:
            return None
        return CacheKey(
            etag,
            coding,
            self.level,
            content_type,
            length,
            request.host,
            request.path,
            request.query,
        )

    def _compress_cached(
        self, cache: CompressedCache, key: CacheKey, body: Iterable[bytes], coding: str
    ) -> bytes:
        """The compressed body for ``key``: from the cache, else compressed and kept.

        ``body`` is a list or a FileBody (see _cache_key); it is closed here, read
        or not, since the answer sends the compressed bytes instead.
        """
        try:
            data = cache.get(key)
            if data is not None:
                return data
            raw = read_whole(body, key.length) if isinstance(body, FileBody) else b"".join(body)
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        data = compress(raw, coding, self.level)
        if len(raw) == key.length:  # a file that shrank under us is sent, not kept
            cache.put(key, data)
        return data

    def cache_stats(self) -> CacheStats:
        """The compressed-body cache's counters (all zero when it is off)."""
        if self.cache is None:
            return CacheStats(0, 0, 0, 0, 0, 0)
        return self.cache.stats()

    def _coding(self, accept_encoding: str | None) -> str | None:
        """The coding for this Accept-Encoding, remembered per header value.

        Clients send a handful of distinct values (each browser one), so the
        negotiation runs once per value; the bound guards against values built
        per request.
        """
        if not accept_encoding:
            return None
        codings = self._codings
        if accept_encoding in codings:
            return codings[accept_encoding]
        coding = choose_encoding(accept_encoding, self.encodings)
        if len(codings) >= 256:
            codings.clear()
        codings[accept_encoding] = coding
        return coding


def _not_modified(request: Request, headers: ResponseHeaders) -> None:
    """A 304 for a client that holds our weak ETag of a compressed 200 says that ETag."""
    etag = headers.get("ETag")
    if not etag or etag.startswith("W/"):
        return
    condition = request.headers.get("If-None-Match")
    if condition and "W/" + etag in (tag.strip() for tag in condition.split(",")):
        headers.set("ETag", "W/" + etag)
        _add_vary(headers)


def _check_size(name: str, value: object) -> None:
    if type(value) is not int or value < 0:
        raise ConfigError(f"{name} must be a whole number of bytes, 0 or more, got {value!r}")


def _length(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _add_vary(headers: ResponseHeaders) -> None:
    """Make the response say it varies with Accept-Encoding (once, and not after ``*``)."""
    existing = headers.get_all("Vary")
    if not existing:
        # PERF: the usual case; a constant, valid field needs no check_header.
        headers.items.append(_VARY)
        return
    values = [v.strip() for h in existing for v in h.split(",")]
    lowered = {v.lower() for v in values if v}
    if "accept-encoding" in lowered or "*" in lowered:
        return
    headers.set("Vary", ", ".join([*(v for v in values if v), "Accept-Encoding"]))


class GzipPlugin:
    """The ``gzip`` plugin: one GzipMiddleware configured from the app's settings."""

    name = "gzip"
    api_version = 1
    # Outermost of the first-party plugins, so files served by ``static`` and pages
    # protected by ``xsrf`` both pass through compression.
    before: Sequence[str] = ("static", "xsrf")
    after: Sequence[str] = ()
    requires: Sequence[str] = ()
    settings: Mapping[str, Any] = MappingProxyType(
        {
            "gzip_min_length": 1024,
            "gzip_content_types": DEFAULT_CONTENT_TYPES,
            "gzip_level": 6,
            "gzip_encodings": ("gzip", "deflate"),
            "gzip_cache_max": CACHE_MAX,
            "gzip_cache_entry_max": CACHE_ENTRY_MAX,
        }
    )

    def setup(self, app: PluginApp) -> None:
        settings = app.settings
        app.add_middleware(
            GzipMiddleware(
                min_length=settings["gzip_min_length"],
                content_types=settings["gzip_content_types"],
                level=settings["gzip_level"],
                encodings=settings["gzip_encodings"],
                cache_max=settings["gzip_cache_max"],
                cache_entry_max=settings["gzip_cache_entry_max"],
            )
        )


def plugin() -> GzipPlugin:
    """The entry point's factory: a fresh plugin for each app."""
    return GzipPlugin()
