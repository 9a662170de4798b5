"""The clients' behaviour against a real moatd: concurrency, a daemon restart, deadlines (the
daemon SIGSTOPped), the failure policy, batches split into frames, and printing like moatctl."""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from collections.abc import Callable

import pytest
from conftest import MOATCTL, Daemon

import moat_authz
from moat_authz import CheckRequest, ErrorKind, FailurePolicy, Fault, MoatError, Options, Outcome, StatusCode

VAULT = "contoso-prod"
ADMITTED = "203.0.113.5"  # inside the example rules' IP rule
OPEN = Options(failure_policy=FailurePolicy.OPEN, deadline=5.0)


def get_secret(token: str, source: str = ADMITTED) -> CheckRequest:
    return CheckRequest(vault=VAULT, operation="GetSecret", object_name="db-password", source_address=source, token=token)


def set_secret(token: str) -> CheckRequest:
    return CheckRequest(vault=VAULT, operation="SetSecret", object_name="db-password", source_address=ADMITTED, token=token)


def check_sync(socket: str, options: Options, requests: list[CheckRequest]) -> list[moat_authz.CheckResult]:
    with moat_authz.Client(socket, options) as client:
        return [client.check(request) for request in requests]


def check_async(socket: str, options: Options, requests: list[CheckRequest]) -> list[moat_authz.CheckResult]:
    async def main() -> list[moat_authz.CheckResult]:
        async with moat_authz.AsyncClient(socket, options) as client:
            return [await client.check(request) for request in requests]

    return asyncio.run(main())


CHECKS = {"blocking": check_sync, "asyncio": check_async}


def test_one_hundred_asyncio_tasks_share_one_client(example_daemon: Daemon, alice_token: str) -> None:
    async def main() -> list[tuple[bool, moat_authz.CheckResult]]:
        # One connection: every task's checks are pipelined on it.
        async with moat_authz.AsyncClient(example_daemon.socket, Options(connections=1, deadline=20.0)) as client:
            async def task(number: int) -> list[tuple[bool, moat_authz.CheckResult]]:
                answers = []
                for round in range(10):
                    allowed = (number + round) % 2 == 0
                    request = get_secret(alice_token) if allowed else set_secret(alice_token)
                    answers.append((allowed, await client.check(request)))
                return answers

            per_task = await asyncio.gather(*(task(number) for number in range(100)))
            return [answer for answers in per_task for answer in answers]

    answers = asyncio.run(main())
    assert len(answers) == 1000
    for expected, result in answers:
        assert result.outcome is (Outcome.ALLOWED if expected else Outcome.DENIED), result
        if not expected:
            assert result.decision is not None and result.decision.inner_code == "ForbiddenByPolicy"


def test_threads_share_one_blocking_client(example_daemon: Daemon, alice_token: str) -> None:
    outcomes: list[list[Outcome]] = [[] for _ in range(8)]
    with moat_authz.Client(example_daemon.socket, Options(deadline=20.0)) as client:
        def work(number: int) -> None:
            for round in range(100):
                request = get_secret(alice_token) if round % 2 == 0 else set_secret(alice_token)
                outcomes[number].append(client.check(request).outcome)

        threads = [threading.Thread(target=work, args=(number,)) for number in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert all(results == [Outcome.ALLOWED, Outcome.DENIED] * 50 for results in outcomes)


@pytest.mark.parametrize("way", ["blocking", "asyncio"])
def test_a_daemon_restart_is_survived(example_daemon: Daemon, alice_token: str, way: str) -> None:
    def restart_scenario(check: Callable[[CheckRequest], moat_authz.CheckResult]) -> None:
        assert check(get_secret(alice_token)).outcome is Outcome.ALLOWED
        example_daemon.stop()
        down = check(get_secret(alice_token))
        assert down.outcome is Outcome.COULD_NOT_DECIDE
        assert down.error is not None and down.error.fault is Fault.AVAILABILITY
        assert down.error.kind in (ErrorKind.CONNECTION_CLOSED, ErrorKind.UNREACHABLE)
        assert down.allowed and down.failed_open  # OPEN policy, availability failure
        example_daemon.start()
        deadline = time.monotonic() + 30
        while (result := check(get_secret(alice_token))).decision is None:
            assert result.error is not None and result.error.fault is Fault.AVAILABILITY, result
            assert time.monotonic() < deadline, "the client did not reconnect"
            time.sleep(0.02)
        assert result.outcome is Outcome.ALLOWED and not result.failed_open
        assert check(set_secret(alice_token)).outcome is Outcome.DENIED

    if way == "blocking":
        with moat_authz.Client(example_daemon.socket, OPEN) as client:
            restart_scenario(client.check)
    else:
        async def main() -> None:
            async with moat_authz.AsyncClient(example_daemon.socket, OPEN) as client:
                loop = asyncio.get_running_loop()
                # The scenario blocks (it stops and starts the daemon): run it in a thread, with
                # its checks sent back to this loop.
                await loop.run_in_executor(
                    None,
                    restart_scenario,
                    lambda request: asyncio.run_coroutine_threadsafe(client.check(request), loop).result(),
                )

        asyncio.run(main())


@pytest.mark.parametrize("way", list(CHECKS))
def test_deadlines_hold_while_the_daemon_is_stopped(example_daemon: Daemon, alice_token: str, way: str) -> None:
    options = Options(deadline=0.3, failure_policy=FailurePolicy.OPEN)
    # A first check connects; then the daemon stops answering.
    assert CHECKS[way](example_daemon.socket, options, [get_secret(alice_token)])[0].outcome is Outcome.ALLOWED
    example_daemon.pause()
    try:
        results = CHECKS[way](example_daemon.socket, options, [get_secret(alice_token)] * 3)
    finally:
        example_daemon.resume()
    for result in results:
        assert result.outcome is Outcome.COULD_NOT_DECIDE
        assert result.error is not None and result.error.kind is ErrorKind.DEADLINE_EXCEEDED
        assert result.error.status == StatusCode.DEADLINE_EXCEEDED and result.error.fault is Fault.AVAILABILITY
        assert result.allowed and result.failed_open
    closed = CHECKS[way](example_daemon.socket, Options(deadline=5.0), [get_secret(alice_token)])[0]
    assert closed.outcome is Outcome.ALLOWED


def test_batches_and_pings_have_deadlines_too(example_daemon: Daemon, alice_token: str) -> None:
    options = Options(deadline=0.3)
    with moat_authz.Client(example_daemon.socket, options) as client:
        assert client.ping().ready
        example_daemon.pause()
        try:
            results = client.check_batch([get_secret(alice_token)] * 5)
            with pytest.raises(MoatError) as raised:
                client.ping()
        finally:
            example_daemon.resume()
    assert [r.error.kind if r.error else None for r in results] == [ErrorKind.DEADLINE_EXCEEDED] * 5
    assert not any(result.allowed for result in results)  # CLOSED policy
    assert raised.value.kind is ErrorKind.DEADLINE_EXCEEDED


@pytest.mark.parametrize("way", list(CHECKS))
def test_only_availability_failures_fail_open(example_daemon: Daemon, alice_token: str, way: str) -> None:
    nul = CheckRequest(vault="contoso\0prod", operation="GetSecret", token=alice_token)
    oversized = get_secret("x" * (70 * 1024))
    refused_nul, refused_size, fine = CHECKS[way](example_daemon.socket, OPEN, [nul, oversized, get_secret(alice_token)])
    assert refused_nul.error is not None and refused_nul.error.kind is ErrorKind.REQUEST_REFUSED
    assert refused_nul.error.status == StatusCode.INVALID_ARGUMENT and "vault" in refused_nul.error.message
    assert refused_size.error is not None and refused_size.error.kind is ErrorKind.REQUEST_REFUSED
    assert refused_size.error.status == StatusCode.RESOURCE_EXHAUSTED
    for refused in (refused_nul, refused_size):
        assert refused.error is not None and refused.error.fault is Fault.REQUEST
        assert not refused.allowed and not refused.failed_open
    # The refused checks were not sent: the connection they would have shared still works.
    assert fine.outcome is Outcome.ALLOWED
    unreachable = CHECKS[way](example_daemon.socket + ".missing", OPEN, [get_secret(alice_token)])[0]
    assert unreachable.error is not None and unreachable.error.kind is ErrorKind.UNREACHABLE
    assert unreachable.allowed and unreachable.failed_open
    closed = CHECKS[way](example_daemon.socket + ".missing", Options(), [get_secret(alice_token)])[0]
    assert not closed.allowed and not closed.failed_open


def test_a_daemon_without_rules_is_unavailable(alice_token: str) -> None:
    daemon = Daemon(b"not a rules document\n")
    try:
        assert daemon.start(wait_ready=False).wait_until(lambda pong: True).ready is False
        for options in (OPEN, Options(deadline=5.0)):
            result = check_sync(daemon.socket, options, [get_secret(alice_token)])[0]
            assert result.error is not None and result.error.kind is ErrorKind.STATUS
            assert result.error.status == StatusCode.UNAVAILABLE and result.error.fault is Fault.AVAILABILITY
            assert result.allowed is (options.failure_policy is FailurePolicy.OPEN)
    finally:
        daemon.close()


@pytest.mark.parametrize("way", ["blocking", "asyncio"])
def test_large_batches_are_split_into_frames_and_answered_in_order(
    example_daemon: Daemon, alice_token: str, way: str
) -> None:
    # 2500 requests: more than the 1024 a frame may carry, and more than 64 KiB of requests.
    requests = [get_secret(alice_token) if i % 3 else set_secret(alice_token) for i in range(2500)]
    requests[7] = CheckRequest(vault="bad\0")  # refused alone
    if way == "blocking":
        with moat_authz.Client(example_daemon.socket, Options(deadline=20.0)) as client:
            results = client.check_batch(requests)
    else:
        async def main() -> list[moat_authz.CheckResult]:
            async with moat_authz.AsyncClient(example_daemon.socket, Options(deadline=20.0)) as client:
                return await client.check_batch(requests)

        results = asyncio.run(main())
    assert len(results) == len(requests)
    for index, result in enumerate(results):
        if index == 7:
            assert result.error is not None and result.error.kind is ErrorKind.REQUEST_REFUSED
        else:
            assert result.outcome is (Outcome.ALLOWED if index % 3 else Outcome.DENIED), index


def test_results_print_like_moatctl_check(example_daemon: Daemon, alice_token: str) -> None:
    for request in (get_secret(alice_token), set_secret(alice_token), get_secret(alice_token, "198.51.100.7")):
        printed = subprocess.run(
            [
                str(MOATCTL), "check", "--socket", example_daemon.socket, "--vault", request.vault,
                "--operation", str(request.operation), "--object", request.object_name,
                "--source", request.source_address, "--token", request.token,
            ],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout
        result = check_sync(example_daemon.socket, Options(deadline=5.0), [request])[0]
        assert result.decision is not None
        assert printed == f"{result}\n" == f"{result.decision}\n"
    missing = example_daemon.socket + ".missing"
    could_not_decide = subprocess.run(
        [str(MOATCTL), "check", "--socket", missing, "--vault", VAULT, "--operation", "GetSecret"],
        capture_output=True, text=True, timeout=30,
    )
    assert could_not_decide.returncode == 3
    result = check_sync(missing, Options(), [CheckRequest(vault=VAULT, operation="GetSecret")])[0]
    # Same shape and code; the message names the client's own connect error.
    assert str(result).splitlines()[:3] == could_not_decide.stdout.splitlines()[:3]
