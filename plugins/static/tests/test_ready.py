"""The fast road (micro_static.ready): a plain GET of a file served before.

Once a file has settled (its mtime a few seconds old), its plain GET is answered from
what the first answer kept, with one stat of the path instead of an open. These
tests pin that a client cannot tell: the answer is the full road's, byte for byte;
a new version, a replaced or removed file, a symlink turned outside, all show at once;
and the descriptors kept for big files are shared safely and closed when let go.
"""

from __future__ import annotations

import http.client
import io
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from webob import Request as Blank

from micro import App
from micro.server import FileWrapper, Server, ServerConfig

SMALL = b"hello, world\n"
BIG = os.urandom(200 * 1024)
SETTLED = time.time() - 60


def settle(path: Path) -> None:
    """Give ``path`` an mtime a minute old, as a file deployed earlier has."""
    os.utime(path, (SETTLED, SETTLED))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "public"
    root.mkdir()
    (root / "hello.txt").write_bytes(SMALL)
    (root / "big.bin").write_bytes(BIG)
    (tmp_path / "secret.txt").write_text("outside the root\n")
    (root / "link.txt").symlink_to(root / "hello.txt")
    for name in ("hello.txt", "big.bin"):
        settle(root / name)
    settle(tmp_path / "secret.txt")
    return root


def make_app(root: Path, **settings: Any) -> App:
    return App(plugins=["static"], settings={"static_path": str(root), **settings})


def get(
    app: App, path: str, headers: dict[str, str] | None = None, **environ: Any
) -> tuple[int, dict[str, str], bytes]:
    """The app's answer to a GET, as micro's server would pass it (its file wrapper)."""
    environ.setdefault("wsgi.file_wrapper", FileWrapper)
    environ.setdefault("RAW_URI", path)
    request = Blank.blank(path, headers=headers or {}, environ=environ)
    status, headerlist, body = request.call_application(app)
    try:
        data = b"".join(body)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return int(status.split()[0]), dict(headerlist), data


@pytest.fixture
def opens(monkeypatch: pytest.MonkeyPatch, root: Path) -> list[str]:
    """The files under ``root`` opened from now on (a look for a ``.gz`` that fails is not)."""
    seen: list[str] = []
    real = os.open

    def spy(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        fd = real(path, flags, *args, **kwargs)
        if str(path).startswith(str(root)):
            seen.append(str(path))
        return fd

    monkeypatch.setattr(os, "open", spy)
    return seen


@pytest.mark.parametrize("name", ["hello.txt", "big.bin", "link.txt"])
def test_a_settled_file_is_opened_once_and_answered_as_the_full_road_does(
    root: Path, opens: list[str], name: str
) -> None:
    app = make_app(root)
    first = get(app, f"/static/{name}")
    for _ in range(3):
        assert get(app, f"/static/{name}") == first
    assert len(opens) == 1  # the later answers came from what the first one kept
    full = get(app, f"/static/{name}?full=1")  # a query takes the full road
    assert full == first
    assert first[0] == 200
    assert first[2] == (root / name).read_bytes()
    assert first[1]["Content-Length"] == str(len(first[2]))


def test_a_file_just_written_is_read_on_every_request(root: Path, opens: list[str]) -> None:
    (root / "new.txt").write_bytes(b"fresh")
    app = make_app(root)
    assert get(app, "/static/new.txt")[2] == b"fresh"
    assert get(app, "/static/new.txt")[2] == b"fresh"
    assert len(opens) == 2  # not kept: it may still be being written


@pytest.mark.parametrize("name", ["hello.txt", "big.bin"])
def test_a_new_version_in_place_is_served_at_once(root: Path, name: str) -> None:
    app = make_app(root)
    before = get(app, f"/static/{name}")
    path = root / name
    new = bytes(reversed(path.read_bytes()))  # same size
    with path.open("r+b") as f:  # the same inode, rewritten
        f.write(new)
    settle(path)  # and the same mtime: only the ctime tells
    after = get(app, f"/static/{name}")
    assert after[2] == new
    assert after == get(app, f"/static/{name}?full=1")
    assert before[2] != after[2]


@pytest.mark.parametrize("name", ["hello.txt", "big.bin"])
def test_a_revalidation_is_answered_from_what_was_kept_as_the_full_road_answers_it(
    root: Path, opens: list[str], name: str
) -> None:
    app = make_app(root)
    first = get(app, f"/static/{name}")
    etag, modified = first[1]["ETag"], first[1]["Last-Modified"]
    browser = {"If-None-Match": etag, "If-Modified-Since": modified}  # as browsers send
    del opens[:]
    kept = [get(app, f"/static/{name}", browser) for _ in range(3)]
    assert opens == []  # answered from what the first answer kept
    full = get(app, f"/static/{name}?full=1", browser)  # a query takes the full road
    assert len(opens) == 1
    assert kept == [full] * 3
    assert full[0] == 304
    assert full[2] == b""
    assert full[1]["ETag"] == etag
    # If-None-Match decides alone: a tag of another version gets the whole file,
    # whatever If-Modified-Since says; a list naming this version (weakly) gets 304.
    stale = {"If-None-Match": '"other"', "If-Modified-Since": modified}
    assert get(app, f"/static/{name}", stale) == first
    assert get(app, f"/static/{name}", {"If-None-Match": f'"other", W/{etag}'}) == full
    assert get(app, f"/static/{name}", {"If-None-Match": "*"}) == full
    assert len(opens) == 1


@pytest.mark.parametrize("name", ["hello.txt", "big.bin"])
def test_a_revalidation_after_a_new_version_gets_the_new_version(root: Path, name: str) -> None:
    app = make_app(root)
    etag = get(app, f"/static/{name}")[1]["ETag"]
    assert get(app, f"/static/{name}", {"If-None-Match": etag})[0] == 304
    path = root / name
    new = bytes(reversed(path.read_bytes()))  # same size, same inode, same mtime
    with path.open("r+b") as f:
        f.write(new)
    settle(path)
    status, headers, body = get(app, f"/static/{name}", {"If-None-Match": etag})
    assert (status, body) == (200, new)
    assert headers["ETag"] != etag
    assert get(app, f"/static/{name}", {"If-None-Match": headers["ETag"]})[0] == 304


@pytest.fixture
def stats(monkeypatch: pytest.MonkeyPatch, root: Path) -> list[str]:
    """The paths under ``root`` stat'ed from now on."""
    seen: list[str] = []
    real = os.stat

    def spy(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        if str(path).startswith(str(root)):
            seen.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", spy)
    return seen


def arrived(at: float) -> dict[str, Any]:
    """The environ entry micro's server adds: when the request had arrived."""
    return {"micro.arrived": at}


@pytest.mark.parametrize("name", ["hello.txt", "big.bin"])
def test_requests_that_arrived_before_a_check_began_share_it(
    root: Path, stats: list[str], name: str
) -> None:
    app = make_app(root)
    target = f"/static/{name}"
    first = get(app, target)  # the full road: kept from now on
    del stats[:]
    before_check = time.monotonic()
    assert get(app, target, **arrived(before_check)) == first
    assert len(stats) == 1  # no check had begun after it arrived: it made one
    # Requests that had arrived before that check began are answered from it.
    for _ in range(3):
        assert get(app, target, **arrived(before_check)) == first
    assert len(stats) == 1
    # One that arrived after it, or whose arrival is unknown, makes its own.
    assert get(app, target, **arrived(time.monotonic())) == first
    assert get(app, target) == first
    assert len(stats) == 3


@pytest.mark.parametrize("name", ["hello.txt", "big.bin"])
def test_a_version_written_before_a_request_arrived_is_what_it_gets(root: Path, name: str) -> None:
    app = make_app(root)
    target = f"/static/{name}"
    get(app, target)
    old = get(app, target, **arrived(time.monotonic()))  # checked: the old version
    path = root / name
    new = bytes(reversed(path.read_bytes()))
    with path.open("r+b") as f:  # in place: only the ctime tells
        f.write(new)
    settle(path)
    status, headers, body = get(app, target, **arrived(time.monotonic()))
    assert (status, body) == (200, new)
    assert headers["ETag"] != old[1]["ETag"]


def test_a_file_replaced_by_rename_is_served_at_once(root: Path) -> None:
    app = make_app(root)
    get(app, "/static/big.bin")
    other = os.urandom(300 * 1024)
    staged = root.parent / "staged.bin"
    staged.write_bytes(other)
    settle(staged)
    os.replace(staged, root / "big.bin")
    status, headers, body = get(app, "/static/big.bin")
    assert (status, body) == (200, other)
    assert headers["Content-Length"] == str(len(other))


def test_a_removed_file_is_404_at_once(root: Path) -> None:
    app = make_app(root)
    assert get(app, "/static/hello.txt")[0] == 200
    (root / "hello.txt").unlink()
    assert get(app, "/static/hello.txt")[0] == 404
    assert get(app, "/static/link.txt")[0] == 404  # dangling now


def test_a_symlink_turned_outside_after_it_was_kept_is_404(root: Path) -> None:
    app = make_app(root)
    assert get(app, "/static/link.txt")[2] == SMALL
    assert get(app, "/static/link.txt")[2] == SMALL  # kept
    (root / "link.txt").unlink()
    (root / "link.txt").symlink_to(root.parent / "secret.txt")
    status, _, body = get(app, "/static/link.txt")
    assert status == 404
    assert b"outside" not in body


@pytest.mark.parametrize(
    ("headers", "environ", "status"),
    [
        ({"Range": "bytes=0-4"}, {}, 206),
        ({"If-None-Match": "*"}, {}, 304),
        ({"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}, {}, 304),
        ({}, {"REQUEST_METHOD": "HEAD"}, 200),
        ({}, {"RAW_URI": "/static/hello%2Etxt"}, 200),
    ],
)
def test_requests_that_ask_for_more_are_not_answered_from_what_was_kept(
    root: Path, headers: dict[str, str], environ: dict[str, Any], status: int
) -> None:
    app = make_app(root)
    get(app, "/static/hello.txt")  # kept
    assert get(app, "/static/hello.txt", headers, **environ)[0] == status


@pytest.mark.parametrize(
    ("settings", "opened"),
    [
        # hello.txt needs memory to be kept, big.bin a descriptor: the one without
        # room is opened on its second request too; in debug mode nothing is kept.
        ({"static_memory_max": 0}, 3),
        ({"static_open_max": 0}, 3),
        ({"debug": True}, 4),
    ],
)
def test_without_room_to_keep_files_the_answers_are_the_same(
    root: Path, opens: list[str], settings: dict[str, Any], opened: int
) -> None:
    kept = make_app(root)
    expected = {name: get(kept, f"/static/{name}") for name in ("hello.txt", "big.bin")}
    del opens[:]
    bare = make_app(root, **settings)
    for name, answer in expected.items():
        for _ in range(2):
            assert get(bare, f"/static/{name}") == answer
    assert len(opens) == opened


@pytest.mark.parametrize("micro_first", [False, True], ids=["fresh", "after-micro-kept-one"])
def test_under_another_server_a_big_file_gets_a_descriptor_of_its_own(
    root: Path, micro_first: bool
) -> None:
    wrapped: list[Any] = []

    def foreign_wrapper(fileobj: Any, block_size: int) -> Any:
        wrapped.append(fileobj)  # a server that may seek it: it must own it
        return iter(lambda: fileobj.read(block_size), b"")

    app = make_app(root)
    if micro_first:  # micro's server was answered first: a descriptor is kept
        for _ in range(2):
            assert get(app, "/static/big.bin")[::2] == (200, BIG)
        # and a server without any file wrapper is sent the bytes themselves
        assert get(app, "/static/big.bin", **{"wsgi.file_wrapper": None})[::2] == (200, BIG)
    for _ in range(2):
        status, _, body = get(app, "/static/big.bin", **{"wsgi.file_wrapper": foreign_wrapper})
        assert (status, body) == (200, BIG)
    assert len(wrapped) == 2
    try:
        # Each a real file object of its own (not one descriptor shared by both).
        assert all(isinstance(f, io.FileIO) and not f.closed for f in wrapped)
        assert wrapped[0].fileno() != wrapped[1].fileno()
    finally:
        for fileobj in wrapped:
            fileobj.close()


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def server(root: Path) -> Iterator[tuple[str, int]]:
    app = make_app(root)
    server = Server(app, ServerConfig(host="127.0.0.1", port=0, threads=4))
    server.start()
    try:
        yield server.address
    finally:
        server.stop(timeout=5.0)


def fetch(address: tuple[str, int], target: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(*address, timeout=10)
    try:
        conn.request("GET", target)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def run_threads(count: int, work: Callable[[], None]) -> None:
    threads = [threading.Thread(target=work) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
def test_one_kept_descriptor_serves_concurrent_downloads_exactly(
    server: tuple[str, int], root: Path
) -> None:
    assert fetch(server, "/static/big.bin") == (200, BIG)  # kept from now on
    results: list[tuple[int, bytes]] = []
    lock = threading.Lock()

    def download() -> None:
        for _ in range(5):
            answer = fetch(server, "/static/big.bin")
            with lock:
                results.append(answer)

    run_threads(6, download)
    assert len(results) == 30
    assert all(answer == (200, BIG) for answer in results)


@pytest.mark.parametrize("name", ["hello.txt", "big.bin"])
def test_on_one_connection_each_request_gets_the_version_written_before_it(
    server: tuple[str, int], root: Path, name: str
) -> None:
    # A keep-alive connection: micro's server tells when each request arrived, and
    # the checks are shared; none may hide a version written before a request.
    conn = http.client.HTTPConnection(*server, timeout=10)
    try:
        path = root / name
        size = len(path.read_bytes())
        for i in range(20):
            version = os.urandom(size)  # the same size, in place: the times tell
            with path.open("r+b") as f:
                f.write(version)
            settle(path)
            for _ in range(2):
                conn.request("GET", f"/static/{name}")
                response = conn.getresponse()
                assert (response.status, response.read()) == (200, version), i
    finally:
        conn.close()


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
def test_descriptors_of_replaced_versions_are_closed(server: tuple[str, int], root: Path) -> None:
    assert fetch(server, "/static/big.bin") == (200, BIG)
    baseline = open_descriptors()
    for i in range(20):
        version = os.urandom(100 * 1024 + i)
        (root / "big.bin").write_bytes(version)
        settle(root / "big.bin")
        assert fetch(server, "/static/big.bin") == (200, version)
    # One descriptor kept for the current version, as before: none leaked.
    deadline = time.monotonic() + 5
    while open_descriptors() > baseline and time.monotonic() < deadline:
        time.sleep(0.05)
    assert open_descriptors() <= baseline
