"""The I/O loop's poller: a selector that also answers (data, events) pairs.

Both implementations (epoll on Linux, the platform's default selector elsewhere) are
held to the same behaviour, over TCP connections on 127.0.0.1.
"""

from __future__ import annotations

import select
import selectors
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from micro.server.poller import EpollPoller, Poller, SelectorPoller, new_poller

KINDS = [SelectorPoller] + ([EpollPoller] if hasattr(select, "epoll") else [])
READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE


@pytest.fixture(params=KINDS, ids=lambda kind: kind.__name__)
def poller(request: Any) -> Iterator[Poller]:
    made: Poller = request.param()
    yield made
    made.close()


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname()[:2])
        server, _ = listener.accept()
    yield client, server
    client.close()
    server.close()


def test_new_poller_is_epoll_where_the_system_has_it() -> None:
    made = new_poller()
    try:
        assert isinstance(made, EpollPoller if hasattr(select, "epoll") else SelectorPoller)
    finally:
        made.close()


def test_ready_gives_the_data_of_each_readable_registration(poller: Poller, pair: Any) -> None:
    client, server = pair
    poller.register(server, READ, "the server side")
    assert poller.ready(0) == []
    client.sendall(b"x")
    assert poller.ready(1.0) == [("the server side", READ)]
    assert server.recv(10) == b"x"
    assert poller.ready(0) == []


def test_select_keeps_the_selectors_interface(poller: Poller, pair: Any) -> None:
    client, server = pair
    poller.register(server, READ, 7)
    client.sendall(b"x")
    [(key, events)] = poller.select(1.0)  # type: ignore[attr-defined]
    assert (key.fileobj, key.fd, key.data, events) == (server, server.fileno(), 7, READ)
    mapping = poller.get_map()  # type: ignore[attr-defined]
    assert (list(mapping), mapping[server].data, mapping[server.fileno()].data) == (
        [server.fileno()],
        7,
        7,
    )


def test_modify_changes_interest_and_data(poller: Poller, pair: Any) -> None:
    _, server = pair
    poller.register(server, READ, "reading")
    assert poller.ready(0) == []  # nothing to read yet
    poller.modify(server, WRITE, "writing")
    assert poller.ready(1.0) == [("writing", WRITE)]  # an empty send buffer is writable
    poller.modify(server, READ | WRITE, "both")
    assert poller.ready(1.0) == [("both", WRITE)]


def test_a_hang_up_wakes_only_what_was_asked_for(poller: Poller, pair: Any) -> None:
    # selectors' rule: an error or hang-up counts as both readable and writable,
    # masked by what the registration asked for; a paused reader stays paused.
    client, server = pair
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    client.close()  # a reset: error and hang-up on the server side
    poller.register(server, WRITE, "writer")
    assert poller.ready(1.0) == [("writer", WRITE)]
    poller.modify(server, READ, "reader")
    assert poller.ready(1.0) == [("reader", READ)]


def test_unregister_stops_the_events_and_returns_the_key(poller: Poller, pair: Any) -> None:
    client, server = pair
    poller.register(server, READ, "data")
    key = poller.unregister(server)
    assert (key.fileobj, key.data) == (server, "data")
    client.sendall(b"x")
    assert poller.ready(0.05) == []


def test_misuse_raises_what_selectors_raises(poller: Poller, pair: Any) -> None:
    _, server = pair
    with pytest.raises(KeyError):
        poller.unregister(server)
    with pytest.raises(KeyError):
        poller.modify(server, READ)
    with pytest.raises(ValueError):
        poller.register(server, 0)
    poller.register(server, READ)
    with pytest.raises(KeyError):
        poller.register(server, READ)


def test_a_closed_socket_can_still_be_unregistered(poller: Poller, pair: Any) -> None:
    _, server = pair
    poller.register(server, READ, "gone")
    server.close()  # its fileno() is now -1, and the kernel forgot it
    assert poller.unregister(server).data == "gone"
    with pytest.raises(ValueError):  # closed and unknown: selectors says ValueError too
        poller.unregister(server)
