"""Stress harness (benchmarks/stress): the request corpus of the fuzz script.

One job: make random and mutated HTTP/1.1 requests from a seeded ``random.Random``.
A case starts as one of a dozen valid requests (GETs, bodies by Content-Length and
chunked, HTTP/1.0, absolute-form, ``OPTIONS *``, ``Expect: 100-continue``, HEAD, ...)
and, as a mutated case, gets one to three mutations: structural ones (duplicated headers, random
Content-Length and Transfer-Encoding, weird versions, methods, targets and header
syntax, broken chunk framing, huge lines, bare LF line ends) and byte-level ones
(bit flips, byte replacement, insertion, deletion, truncation, duplication,
splicing, or all random bytes). A valid (unmutated) case knows the response it must
get; the fuzzer pipelines valid cases around the mutated ones.

Over 400 lines on purpose: most of it is corpus data and one small method per base
request or mutation, which read best side by side.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

HELLO = b"Hello, world!\n"
INTERESTING = b"\r\n\x00 \t:;,\x7f\x80\xff\x0b\x0c%/?#\"'\\"
WEIRD_CL = [
    b"-1",
    b"+5",
    b"0x10",
    b"1e3",
    b" 7",
    b"7 ",
    b"5, 5",
    b"5,6",
    b"",
    b"abc",
    b"00000000005",
    b"99999999999999999999999",
    b"18446744073709551616",
    b"1073741825",
    b"4294967296",
    b"0",
    b"1",
    b"10",
    b"100000",
    b"\t3",
    b"3\x00",
    b"\xd9\xa3",
]
WEIRD_TE = [
    b"chunked",
    b"CHUNKED",
    b"Chunked",
    b" chunked",
    b"chunked ",
    b"chunked, chunked",
    b"gzip, chunked",
    b"chunked, gzip",
    b"identity",
    b"identity, chunked",
    b"gzip",
    b"",
    b"chunk",
    b"xchunked",
    b"chunked\x0b",
    b'"chunked"',
    b"chunked;q=1",
    b"\x00chunked",
]
VERSIONS = [
    b"HTTP/1.0",
    b"HTTP/1.1",
    b"HTTP/2.0",
    b"HTTP/0.9",
    b"HTTP/1.2",
    b"HTTP/3",
    b"http/1.1",
    b"HTTP/1.10",
    b"HTTP/11",
    b"HTTP/1.1 ",
    b"HTTP/",
    b"",
    b"HTTP/1.1\x00",
    b"HTTP/9.9",
    b"HTTP\\1.1",
    b"HTTP/01.1",
]
METHODS = [
    b"GET",
    b"POST",
    b"PUT",
    b"DELETE",
    b"PATCH",
    b"OPTIONS",
    b"TRACE",
    b"CONNECT",
    b"get",
    b"G\x00T",
    b"GE T",
    b"",
    b"BREW",
    b"M-SEARCH",
    b"\xffGET",
    b"GET\t",
    b"PRI",
]
TARGETS = [
    b"",
    b" ",
    b"*",
    b"/%",
    b"/%zz",
    b"/\x00",
    b"//",
    b"/../../etc/passwd",
    b"/?" + b"&" * 200,
    b"http://[::1",
    b"http://",
    b"https://example.com:99999/",
    b"/\xc3\xa9t\xc3\xa9",
    b"/\xff",
    b"/a b",
    b"/#frag",
    b"example.com:80",
    b"/%00",
    b"?x",
    b"/" + b"a/" * 500,
]
HUGE_SIZES = [4000, 8189, 8190, 8191, 8192, 16384, 65535, 65536, 65537, 100_000, 300_000]


@dataclass
class Req:
    """A request still in structured form (before byte-level mutations)."""

    method: bytes
    target: bytes
    version: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""
    eol: bytes = b"\r\n"

    def serialize(self) -> bytes:
        lines = [self.method + b" " + self.target + b" " + self.version]
        lines += [name + b": " + value for name, value in self.headers]
        return self.eol.join(lines) + self.eol + self.eol + self.body

    def set(self, name: bytes, value: bytes) -> None:
        self.headers = [(n, v) for n, v in self.headers if n.lower() != name.lower()]
        self.headers.append((name, value))


@dataclass
class Expect:
    """What an unmutated request must get: a final status and, if known, the body."""

    status: int | None  # None: any final status
    body: bytes | None
    closes: bool = False  # the connection may end after this exchange


@dataclass
class Case:
    data: bytes
    base: str
    mutations: list[str] = field(default_factory=list)
    expect: Expect | None = None  # None once mutated
    head: bool = False  # starts with HEAD: its response may have no body; sent alone


def chunk_body(rng: random.Random, body: bytes) -> bytes:
    out = bytearray()
    pos = 0
    while pos < len(body):
        size = rng.randint(1, max(1, min(len(body) - pos, 700)))
        ext = b";ext=" + str(rng.randint(0, 9)).encode() if rng.random() < 0.1 else b""
        out += f"{size:x}".encode() + ext + b"\r\n" + body[pos : pos + size] + b"\r\n"
        pos += size
    out += b"0\r\n"
    if rng.random() < 0.2:
        out += b"X-Trailer: yes\r\n"
    return bytes(out + b"\r\n")


class CaseMaker:
    """Seeded maker of fuzz cases; one per thread (random.Random is not shared)."""

    def __init__(self, rng: random.Random, host: str) -> None:
        self.rng = rng
        self.host = host.encode()
        self.bases: list[Callable[[], tuple[str, Req, Expect, bool]]] = [
            self.get_simple,
            self.get_browser,
            self.post_length,
            self.post_chunked,
            self.http10,
            self.options_star,
            self.absolute,
            self.expect_continue,
            self.head,
            self.other_method,
            self.conn_close,
            self.upgrade,
            self.stream,
        ]
        self.structural: list[Callable[[Req], str]] = [
            self.dup_header,
            self.random_cl,
            self.random_te,
            self.cl_and_te,
            self.huge_line,
            self.version,
            self.method,
            self.target,
            self.header_syntax,
            self.chunk_framing,
            self.bare_lf,
            self.body_mismatch,
        ]
        self.bytewise: list[Callable[[bytes], tuple[bytes, str]]] = [
            self.bit_flip,
            self.replace_bytes,
            self.insert_bytes,
            self.delete_span,
            self.truncate,
            self.duplicate_span,
            self.splice,
        ]

    # -- valid bases: (name, request, expected response, is HEAD) --------------------

    def hdrs(self, *extra: tuple[bytes, bytes]) -> list[tuple[bytes, bytes]]:
        return [(b"Host", self.host), *extra]

    def get_simple(self) -> tuple[str, Req, Expect, bool]:
        return "get", Req(b"GET", b"/", b"HTTP/1.1", self.hdrs()), Expect(200, HELLO), False

    def get_browser(self) -> tuple[str, Req, Expect, bool]:
        target = b"/page/%d?q=a%%20b&x=%d" % (self.rng.randint(0, 999), self.rng.randint(0, 9))
        req = Req(
            b"GET",
            target,
            b"HTTP/1.1",
            self.hdrs(
                (b"User-Agent", b"Mozilla/5.0 (X11; Linux x86_64) fuzz"),
                (b"Accept", b"text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"),
                (b"Accept-Encoding", b"gzip, deflate"),
                (b"Accept-Language", b"en-GB,en;q=0.5"),
                (b"Cookie", b"a=1; b=" + b"x" * self.rng.randint(0, 300)),
                (b"Referer", b"http://127.0.0.1/"),
            ),
        )
        return "browser", req, Expect(200, HELLO), False

    def body(self) -> bytes:
        return self.rng.randbytes(self.rng.choice([0, 1, 10, 100, 1000, 5000]))

    def post_length(self) -> tuple[str, Req, Expect, bool]:
        body = self.body()
        req = Req(
            b"POST",
            b"/echo",
            b"HTTP/1.1",
            self.hdrs(
                (b"Content-Type", b"application/octet-stream"),
                (b"Content-Length", str(len(body)).encode()),
            ),
            body,
        )
        return "post-cl", req, Expect(200, b"%d\n" % len(body)), False

    def post_chunked(self) -> tuple[str, Req, Expect, bool]:
        body = self.body()
        req = Req(
            b"POST",
            b"/echo",
            b"HTTP/1.1",
            self.hdrs((b"Transfer-Encoding", b"chunked")),
            chunk_body(self.rng, body),
        )
        return "post-chunked", req, Expect(200, b"%d\n" % len(body)), False

    def http10(self) -> tuple[str, Req, Expect, bool]:
        keep = self.rng.random() < 0.5
        extra = [(b"Connection", b"keep-alive")] if keep else []
        req = Req(b"GET", b"/old", b"HTTP/1.0", self.hdrs(*extra))
        return "http10", req, Expect(200, HELLO, closes=not keep), False

    def options_star(self) -> tuple[str, Req, Expect, bool]:
        # The server may refuse the asterisk form (and then close): any status will do.
        req = Req(b"OPTIONS", b"*", b"HTTP/1.1", self.hdrs())
        return "options*", req, Expect(None, None, closes=True), False

    def absolute(self) -> tuple[str, Req, Expect, bool]:
        req = Req(b"GET", b"http://" + self.host + b"/abs?x=1", b"HTTP/1.1", self.hdrs())
        return "absolute", req, Expect(200, HELLO), False

    def expect_continue(self) -> tuple[str, Req, Expect, bool]:
        body = self.body()
        req = Req(
            b"PUT",
            b"/echo",
            b"HTTP/1.1",
            self.hdrs((b"Expect", b"100-continue"), (b"Content-Length", str(len(body)).encode())),
            body,
        )
        return "expect", req, Expect(200, b"%d\n" % len(body)), False

    def head(self) -> tuple[str, Req, Expect, bool]:
        return "head", Req(b"HEAD", b"/", b"HTTP/1.1", self.hdrs()), Expect(200, b""), True

    def other_method(self) -> tuple[str, Req, Expect, bool]:
        method = self.rng.choice([b"DELETE", b"PATCH", b"TRACE", b"CONNECT"])
        target = b"127.0.0.1:443" if method == b"CONNECT" else b"/thing"
        # A WSGI server may refuse CONNECT's authority form (and then close).
        expect = Expect(None, None, True) if method == b"CONNECT" else Expect(200, HELLO)
        return "method", Req(method, target, b"HTTP/1.1", self.hdrs()), expect, False

    def conn_close(self) -> tuple[str, Req, Expect, bool]:
        req = Req(b"GET", b"/bye", b"HTTP/1.1", self.hdrs((b"Connection", b"close")))
        return "close", req, Expect(200, HELLO, closes=True), False

    def upgrade(self) -> tuple[str, Req, Expect, bool]:
        proto = self.rng.choice([b"websocket", b"h2c", b"HTTP/2.0"])
        req = Req(
            b"GET", b"/ws", b"HTTP/1.1", self.hdrs((b"Connection", b"Upgrade"), (b"Upgrade", proto))
        )
        return "upgrade", req, Expect(200, HELLO), False

    def stream(self) -> tuple[str, Req, Expect, bool]:
        # The app gives no Content-Length: chunked on 1.1; on 1.0 the server may
        # buffer or close (so the connection may end after it).
        if self.rng.random() < 0.7:
            req = Req(b"GET", b"/stream", b"HTTP/1.1", self.hdrs())
            return "stream", req, Expect(200, HELLO), False
        req = Req(b"GET", b"/stream", b"HTTP/1.0", self.hdrs((b"Connection", b"keep-alive")))
        return "stream10", req, Expect(200, HELLO, closes=True), False

    # -- the maker ------------------------------------------------------------------

    def valid(self, *, head_ok: bool = False) -> Case:
        """An unmutated request that knows its expected response."""
        while True:
            name, req, expect, is_head = self.rng.choice(self.bases)()
            if head_ok or not is_head:
                return Case(req.serialize(), name, [], expect, is_head)

    def mutated(self) -> Case:
        """A mutated request (2% of them: random bytes)."""
        rng = self.rng
        if rng.random() < 0.02:
            size = rng.choice([1, 2, 16, 100, 1000, 4000])
            data = (
                rng.randbytes(size)
                if rng.random() < 0.5
                else bytes(
                    rng.choice(b"GET/ HTTP1.:\r\nHost-Length0123456789abcdef") for _ in range(size)
                )
            )
            return Case(data, "random", ["random-bytes"], None, data.startswith(b"HEAD"))
        name, req, _, _ = rng.choice(self.bases)()
        mutations: list[str] = []
        for _ in range(rng.choice([1, 1, 1, 2, 2, 3])):
            if rng.random() < 0.55:
                mutations.append(rng.choice(self.structural)(req))
        data = req.serialize()
        if not mutations or rng.random() < 0.5:
            for _ in range(rng.choice([1, 1, 2])):
                data, label = rng.choice(self.bytewise)(data)
                mutations.append(label)
        # Once mutated, the bytes decide whether it still is a HEAD request.
        return Case(data, name, mutations, None, data.startswith(b"HEAD"))

    # -- structural mutations (return a label) ----------------------------------------

    def dup_header(self, req: Req) -> str:
        if not req.headers:
            req.headers.append((b"Host", self.host))
        name, value = self.rng.choice(req.headers)
        if self.rng.random() < 0.5:
            value = value + b"x" if value else b"dup"
        req.headers.insert(self.rng.randint(0, len(req.headers)), (name, value))
        return f"dup-header:{name.decode('latin-1')}"

    def random_cl(self, req: Req) -> str:
        value = (
            self.rng.choice(WEIRD_CL)
            if self.rng.random() < 0.6
            else str(self.rng.randint(0, 10_000)).encode()
        )
        if self.rng.random() < 0.3:
            req.headers.append((b"Content-Length", value))
        else:
            req.set(b"Content-Length", value)
        return f"cl:{value!r}"

    def random_te(self, req: Req) -> str:
        value = self.rng.choice(WEIRD_TE)
        req.set(self.rng.choice([b"Transfer-Encoding", b"transfer-encoding", b"TE"]), value)
        return f"te:{value!r}"

    def cl_and_te(self, req: Req) -> str:
        req.set(b"Content-Length", str(self.rng.randint(0, 50)).encode())
        req.set(b"Transfer-Encoding", b"chunked")
        if self.rng.random() < 0.5:
            req.body = chunk_body(self.rng, self.rng.randbytes(self.rng.randint(0, 80)))
        return "cl+te"

    def huge_line(self, req: Req) -> str:
        # Mostly just past the limits; now and then far past them.
        size = self.rng.choice(HUGE_SIZES[:-2] if self.rng.random() < 0.8 else HUGE_SIZES)
        where = self.rng.choice(["target", "value", "name", "count", "method"])
        if where == "target":
            req.target = b"/" + b"a" * size
        elif where == "value":
            req.headers.append((b"X-Huge", b"v" * size))
        elif where == "name":
            req.headers.append((b"X" * size, b"1"))
        elif where == "count":
            count = self.rng.choice([99, 100, 101, 1000, 5000])
            req.headers += [(b"X-Many-%d" % i, b"1") for i in range(count)]
            size = count
        else:
            req.method = b"G" * size
        return f"huge-{where}:{size}"

    def version(self, req: Req) -> str:
        req.version = self.rng.choice(VERSIONS)
        return f"version:{req.version!r}"

    def method(self, req: Req) -> str:
        req.method = self.rng.choice(METHODS)
        return f"method:{req.method!r}"

    def target(self, req: Req) -> str:
        req.target = self.rng.choice(TARGETS)
        return f"target:{req.target[:20]!r}"

    def header_syntax(self, req: Req) -> str:
        variants: list[tuple[bytes, bytes]] = [
            (b"Host ", b"x"),
            (b"", b"empty-name"),
            (b"X-Fold", b"a\r\n folded"),
            (b"X-Nul", b"a\x00b"),
            (b"X-Del", b"a\x7fb"),
            (b"X(bad)", b"1"),
            (b" Leading", b"space"),
            (b"X-CR", b"a\rb"),
            (b"X-LF", b"a\nb"),
            (b"X-Hi", b"\xff\xfe"),
            (b"Host", b""),
            (b"Host", b"a b"),
            (b"X-Colon", b"::"),
        ]
        name, value = self.rng.choice(variants)
        req.headers.insert(self.rng.randint(0, len(req.headers)), (name, value))
        if self.rng.random() < 0.2:
            req.headers = [(n, v) for n, v in req.headers if n != b"Host"]
            return "no-host"
        return f"header-syntax:{name!r}"

    def chunk_framing(self, req: Req) -> str:
        req.set(b"Transfer-Encoding", b"chunked")
        bad = self.rng.choice(
            [
                b"-1\r\nx\r\n0\r\n\r\n",
                b"0x5\r\nhello\r\n0\r\n\r\n",
                b"fffffffffffffffffff\r\n",
                b" 5\r\nhello\r\n0\r\n\r\n",
                b"5 \r\nhello\r\n0\r\n\r\n",
                b"5\r\nhelloXX0\r\n\r\n",
                b"5;" + b"e" * 5000 + b"\r\nhello\r\n0\r\n\r\n",
                b"5\r\nhel",
                b"5\nhello\n0\n\n",
                b"3\r\nhello\r\n0\r\n\r\n",
                b"a\r\nhello\r\n0\r\n\r\n",
                b"0\r\n" + b"T: v\r\n" * 2000,
                b"0\r\nbad trailer\r\n\r\n",
                b"ffffffff\r\n" + b"z" * 100,
                b"\r\n",
                b"0\r\n",
            ]
        )
        req.body = bad
        return f"chunks:{bad[:12]!r}"

    def bare_lf(self, req: Req) -> str:
        req.eol = self.rng.choice([b"\n", b"\r", b"\r\r\n", b"\n\r"])
        return f"eol:{req.eol!r}"

    def body_mismatch(self, req: Req) -> str:
        extra = self.rng.randbytes(self.rng.randint(1, 200))
        req.body = req.body + extra if self.rng.random() < 0.5 else req.body[: len(req.body) // 2]
        return "body-mismatch"

    # -- byte-level mutations ----------------------------------------------------------

    def pos(self, data: bytes) -> int:
        return self.rng.randrange(len(data)) if data else 0

    def bit_flip(self, data: bytes) -> tuple[bytes, str]:
        buf = bytearray(data)
        flips = self.rng.randint(1, 8)
        for _ in range(flips if buf else 0):
            buf[self.pos(data)] ^= 1 << self.rng.randrange(8)
        return bytes(buf), f"bitflip:{flips}"

    def replace_bytes(self, data: bytes) -> tuple[bytes, str]:
        buf = bytearray(data)
        for _ in range(self.rng.randint(1, 4) if buf else 0):
            buf[self.pos(data)] = self.rng.choice(INTERESTING + bytes([self.rng.randrange(256)]))
        return bytes(buf), "replace"

    def insert_bytes(self, data: bytes) -> tuple[bytes, str]:
        at = self.pos(data)
        junk = self.rng.randbytes(self.rng.randint(1, 64))
        return data[:at] + junk + data[at:], "insert"

    def delete_span(self, data: bytes) -> tuple[bytes, str]:
        at = self.pos(data)
        return data[:at] + data[at + self.rng.randint(1, 32) :], "delete"

    def truncate(self, data: bytes) -> tuple[bytes, str]:
        return data[: self.pos(data)], "truncate"

    def duplicate_span(self, data: bytes) -> tuple[bytes, str]:
        at = self.pos(data)
        span = data[at : at + self.rng.randint(1, 200)]
        return data[:at] + span * self.rng.randint(2, 5) + data[at:], "duplicate"

    def splice(self, data: bytes) -> tuple[bytes, str]:
        name, other, _, is_head = self.rng.choice(self.bases)()
        if is_head:
            other.method = b"GET"
        donor = other.serialize()
        return data[: self.pos(data)] + donor[self.pos(donor) :], f"splice:{name}"
