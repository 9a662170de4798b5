"""Pipelining: on one connection, a client sends every call without waiting for earlier answers,
and matches answers to calls by stream id whatever their order (docs/protocol.md, "Frames"). The
scripted daemon answers nothing until it has all the requests, then answers them in reverse
order; each answer names its request, so a mismatched answer shows."""

from __future__ import annotations

import asyncio
import socket
import threading

from conftest import FakeDaemon, frame, read_requests

import moat_authz
from moat_authz import CheckRequest, Options, Outcome
from moat_authz._proto.moat.v1 import authz_pb2 as pb

CALLS = 50
ONE_CONNECTION = Options(connections=1, deadline=20.0)


def answer_all_in_reverse(connection: socket.socket) -> None:
    requests = []
    for stream_id, method, payload in read_requests(connection):
        requests.append((stream_id, method, pb.CheckRequest.FromString(payload).vault))
        if len(requests) == CALLS:
            break
    for stream_id, method, vault in reversed(requests):
        allowed = int(vault.removeprefix("vault-")) % 2 == 0
        answer = pb.CheckResponse(
            decision=pb.DECISION_ALLOW if allowed else pb.DECISION_DENY,
            http_status=200 if allowed else 403,
            code=pb.RESULT_CODE_OK if allowed else pb.RESULT_CODE_FORBIDDEN,
            stage=pb.STAGE_ALLOW if allowed else pb.STAGE_AUTHORIZATION,
            message=vault,
        )
        connection.sendall(frame(stream_id, method, 0, answer.SerializeToString()))
    connection.recv(1)  # until the client closes


def assert_matched(results: list[moat_authz.CheckResult]) -> None:
    for number, result in enumerate(results):
        assert result.decision is not None, result
        assert result.decision.message == f"vault-{number}"
        assert result.outcome is (Outcome.ALLOWED if number % 2 == 0 else Outcome.DENIED)


def requests() -> list[CheckRequest]:
    return [CheckRequest(vault=f"vault-{number}", operation="GetSecret") for number in range(CALLS)]


def test_threads_pipeline_on_one_connection(fake_daemon: FakeDaemon) -> None:
    path = fake_daemon.start(answer_all_in_reverse)
    results: list[moat_authz.CheckResult | None] = [None] * CALLS
    with moat_authz.Client(path, ONE_CONNECTION) as client:
        def call(number: int, request: CheckRequest) -> None:
            results[number] = client.check(request)

        threads = [threading.Thread(target=call, args=pair) for pair in enumerate(requests())]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    decided = [result for result in results if result is not None]
    assert len(decided) == CALLS
    assert_matched(decided)
    assert fake_daemon.connections == 1


def test_tasks_pipeline_on_one_connection(fake_daemon: FakeDaemon) -> None:
    path = fake_daemon.start(answer_all_in_reverse)

    async def main() -> list[moat_authz.CheckResult]:
        async with moat_authz.AsyncClient(path, ONE_CONNECTION) as client:
            return list(await asyncio.gather(*(client.check(request) for request in requests())))

    assert_matched(asyncio.run(main()))
    assert fake_daemon.connections == 1
