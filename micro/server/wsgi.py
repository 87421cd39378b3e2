"""Server layer: one request/response exchange with a WSGI app (PEP 3333).

:func:`run_exchange` builds the environ, calls the app, and writes what it returns
through an :class:`~micro.server.exchange.Exchange` (``start_response``, the
``write()`` callable and the framing rules live there); ``close()`` is always called
on the result. The return value says whether the connection may carry another
request.

Switching protocols: a request that asks for an ``Upgrade`` gets the environ entry
``micro.upgrade`` (:mod:`micro.server.upgrade`); an app that calls it and answers
``101`` has its head sent with its own ``Upgrade``/``Connection`` headers, and the
connection goes to the I/O loop for good (:data:`UPGRADED`).

When it arrived: ``micro.arrived`` is a ``time.monotonic()`` reading taken after the
request's first byte had arrived and before the app was called: the moment the
poller reported its connection readable. A check that *began* later than that (a
file's ``stat``, a cache entry's freshness) was made while this request was being
served, so the app may answer the request from it as it would from a check of its
own: whatever the client did before sending the request happened before the check.
The entry is absent when the server cannot vouch for such a moment: for a request
the client pipelined behind another in the same read (it may have come after the
poller's answer), one a worker read itself after answering the previous one, one
that came with its new connection (read at accept), and every request over TLS
(:class:`~micro.server.tls.TLSChannel` says why).

Answering later: ``micro.defer`` (:mod:`micro.server.defer`) parks the exchange
(:data:`DEFERRED`): the worker lets go, and :func:`resume_exchange` finishes it on a
worker once the app resumed it.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Iterable, Sequence
from typing import Any

from micro.errors import InvalidResponse
from micro.http import RequestHead

from .channel import Channel, ConnectionLost, IOTimeout
from .context import ServerContext
from .defer import DEFER_KEY
from .environ import ConnectionEnviron, FileWrapper, build_environ
from .exchange import COALESCE, FIXED, NOBODY, Exchange
from .logs import AccessLog
from .upgrade import UPGRADE_KEY

__all__ = [
    "ARRIVED_KEY",
    "CLOSE",
    "DEFERRED",
    "KEEP",
    "LINGER",
    "UPGRADED",
    "resume_exchange",
    "run_exchange",
]

# The environ entry: a time.monotonic() by which the request's first byte had
# arrived, when the server can vouch for one (see the module docstring).
ARRIVED_KEY = "micro.arrived"

KEEP, CLOSE, LINGER, UPGRADED, DEFERRED = 0, 1, 2, 3, 4
_AGAIN = -1  # resumed before the deferring app returned: answer with the new app now


def run_exchange(ctx: ServerContext, channel: Channel, head: RequestHead) -> int:
    """Serve one request on ``channel``.

    Returns KEEP (the connection can carry another request), CLOSE (close it now:
    nothing more is expected from the client) or LINGER (close it, but bytes may be
    on their way: shut writing and drain them so the answer is not lost to a reset).
    """
    ex = Exchange(ctx, channel, head)
    # The I/O loop read the whole body (micro.server.body): wsgi.input is memory
    # or a local file, never the network.
    body = channel.body.stream() if channel.body is not None else io.BytesIO()
    conn = channel.environ
    if conn is None:
        conn = channel.environ = ConnectionEnviron(ctx.base_environ, channel.peer)
    environ = build_environ(conn, ctx.header_keys, head, body, ctx.default_port)
    arrived = channel.arrived
    if arrived:
        environ[ARRIVED_KEY] = arrived
        channel.arrived = 0.0  # the next request on this connection proves its own
    if "HTTP_UPGRADE" in environ and ctx.adopt is not None:
        environ[UPGRADE_KEY] = ex.set_upgrade
    if ctx.resume is not None:
        environ[DEFER_KEY] = ex.defer
    ex.environ = environ
    if ctx.access_log is not None:
        ex.started = time.time()
        ex.clock = time.perf_counter()
    outcome = _respond(ex, ctx.app)
    while outcome == _AGAIN:
        outcome = resume_exchange(ex)
    return outcome


def resume_exchange(ex: Exchange) -> int:
    """Finish a deferred exchange with the app it was resumed with (on a worker)."""
    app = ex.deferral.app if ex.deferral is not None else None
    if app is None:  # pragma: no cover - only resumed exchanges come here
        raise RuntimeError("resume_exchange on an exchange nobody resumed")
    ex.channel.deferral = None
    return _respond(ex, app)


def _done(ex: Exchange, outcome: int) -> int:
    """The exchange is over: let go of its environ.

    PERF: the environ holds ``ex.defer`` (and maybe ``ex.set_upgrade``), bound to
    the exchange that holds the environ: a reference cycle that only the cyclic
    garbage collector would free, about ten objects a request. Broken here, they
    go as soon as the app lets go of them, and the collector has far less to do.
    """
    ex.environ = {}
    return outcome


def _respond(ex: Exchange, app: Any) -> int:
    """Call ``app`` and send what it answers; the outcome for the connection."""
    ctx, channel, head, environ, started = ex.ctx, ex.channel, ex.head, ex.environ, ex.started
    result: Iterable[bytes] | None = None
    try:
        result = app(environ, ex.start_response)
        deferral = ex.deferral
        if deferral is not None and app is not deferral.app:
            # The app deferred: the finally below closes what it returned. Known to
            # the channel first: once parked, a resume may come at any moment.
            channel.deferral = deferral
            return DEFERRED if deferral.park() else _AGAIN
        if ex.upgrade is not None and ex.status is not None and ex.status[:4] == "101 ":
            ex.send_switch()
            ex.keep_alive = False
            return _done(ex, UPGRADED)  # the finally below closes the result first
        kind = type(result)
        if kind is list or kind is tuple:
            pieces: Sequence[bytes] = result  # type: ignore[assignment]
            if ex.status is None or ex.head_sent:
                for chunk in pieces:
                    ex.write(chunk)
                ex.finish()
            elif len(pieces) == 1 and type(pieces[0]) is bytes:
                # PERF: the usual answer, one bytes object: head and body leave in one
                # send, without write()'s general checks.
                body = pieces[0]
                ex.known_length = size = len(body)
                head_bytes = ex.head_bytes()
                if ex.mode == FIXED and ex.remaining == size and size <= COALESCE:
                    channel.sendall(head_bytes + body, ctx.write_timeout)
                    ex.remaining = 0
                    ex.sent = size
                else:
                    channel.sendall(head_bytes, ctx.write_timeout)
                    ex.send_body(body)
                    ex.finish()
            else:
                ex.known_length = total = sum(map(len, pieces))
                if len(pieces) > 1 and total <= COALESCE:
                    # PERF: a few small pieces leave with the head in one send.
                    with contextlib.suppress(TypeError):  # not bytes: write() says so
                        pieces = (b"".join(pieces),)
                for chunk in pieces:
                    ex.write(chunk)
                ex.finish()
        elif kind is FileWrapper and ex.status is not None and ex.send_file(result):  # type: ignore[arg-type]
            ex.finish()
        else:
            for chunk in result:
                ex.write(chunk)
                if ex.mode == NOBODY and ex.head_sent:
                    break  # HEAD, 204, 304: the rest would be dropped; stop producing it
            ex.finish()
    except (ConnectionLost, IOTimeout):
        ex.keep_alive = False
    except Exception as exc:
        if isinstance(exc, InvalidResponse):
            ctx.error_log.error("invalid response for %s %s: %s", head.method, head.target, exc)
        else:
            ctx.error_log.exception("error in the app for %s %s", head.method, head.target)
        ex.answer_error(500, "Internal Server Error")
        ex.keep_alive = False
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            try:
                close()
            except Exception:
                ctx.error_log.exception("error closing the response of %s", head.target)
        if ex.status_code == 101 and ex.upgrade is not None and ctx.adopt is not None:
            if ctx.access_log is not None:
                _log_access(ctx.access_log, ex, environ, started, time.perf_counter() - ex.clock)
            channel.end_request()
            ctx.adopt(channel, ex.upgrade)
    if ctx.access_log is not None:
        _log_access(ctx.access_log, ex, environ, started, time.perf_counter() - ex.clock)
    if ex.keep_alive:
        return _done(ex, KEEP)
    if not channel.parser.buffered and not head.keep_alive:
        return _done(ex, CLOSE)  # the client said it was done: nothing more can be on its way
    return _done(ex, LINGER)


def _log_access(
    log: AccessLog, ex: Exchange, environ: dict[str, Any], started: float, duration: float
) -> None:
    """One line for an answered request; ``duration``: from the app's call to the end."""
    head = ex.head
    log.request(
        # Behind a trusted proxy (micro.server.proxy rewrote it): the client.
        remote_addr=str(
            environ["REMOTE_ADDR"] if "micro.proxy_peer" in environ else ex.channel.peer[0]
        ),
        timestamp=started,
        method=head.method,
        target=head.target,
        protocol=f"HTTP/{head.http_version}",
        status=ex.status_code,
        size=ex.sent,
        referer=environ.get("HTTP_REFERER"),
        user_agent=environ.get("HTTP_USER_AGENT"),
        duration=duration,
    )
