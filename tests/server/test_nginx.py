"""A real nginx in front of two micro instances, with the configuration from the docs.

nginx (Debian's package; ``.ci/run`` installs it) runs in the foreground from a
temporary directory, on 127.0.0.1 ports picked by the test, with the ``upstream`` and
``server`` blocks of docs/deployment.md (addresses and certificate paths swapped in),
and is stopped by its PID. The client connects from 127.0.0.2, so the address micro
reports can only be right if it came through the forwarded headers.
"""

from __future__ import annotations

import http.client
import json
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from micro import App, Request, Response
from micro.server import Server, ServerConfig

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "deployment.md"
CLIENT = "127.0.0.2"  # all of 127/8 is loopback on Linux: a client nginx is not
SECRET = "one secret shared by every instance"

pytestmark = pytest.mark.skipif(
    shutil.which("nginx") is None,
    reason="nginx is not on PATH (Debian package nginx; .ci/run installs it)",
)


def documented_config() -> str:
    """The nginx block of docs/deployment.md that follows its 'tested' marker."""
    text = DOC.read_text()
    match = re.search(r"<!-- tested: [^\n]*-->\s*```nginx\n(.*?)```", text, re.S)
    assert match, "docs/deployment.md lost its tested nginx block"
    return match.group(1)


def make_certificate(directory: Path) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not on PATH (Debian package: openssl)")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def substitute(config: str, old: str, new: str) -> str:
    assert old in config, f"the documented nginx config no longer has {old!r}"
    return config.replace(old, new)


def make_app(name: str) -> App:
    app = App(settings={"cookie_secret": SECRET})

    @app.route("/who")
    def who(request: Request) -> dict[str, Any]:
        environ = request.environ
        return {
            "instance": name,
            "remote_addr": environ["REMOTE_ADDR"],
            "scheme": environ["wsgi.url_scheme"],
            "host": environ.get("HTTP_HOST"),
            "server": [environ["SERVER_NAME"], environ["SERVER_PORT"]],
            "peer": environ.get("micro.proxy_peer"),
        }

    @app.route("/sign")
    def sign(request: Request) -> Response:
        response = Response.json({"instance": name})
        response.set_cookie("token", app.create_signed_value("token", "from " + name))
        return response

    @app.route("/check")
    def check(request: Request) -> dict[str, Any]:
        value = request.get_signed_cookie("token")
        return {"instance": name, "token": value.decode() if value else None}

    return app


@dataclass
class Deployment:
    http_port: int
    https_port: int
    cert: Path

    def ask(
        self, path: str, headers: dict[str, str] | None = None, tls: bool = False
    ) -> tuple[dict[str, Any], http.client.HTTPResponse]:
        conn: http.client.HTTPConnection
        if tls:
            context = ssl.create_default_context(cafile=str(self.cert))
            conn = http.client.HTTPSConnection(
                "localhost", self.https_port, timeout=10, context=context,
                source_address=(CLIENT, 0),
            )  # fmt: skip
        else:
            conn = http.client.HTTPConnection(
                "127.0.0.1", self.http_port, timeout=10, source_address=(CLIENT, 0)
            )
        try:
            conn.request("GET", path, headers=headers or {})
            response = conn.getresponse()
            body = json.loads(response.read())
            return body, response
        finally:
            conn.close()


def start_nginx(directory: Path, upstreams: list[int], cert: tuple[Path, Path]) -> Any:
    """nginx in the foreground; returns (process, http port, https port)."""
    nginx = shutil.which("nginx")
    assert nginx is not None
    for _attempt in range(3):  # a port picked here may be taken before nginx binds it
        http_port, https_port = free_port(), free_port()
        site = documented_config()
        site = substitute(site, "server 127.0.0.1:8001 ", f"server 127.0.0.1:{upstreams[0]} ")
        site = substitute(site, "server 127.0.0.1:8002 ", f"server 127.0.0.1:{upstreams[1]} ")
        site = substitute(site, "listen 80;", f"listen 127.0.0.1:{http_port};")
        site = substitute(site, "listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;")
        site = substitute(site, "/etc/ssl/micro/cert.pem", str(cert[0]))
        site = substitute(site, "/etc/ssl/micro/key.pem", str(cert[1]))
        temp = "".join(
            f"    {kind}_temp_path {directory / kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (directory / "nginx.conf").write_text(
            "daemon off;\nmaster_process off;\nworker_processes 1;\n"
            f"pid {directory / 'nginx.pid'};\nerror_log {directory / 'error.log'} info;\n"
            "events { worker_connections 256; }\n"
            f"http {{\n    access_log off;\n{temp}{site}}}\n"
        )
        process = subprocess.Popen(
            [
                nginx,
                "-p",
                str(directory),
                "-c",
                str(directory / "nginx.conf"),
                "-e",
                str(directory / "error.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and process.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", http_port), timeout=1).close()
                socket.create_connection(("127.0.0.1", https_port), timeout=1).close()
                return process, http_port, https_port
            except OSError:
                time.sleep(0.05)
        stop_nginx(process)
        log = (directory / "error.log").read_text(errors="replace")
        if "Address already in use" not in log:
            raise AssertionError(f"nginx did not start:\n{log}")
    raise AssertionError("nginx found no free port in three attempts")


def stop_nginx(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # nginx's fast shutdown, by its PID
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    directory = tmp_path_factory.mktemp("nginx")
    cert = make_certificate(directory)
    servers = [
        # nginx connects from 127.0.0.1: trust that address, and only it.
        Server(make_app(name), ServerConfig(port=0, threads=2, trusted_proxies=("127.0.0.1",)))
        for name in ("a", "b")
    ]
    for server in servers:
        server.start()
    try:
        process, http_port, https_port = start_nginx(
            directory, [s.address[1] for s in servers], cert
        )
        try:
            yield Deployment(http_port, https_port, cert[0])
        finally:
            stop_nginx(process)
    finally:
        for server in servers:
            server.stop()


def test_requests_are_spread_over_both_instances(deployment: Deployment) -> None:
    counts = {"a": 0, "b": 0}
    for _ in range(20):
        body, response = deployment.ask("/who")
        assert response.status == 200
        counts[body["instance"]] += 1
    assert counts["a"] >= 5 and counts["b"] >= 5, counts  # round robin: about 10 each


def test_client_address_and_scheme_arrive_correct(deployment: Deployment) -> None:
    body, _ = deployment.ask("/who")
    assert body["remote_addr"] == CLIENT
    assert body["peer"] == "127.0.0.1"  # nginx
    assert body["scheme"] == "http"
    assert body["host"] == f"127.0.0.1:{deployment.http_port}"
    assert body["server"] == ["127.0.0.1", str(deployment.http_port)]


def test_https_at_nginx_arrives_as_https(deployment: Deployment) -> None:
    body, _ = deployment.ask("/who", tls=True)
    assert body["remote_addr"] == CLIENT
    assert body["scheme"] == "https"
    assert body["host"] == f"localhost:{deployment.https_port}"
    assert body["server"] == ["localhost", str(deployment.https_port)]


def test_a_spoofed_forwarded_for_from_the_client_is_not_believed(
    deployment: Deployment,
) -> None:
    spoof = {
        "X-Forwarded-For": "203.0.113.66",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "evil.example",
        "Forwarded": "for=203.0.113.67;proto=https",
    }
    for _ in range(4):  # both instances
        body, _ = deployment.ask("/who", headers=spoof)
        assert body["remote_addr"] == CLIENT
        assert body["scheme"] == "http"
        assert body["host"] == f"127.0.0.1:{deployment.http_port}"


def test_a_signed_cookie_from_one_instance_verifies_on_the_other(
    deployment: Deployment,
) -> None:
    body, response = deployment.ask("/sign")
    signer = body["instance"]
    cookie = response.getheader("Set-Cookie", "").split(";")[0]
    assert cookie.startswith("token=")
    verified = set()
    for _ in range(6):
        body, _ = deployment.ask("/check", headers={"Cookie": cookie})
        assert body["token"] == f"from {signer}"
        verified.add(body["instance"])
    assert verified == {"a", "b"}
