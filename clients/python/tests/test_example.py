"""The aiohttp secret store (clients/python/examples/secret_store.py) against a real moatd on the
example rules, with the requests of Examples/SecretStore/README.md."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from conftest import Daemon

EXAMPLE = Path(__file__).resolve().parents[1] / "examples/secret_store.py"
ADMITTED, ELSEWHERE = "203.0.113.5", "198.51.100.7"


def load_example() -> Any:
    spec = importlib.util.spec_from_file_location("secret_store", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def headers(token: str | None, source: str = ADMITTED) -> dict[str, str]:
    return {"X-Forwarded-For": source, **({"Authorization": f"Bearer {token}"} if token else {})}


def test_the_secret_store_asks_moat(example_daemon: Daemon, alice_token: str, ops_token: str) -> None:
    async def main() -> None:
        app = load_example().make_app(example_daemon.socket)
        async with TestClient(TestServer(app)) as http:
            # ops may set secrets (its access policy grants secrets/all), from an address the firewall admits
            put = await http.put("/secrets/db-password", data="hunter2", headers=headers(ops_token))
            assert put.status == 200, await put.text()
            # alice may read it and list the names...
            got = await http.get("/secrets/db-password", headers=headers(alice_token))
            assert (got.status, await got.json()) == (200, {"name": "db-password", "value": "hunter2"})
            listed = await http.get("/secrets", headers=headers(alice_token))
            assert (listed.status, await listed.json()) == (200, {"value": ["db-password"]})
            # ...but not write it (403 ForbiddenByPolicy), nor read it from elsewhere (403 ForbiddenByFirewall)
            denied = await http.put("/secrets/db-password", data="x", headers=headers(alice_token))
            assert denied.status == 403
            assert (await denied.json())["error"]["innererror"]["code"] == "ForbiddenByPolicy"
            elsewhere = await http.get("/secrets/db-password", headers=headers(alice_token, ELSEWHERE))
            assert elsewhere.status == 403
            assert (await elsewhere.json())["error"]["innererror"]["code"] == "ForbiddenByFirewall"
            # and without a token, the 401 carries Key Vault's challenge
            anonymous = await http.get("/secrets/db-password", headers=headers(None))
            assert anonymous.status == 401
            assert anonymous.headers["WWW-Authenticate"].startswith("Bearer authorization=")
            # the secret is still the one ops stored
            again = await http.get("/secrets/db-password", headers=headers(alice_token))
            assert (await again.json())["value"] == "hunter2"

    asyncio.run(main())


def test_the_secret_store_denies_when_moat_is_unreachable(example_daemon: Daemon, alice_token: str) -> None:
    async def main() -> None:
        app = load_example().make_app(example_daemon.socket + ".missing")
        async with TestClient(TestServer(app)) as http:
            response = await http.get("/secrets/db-password", headers=headers(alice_token))
            assert response.status == 503
            assert (await response.json())["error"]["code"] == "ServiceUnavailable"

    asyncio.run(main())
