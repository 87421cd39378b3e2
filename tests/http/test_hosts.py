"""Tests of micro.http.hosts: the shared, bounded cache of Host values that passed."""

from __future__ import annotations

import threading

from micro.http import Limits, RequestHead, RequestParser
from micro.http.hosts import HostCache


def test_a_full_cache_starts_over_with_the_new_value() -> None:
    cache = HostCache(max_size=3)
    for host in ("a", "b", "c"):
        cache.add(host)
    assert cache.passed == {"a", "b", "c"}
    cache.add("d")
    assert cache.passed == {"d"}
    assert len(cache) == 1


def test_long_values_are_not_held() -> None:
    cache = HostCache(max_length=10)
    cache.add("x" * 11)
    cache.add("x" * 10)
    assert cache.passed == {"x" * 10}


def test_threads_adding_at_once_keep_it_bounded() -> None:
    cache = HostCache(max_size=50)
    threads = 4
    sizes: list[int] = []

    def add_many(n: int) -> None:
        for i in range(2_000):
            cache.add(f"h{n}-{i}")
            sizes.append(len(cache))

    workers = [threading.Thread(target=add_many, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert len(sizes) == threads * 2_000
    # Each thread may add once past a size another thread just checked.
    assert max(sizes) <= 50 + threads - 1


def test_parsers_that_share_limits_share_what_passed() -> None:
    limits = Limits()
    first, second = RequestParser(limits), RequestParser(limits)
    first.feed(b"GET / HTTP/1.1\r\nHost: shop.example\r\n\r\n")
    assert isinstance(first.next_event(), RequestHead)
    assert "shop.example" in limits.hosts.passed
    second.feed(b"GET / HTTP/1.1\r\nHost: shop.example\r\n\r\n")
    head = second.next_event()
    assert isinstance(head, RequestHead)
    assert head.host == "shop.example"
    assert len(limits.hosts) == 1
