"""What the key-fetching tests share (docs/running.md, "Signing keys"): a CA and certificates
made for each test, an HTTPS key server on loopback (Python's http.server and ssl) that counts what
it is asked, Entra-shaped signing keys and tokens, and a real moatd ($MOATD, default
.build/debug/moatd) with moatctl beside it."""

from __future__ import annotations

import base64
import collections
import datetime
import hashlib
import ipaddress
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

REPOSITORY = Path(__file__).resolve().parents[2]
MOATD = Path(os.environ.get("MOATD", REPOSITORY / ".build/debug/moatd"))
MOATCTL = MOATD.with_name("moatctl")
TENANT = "7a1e5c3d-0000-4000-8000-00000000abcd"
OBJECT = "0b1ec700-0000-4000-8000-000000000001"
APP = "a4910000-0000-4000-8000-000000000002"
VAULT = "keys-vault"
# Generous: the machine may be busy; none of this is a timing test.
WAIT_SECONDS = 60.0


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def wait_for(condition: Callable[[], Any], what: str, seconds: float = WAIT_SECONDS) -> Any:
    """Polls `condition` until it returns something true; fails naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


class Authority:
    """A certificate authority made for one test, and the loopback server certificate it signs."""

    def __init__(self, folder: Path, name: str) -> None:
        now = datetime.datetime.now(datetime.timezone.utc)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.certificate = (
            x509.CertificateBuilder().subject_name(_name(name)).issuer_name(_name(name))
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .sign(self.key, hashes.SHA256())
        )
        self.file = folder / f"{name}.pem"
        self.file.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))
        server_key = ec.generate_private_key(ec.SECP256R1())
        server = (
            x509.CertificateBuilder().subject_name(_name("127.0.0.1")).issuer_name(self.certificate.subject)
            .public_key(server_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                critical=False,
            )
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        self.server_chain = folder / f"{name}-server.pem"
        self.server_chain.write_bytes(server.public_bytes(serialization.Encoding.PEM))
        self.server_key = folder / f"{name}-server.key"
        self.server_key.write_bytes(
            server_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )


class SigningKey:
    """An RSA signing key as Entra publishes it: `kid`, `x5t` (the SHA-1 thumbprint of its
    certificate) and `x5c` (the self-signed certificate, base64 DER), and tokens with `x5t` in the header."""

    def __init__(self, kid: str | None = None) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = datetime.datetime.now(datetime.timezone.utc)
        certificate = (
            x509.CertificateBuilder().subject_name(_name("accounts.accesscontrol.windows.net"))
            .issuer_name(_name("accounts.accesscontrol.windows.net")).public_key(self.key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365)).sign(self.key, hashes.SHA256())
        )
        der = certificate.public_bytes(serialization.Encoding.DER)
        self.x5t = b64url(hashlib.sha1(der).digest())
        self.kid = kid or self.x5t
        self.x5c = [base64.b64encode(der).decode()]

    def jwk(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
        e = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
        return {
            "kty": "RSA", "use": "sig", "kid": self.kid, "x5t": self.x5t, "n": b64url(n), "e": b64url(e),
            "x5c": self.x5c, "cloud_instance_name": "microsoftonline.com",
            "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0",
        }

    def token(self, version: str = "1.0", tenant: str = TENANT, **claims: Any) -> str:
        now = int(time.time())
        body: dict[str, Any] = {
            "aud": "https://vault.azure.net", "iss": f"https://sts.windows.net/{tenant}/", "iat": now,
            "nbf": now - 60, "exp": now + 3600, "tid": tenant, "oid": OBJECT, "sub": OBJECT, "appid": APP,
            "appidacr": "2", "idtyp": "app", "ver": "1.0",
        }
        if version == "2.0":
            body.update(
                aud="cfa8b339-82a2-471a-a3c9-0fc0be7a4093", iss=f"https://login.microsoftonline.com/{tenant}/v2.0",
                azp=APP, azpacr="2", ver="2.0",
            )
            del body["appid"], body["appidacr"]
        body.update(claims)
        header = {"typ": "JWT", "alg": "RS256", "x5t": self.x5t, "kid": self.kid}
        signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(body).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64url(signature)}"


Answer = tuple[int, dict[str, str], bytes]


class KeyServer:
    """An HTTPS server on 127.0.0.1 answering each path from `routes` (a function of the request
    handler), counting requests per path in `hits`."""

    def __init__(self, authority: Authority) -> None:
        self.routes: dict[str, Callable[[BaseHTTPRequestHandler], Answer]] = {}
        self.hits: collections.Counter[str] = collections.Counter()
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                with owner.lock:
                    owner.hits[self.path] += 1
                    route = owner.routes.get(self.path)
                status, headers, body = route(self) if route else (404, {}, b"not found")
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    # No kept-alive connections: a stopped server is down for every client at once.
                    self.send_header("Connection", "close")
                    self.close_connection = True
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                    pass

            def log_message(self, *_: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, *_: Any) -> None:
                pass  # a client refusing the certificate closes mid-handshake: expected here

        self.httpd = Server(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(authority.server_chain, authority.server_key)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True, do_handshake_on_connect=False)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.running = True

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def count(self, path: str) -> int:
        with self.lock:
            return self.hits[path]

    def set(self, path: str, route: Callable[[BaseHTTPRequestHandler], Answer]) -> None:
        with self.lock:
            self.routes[path] = route

    def publish(self, keys: Sequence[SigningKey], path: str = "/keys", max_age: int | None = None) -> None:
        """Serves a JWKS of `keys` at `path`, with an ETag (answered 304 when it matches)."""
        body = json.dumps({"keys": [key.jwk() for key in keys]}).encode()
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        headers = {"Content-Type": "application/json", "ETag": etag}
        if max_age is not None:
            headers["Cache-Control"] = f"max-age={max_age}, private"

        def route(request: BaseHTTPRequestHandler) -> Answer:
            if request.headers.get("If-None-Match") == etag:
                return 304, headers, b""
            return 200, headers, body

        self.set(path, route)

    def stop(self) -> None:
        if self.running:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.running = False


def static(status: int, body: bytes, headers: dict[str, str] | None = None) -> Callable[..., Answer]:
    return lambda _request: (status, headers or {}, body)


class Moatd:
    """A real moatd on sockets in a temporary folder, with `--jwks-ca-file` and `--state-dir` there."""

    def __init__(self, folder: Path, rules: dict[str, Any], ca_file: Path | None, arguments: Sequence[str] = ()) -> None:
        self.folder = folder
        self.rules_file = folder / "rules.json"
        self.rules_file.write_text(json.dumps(rules))
        self.state = folder / "state"
        self.state.mkdir(exist_ok=True)
        self.socket = folder / "moat.sock"
        self.control = folder / "control.sock"
        self.arguments = [*(["--jwks-ca-file", str(ca_file)] if ca_file else []), *arguments]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Moatd:
        assert MOATD.exists(), f"no moatd at {MOATD}: build it (swift build) or set MOATD"
        for path in (self.socket, self.control):
            path.unlink(missing_ok=True)
        log = open(self.folder / "moatd.log", "ab")
        self.process = subprocess.Popen(
            [
                str(MOATD), "--rules", str(self.rules_file), "--socket", str(self.socket),
                "--control-socket", str(self.control), "--state-dir", str(self.state), "--poll-interval", "1",
                "--log-level", "debug", *self.arguments,
            ],
            stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        wait_for(lambda: self._alive() and self.control.exists() and self.socket.exists(), "moatd to listen")
        wait_for(lambda: self.status().get("revision"), "moatd to load its rules")
        return self

    def _alive(self) -> bool:
        assert self.process is not None and self.process.poll() is None, f"moatd exited: {self.log()}"
        return True

    def log(self) -> str:
        path = self.folder / "moatd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def moatctl(self, *arguments: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(MOATCTL), *arguments], capture_output=True, text=True, timeout=WAIT_SECONDS,
        )
        if check:
            assert result.returncode == 0, f"moatctl {arguments[0]}: {result.stderr}{result.stdout}\n{self.log()}"
        return result

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.moatctl("status", "--json", "--control-socket", str(self.control)).stdout)
        return result

    def tenant(self, tenant: str = TENANT) -> dict[str, Any]:
        found: dict[str, Any] = next(t for t in self.status()["tenants"] if t["tenantId"] == tenant)
        return found

    def keys(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = json.loads(
            self.moatctl("keys", "list", "--json", "--control-socket", str(self.control)).stdout
        )
        return result

    def refresh(self, tenant: str | None = None) -> tuple[int, list[dict[str, Any]]]:
        arguments = ["keys", "refresh", "--json", "--control-socket", str(self.control)]
        result = self.moatctl(*arguments, *(["--tenant", tenant] if tenant else []), check=False)
        assert result.returncode in (0, 1), result.stderr
        return result.returncode, json.loads(result.stdout)

    def metrics(self) -> str:
        return self.moatctl("metrics", "--control-socket", str(self.control)).stdout

    def check(self, token: str, timeout: float = 10) -> dict[str, Any]:
        """The decision on reading a secret with `token` (moatctl check fails the test if none came)."""
        result = self.moatctl(
            "check", "--socket", str(self.socket), "--vault", VAULT, "--operation", "GetSecret", "--object", "s1",
            "--source", "203.0.113.7", "--token", token, "--timeout", str(timeout),
        )
        decision: dict[str, Any] = json.loads(result.stdout)
        return decision

    def allows(self, token: str) -> bool:
        return bool(self.check(token)["decision"] == "ALLOW")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=WAIT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def rules(source: dict[str, Any], tenant: str = TENANT) -> dict[str, Any]:
    """A vault whose access policy lets OBJECT read secrets, in a tenant whose keys come from `source`."""
    return {
        "tenants": [{"id": tenant, **source}],
        "vaults": [{
            "name": VAULT,
            "properties": {
                "tenantId": tenant,
                "accessPolicies": [{"tenantId": tenant, "objectId": OBJECT, "permissions": {"secrets": ["get"]}}],
            },
        }],
    }


class World:
    """One test's folder, CA, key server and the moatds it started (stopped at the end)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.authority = Authority(folder, "test-ca")
        self.server = KeyServer(self.authority)
        self.daemons: list[Moatd] = []

    def moatd(self, source: dict[str, Any], arguments: Sequence[str] = (), ca_file: Path | None = None,
              start: bool = True) -> Moatd:
        daemon = Moatd(self.folder, rules(source), ca_file or self.authority.file, arguments)
        self.daemons.append(daemon)
        return daemon.start() if start else daemon

    def fetching(self, keys: Sequence[SigningKey], arguments: Sequence[str] = ()) -> Moatd:
        """A moatd whose tenant fetches `keys` from the key server's /keys, once it has them."""
        self.server.publish(keys)
        daemon = self.moatd({"jwksUri": self.server.url("/keys")}, arguments)
        wait_for(lambda: daemon.tenant()["keyIds"] == sorted(key.kid for key in keys), "the first key set")
        return daemon

    def close(self) -> None:
        for daemon in self.daemons:
            daemon.stop()
        self.server.stop()


@pytest.fixture
def world() -> Iterator[World]:
    # Short: Unix socket paths are limited to 107 bytes.
    folder = Path(tempfile.mkdtemp(prefix="moat-keys-"))
    world = World(folder)
    try:
        yield world
    finally:
        world.close()
        shutil.rmtree(folder, ignore_errors=True)


def unknown_kid() -> str:
    return f"forged-{uuid.uuid4()}"
