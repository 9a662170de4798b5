"""Signing keys fetched and kept current (docs/semantics.md "Signing keys kept current",
docs/running.md "Signing keys"), against a real moatd and an HTTPS key server on loopback."""

from __future__ import annotations

import datetime
import json
import os
import time

from conftest import (
    TENANT, Authority, SigningKey, World, static, unknown_kid, wait_for,
)


def test_entra_shaped_tokens_verify_through_discovery_v1_and_v2(world: World) -> None:
    key = SigningKey()
    world.server.publish([key])
    # Discovery reports the v2 issuer; Key Vault's v1 tokens must still verify (it gives jwks_uri only).
    configuration = {
        "issuer": f"https://login.microsoftonline.com/{TENANT}/v2.0",
        "jwks_uri": world.server.url("/keys"),
        "token_endpoint": f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token",
    }
    world.server.set("/openid", static(200, json.dumps(configuration).encode(), {"Content-Type": "application/json"}))
    moatd = world.moatd({"openIdConfiguration": world.server.url("/openid")})
    wait_for(lambda: moatd.tenant()["keyIds"] == [key.kid], "the fetched key set")
    assert moatd.allows(key.token("1.0")), moatd.log()
    assert moatd.allows(key.token("2.0")), moatd.log()
    forged = SigningKey(kid=key.kid)  # the right kid and x5t shape, another key
    denied = moatd.check(forged.token("1.0"))
    assert denied["decision"] == "DENY" and denied["httpStatus"] == 401
    tenant = moatd.tenant()
    assert tenant["source"] == f"openIdConfiguration {world.server.url('/openid')}"
    assert tenant["origin"] == "fetched" and tenant["lastError"] is None and tenant["nextRefresh"]


def test_etag_confirms_the_set_and_max_age_brings_the_next_refresh_forward(world: World) -> None:
    key = SigningKey()
    world.server.publish([key], max_age=900)
    moatd = world.moatd({"jwksUri": world.server.url("/keys")})
    wait_for(lambda: moatd.tenant()["keyIds"] == [key.kid], "the first key set")
    code, tenants = moatd.refresh()
    assert code == 0 and tenants[0]["keyIds"] == [key.kid]
    assert 'moat_key_fetches_total{tenant="%s",result="not_modified"}' % TENANT in moatd.metrics()
    fetched, due = (datetime.datetime.fromisoformat(tenants[0][name]) for name in ("fetchedAt", "nextRefresh"))
    # The server's max-age (900 s), not the 24 h interval, sets the next refresh.
    assert 890 <= (due - fetched).total_seconds() <= 910, tenants


def test_a_failing_request_is_retried_within_one_fetch_as_many_times_as_jwks_retries_says(world: World) -> None:
    key = SigningKey()
    world.server.publish([key], path="/good")
    answers = [503, 429]

    def flaky(request: object) -> tuple[int, dict[str, str], bytes]:
        if answers:
            return answers.pop(0), {}, b""
        return world.server.routes["/good"](request)  # type: ignore[arg-type]

    world.server.set("/keys", flaky)
    moatd = world.moatd({"jwksUri": world.server.url("/keys")}, ["--jwks-retries", "2"])
    wait_for(lambda: moatd.tenant()["keyIds"] == [key.kid], "the key set after two retries")
    assert world.server.count("/keys") == 3 and moatd.tenant()["lastError"] is None
    # The two refusals were retried inside one fetch: without retries the scheduler would have
    # counted each as a failed fetch (and fetched again 10 s, then 20 s later).
    metrics = moatd.metrics()
    assert 'moat_key_fetches_total{tenant="%s",result="success"} 1' % TENANT in metrics, metrics
    assert 'moat_key_fetches_total{tenant="%s",result="failure"}' % TENANT not in metrics, metrics


def test_a_fetch_fails_once_its_retries_are_spent(world: World) -> None:
    world.server.set("/keys", lambda request: (503, {}, b""))
    moatd = world.moatd({"jwksUri": world.server.url("/keys")}, ["--jwks-retries", "1"])
    tenant = wait_for(lambda: (t := moatd.tenant())["lastError"] and t, "the failed fetch")
    # One try and one retry: two requests, one failed fetch, no key set.
    assert world.server.count("/keys") == 2, world.server.count("/keys")
    assert "503" in tenant["lastError"] and tenant["keyIds"] == [], tenant
    assert 'moat_key_fetches_total{tenant="%s",result="failure"} 1' % TENANT in moatd.metrics()


def test_rotation_new_kid_verifies_after_the_kid_miss_refresh_and_a_removed_one_stops(world: World) -> None:
    old, new = SigningKey(), SigningKey()
    moatd = world.fetching([old])
    assert moatd.allows(old.token())

    world.server.publish([old, new])
    first = moatd.check(new.token())
    # Decided on the keys at hand: unknown kid, InvalidToken; the refresh it starts lets a retry pass.
    assert first["decision"] == "DENY" and "AKV10046" in first["message"], first
    wait_for(lambda: moatd.allows(new.token()), "the new kid to verify without any manual step")
    assert moatd.allows(old.token()), "a kid still published keeps working"

    world.server.publish([new])
    code, tenants = moatd.refresh()
    assert code == 0 and tenants[0]["keyIds"] == [new.kid]
    assert not moatd.allows(old.token()), "a kid no longer published stops verifying"
    assert moatd.allows(new.token())


def test_a_burst_of_unknown_kids_causes_at_most_one_fetch(world: World) -> None:
    key = SigningKey()
    moatd = world.fetching([key])
    assert world.server.count("/keys") == 1
    forger = SigningKey()
    for _ in range(25):
        assert moatd.check(_forged(forger))["decision"] == "DENY"
    wait_for(lambda: world.server.count("/keys") == 2, "the one kid-miss refresh")
    for _ in range(10):
        assert moatd.check(_forged(forger))["decision"] == "DENY"
    time.sleep(2)  # room for any further fetch to show; none may
    assert world.server.count("/keys") == 2, "a burst of unknown kids fetched more than once"


def _forged(signer: SigningKey) -> str:
    signer.kid = unknown_kid()
    return signer.token()


def test_server_down_keeps_the_last_good_set_and_a_restart_uses_the_persisted_one(world: World) -> None:
    key = SigningKey()
    moatd = world.fetching([key], ["--jwks-retries", "0"])
    token = key.token()
    assert moatd.allows(token)
    state_file = moatd.state / f"keys-{TENANT}.json"
    wait_for(state_file.exists, "the key set to be persisted")

    world.server.stop()
    code, tenants = moatd.refresh(TENANT)
    assert code == 1 and tenants[0]["lastError"], tenants
    assert tenants[0]["keyIds"] == [key.kid], "the last good set is kept"
    assert moatd.allows(token)
    assert 'moat_key_fetches_total{tenant="%s",result="failure"}' % TENANT in moatd.metrics()

    moatd.stop()
    moatd.start()  # the key server is still down
    tenant = moatd.tenant()
    assert tenant["origin"] == "persisted" and tenant["keyIds"] == [key.kid], tenant
    assert moatd.allows(token), "a restart without network verifies with the persisted set"
    evaluated = moatd.moatctl(
        "eval", "--rules", str(moatd.rules_file), "--state-dir", str(moatd.state), "--vault", "keys-vault",
        "--operation", "GetSecret", "--object", "s1", "--source", "203.0.113.7", "--token", token,
    )
    assert json.loads(evaluated.stdout)["decision"] == "ALLOW"
    offline = moatd.moatctl(
        "eval", "--rules", str(moatd.rules_file), "--vault", "keys-vault", "--operation", "GetSecret",
        "--object", "s1", "--source", "203.0.113.7", "--token", token,
    )
    assert json.loads(offline.stdout)["decision"] == "DENY" and "no --state-dir" in offline.stderr


def test_garbage_invalid_and_oversized_responses_are_never_applied(world: World) -> None:
    key = SigningKey()
    moatd = world.fetching([key], ["--jwks-retries", "0"])
    token = key.token()
    weak = {"kty": "RSA", "kid": "weak", "n": "sXch" * 43, "e": "AQAB"}  # 1024 bits
    for body, problem in [
        (b"<html>maintenance</html>", "not JSON"),
        (json.dumps({"keys": []}).encode(), "no signing keys"),
        (json.dumps({"keys": [key.jwk(), weak]}).encode(), "bits"),
        (json.dumps({"keys": [key.jwk(), {**key.jwk(), "kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}]}).encode(), "oct"),
        (b'{"keys": [' + b" " * (2 << 20) + b"]}", "larger than"),
    ]:
        world.server.set("/keys", static(200, body, {"Content-Type": "application/json"}))
        code, tenants = moatd.refresh()
        assert code == 1 and problem in tenants[0]["lastError"], (problem, tenants)
        assert tenants[0]["keyIds"] == [key.kid]
        assert moatd.allows(token), f"the last good set must keep serving after: {problem}"
    assert 'moat_key_fetches_total{tenant="%s",result="invalid"}' % TENANT in moatd.metrics()


def test_redirects_are_followed_over_https_only_and_loops_are_refused(world: World) -> None:
    key = SigningKey()
    world.server.publish([key])
    world.server.set("/moved", static(301, b"", {"Location": "/keys"}))
    world.server.set("/loop-a", static(302, b"", {"Location": world.server.url("/loop-b")}))
    world.server.set("/loop-b", static(302, b"", {"Location": "/loop-a"}))
    world.server.set("/downgrade", static(302, b"", {"Location": f"http://127.0.0.1:{world.server.port}/keys"}))
    moatd = world.moatd({"jwksUri": world.server.url("/moved")}, ["--jwks-retries", "0"])
    wait_for(lambda: moatd.tenant()["keyIds"] == [key.kid], "the key set behind a redirect")

    for path, problem in [("/loop-a", "redirect loop"), ("/downgrade", "not an https URI")]:
        moatd.rules_file.write_text(json.dumps({
            **json.loads(moatd.rules_file.read_text()),
            "tenants": [{"id": TENANT, "jwksUri": world.server.url(path)}],
        }))
        moatd.moatctl("reload", "--control-socket", str(moatd.control))
        tenant = wait_for(
            lambda: (t := moatd.tenant())["source"].endswith(path) and t["lastError"] and t, f"the {path} fetch to fail"
        )
        assert problem in tenant["lastError"], tenant
        assert tenant["keyIds"] == [] and not moatd.allows(key.token())
    assert world.server.count("/keys") == 1, "the plain-http target was never fetched over https either"


def test_a_slow_key_server_never_delays_checks(world: World) -> None:
    key = SigningKey()
    moatd = world.fetching([key], ["--jwks-timeout", "60", "--jwks-retries", "0"])
    released = []

    def slow(_request: object) -> tuple[int, dict[str, str], bytes]:
        deadline = time.monotonic() + 30
        while not released and time.monotonic() < deadline:
            time.sleep(0.05)
        return 503, {}, b""

    world.server.set("/keys", slow)
    assert moatd.check(SigningKey().token())["decision"] == "DENY"  # unknown kid: starts the refresh
    wait_for(lambda: world.server.count("/keys") == 2, "the refresh to reach the slow server")
    # While the fetch hangs, checks are decided on the keys at hand within moatctl's 5 s deadline.
    for _ in range(5):
        assert moatd.check(key.token(), timeout=5)["decision"] == "ALLOW"
        assert moatd.check(SigningKey().token(), timeout=5)["decision"] == "DENY"
    released.append(True)


def test_a_server_certificate_from_another_ca_is_refused(world: World) -> None:
    key = SigningKey()
    world.server.publish([key])
    other = Authority(world.folder, "other-ca")
    moatd = world.moatd({"jwksUri": world.server.url("/keys")}, ["--jwks-retries", "0"], ca_file=other.file)
    tenant = wait_for(lambda: (t := moatd.tenant())["lastError"] and t, "the fetch to fail")
    assert tenant["keyIds"] == [] and tenant["origin"] == "none", tenant
    assert world.server.count("/keys") == 0, "no request may be sent over an unverified connection"
    assert not moatd.allows(key.token())
    moatd.stop()
    # The system trust store (no --jwks-ca-file) does not know the test CA either.
    system = world.moatd({"jwksUri": world.server.url("/keys")}, ["--jwks-retries", "0"], start=False)
    system.arguments = ["--jwks-retries", "0"]
    system.start()
    wait_for(lambda: system.tenant()["lastError"], "the fetch to fail")
    assert world.server.count("/keys") == 0


def test_ready_requires_keys_names_the_tenant_until_its_set_arrives(world: World) -> None:
    key = SigningKey()
    world.server.set("/keys", static(503, b""))
    moatd = world.moatd(
        {"jwksUri": world.server.url("/keys")}, ["--ready-requires-keys", "--jwks-retries", "0"]
    )
    status = moatd.status()
    assert status["ready"] is False and TENANT in status["notReadyReason"], status
    world.server.publish([key])
    moatd.refresh()
    wait_for(lambda: moatd.status()["ready"], "readiness once the key set arrived")
    assert moatd.status()["notReadyReason"] is None


def test_a_jwks_file_is_watched_and_an_invalid_one_keeps_the_last_good_set(world: World) -> None:
    first, second = SigningKey(), SigningKey()
    path = world.folder / "keys.json"

    def write(content: bytes) -> None:
        temporary = world.folder / "keys.json.tmp"
        temporary.write_bytes(content)
        os.replace(temporary, path)

    write(json.dumps({"keys": [first.jwk()]}).encode())
    moatd = world.moatd({"jwksFile": str(path)})
    wait_for(lambda: moatd.tenant()["keyIds"] == [first.kid], "the file's key set")
    assert moatd.allows(first.token()) and moatd.tenant()["origin"] == "file"
    write(json.dumps({"keys": [second.jwk()]}).encode())
    wait_for(lambda: moatd.tenant()["keyIds"] == [second.kid], "the changed file to be read")
    assert moatd.allows(second.token()) and not moatd.allows(first.token())
    write(b"not json")
    tenant = wait_for(lambda: (t := moatd.tenant())["lastError"] and t, "the invalid file to be refused")
    assert tenant["keyIds"] == [second.kid] and moatd.allows(second.token())
