"""TLS end to end: a certificate made in the test by the openssl command, real sockets."""

from __future__ import annotations

import http.client
import shutil
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from micro.errors import ConfigError
from micro.server import FileWrapper, Server, ServerConfig
from micro.server.tls import server_context

ROOT = Path(__file__).resolve().parents[2]


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1 (P-256: quick to make)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not on PATH (Debian package: openssl)")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


def client_context(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


def app(environ: dict[str, Any], start_response: Any) -> Any:
    path = environ["PATH_INFO"]
    if path == "/echo":
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]
    if path == "/big":
        start_response("200 OK", [])  # chunked, many writes: exercises full send buffers
        return (bytes([65 + i % 26]) * 65536 for i in range(32))
    if path == "/file":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return FileWrapper(open(environ["micro.test.file"], "rb"))
    body = f"{environ['wsgi.url_scheme']} {environ['SERVER_PORT']}".encode()
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]


def file_app(path: Path) -> Any:
    def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
        environ["micro.test.file"] = str(path)
        return app(environ, start_response)

    return wrapped


def serve(harness: Any, cert: tuple[Path, Path], the_app: Any = app, **config: Any) -> int:
    context = server_context(str(cert[0]), str(cert[1]))
    return int(harness.serve(the_app, ssl_context=context, **config)[1])


def https(port: int, cert: tuple[Path, Path]) -> http.client.HTTPSConnection:
    return http.client.HTTPSConnection(
        "localhost", port, context=client_context(cert[0]), timeout=10
    )


def test_https_request_sees_https_scheme_and_keeps_alive(harness: Any, cert: Any) -> None:
    port = serve(harness, cert)
    conn = https(port, cert)
    for _ in range(3):
        conn.request("GET", "/")
        response = conn.getresponse()
        assert response.status == 200
        assert response.read() == f"https {port}".encode()
    assert conn.sock is not None
    assert conn.sock.version() in ("TLSv1.2", "TLSv1.3")
    conn.close()


def test_no_micro_arrived_over_tls(harness: Any, cert: Any) -> None:
    seen: list[object] = []

    def noting(environ: dict[str, Any], start_response: Any) -> Any:
        seen.append(environ.get("micro.arrived", "absent"))
        return app(environ, start_response)

    conn = https(serve(harness, cert, noting), cert)
    for _ in range(3):
        time.sleep(0.05)  # read by the I/O loop, where a plain connection gets one
        conn.request("GET", "/")
        assert conn.getresponse().read()
    conn.close()
    assert seen == ["absent"] * 3


def test_request_bodies_both_framings_and_large_responses(harness: Any, cert: Any) -> None:
    port = serve(harness, cert)
    conn = https(port, cert)
    payload = bytes(range(256)) * 1024
    conn.request("POST", "/echo", body=payload)
    assert conn.getresponse().read() == payload
    conn.request("POST", "/echo", body=iter([payload[:1000], payload[1000:]]))  # chunked
    assert conn.getresponse().read() == payload
    conn.request("GET", "/big")
    body = conn.getresponse().read()
    assert len(body) == 32 * 65536
    assert body[:1] == b"A" and body[-1:] == bytes([65 + 31 % 26])
    conn.close()


def test_file_wrapper_is_encrypted_not_sendfiled(harness: Any, cert: Any, tmp_path: Path) -> None:
    data = b"0123456789" * 50_000
    (tmp_path / "data.txt").write_bytes(data)
    port = serve(harness, cert, file_app(tmp_path / "data.txt"))
    conn = https(port, cert)
    conn.request("GET", "/file")
    assert conn.getresponse().read() == data
    conn.close()


def test_plain_http_on_the_tls_port_gets_400_in_plain_text_and_close(
    harness: Any, cert: Any
) -> None:
    port = serve(harness, cert)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        received = b""
        while chunk := sock.recv(4096):
            received += chunk
    assert received.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"\r\nConnection: close\r\n" in received
    assert b"HTTPS" in received.partition(b"\r\n\r\n")[2]


def test_stalled_handshakes_hold_no_worker(harness: Any, cert: Any) -> None:
    # threads=1 and handshakes that never finish: if a handshake held the worker,
    # the real client below would wait for head_timeout (far past its own timeout).
    port = serve(harness, cert, threads=1, head_timeout=60.0)
    silent = [harness.client(("127.0.0.1", port)) for _ in range(3)]
    partial = harness.client(("127.0.0.1", port))
    partial.send(b"\x16\x03\x01\x02\x00\x01")  # the first bytes of a ClientHello, no more
    conn = http.client.HTTPSConnection(
        "localhost", port, context=client_context(cert[0]), timeout=5
    )
    for _ in range(3):
        conn.request("GET", "/")
        assert conn.getresponse().read() == f"https {port}".encode()
    conn.close()
    assert len(silent) == 3


def test_stalled_handshakes_are_closed_at_head_timeout(harness: Any, cert: Any) -> None:
    port = serve(harness, cert, threads=1, head_timeout=0.5)
    silent = harness.client(("127.0.0.1", port), timeout=10)
    partial = harness.client(("127.0.0.1", port), timeout=10)
    partial.send(b"\x16\x03\x01\x02\x00\x01")
    started = time.monotonic()
    assert silent.closed_by_server()
    assert partial.closed_by_server()
    assert time.monotonic() - started < 8.0  # not the client's own 10 s timeout


def test_failed_handshakes_leave_the_server_serving(harness: Any, cert: Any) -> None:
    port = serve(harness, cert, threads=1)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"\x16\x03\x01\x00\x05hello" + b"\x00" * 64)  # not a ClientHello
        try:
            answer = sock.recv(4096)
        except ConnectionResetError:
            answer = b""
        # A TLS alert record (0x15) or a plain close: never an HTTP answer.
        assert answer == b"" or answer[:1] == b"\x15"
    untrusting = ssl.create_default_context()  # does not know our certificate
    with (
        pytest.raises(ssl.SSLCertVerificationError),
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
    ):
        untrusting.wrap_socket(raw, server_hostname="localhost")
    conn = https(port, cert)
    conn.request("GET", "/")
    assert conn.getresponse().status == 200
    conn.close()


def test_many_concurrent_tls_clients(harness: Any, cert: Any) -> None:
    port = serve(harness, cert, threads=2)
    results: list[bytes] = []

    def client() -> None:
        conn = https(port, cert)
        for _ in range(3):
            conn.request("POST", "/echo", body=b"x" * 5000)
            results.append(conn.getresponse().read())
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == [b"x" * 5000] * 24


def test_config_with_a_context_is_https_and_bad_files_are_config_errors(
    cert: Any, tmp_path: Path
) -> None:
    context = server_context(str(cert[0]), str(cert[1]))
    assert ServerConfig(ssl_context=context).url_scheme == "https"
    with pytest.raises(ConfigError, match="cannot load the TLS certificate"):
        server_context(str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigError):
        server_context(str(cert[1]), str(cert[1]))  # a key is not a certificate


def test_cli_serves_https_with_certfile_and_keyfile(cert: Any, micro_serve: Any) -> None:
    hello = ROOT / "examples" / "hello.py"
    with micro_serve(hello, "--certfile", str(cert[0]), "--keyfile", str(cert[1])) as served:
        assert served.scheme == "https"
        conn = https(served.port, cert)
        conn.request("GET", "/")
        assert conn.getresponse().status == 200
        conn.close()
        status, _ = served.stop()
    assert status == 0


def test_cli_rejects_a_keyfile_alone_and_a_missing_certificate(tmp_path: Path) -> None:
    from micro.cli import main

    hello = str(ROOT / "examples" / "hello.py")
    assert main(["serve", hello, "--keyfile", str(tmp_path / "k.pem")]) == 2
    assert main(["serve", hello, "--certfile", str(tmp_path / "missing.pem")]) == 2


def test_server_object_accepts_an_ssl_context(cert: Any) -> None:
    context = server_context(str(cert[0]), str(cert[1]))
    with Server(app, ServerConfig(port=0, threads=1, ssl_context=context)) as server:
        conn = https(server.address[1], cert)
        conn.request("GET", "/")
        assert conn.getresponse().read().startswith(b"https ")
        conn.close()


def test_a_parked_exchange_over_tls(harness: Any, cert: Any) -> None:
    # The loop reads a parked TLS connection too: a pipelined request is kept for
    # after the answer, and a client that leaves drops its exchange.
    resumes: list[Any] = []
    parked = threading.Semaphore(0)
    dropped: list[str] = []
    dropped_once = threading.Event()

    def deferring(environ: dict[str, Any], start_response: Any) -> Any:
        if environ["PATH_INFO"] != "/later":
            return app(environ, start_response)
        resume = environ["micro.defer"]()
        resume.on_drop(lambda reason: (dropped.append(reason), dropped_once.set()))
        resumes.append(resume)
        parked.release()
        return []

    def later(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Length", "5")])
        return [b"later"]

    port = serve(harness, cert, deferring, defer_timeout=30, head_timeout=0.4)  # sweeps: 0.1 s
    context = client_context(cert[0])

    def connect() -> ssl.SSLSocket:
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        return context.wrap_socket(raw, server_hostname="localhost")

    with connect() as tls:
        tls.sendall(b"GET /later HTTP/1.1\r\nHost: x\r\n\r\n")
        assert parked.acquire(timeout=5)
        time.sleep(0.3)  # the loop watches the connection now
        tls.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # pipelined while parked
        time.sleep(0.1)
        assert resumes[0](later) is True
        data = b""
        while not data.endswith(b"https 443"):  # (Host: x, on https: port 443)
            try:
                chunk = tls.recv(4096)
            except TimeoutError:
                raise AssertionError(data) from None
            assert chunk, data
            data += chunk
        assert data.index(b"later") < data.index(b"https")  # in order
    with connect() as tls:
        tls.sendall(b"GET /later HTTP/1.1\r\nHost: x\r\n\r\n")
        assert parked.acquire(timeout=5)
    assert dropped_once.wait(5)  # closed: dropped long before defer_timeout
    assert resumes[1](later) is False
    assert dropped == ["client gone"]
