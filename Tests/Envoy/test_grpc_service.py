"""The ext_authz gRPC service of moatd (docs/envoy.md), driven by Envoy's own gRPC client: the
conformance table as HTTP requests, the answers' shape, request faults (always a 400, never a gRPC
error), could-not-decide (always a gRPC error), malformed gRPC, and the socket's peer allow-list."""

from __future__ import annotations

import concurrent.futures
import ipaddress
import json
import os
import re
import socket
import subprocess
import time
from typing import Any

import grpc
import pytest
from conftest import EXAMPLE_RULES, MOATD, REPOSITORY, RPC_TIMEOUT, Moatd, free_port, http_request, terminate
from envoy.service.auth.v3 import external_auth_pb2, external_auth_pb2_grpc

DECISIONS = REPOSITORY / "Tests/Conformance/decisions"
FILES = {path.stem: json.loads(path.read_text()) for path in sorted(DECISIONS.glob("*.json"))}
CONTROL_PLANE = {"VaultsRead", "VaultsWrite", "VaultsDelete", "VaultsAccessPoliciesWrite"}
# docs/envoy.md's table: each operation's first method and path template.
TEMPLATES = {
    match[0]: (match[1], match[2])
    for match in re.findall(r"^\| `(\w+)` \| `(\w+) ([^`]+)`", (REPOSITORY / "docs/envoy.md").read_text(), re.M)
}
# The skip counts per file, pinned: a new case that cannot go through Envoy must be acknowledged.
EXPECTED_SKIPS = {
    "asserted-identity": 22, "authentication-settings": 8, "authentication": 5, "control-plane": 75, "rbac": 1,
    "request-and-vault": 28, "trusted-services": 1,
}


def skip_reason(case: dict[str, Any]) -> str | None:
    """Why a case cannot be the HTTP request Key Vault would receive through Envoy, or None.

    Not expressible: a fixed evaluation time (the daemon uses the real clock), an asserted identity
    (Envoy sends tokens), a control-plane operation (ARM, not a vault's host), and a request without
    a vault, without an operation Moat knows, or from a source that is not an IP address (an HTTP
    request always has a host, a route and a TCP peer). Subnet and private endpoint ids are
    expressible, as the route's context_extensions."""
    request = case["request"]
    if case.get("evaluateAt") is not None:
        return "evaluateAt"
    if case.get("trustedAsserter") or request.get("assertedIdentity"):
        return "asserted identity"
    operation = request.get("operation") or ""
    if operation in CONTROL_PLANE:
        return "control plane"
    if not request.get("vault") or operation not in TEMPLATES:
        return "no vault or operation"
    source = request.get("sourceAddress") or ""
    if source:
        try:
            ipaddress.ip_address(source)
        except ValueError:
            return "source not an IP address"
    return None


def as_http(case: dict[str, Any]) -> external_auth_pb2.CheckRequest:
    request = case["request"]
    method, template = TEMPLATES[request["operation"]]
    path = template.replace("{name}", request.get("objectName") or "conformance-object")
    path = re.sub(r"\{\w+\}", "v1", path) + "?api-version=7.4"
    vault = request["vault"]
    extensions = {}
    if re.fullmatch(r"[A-Za-z0-9-]+", vault):
        host = f"{vault}.vault.azure.net:443"
    else:
        host, extensions["moat.vault"] = "kv.internal", vault
    if request.get("subnetId"):
        extensions["moat.subnet"] = request["subnetId"]
    if request.get("privateEndpointId"):
        extensions["moat.privateEndpoint"] = request["privateEndpointId"]
    headers = {"authorization": request["token"]} if request.get("token") else {}
    return http_request(method, path, host, headers, peer=request.get("sourceAddress") or None, extensions=extensions)


def header(response: Any, name: str) -> str | None:
    values = [option.header.value for option in response.headers if option.header.key == name]
    return values[0] if values else None


def mismatches(expect: dict[str, Any], answer: external_auth_pb2.CheckResponse) -> list[str]:
    kind = answer.WhichOneof("http_response")
    if expect["decision"] == "ALLOW":
        return [] if kind == "ok_response" and answer.status.code == 0 else [f"expected ALLOW, got {kind}"]
    if kind != "denied_response":
        return [f"expected DENY, got {kind}"]
    denied = answer.denied_response
    problems = []
    if denied.status.code != expect["httpStatus"]:
        problems.append(f"HTTP {denied.status.code}, expected {expect['httpStatus']}")
    error = json.loads(denied.body)["error"]
    if "code" in expect and error["code"] != expect["code"]:
        problems.append(f"code {error['code']}, expected {expect['code']}")
    if "innerCode" in expect and error.get("innererror", {}).get("code") != expect["innerCode"]:
        problems.append(f"inner code {error.get('innererror')}, expected {expect['innerCode']}")
    if expect.get("wwwAuthenticate") and header(denied, "www-authenticate") != expect["wwwAuthenticate"]:
        problems.append(f"challenge {header(denied, 'www-authenticate')!r}, expected {expect['wwwAuthenticate']!r}")
    if header(denied, "content-type") != "application/json; charset=utf-8":
        problems.append("no JSON content-type")
    return problems


def test_skip_rule_and_counts() -> None:
    skipped: dict[str, int] = {}
    for name, content in FILES.items():
        count = sum(1 for case in content["cases"] if skip_reason(case))
        if count:
            skipped[name] = count
    assert skipped == EXPECTED_SKIPS
    assert len(TEMPLATES) == 82, "docs/envoy.md's operation table went missing"
    runnable = sum(len(c["cases"]) for c in FILES.values()) - sum(skipped.values())
    print(f"conformance through the Envoy service: {runnable} cases run, {sum(skipped.values())} skipped")


@pytest.mark.parametrize("name", list(FILES))
def test_conformance_case_through_grpc(name: str) -> None:
    content = FILES[name]
    cases = [case for case in content["cases"] if skip_reason(case) is None]
    if not cases:
        pytest.skip("no case of this file is an HTTP request (counted in test_skip_rule_and_counts)")
    rules = (json.dumps(content["rules"], indent=2, ensure_ascii=False) + "\n").encode()
    daemon = Moatd(rules)
    failures = []
    try:
        daemon.start()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda case: daemon.check(as_http(case)), cases))
        for case, answer in zip(cases, answers, strict=True):
            problems = mismatches(case["expect"], answer)
            if problems:
                failures.append(f"{name}: {case['name']}: {'; '.join(problems)}")
    finally:
        daemon.close()
    assert not failures, "\n".join(failures)


def raw_check(daemon: Moatd, payload: bytes) -> external_auth_pb2.CheckResponse:
    """A Check whose request bytes are written by the test (what no protobuf library would send)."""
    assert daemon.channel is not None
    call = daemon.channel.unary_unary(
        "/envoy.service.auth.v3.Authorization/Check",
        request_serializer=lambda data: data,
        response_deserializer=external_auth_pb2.CheckResponse.FromString,
    )
    return call(payload, timeout=RPC_TIMEOUT)


def test_allow_sets_decision_headers_and_metadata(example_moatd: Moatd, alice_token: str) -> None:
    answer = example_moatd.check(
        http_request(
            "GET", "/secrets/db-password?api-version=7.4", "contoso-prod.vault.azure.net",
            {"authorization": f"Bearer {alice_token}", "x-moat-decision-id": "forged", "x-moat-extra": "forged"},
        )
    )
    assert answer.status.code == 0 and answer.WhichOneof("http_response") == "ok_response"
    decision_id = header(answer.ok_response, "x-moat-decision-id")
    assert decision_id is not None and re.fullmatch(r"[0-9a-f]{32}", decision_id)
    assert re.fullmatch(r"\d+ \([0-9a-f]{16}\)", header(answer.ok_response, "x-moat-revision") or "")
    # Overwrite, not append: the client's x-moat-* headers never reach the upstream.
    assert all(option.append_action == option.OVERWRITE_IF_EXISTS_OR_ADD for option in answer.ok_response.headers)
    assert list(answer.ok_response.headers_to_remove) == ["x-moat-extra"]
    metadata = {key: value.string_value for key, value in answer.dynamic_metadata.fields.items()}
    assert metadata["decision"] == "allow" and metadata["decision_id"] == decision_id
    assert metadata["stage"] == "Allow" and metadata["code"] == "OK" and "inner_code" not in metadata


def test_deny_is_key_vault_answer_and_joins_the_decision_log(example_moatd: Moatd, alice_token: str) -> None:
    answer = example_moatd.check(
        http_request(
            "GET", "/secrets/db-password", "contoso-prod.vault.azure.net",
            {"authorization": f"Bearer {alice_token}"}, peer="198.51.100.7",
        )
    )
    denied = answer.denied_response
    assert answer.status.code == grpc.StatusCode.PERMISSION_DENIED.value[0] and denied.status.code == 403
    body = json.loads(denied.body)
    assert body["error"]["code"] == "Forbidden" and body["error"]["innererror"] == {"code": "ForbiddenByFirewall"}
    assert header(denied, "x-ms-keyvault-network-info") == "conn_type=Ipv4;addr=198.51.100.7;act_addr_fam=InterNetwork;"
    decision_id = header(denied, "x-moat-decision-id")
    # The decision log is written behind the answers: wait for the record, within the RPC bound.
    deadline = time.monotonic() + RPC_TIMEOUT
    while True:
        text = example_moatd.decision_log.read_text() if example_moatd.decision_log.exists() else ""
        records = [json.loads(line) for line in text.split("\n")[:-1] if line.strip()]  # whole lines only
        joined = [record for record in records if record.get("decisionId") == decision_id]
        if joined or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(joined) == 1 and joined[0]["innerCode"] == "ForbiddenByFirewall", records

    challenge = example_moatd.check(http_request("GET", "/secrets/db-password", "contoso-prod.vault.azure.net"))
    assert challenge.denied_response.status.code == 401
    assert (header(challenge.denied_response, "www-authenticate") or "").startswith("Bearer authorization=")
    assert challenge.status.code == grpc.StatusCode.UNAUTHENTICATED.value[0]


@pytest.mark.parametrize(
    ("method", "path", "host", "named"),
    [
        ("GET", "/nothing/here", "contoso-prod.vault.azure.net", "/nothing/here"),
        ("TRACE", "/secrets/x", "contoso-prod.vault.azure.net", "TRACE"),
        ("GET", "/secrets/%ZZ", "contoso-prod.vault.azure.net", "percent-escape"),
        ("GET", "/secrets/x", "example.com", "example.com"),
    ],
)
def test_unmappable_requests_are_400_never_a_grpc_error(
    example_moatd: Moatd, method: str, path: str, host: str, named: str
) -> None:
    answer = example_moatd.check(http_request(method, path, host))
    assert answer.denied_response.status.code == 400
    error = json.loads(answer.denied_response.body)["error"]
    assert error["code"] == "BadParameter" and named in error["message"]


def field(number: int, data: bytes) -> bytes:
    """A length-delimited protobuf field, for requests written by hand."""
    length, out = len(data), b""
    while True:
        out += bytes([(length & 0x7F) | (0x80 if length > 0x7F else 0)])
        length >>= 7
        if not length:
            break
    return bytes([number << 3 | 2]) + out + data


def test_request_faults_are_400(example_moatd: Moatd) -> None:
    def request(headers: list[tuple[bytes, bytes]], extra: bytes = b"") -> bytes:
        http = field(2, b"GET") + field(4, b"/secrets/s") + field(5, b"contoso-prod.vault.azure.net") + extra
        for name, value in headers:
            http += field(3, field(1, name) + field(2, value))
        return field(1, field(4, field(2, http)))

    # Bytes that are not UTF-8 in a header Moat reads: refused, naming it. In one it does not read: ignored.
    bad = raw_check(example_moatd, request([(b"authorization", b"Bearer \xc3\x28")]))
    assert bad.denied_response.status.code == 400 and "headers[authorization]" in bad.denied_response.body
    ignored = raw_check(example_moatd, request([(b"cookie", b"\xff\xfe")]))
    assert ignored.denied_response.status.code == 401
    # Not protobuf at all.
    garbage = raw_check(example_moatd, b"\x0a\xff\xff\xff\xff\x0f")
    assert garbage.denied_response.status.code == 400
    # Over Moat's 16 MiB: read past, not kept, and a 400, not RESOURCE_EXHAUSTED.
    big = raw_check(example_moatd, request([(b"x-padding", b"a" * (17 << 20))]))
    assert big.denied_response.status.code == 400 and "over Moat's limit" in big.denied_response.body


def test_could_not_decide_is_unavailable_or_error_response() -> None:
    for arguments, expect_error_response in (([], False), (["--envoy-error-response"], True)):
        daemon = Moatd(b'{"vaults": "not a list"}\n', arguments)
        try:
            daemon.start(wait_ready=False)
            request = http_request("GET", "/secrets/s", "contoso-prod.vault.azure.net")
            if expect_error_response:
                answer = daemon.check(request)
                assert answer.WhichOneof("http_response") == "error_response"
                assert answer.error_response.status.code == 503
                assert header(answer.error_response, "retry-after") == "1"
                assert answer.status.code == grpc.StatusCode.UNAVAILABLE.value[0]
            else:
                with pytest.raises(grpc.RpcError) as raised:
                    daemon.check(request)
                assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
                assert "no rules loaded" in (raised.value.details() or "")
        finally:
            daemon.close()


def test_malformed_grpc_gets_grpc_errors_while_other_streams_keep_working(example_moatd: Moatd) -> None:
    request = http_request("GET", "/secrets/s", "contoso-prod.vault.azure.net")
    # A stream open on the good channel, before and after each fault.
    assert example_moatd.check(request).denied_response.status.code == 401
    # Garbage instead of HTTP/2: that connection is closed.
    with socket.socket(socket.AF_UNIX) as raw:
        raw.settimeout(RPC_TIMEOUT)
        raw.connect(example_moatd.envoy_socket)
        raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + os.urandom(512))
        while raw.recv(4096):
            pass
    # A wrong content-type, and an unknown method, over real HTTP/2.
    def curl(*arguments: str) -> str:
        return subprocess.run(
            ["curl", "-s", "-D", "-", "-o", "/dev/null", "--http2-prior-knowledge", "--unix-socket",
             example_moatd.envoy_socket, "--max-time", str(RPC_TIMEOUT), *arguments],
            capture_output=True, text=True, timeout=RPC_TIMEOUT + 10,
        ).stdout.lower()

    wrong_type = curl("-H", "content-type: text/plain", "--data-binary", "x",
                      "http://moat/envoy.service.auth.v3.Authorization/Check")
    assert "415" in wrong_type.splitlines()[0], wrong_type
    assert example_moatd.channel is not None
    unknown = example_moatd.channel.unary_unary("/envoy.service.auth.v3.Authorization/Nope")
    with pytest.raises(grpc.RpcError) as raised:
        unknown(b"", timeout=RPC_TIMEOUT)
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
    # A compressed message: Moat takes only identity, and says so.
    with pytest.raises(grpc.RpcError) as raised:
        example_moatd.stub.Check(request, timeout=RPC_TIMEOUT, compression=grpc.Compression.Gzip)
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "gzip compression is not supported" in (raised.value.details() or "")
    # Over 64 MiB: refused at its length, not read (Envoy never sends one), a gRPC error.
    with pytest.raises(grpc.RpcError) as raised:
        raw_check(example_moatd, field(1, b"a" * (65 << 20)))
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert example_moatd.check(request).denied_response.status.code == 401


def test_peer_allow_list_refuses_a_uid_at_accept() -> None:
    other = os.getuid() + 4242
    for allowed, refused in ((other, True), (os.getuid(), False)):
        daemon = Moatd(EXAMPLE_RULES.read_bytes(), ["--envoy-allow-uid", str(allowed)])
        try:
            daemon.start(wait_ready=not refused)
            request = http_request("GET", "/secrets/s", "contoso-prod.vault.azure.net")
            if refused:
                with pytest.raises(grpc.RpcError) as raised:
                    daemon.stub.Check(request, timeout=5)
                assert raised.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
            else:
                assert daemon.check(request).denied_response.status.code == 401
        finally:
            daemon.close()


def test_tcp_listener_is_loopback_unless_told() -> None:
    port = free_port()
    daemon = Moatd(EXAMPLE_RULES.read_bytes(), ["--envoy-listen", f"127.0.0.1:{port}"])
    try:
        daemon.start()
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = channel.unary_unary(
                "/envoy.service.auth.v3.Authorization/Check",
                request_serializer=external_auth_pb2.CheckRequest.SerializeToString,
                response_deserializer=external_auth_pb2.CheckResponse.FromString,
            )
            answer = stub(http_request("GET", "/secrets/s", "contoso-prod.vault.azure.net"), timeout=RPC_TIMEOUT)
            assert answer.denied_response.status.code == 401
    finally:
        daemon.close()
    refused = subprocess.run(
        [str(MOATD), "--envoy-listen", "0.0.0.0:8443", "--rules", "/nonexistent"],
        capture_output=True, text=True, timeout=60,
    )
    assert refused.returncode != 0 and "--envoy-listen-any" in refused.stderr



class RawHTTP2:
    """HTTP/2 written by hand on the Envoy socket, to hold a call half-sent (no library does)."""

    def __init__(self, path: str) -> None:
        self.socket = socket.socket(socket.AF_UNIX)
        self.socket.settimeout(RPC_TIMEOUT)
        self.socket.connect(path)
        self.buffer = b""
        self.socket.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + self.frame(4, 0, 0, b""))

    @staticmethod
    def frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
        return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload

    def send(self, kind: int, flags: int, stream: int, payload: bytes) -> None:
        self.socket.sendall(self.frame(kind, flags, stream, payload))

    def headers(self, stream: int, fields: list[tuple[str, str]]) -> None:
        """HEADERS with END_HEADERS, each field a literal without indexing (HPACK), no Huffman."""
        block = b""
        for name, value in fields:
            block += b"\x00" + bytes([len(name)]) + name.encode() + bytes([len(value)]) + value.encode()
        self.send(1, 0x4, stream, block)

    def read(self) -> tuple[int, int, int, bytes] | None:
        """The next frame (type, flags, stream, payload), None once the connection is closed; PINGs
        and SETTINGS are acknowledged on the way."""
        while True:
            if len(self.buffer) >= 9:
                length = int.from_bytes(self.buffer[:3], "big")
                if len(self.buffer) >= 9 + length:
                    kind, flags = self.buffer[3], self.buffer[4]
                    stream = int.from_bytes(self.buffer[5:9], "big") & 0x7FFFFFFF
                    payload, self.buffer = self.buffer[9:9 + length], self.buffer[9 + length:]
                    if kind == 6 and not flags & 1:
                        self.send(6, 1, 0, payload)
                    if kind == 4 and not flags & 1:
                        self.send(4, 1, 0, b"")
                    return kind, flags, stream, payload
            chunk = self.socket.recv(65536)
            if not chunk:
                return None
            self.buffer += chunk

    def until(self, kind: int, stream: int = 0) -> tuple[int, int, int, bytes]:
        while (frame := self.read()) is not None:
            if frame[0] == kind and frame[2] == stream:
                return frame
        raise AssertionError(f"the connection closed before a frame of type {kind} on stream {stream}")


def test_sigterm_sends_goaway_and_answers_the_calls_in_flight(alice_token: str) -> None:
    daemon = Moatd(EXAMPLE_RULES.read_bytes())
    try:
        daemon.start()
        assert daemon.process is not None
        message = http_request(
            "GET", "/secrets/db-password", "contoso-prod.vault.azure.net", {"authorization": f"Bearer {alice_token}"}
        ).SerializeToString()
        framed = b"\x00" + len(message).to_bytes(4, "big") + message
        raw = RawHTTP2(daemon.envoy_socket)
        raw.headers(1, [(":method", "POST"), (":scheme", "http"), (":path", "/envoy.service.auth.v3.Authorization/Check"),
                        (":authority", "moat"), ("content-type", "application/grpc"), ("te", "trailers")])
        raw.send(0, 0, 1, framed[:10])
        # A PING's answer: moatd has read the call's HEADERS and the first part of its message.
        raw.send(6, 0, 0, b"in-fligh")
        while (frame := raw.read()) is not None and not (frame[0] == 6 and frame[1] & 1):
            pass
        daemon.process.terminate()
        raw.until(7)  # GOAWAY
        raw.send(0, 1, 1, framed[10:])  # the rest of the message, END_STREAM
        data = raw.until(0, 1)
        answer = external_auth_pb2.CheckResponse.FromString(data[3][5:])
        assert answer.status.code == 0 and answer.WhichOneof("http_response") == "ok_response"
        raw.until(1, 1)  # the trailers
        while raw.read() is not None:  # then moatd closes the connection
            pass
        assert daemon.process.wait(timeout=60) == 0, daemon.log()
        assert not os.path.exists(daemon.envoy_socket)
    finally:
        daemon.close()


def test_socket_activation_serves_the_passed_socket_and_leaves_it(alice_token: str) -> None:
    daemon = Moatd(EXAMPLE_RULES.read_bytes())
    passed = str(daemon.folder / "activated-envoy.sock")
    process = subprocess.Popen(
        ["/usr/bin/systemd-socket-activate", "-l", passed, "--fdname=moat-envoy", "--", str(MOATD),
         "--rules", str(daemon.rules), "--socket", str(daemon.folder / "moat.sock"),
         "--control-socket", str(daemon.folder / "control.sock"),
         # Its own path, which it must not bind when systemd passes the socket.
         "--envoy-socket", daemon.envoy_socket],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not os.path.exists(passed):
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        request = http_request(
            "GET", "/secrets/db-password", "contoso-prod.vault.azure.net", {"authorization": f"Bearer {alice_token}"}
        )
        with grpc.insecure_channel(f"unix:{passed}") as channel:
            stub = external_auth_pb2_grpc.AuthorizationStub(channel)
            while True:  # systemd-socket-activate starts moatd on the first connection; then the rules load
                try:
                    answer = stub.Check(request, timeout=RPC_TIMEOUT)
                    break
                except grpc.RpcError as error:
                    assert error.code() == grpc.StatusCode.UNAVAILABLE and time.monotonic() < deadline, error
                    time.sleep(0.1)
        assert answer.WhichOneof("http_response") == "ok_response"
        assert not os.path.exists(daemon.envoy_socket)
        process.terminate()
        assert process.wait(timeout=60) == 0
        assert os.path.exists(passed), "moatd removed the socket systemd passed"
    finally:
        terminate(process)
        daemon.close()
