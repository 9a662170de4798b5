"""The conformance table (Tests/Conformance, its README says how a runner works) through a real
moatd, with each way of asking: the blocking and the asyncio client, one check at a time and in
batches. Each decision file's `rules` become the daemon's rules file; cases from a trusted
asserter peer go to a daemon started with `--trusted-asserter-uid <our uid>`.

Skipped, never silently: the cases with `evaluateAt` need a clock the daemon does not let a
client set. EXPECTED_SKIPS pins them (as the Swift runner through the daemon does), so that a new
clock-dependent case has to be acknowledged here."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import Callable
from typing import Any

import pytest
from conftest import REPOSITORY, Daemon

import moat_authz

DECISIONS = REPOSITORY / "Tests/Conformance/decisions"
FILES = {path.stem: json.loads(path.read_text()) for path in sorted(DECISIONS.glob("*.json"))}
EXPECTED_SKIPS = {"authentication": 5, "authentication-settings": 5}
SHAPE = {
    "": ["decision", "httpStatus", "code", "innerCode", "stage", "message", "admittedBy", "grantedBy",
         "required", "wwwAuthenticate", "revision"],
    "admittedBy": ["kind", "index", "rule", "service", "mode"],
    "grantedBy": ["kind", "index", "objectId", "applicationId", "id", "role", "roleDefinitionId"],
}
# A generous deadline: the machine running the tests may be busy, and this is not a timing test.
OPTIONS = moat_authz.Options(deadline=20.0)


def mismatches(expect: dict[str, Any], decision: dict[str, Any]) -> list[str]:
    """How `decision` (the decision JSON) differs from `expect` (Tests/Conformance/README.md,
    "Comparing expect")."""
    problems = []
    for key, members in SHAPE.items():
        value = decision if key == "" else decision.get(key)
        if isinstance(value, dict) and sorted(value) != sorted(members):
            problems.append(f"{key or 'decision'} has members {sorted(value)}, expected {sorted(members)}")
    for key, expected in expect.items():
        if key == "messageContains":
            if expected.lower() not in decision["message"].lower():
                problems.append(f"message {decision['message']!r} does not contain {expected!r}")
        elif key in ("admittedBy", "grantedBy") and isinstance(expected, dict) and isinstance(decision[key], dict):
            problems += [
                f"{key}.{member} is {decision[key].get(member)!r}, expected {value!r}"
                for member, value in expected.items()
                if decision[key].get(member, "<absent>") != value
            ]
        elif decision.get(key, "<absent>") != expected:
            problems.append(f"{key} is {decision.get(key, '<absent>')!r}, expected {expected!r}")
    return problems


def run_sync(socket: str, requests: list[moat_authz.CheckRequest], batch: bool) -> list[moat_authz.CheckResult]:
    with moat_authz.Client(socket, OPTIONS) as client:
        return client.check_batch(requests) if batch else [client.check(r) for r in requests]


def run_async(socket: str, requests: list[moat_authz.CheckRequest], batch: bool) -> list[moat_authz.CheckResult]:
    async def main() -> list[moat_authz.CheckResult]:
        async with moat_authz.AsyncClient(socket, OPTIONS) as client:
            if batch:
                return await client.check_batch(requests)
            return list(await asyncio.gather(*(client.check(r) for r in requests)))

    return asyncio.run(main())


WAYS: dict[str, Callable[[str, list[moat_authz.CheckRequest]], list[moat_authz.CheckResult]]] = {
    "blocking": lambda socket, requests: run_sync(socket, requests, batch=False),
    "blocking batch": lambda socket, requests: run_sync(socket, requests, batch=True),
    "asyncio": lambda socket, requests: run_async(socket, requests, batch=False),
    "asyncio batch": lambda socket, requests: run_async(socket, requests, batch=True),
}


def test_only_the_evaluate_at_cases_are_skipped() -> None:
    skipped = {
        name: sum(1 for case in content["cases"] if case.get("evaluateAt") is not None) for name, content in FILES.items()
    }
    assert {name: count for name, count in skipped.items() if count} == EXPECTED_SKIPS
    assert len(FILES) >= 16, "the conformance table went missing"
    print(f"conformance through moatd: {sum(skipped.values())} cases skipped (evaluateAt: the daemon uses the real clock)")


@pytest.mark.parametrize("name", list(FILES))
def test_decision_file(name: str) -> None:
    content = FILES[name]
    runnable = [case for case in content["cases"] if case.get("evaluateAt") is None]
    rules = (json.dumps(content["rules"], indent=2, ensure_ascii=False) + "\n").encode()
    failures: list[str] = []
    checked = 0
    for trusted in (False, True):
        cases = [case for case in runnable if case.get("trustedAsserter", False) == trusted]
        if not cases:
            continue
        daemon = Daemon(rules, ["--trusted-asserter-uid", str(os.getuid())] if trusted else [])
        try:
            pong = daemon.start().wait_until(lambda pong: pong.ready)
            assert pong.revision is not None and pong.revision.hash == hashlib.sha256(rules).hexdigest()[:16]
            requests = [moat_authz.CheckRequest.from_json(case["request"]) for case in cases]
            for way, run in WAYS.items():
                for case, result in zip(cases, run(daemon.socket, requests), strict=True):
                    checked += 1
                    label = f"{name}: {case['name']} ({way}, {'asserter' if trusted else 'plain'} peer)"
                    if result.decision is None:
                        failures.append(f"{label}: could not decide: {result.error!r}")
                        continue
                    assert result.outcome is not moat_authz.Outcome.COULD_NOT_DECIDE
                    assert result.allowed == (result.decision.to_json()["decision"] == "ALLOW")
                    problems = mismatches(case["expect"], result.decision.to_json())
                    if problems:
                        failures.append(f"{label}: {'; '.join(problems)}")
        finally:
            daemon.close()
    skipped = len(content["cases"]) - len(runnable)
    assert skipped == EXPECTED_SKIPS.get(name, 0)
    assert checked == len(runnable) * len(WAYS)
    print(f"conformance through moatd, {name}: {checked - len(failures)} passed, {len(failures)} failed"
          + (f", {skipped} skipped" if skipped else "") + f" ({len(WAYS)} ways each)")
    assert not failures, "\n".join(failures)
