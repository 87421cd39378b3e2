"""micro-transforms, the compressed-body cache: compress once, send many times.

Layer: the ``gzip`` plugin, under its middleware. Its one job: keep compressed
bodies under the keys the middleware gives (it builds them from a strong ETag and
whatever else decides the output, see :mod:`micro_transforms`), within a byte
budget, so that the next answer with the same key costs a look-up instead of
reading and compressing the body again. Keys are opaque here.

Rules:

- Bounded: every entry costs its compressed length plus ``ENTRY_OVERHEAD`` (so
  that many small entries are bounded too), and all of them together never more
  than ``max_bytes``; an entry that alone would not fit is not kept.
- Eviction is "second chance", an approximation of least recently used: a hit
  marks its entry; when room is needed the oldest entry goes unless it is marked,
  in which case it is unmarked and moved to the young end, once.
- Threads: a look-up is a dict read and an attribute store, each atomic under the
  GIL, and takes no lock; every change of the table and of its byte count is made
  under the lock. Two threads that miss the same key at once both compress; the
  second store replaces the first with equal bytes.
- The ``hits`` and ``misses`` counts are kept without the lock: when threads race,
  one may miss an increment. They are for monitoring and tests, not accounting.
- State lives on the instance (one per middleware, so per app); nothing is global.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import NamedTuple

__all__ = ["ENTRY_OVERHEAD", "CacheStats", "CompressedCache"]

#: What one entry is counted for beyond its bytes: its key (a tuple of a few short
#: strings), the entry object and the table's slot, roughly.
ENTRY_OVERHEAD = 512


class CacheStats(NamedTuple):
    """A snapshot of a :class:`CompressedCache`'s counters."""

    entries: int
    #: what the entries are counted for (compressed bytes plus overhead)
    size: int
    max_bytes: int
    hits: int
    misses: int
    #: entries dropped to make room for others
    evictions: int


class _Entry:
    __slots__ = ("data", "used")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.used = False  # hit since it was stored or last given a second chance


class CompressedCache:
    """Compressed bodies by key, within ``max_bytes`` (see the module docstring)."""

    def __init__(self, max_bytes: int) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes!r}")
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0
        self.evictions = 0
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> bytes | None:
        """The bytes stored under ``key``, or None."""
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        entry.used = True
        self.hits += 1
        return entry.data

    def put(self, key: Hashable, data: bytes) -> None:
        """Keep ``data`` under ``key``, making room by evicting; too big alone: not kept."""
        cost = len(data) + ENTRY_OVERHEAD
        if cost > self.max_bytes:
            return
        entries = self._entries
        with self._lock:
            old = entries.pop(key, None)
            if old is not None:
                self._size -= len(old.data) + ENTRY_OVERHEAD
            # Readers may mark entries while this runs: the second chances given
            # are bounded by the number of entries, so the loop always ends.
            chances = len(entries)
            while self._size + cost > self.max_bytes:
                oldest, entry = entries.popitem(last=False)
                if entry.used and chances > 0:
                    chances -= 1
                    entry.used = False
                    entries[oldest] = entry
                    continue
                self._size -= len(entry.data) + ENTRY_OVERHEAD
                self.evictions += 1
            entries[key] = _Entry(data)
            self._size += cost

    def clear(self) -> None:
        """Drop every entry (the counters stay)."""
        with self._lock:
            self._entries.clear()
            self._size = 0

    def stats(self) -> CacheStats:
        return CacheStats(
            len(self._entries), self._size, self.max_bytes, self.hits, self.misses, self.evictions
        )
