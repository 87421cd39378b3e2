"""micro-static: the ``static`` plugin, files of one directory served under a URL prefix.

Enabled with ``App(plugins=["static"], settings={"static_path": "static"})``; the
entry point ``static`` in the ``micro.plugins`` group names :func:`plugin`. It is a
middleware that answers every request under ``static_url_prefix`` itself (files
win over routes there), so nothing else runs for a file.

- Content-Type from the file name, ETag (a hash of the content, cached per plugin
  instance and recomputed when the file changes) and Last-Modified; 304 for a
  matching If-None-Match or, without it, If-Modified-Since.
- Single byte ranges (206 with Content-Range; 416 beyond the end; If-Range),
  HEAD, and ``static_cache_control`` on every answer.
- ``static_url("css/site.css")`` (a handler helper) gives
  ``/static/css/site.css?v=<hash>``; a request whose ``v`` is the current hash is
  answered with ``Cache-Control: public, max-age=31536000, immutable``.
- A ``name.gz`` sibling is sent (``Content-Encoding: gzip``) to clients that
  accept gzip; ``Vary: Accept-Encoding`` then marks every answer for that file.
- Traversal is impossible (:func:`~micro_static.http.clean_relative`, then
  :func:`~micro_static.http.inside` once per file version): ``..``,
  encoded slashes, backslashes, absolute paths, NUL bytes and symlinks leading
  outside the root are all 404, as are directories and missing files.
- Files above ``static_inline_max`` bytes go out as a ``FileBody``, i.e.
  ``wsgi.file_wrapper`` (sendfile under micro's server); smaller ones are
  read into memory, which is cheaper than a file wrapper for a few kilobytes.
- The usual request, a plain GET of a file served before (or a browser's revalidation
  of it with If-None-Match), takes the fast road
  (:mod:`micro_static.ready`): one ``stat`` of the path proves it is still the same
  version of the same file, and the answer comes from what the first one kept (its
  header fields, and the bytes of a small file or an open descriptor of a big one,
  within ``static_memory_max`` bytes and ``static_open_max`` descriptors). A file
  modified in the last two seconds is not kept: it may still be being written.
- In debug mode (the app's ``debug`` setting, ``micro serve --debug``) every request
  under the prefix starts with the caches emptied: a file changed within the same
  clock tick, or a ``.gz`` sibling just added, is seen at once.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import stat
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from micro.errors import ConfigError, HTTPError
from micro.web import FileBody, Response, ResponseHeaders, check_header
from micro_static.files import OPEN_FLAGS, File, RangeBody
from micro_static.http import (
    UNSATISFIABLE,
    accepts_gzip,
    clean_relative,
    etag_matches,
    http_date,
    inside,
    parse_http_date,
    parse_range,
)
from micro_static.ready import Key, ReadyFiles, not_plain, sendfile_server, version_key

if TYPE_CHECKING:
    from micro.web import PluginApp, Request

__all__ = ["StaticFiles", "StaticPlugin", "plugin"]

IMMUTABLE = "public, max-age=31536000, immutable"
_NO_SIBLING_TTL = 2.0
_ARCHIVES = MappingProxyType(
    {"gzip": "application/gzip", "bzip2": "application/x-bzip2", "xz": "application/x-xz"}
)
_TEXTUAL = ("application/javascript", "application/json", "application/xml", "image/svg+xml")


class StaticFiles:
    """The middleware: answers requests under ``prefix`` from the directory ``root``."""

    name = "static"

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        prefix: str = "/static/",
        cache_control: str = "no-cache",
        inline_max: int = 64 * 1024,
        precompressed: bool = True,
        charset: str = "utf-8",
        memory_max: int = 32 * 1024 * 1024,
        open_max: int = 64,
    ) -> None:
        real = os.path.realpath(root)
        if not os.path.isdir(real):
            raise ConfigError(f"static_path {os.fspath(root)!r} is not a directory")
        if not prefix.startswith("/") or not prefix.endswith("/"):
            raise ConfigError(f"static_url_prefix must start and end with '/', not {prefix!r}")
        check_header("Cache-Control", cache_control)  # it goes out unchecked later
        self.root = real
        self.prefix = prefix
        self.cache_control = cache_control
        self.inline_max = inline_max
        self.precompressed = precompressed
        self.charset = charset
        # Built-in table only (the instance does not read /etc/mime.types), so a
        # file gets the same type on every machine.
        self._types = mimetypes.MimeTypes()
        # Per plugin instance (so per app), keyed by path. Plain dict operations
        # are atomic under the GIL; two threads filling the same entry at once
        # only do the work twice.
        # path -> ((inode, size, mtime_ns), digest): the content hash of a version.
        self._hashes: dict[str, tuple[Key, str]] = {}
        # path -> (device, inode) of the file that realpath proved to be inside the
        # root; a request that opens that very file again skips realpath.
        self._inside: dict[str, tuple[int, int]] = {}
        # path -> until when (monotonic) "there is no path.gz" is believed.
        self._no_sibling: dict[str, float] = {}
        # path -> (the stat key, Last-Modified, Content-Type) of a version.
        self._meta: dict[str, tuple[Key, str, str]] = {}
        # relative URL path -> file system path, for paths clean_relative accepted.
        self._paths: dict[str, str] = {}
        # URL path -> what answers its plain GET with one stat (micro_static.ready).
        self._ready = ReadyFiles(inline_max, memory_max=memory_max, open_max=open_max)

    # -- versioned URLs --------------------------------------------------------------

    def _digest(self, path: str, st: os.stat_result, file: File | None = None) -> str:
        # The ctime too: a file rewritten with its size and mtime put back (cp -p,
        # some deploy tools) is another version, whose bytes need another ETag.
        key = version_key(st)
        cached = self._hashes.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
        hasher = hashlib.sha256()
        if file is not None:
            offset = 0
            while block := file.read(256 * 1024, offset):
                hasher.update(block)
                offset += len(block)
        else:
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(256 * 1024), b""):
                    hasher.update(block)
        digest = hasher.hexdigest()[:32]
        self._hashes[path] = (key, digest)
        return digest

    def static_url(self, path: str) -> str:
        """The URL of ``path`` (relative to the root) with ``?v=<content hash>``.

        A path that names no file gets its URL without a version, so a typo shows
        up as a 404 in the browser rather than as an exception in the page.
        """
        relative = path.lstrip("/")
        url = self.prefix + quote(relative)
        segments = clean_relative(relative)
        if segments is None:
            return url
        full = os.path.join(self.root, *segments)
        try:
            st = os.stat(full)
        except OSError:
            return url
        identity = (st.st_dev, st.st_ino)
        if not stat.S_ISREG(st.st_mode) or (
            self._inside.get(full) != identity and not self._prove_inside(full, identity)
        ):
            return url
        return f"{url}?v={self._digest(full, st)[:16]}"

    # -- serving ---------------------------------------------------------------------

    def forget(self) -> None:
        """Drop every cache (hashes, metadata, proofs, missing siblings)."""
        self._hashes.clear()
        self._inside.clear()
        self._no_sibling.clear()
        self._meta.clear()
        self._paths.clear()
        self._ready.clear()

    def describe_routes(self) -> list[tuple[str, tuple[str, ...]]]:
        """What this middleware answers itself, for ``micro routes``."""
        return [(self.prefix + "{file:path}", ("GET", "HEAD"))]

    def __call__(self, request: Request, call_next: Callable[[Request], Response]) -> Response:
        url_path = request.path
        if not url_path.startswith(self.prefix):
            return call_next(request)
        if request.app.settings.get("debug"):
            self.forget()  # debug mode: every file looked at afresh, nothing remembered
        method = request.method
        environ = request.environ
        if method == "GET":
            answer = self._ready.answer(environ, url_path)
            if answer is not None:
                return answer
        elif method != "HEAD":
            raise HTTPError(405, headers={"Allow": "GET, HEAD"})
        full = self._full_path(url_path[len(self.prefix) :], environ)
        opened = None if full is None else self._open(full)
        if opened is None:
            self._ready.drop(url_path)
            raise HTTPError(404)
        path, main, st = opened
        gz = None
        try:
            gz = self._sibling(path) if self.precompressed else None
            if gz is None and method == "GET" and not not_plain(environ):
                return self._plain(request, path, main, st)
            return self._answer(request, path, main, st, gz)
        finally:  # whatever was not handed to the response
            main.close()
            if gz is not None:
                gz[1].close()

    def _full_path(self, relative: str, environ: Mapping[str, Any]) -> str | None:
        """The file system path a request names under the root, or None (then 404).

        PERF: a relative path that passed :func:`clean_relative` once is remembered
        with its file system path; only a request target with a percent sign must be
        looked at again (an encoded separator there names no file of ours).
        """
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        full = self._paths.get(relative)
        if full is not None and (raw is None or "%" not in raw):
            return full
        segments = clean_relative(relative, raw)
        if segments is None:
            return None
        full = os.path.join(self.root, *segments)
        if len(self._paths) >= 4096:
            self._paths.clear()
        self._paths[relative] = full
        return full

    def _plain(self, request: Request, path: str, file: File, st: os.stat_result) -> Response:
        """The answer to the usual request, kept for the fast road (micro_static.ready).

        The usual request: a GET of the whole file with no query, no Range and no
        validator, for a file that has no ``.gz`` sibling. Its answer depends on the
        file's version only, so its header fields are built once per version; the
        answer is the one ``_answer`` gives (the tests compare both).
        """
        url_path = request.path
        ready = self._ready.get(url_path)
        if ready is not None and ready.path == path and ready.key == version_key(st):
            fields = ready.fields
        else:
            digest = self._digest(path, st, file)
            last_modified, content_type = self._metadata(path, st)
            # PERF: Content-Length first: the App looks for one before it adds its own.
            fields = (
                ("Content-Length", str(st.st_size)),
                ("Content-Type", content_type),
                ("Last-Modified", last_modified),
                ("Cache-Control", self.cache_control),
                ("Accept-Ranges", "bytes"),
                ("ETag", f'"{digest}"'),
            )
        # Without precompressed files no sibling is ever looked for; with them, the
        # fast road ends when _sibling would look again.
        due = self._no_sibling.get(path, 0.0) if self.precompressed else float("inf")
        environ = request.environ
        ready = self._ready.remember(
            url_path,
            path,
            st,
            fields,
            due,
            file,
            keep=not request.app.settings.get("debug"),
            share=sendfile_server(environ),
        )
        return self._ready.respond(environ, ready, file)

    def _open(self, path: str) -> tuple[str, File, os.stat_result] | None:
        """``path`` opened, if it is a regular file inside the root (symlinks resolved)."""
        try:
            fd = os.open(path, OPEN_FLAGS)
        except OSError:
            return None
        st = os.fstat(fd)
        identity = (st.st_dev, st.st_ino)
        if not stat.S_ISREG(st.st_mode) or (
            self._inside.get(path) != identity and not self._prove_inside(path, identity)
        ):
            os.close(fd)
            return None
        return path, File(fd), st

    def _prove_inside(self, path: str, identity: tuple[int, int]) -> bool:
        real = inside(self.root, path)
        if real is None:
            return False
        try:
            # The file realpath found must be the one we opened (no swap between).
            st = os.stat(real)
        except OSError:
            return False
        if (st.st_dev, st.st_ino) != identity:
            return False
        self._inside[path] = identity
        return True

    def _sibling(self, path: str) -> tuple[str, File, os.stat_result] | None:
        """The opened ``path.gz``, if there is one inside the root.

        PERF: that there is none is remembered for a moment, so that the common
        case (no sibling) does not cost a failed open() on every request, while a
        ``.gz`` added by a deploy is still picked up within a second or two.
        """
        now = time.monotonic()
        if self._no_sibling.get(path, 0.0) > now:
            return None
        opened = self._open(path + ".gz")
        if opened is None:
            if len(self._no_sibling) >= 4096:
                self._no_sibling.clear()
            self._no_sibling[path] = now + _NO_SIBLING_TTL
        return opened

    def _metadata(self, path: str, st: os.stat_result) -> tuple[str, str]:
        """(Last-Modified, Content-Type) of this version of ``path``, cached."""
        key = version_key(st)
        cached = self._meta.get(path)
        if cached is None or cached[0] != key:
            cached = (key, http_date(st.st_mtime), self.content_type(path))
            self._meta[path] = cached
        return cached[1], cached[2]

    def content_type(self, path: str) -> str:
        guessed, encoding = self._types.guess_type(path, strict=False)
        if encoding is not None:
            # "site.css.gz" asked for by name is a gzip file, not CSS: sent as is,
            # without a Content-Encoding that would make the browser unpack it.
            return _ARCHIVES.get(encoding, "application/octet-stream")
        if guessed is None:
            return "application/octet-stream"
        if self.charset and (guessed.startswith("text/") or guessed in _TEXTUAL):
            return f"{guessed}; charset={self.charset}"
        return guessed

    def _answer(
        self,
        request: Request,
        path: str,
        file: File,
        st: os.stat_result,
        gz: tuple[str, File, os.stat_result] | None,
    ) -> Response:
        digest = self._digest(path, st, file)
        last_modified, content_type = self._metadata(path, st)
        req = request.headers
        version = request.get_query_argument("v", None) if request.query else None
        headers: dict[str, str] = {
            "Last-Modified": last_modified,
            "Cache-Control": IMMUTABLE if version == digest[:16] else self.cache_control,
            "Accept-Ranges": "bytes",
        }
        etag = f'"{digest}"'
        range_header = req.get("Range")
        if gz is not None:
            headers["Vary"] = "Accept-Encoding"
            if not range_header and accepts_gzip(req.get("Accept-Encoding")):
                _, file, st = gz
                etag = f'"{digest}-gz"'
                headers["Content-Encoding"] = "gzip"
        headers["ETag"] = etag

        if _not_modified(req.get("If-None-Match"), req.get("If-Modified-Since"), etag, st):
            headers.pop("Accept-Ranges")
            headers.pop("Content-Encoding", None)  # a 304 has no body to decode
            return Response(None, 304, headers=_trusted(headers))

        size = st.st_size
        status = 200
        first, last = 0, size - 1
        if range_header and _if_range_holds(req.get("If-Range"), etag, st):
            wanted = parse_range(range_header, size)
            if wanted == UNSATISFIABLE:
                headers["Content-Range"] = f"bytes */{size}"
                raise HTTPError(416, headers=headers)
            if wanted is not None:
                status, (first, last) = 206, wanted
                headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        length = last - first + 1
        headers["Content-Length"] = str(length)
        if request.method == "HEAD":
            headers["Content-Type"] = content_type
            return Response([], status, headers=_trusted(headers))
        if length <= self.inline_max:
            headers["Content-Type"] = content_type
            return Response([file.read(length, first)], status, headers=_trusted(headers))
        headers["Content-Type"] = content_type
        fileobj = file.detach(first)
        body: Iterable[bytes]
        if last == size - 1:
            # The size and position are known: the server needs no fstat or tell.
            body = FileBody(fileobj, offset=first, length=length)
        else:
            body = RangeBody(fileobj, length)
        return Response(body, status, headers=_trusted(headers))


def _trusted(headers: dict[str, str]) -> ResponseHeaders:
    # PERF: every value here was built by this module from checked parts (hex
    # digests, HTTP dates, numbers, types from the built-in table, settings checked
    # at start-up), so the per-field validation of Response(headers=...) is skipped.
    return ResponseHeaders(list(headers.items()))


def _not_modified(
    if_none_match: str | None, if_modified_since: str | None, etag: str, st: os.stat_result
) -> bool:
    # RFC 9110 13.2.2: If-None-Match, when present, decides; the date is ignored then.
    if if_none_match is not None:
        return etag_matches(if_none_match, etag, weak=True)
    if if_modified_since is not None:
        since = parse_http_date(if_modified_since)
        return since is not None and int(st.st_mtime) <= since
    return False


def _if_range_holds(if_range: str | None, etag: str, st: os.stat_result) -> bool:
    """Whether a Range may be honoured: no If-Range, or one naming this version exactly."""
    if if_range is None:
        return True
    value = if_range.strip()
    if value.startswith(('"', "W/")):
        return etag_matches(value, etag, weak=False)
    when = parse_http_date(value)
    return when is not None and int(st.st_mtime) == int(when)


class StaticPlugin:
    """The ``static`` plugin: the StaticFiles middleware plus the ``static_url`` helper."""

    name = "static"
    api_version = 1
    # Files are answered before XSRF runs: a GET needs no token, and this keeps
    # Set-Cookie off cacheable files.
    before: Sequence[str] = ("xsrf",)
    after: Sequence[str] = ()
    requires: Sequence[str] = ()
    settings: Mapping[str, Any] = MappingProxyType(
        {
            "static_path": None,
            "static_url_prefix": "/static/",
            "static_cache_control": "no-cache",
            "static_inline_max": 64 * 1024,
            "static_precompressed": True,
            "static_memory_max": 32 * 1024 * 1024,
            "static_open_max": 64,
        }
    )

    def __init__(self) -> None:
        self.files: StaticFiles | None = None

    def setup(self, app: PluginApp) -> None:
        settings = app.settings
        root = settings.get("static_path")
        if not root:
            raise ConfigError("the 'static' plugin needs the 'static_path' setting (a directory)")
        self.files = files = StaticFiles(
            root,
            prefix=settings["static_url_prefix"],
            cache_control=settings["static_cache_control"],
            inline_max=settings["static_inline_max"],
            precompressed=settings["static_precompressed"],
            memory_max=settings["static_memory_max"],
            open_max=settings["static_open_max"],
        )
        app.add_middleware(files)
        app.add_helper("static_url", lambda request: files.static_url)


def plugin() -> StaticPlugin:
    """The entry point's factory: a fresh plugin (and hash cache) for each app."""
    return StaticPlugin()
