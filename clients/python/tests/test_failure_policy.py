"""Answers a healthy moatd never gives, from a scripted daemon: the clients must deny on every
failure that is not one of availability, whatever the failure policy (docs/protocol.md, "Failing
open"), and give each batch item its own outcome."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import pytest
from conftest import FakeDaemon, frame, read_requests

import moat_authz
from moat_authz import CheckRequest, ErrorKind, FailurePolicy, Fault, Options, Outcome, StatusCode
from moat_authz._proto.moat.v1 import authz_pb2 as pb

OPEN = Options(failure_policy=FailurePolicy.OPEN, deadline=5.0)
REQUEST = CheckRequest(vault="v", operation="GetSecret")
# (stream id, status, payload) of the answer to one request frame (stream id, method, payload).
Answer = Callable[[int, int, bytes], tuple[int, int, bytes]]


def error(status: StatusCode, message: str) -> bytes:
    return pb.Error(code=status, message=message).SerializeToString()


@pytest.fixture
def scripted(fake_daemon: FakeDaemon) -> Callable[[Answer], str]:
    """Starts a daemon answering every request frame with `answer`; returns its socket path."""

    def start(answer: Answer) -> str:
        def serve(connection: socket.socket) -> None:
            for stream_id, method, payload in read_requests(connection):
                answered_id, status, answer_payload = answer(stream_id, method, payload)
                connection.sendall(frame(answered_id, 0 if answered_id == 0 else method, status, answer_payload))

        return fake_daemon.start(serve)

    return start


def both_clients(path: str, options: Options) -> list[moat_authz.CheckResult]:
    with moat_authz.Client(path, options) as client:
        blocking = client.check(REQUEST)

    async def main() -> moat_authz.CheckResult:
        async with moat_authz.AsyncClient(path, options) as client:
            return await client.check(REQUEST)

    return [blocking, asyncio.run(main())]


DENIED_WHATEVER_THE_POLICY = {
    "INVALID_ARGUMENT": (StatusCode.INVALID_ARGUMENT, ErrorKind.STATUS, Fault.REQUEST),
    "RESOURCE_EXHAUSTED": (StatusCode.RESOURCE_EXHAUSTED, ErrorKind.STATUS, Fault.REQUEST),
    "INTERNAL": (StatusCode.INTERNAL, ErrorKind.STATUS, Fault.DAEMON),
    "UNIMPLEMENTED": (StatusCode.UNIMPLEMENTED, ErrorKind.STATUS, Fault.DAEMON),
    "PERMISSION_DENIED": (StatusCode.PERMISSION_DENIED, ErrorKind.STATUS, Fault.DAEMON),
    "NOT_FOUND": (StatusCode.NOT_FOUND, ErrorKind.STATUS, Fault.DAEMON),
}


@pytest.mark.parametrize("name", list(DENIED_WHATEVER_THE_POLICY))
def test_a_status_that_is_not_availability_denies(scripted: Callable[[Answer], str], name: str) -> None:
    status, kind, fault = DENIED_WHATEVER_THE_POLICY[name]
    path = scripted(lambda stream_id, method, payload: (stream_id, status, error(status, f"scripted {name}")))
    for result in both_clients(path, OPEN):
        assert result.outcome is Outcome.COULD_NOT_DECIDE and not result.allowed and not result.failed_open
        assert result.error is not None and (result.error.kind, result.error.fault) == (kind, fault)
        assert result.error.status == status and result.error.message == f"scripted {name}"


@pytest.mark.parametrize("status", [StatusCode.UNAVAILABLE, StatusCode.DEADLINE_EXCEEDED])
def test_an_availability_status_follows_the_policy(scripted: Callable[[Answer], str], status: StatusCode) -> None:
    path = scripted(lambda stream_id, method, payload: (stream_id, status, error(status, "busy")))
    for result in both_clients(path, OPEN):
        assert result.allowed and result.failed_open and result.error is not None
        assert result.error.fault is Fault.AVAILABILITY
    for result in both_clients(path, Options(deadline=5.0)):
        assert not result.allowed and not result.failed_open


def test_a_refused_connection_fails_with_the_refusal(scripted: Callable[[Answer], str]) -> None:
    path = scripted(lambda stream_id, method, payload: (0, StatusCode.PERMISSION_DENIED, error(StatusCode.PERMISSION_DENIED, "uid 1000 is not allowed")))
    for result in both_clients(path, OPEN):
        assert result.error is not None and result.error.status == StatusCode.PERMISSION_DENIED
        assert result.error.message == "uid 1000 is not allowed" and not result.allowed


UNREADABLE = {
    "DECISION_UNSPECIFIED": pb.CheckResponse(decision=pb.DECISION_UNSPECIFIED).SerializeToString(),
    "allow with a 403": pb.CheckResponse(decision=pb.DECISION_ALLOW, http_status=403, code=pb.RESULT_CODE_FORBIDDEN, stage=pb.STAGE_ALLOW).SerializeToString(),
    "deny with OK": pb.CheckResponse(decision=pb.DECISION_DENY, http_status=200, code=pb.RESULT_CODE_OK, stage=pb.STAGE_ALLOW).SerializeToString(),
    "unknown stage": pb.CheckResponse(decision=pb.DECISION_ALLOW, http_status=200, code=pb.RESULT_CODE_OK, stage=99).SerializeToString(),  # type: ignore[arg-type]  # deliberately not a Stage
    "not protobuf": b"\xff\xff\xff",
}


@pytest.mark.parametrize("name", list(UNREADABLE))
def test_an_answer_that_is_not_a_decision_denies(scripted: Callable[[Answer], str], name: str) -> None:
    path = scripted(lambda stream_id, method, payload: (stream_id, StatusCode.OK, UNREADABLE[name]))
    for result in both_clients(path, OPEN):
        assert result.error is not None and result.error.kind is ErrorKind.PROTOCOL_VIOLATION
        assert result.error.fault is Fault.DAEMON and not result.allowed


def test_batch_items_fail_alone(scripted: Callable[[Answer], str]) -> None:
    allow = pb.CheckResponse(decision=pb.DECISION_ALLOW, http_status=200, code=pb.RESULT_CODE_OK, stage=pb.STAGE_ALLOW)
    items = [
        allow,
        pb.CheckResponse(error=pb.Error(code=StatusCode.DEADLINE_EXCEEDED, message="too late")),
        pb.CheckResponse(error=pb.Error(code=StatusCode.INVALID_ARGUMENT, message="field 'requests[2].vault' holds a NUL byte or invalid UTF-8")),
    ]
    path = scripted(lambda stream_id, method, payload: (stream_id, StatusCode.OK, pb.CheckBatchResponse(responses=items).SerializeToString()))
    with moat_authz.Client(path, OPEN) as client:
        blocking = client.check_batch([REQUEST] * 3)

    async def main() -> list[moat_authz.CheckResult]:
        async with moat_authz.AsyncClient(path, OPEN) as client:
            return await client.check_batch([REQUEST] * 3)

    for allowed, late, invalid in (blocking, asyncio.run(main())):
        assert allowed.outcome is Outcome.ALLOWED and not allowed.failed_open
        assert late.error is not None and late.error.status == StatusCode.DEADLINE_EXCEEDED
        assert late.allowed and late.failed_open
        assert invalid.error is not None and invalid.error.fault is Fault.REQUEST and not invalid.allowed
        assert "requests[2].vault" in invalid.error.message


def test_a_batch_answer_with_the_wrong_count_fails_every_item(scripted: Callable[[Answer], str]) -> None:
    path = scripted(lambda stream_id, method, payload: (stream_id, StatusCode.OK, pb.CheckBatchResponse().SerializeToString()))
    with moat_authz.Client(path, OPEN) as client:
        results = client.check_batch([REQUEST] * 2)
    assert [r.error.kind if r.error else None for r in results] == [ErrorKind.PROTOCOL_VIOLATION] * 2
    assert not any(result.allowed for result in results)


UNENCODABLE = {
    "a NUL byte": (CheckRequest(vault="v", token="a\0b"), "field 'token' holds a NUL byte"),
    "a lone surrogate": (CheckRequest(vault="\ud800"), "field 'vault' holds a NUL byte or invalid UTF-8"),
    "a NUL in a group": (
        CheckRequest(vault="v", asserted_identity=moat_authz.AssertedIdentity(groups=("g", "\0"))),
        "field 'asserted_identity.groups[1]'",
    ),
    "a negative timeout": (CheckRequest(vault="v", timeout_micros=-1), "cannot encode the request"),
    "an operation out of range": (CheckRequest(vault="v", operation=2**40), "cannot encode the request"),
}


@pytest.mark.parametrize("name", list(UNENCODABLE))
def test_a_request_that_cannot_be_encoded_is_refused_locally(scripted: Callable[[Answer], str], name: str) -> None:
    request, reason = UNENCODABLE[name]
    sent: list[int] = []

    def answer(stream_id: int, method: int, payload: bytes) -> tuple[int, int, bytes]:
        sent.append(method)
        return stream_id, StatusCode.INTERNAL, b""

    path = scripted(answer)
    with moat_authz.Client(path, OPEN) as client:
        results = [client.check(request), *client.check_batch([request])]

    async def main() -> list[moat_authz.CheckResult]:
        async with moat_authz.AsyncClient(path, OPEN) as client:
            return [await client.check(request), *await client.check_batch([request])]

    for result in results + asyncio.run(main()):
        assert result.error is not None and result.error.kind is ErrorKind.REQUEST_REFUSED
        assert result.error.status == StatusCode.INVALID_ARGUMENT and reason in result.error.message
        assert result.error.fault is Fault.REQUEST and not result.allowed
    assert sent == []
