"""What the Envoy tests share (docs/envoy.md): a real moatd serving the ext_authz service on a
Unix socket ($MOATD, default .build/debug/moatd), Envoy's own gRPC client (grpcio + xds-protos),
and the helpers that turn an HTTP request into Envoy's CheckRequest."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import grpc
import pytest
from envoy.config.core.v3 import address_pb2
from envoy.service.auth.v3 import attribute_context_pb2, external_auth_pb2, external_auth_pb2_grpc

REPOSITORY = Path(__file__).resolve().parents[2]
MOATD = Path(os.environ.get("MOATD", REPOSITORY / ".build/debug/moatd"))
MOATCTL = MOATD.with_name("moatctl")
EXAMPLE_RULES = REPOSITORY / "deploy/examples/rules.json"
ALICE = "a11ce000-0000-4000-8000-000000000001"
# Generous: the machine running the tests may be busy, and none of this is a timing test.
RPC_TIMEOUT = 20.0


class Moatd:
    """A moatd on its own sockets in a short temporary folder, with the Envoy service on
    `envoy_socket` and `rules` (bytes) as its rules file."""

    def __init__(self, rules: bytes, arguments: Sequence[str] = ()) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="moat-envoy-"))
        self.rules = self.folder / "rules.json"
        self.rules.write_bytes(rules)
        self.envoy_socket = str(self.folder / "envoy.sock")
        self.decision_log = self.folder / "decisions.log"
        self.arguments = list(arguments)
        self.process: subprocess.Popen[bytes] | None = None
        self.channel: grpc.Channel | None = None

    def start(self, wait_ready: bool = True) -> Moatd:
        assert MOATD.exists(), f"no moatd at {MOATD}: build it (swift build) or set MOATD"
        log = open(self.folder / "moatd.log", "ab")
        self.process = subprocess.Popen(
            [
                str(MOATD), "--rules", str(self.rules), "--socket", str(self.folder / "moat.sock"),
                "--control-socket", str(self.folder / "control.sock"), "--decision-log", str(self.decision_log),
                "--log-allow-rate", "1", "--envoy-socket", self.envoy_socket, *self.arguments,
            ],
            stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 60
        while not os.path.exists(self.envoy_socket):
            assert self.process.poll() is None, self.log()
            assert time.monotonic() < deadline, f"moatd did not listen: {self.log()}"
            time.sleep(0.05)
        self.channel = grpc.insecure_channel(f"unix:{self.envoy_socket}")
        if wait_ready:
            # Until the rules are loaded every check is UNAVAILABLE; then this one is a 400.
            while True:
                try:
                    self.check(http_request("GET", "/", "x"))
                    break
                except grpc.RpcError as error:
                    assert error.code() == grpc.StatusCode.UNAVAILABLE, error
                    assert time.monotonic() < deadline, f"moatd did not become ready: {self.log()}"
                    time.sleep(0.05)
        return self

    @property
    def stub(self) -> external_auth_pb2_grpc.AuthorizationStub:
        assert self.channel is not None
        return external_auth_pb2_grpc.AuthorizationStub(self.channel)

    def check(self, request: external_auth_pb2.CheckRequest) -> external_auth_pb2.CheckResponse:
        return self.stub.Check(request, timeout=RPC_TIMEOUT)

    def log(self) -> str:
        path = self.folder / "moatd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.process is not None:
            terminate(self.process)
            self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def terminate(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 20 s."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def http_request(
    method: str,
    path: str,
    host: str,
    headers: dict[str, str] | None = None,
    peer: str | None = "203.0.113.9",
    extensions: dict[str, str] | None = None,
) -> external_auth_pb2.CheckRequest:
    """The CheckRequest Envoy sends for this HTTP request from `peer` (None: no socket address)."""
    attributes = attribute_context_pb2.AttributeContext(
        request=attribute_context_pb2.AttributeContext.Request(
            http=attribute_context_pb2.AttributeContext.HttpRequest(
                id="envoy-request-1", method=method, path=path, host=host, headers=headers or {},
                scheme="https", protocol="HTTP/1.1",
            )
        ),
        context_extensions=extensions or {},
    )
    if peer is not None:
        attributes.source.address.CopyFrom(
            address_pb2.Address(socket_address=address_pb2.SocketAddress(address=peer, port_value=50000))
        )
    return external_auth_pb2.CheckRequest(attributes=attributes)


def mint(oid: str) -> str:
    """A token the example rules accept (signed with deploy/examples/demo-signing-key.pem)."""
    return subprocess.run(
        [str(MOATCTL), "token", "mint", "--oid", oid], check=True, capture_output=True, text=True, timeout=30
    ).stdout.strip()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def example_moatd() -> Iterator[Moatd]:
    """A moatd on deploy/examples/rules.json (vault contoso-prod: alice may get secrets from
    203.0.113.0/24)."""
    daemon = Moatd(EXAMPLE_RULES.read_bytes())
    try:
        yield daemon.start()
    finally:
        daemon.close()


@pytest.fixture(scope="session")
def alice_token() -> str:
    return mint(ALICE)
