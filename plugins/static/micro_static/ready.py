"""micro-static, the fast road: a plain GET of a file version answered before.

A plain GET (no query, no Range, no If-Modified-Since alone, no percent sign in the
request target) of a file without a ``.gz`` sibling gets the same answer for as long as the
file is the same version. Once the full road (:class:`micro_static.StaticFiles`)
has answered one, what the answer needs is kept per URL path (:class:`Ready`), and
the next one costs a single ``stat`` of the path. It must give the device, inode,
size, mtime and ctime seen before: the very file (so what the full road proved of
it, a regular file inside the root, still holds) in the very version.

- Requests that arrived before a check began share it. micro's server tells when a
  request had arrived (``micro.arrived``, see :mod:`micro.server.wsgi`); a check
  that began after that moment was made while this request was being served, so
  its answer is one the request could have got had the server come to it then.
  Under load, when the server reads many requests at each turn of its loop, most
  of them cost no ``stat`` at all. A request whose arrival is unknown (another
  server, TLS, a pipelined request) makes its own check, and a file changed before a
  request was sent is always seen by it.

- A small file (``inline_max`` bytes or fewer) keeps its bytes, up to ``memory_max``
  bytes for all files; a bigger one keeps an open descriptor (:class:`SharedFd`, up
  to ``open_max`` of them), which micro's server sends by sendfile at explicit
  offsets. Past either budget, or under another server, a version keeps its header
  fields only and each answer opens the file, as the full road does.
- A file whose mtime is less than ``settle`` seconds old is not remembered: it may
  still be being written, and a write within the same clock tick can leave size and
  times unchanged. Until it has settled, its requests take the full road.
- A GET whose only validator is If-None-Match (a browser revalidating a file served
  with ``Cache-Control: no-cache`` sends it, often with If-Modified-Since, which it
  then overrides) takes the fast road too: 304 with the ETag, Last-Modified and
  Cache-Control when it names this version, else the whole file.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from micro.web import FileBody, Response, ready_response
from micro_static.files import OPEN_FLAGS, File, SharedFd, SharedFile
from micro_static.http import etag_matches

__all__ = ["MAX_ENTRIES", "Ready", "ReadyFiles", "not_plain", "sendfile_server", "version_key"]

MAX_ENTRIES = 4096

Fields = tuple[tuple[str, str], ...]
Key = tuple[int, int, int, int, int]
_monotonic = time.monotonic
# micro's server: when the request had arrived (micro.server.wsgi); the plugin does
# not import the server, so the name is written here.
ARRIVED_KEY = "micro.arrived"


def version_key(st: os.stat_result) -> Key:
    """What tells one version of one file from any other: device, inode, size, times."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def not_plain(environ: Mapping[str, Any]) -> bool:
    """Whether a GET asks for more than the whole file as it is (a query, range or validator)."""
    get = environ.get
    return bool(
        get("QUERY_STRING")
        or get("HTTP_RANGE")
        or get("HTTP_IF_NONE_MATCH")
        or get("HTTP_IF_MODIFIED_SINCE")
    )


def sendfile_server(environ: Mapping[str, Any]) -> bool:
    """Whether the server sends a file wrapper's file at the offset it is given.

    micro's server marks its ``wsgi.file_wrapper`` so (``micro_offset_length``) and
    sends with ``os.sendfile`` at that offset, never using the descriptor's position:
    only then may answers share one descriptor.
    """
    return bool(getattr(environ.get("wsgi.file_wrapper"), "micro_offset_length", False))


class Ready:
    """What the plain GET of one file version needs; ``due``: when to look for a ``.gz``.

    ``fields`` must name the version's ETag, Last-Modified and Cache-Control: a
    revalidation (If-None-Match) is answered 304 with those three, as the full road
    answers it.
    """

    __slots__ = (
        "checked",
        "content",
        "due",
        "etag",
        "fields",
        "key",
        "not_modified",
        "path",
        "shared",
        "size",
    )

    def __init__(self, path: str, key: Key, fields: Fields, due: float) -> None:
        self.path = path
        self.key = key
        self.size = key[2]
        self.fields = fields
        self.due = due
        # When (time.monotonic()) the last check that found this version began.
        self.checked = 0.0
        named = dict(fields)
        self.etag = named["ETag"]
        self.not_modified: Fields = tuple(
            (name, named[name]) for name in ("Last-Modified", "Cache-Control", "ETag")
        )
        self.content: bytes | None = None
        self.shared: SharedFd | None = None


class ReadyFiles:
    """The :class:`Ready` of each URL path served before, within memory and descriptor budgets."""

    def __init__(
        self,
        inline_max: int,
        *,
        memory_max: int = 32 * 1024 * 1024,
        open_max: int = 64,
        settle: float = 2.0,
    ) -> None:
        self.inline_max = inline_max
        self.memory_max = memory_max
        self.open_max = open_max
        self.settle_ns = int(settle * 1e9)
        self._entries: dict[str, Ready] = {}
        # Readers only look an entry up (atomic under the GIL); changes and the
        # budget counts they keep are made under the lock.
        self._lock = threading.Lock()
        self._memory = 0
        self._open = 0
        self.get = self._entries.get
        # The last ``wsgi.file_wrapper`` seen that sends at explicit offsets (answer);
        # at first an object no environ holds.
        self._offset_wrapper: object = object()

    def __len__(self) -> int:
        return len(self._entries)

    def answer(self, environ: Mapping[str, Any], url_path: str) -> Response | None:
        """The answer to a GET of ``url_path`` from what was kept for it, or None (full road)."""
        ready = self._entries.get(url_path)
        if ready is None:
            return None
        get = environ.get
        if_none_match = get("HTTP_IF_NONE_MATCH")
        # PERF: not_plain and _kept written out: this is every request's road. A
        # browser revalidating (Cache-Control: no-cache) sends If-None-Match, which
        # then decides alone (RFC 9110 13.2.2): answered here too; If-Modified-Since
        # without it takes the full road.
        if (
            get("QUERY_STRING")
            or get("HTTP_RANGE")
            or (not if_none_match and get("HTTP_IF_MODIFIED_SINCE"))
            or "%" in (get("RAW_URI") or get("REQUEST_URI") or "")
        ):
            return None
        now = _monotonic()
        if ready.due <= now:  # a .gz sibling may have come: look
            return None
        arrived = get(ARRIVED_KEY)
        if arrived is None or arrived >= ready.checked:
            try:
                st = os.stat(ready.path)
            except OSError:
                return None
            if (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns) != ready.key:
                return None
            # ``now`` was read before the stat began. (Two threads may set it out of
            # order: a smaller value only means fewer requests share the check.)
            ready.checked = now
        # else a check that began after this request had arrived found this version.
        # Every field was built from checked parts (see micro_static._trusted).
        if if_none_match and etag_matches(if_none_match, ready.etag, weak=True):
            return ready_response([], 304, "Not Modified", list(ready.not_modified))
        # No If-None-Match, or one naming other versions only: the whole file.
        content = ready.content
        if content is not None:
            return ready_response([content], 200, "OK", list(ready.fields))
        size = ready.size
        shared = ready.shared
        if shared is not None:
            wrapper = get("wsgi.file_wrapper")
            # PERF: the server's wrapper is the same object on every request: once it
            # proved to be one that sends at explicit offsets, an identity test says so.
            if wrapper is self._offset_wrapper or sendfile_server(environ):
                self._offset_wrapper = wrapper
                body = FileBody.span(SharedFile(shared, size), 0, size)
                return ready_response(body, 200, "OK", list(ready.fields))
        try:
            file = File(os.open(ready.path, OPEN_FLAGS))
        except OSError:
            return None
        try:
            if version_key(os.fstat(file.fd)) != ready.key:
                return None
            return self._from_file(ready, file)
        finally:
            file.close()

    def respond(self, environ: Mapping[str, Any], ready: Ready, file: File) -> Response:
        """``ready``'s answer, for the full road that has the version open as ``file``."""
        kept = self._kept(environ, ready)
        return kept if kept is not None else self._from_file(ready, file)

    def _kept(self, environ: Mapping[str, Any], ready: Ready) -> Response | None:
        """The answer from what ``ready`` keeps (bytes, a shared descriptor), if it can.

        :meth:`answer` writes the same out for the usual request (PERF: no call).
        """
        content = ready.content
        if content is not None:
            return ready_response([content], 200, "OK", list(ready.fields))
        shared = ready.shared
        if shared is not None and sendfile_server(environ):
            size = ready.size
            body = FileBody.span(SharedFile(shared, size), 0, size)
            return ready_response(body, 200, "OK", list(ready.fields))
        return None

    def _from_file(self, ready: Ready, file: File) -> Response:
        size = ready.size
        if size <= self.inline_max:
            return ready_response([file.read(size, 0)], 200, "OK", list(ready.fields))
        body = FileBody.span(file.detach(0), 0, size)
        return ready_response(body, 200, "OK", list(ready.fields))

    def remember(
        self,
        url_path: str,
        path: str,
        st: os.stat_result,
        fields: Fields,
        due: float,
        file: File,
        *,
        keep: bool,
        share: bool,
    ) -> Ready:
        """The :class:`Ready` of the version ``file`` is, kept for ``url_path`` if it settled.

        ``keep``: whether to keep it at all (not in debug mode); ``share``: whether a
        big file may keep its descriptor (see :func:`sendfile_server`).
        """
        key = version_key(st)
        with self._lock:
            old = self._entries.get(url_path)
            if old is not None and old.key == key and old.path == path:
                old.due = due
                return old
            ready = Ready(path, key, fields, due)
            if old is not None:
                self._release(old)
                del self._entries[url_path]
            if not keep or time.time_ns() - st.st_mtime_ns < self.settle_ns:
                return ready  # answered, not kept (a recent file may still be being written)
            size = ready.size
            if size <= self.inline_max:
                if self._memory + size <= self.memory_max:
                    ready.content = file.read(size, 0)
                    self._memory += size
            elif share and self._open < self.open_max:
                ready.shared = SharedFd(os.dup(file.fd))
                self._open += 1
            if len(self._entries) >= MAX_ENTRIES:
                self._clear()
            self._entries[url_path] = ready
            return ready

    def drop(self, url_path: str) -> None:
        """Forget ``url_path`` (it names no file now)."""
        if url_path in self._entries:
            with self._lock:
                old = self._entries.pop(url_path, None)
                if old is not None:
                    self._release(old)

    def clear(self) -> None:
        with self._lock:
            self._clear()

    def _clear(self) -> None:
        self._entries.clear()
        self._memory = self._open = 0

    def _release(self, ready: Ready) -> None:
        if ready.content is not None:
            self._memory -= len(ready.content)
        if ready.shared is not None:
            self._open -= 1  # closed once the answers still sending it are done
