"""A tiny HTTP service (aiohttp) that keeps secrets in memory and asks Moat before every
operation, the way a Key Vault-like service embeds the client; the Python twin of
Examples/SecretStore:

    GET    /secrets          list names        (GetSecrets)
    GET    /secrets/NAME     read a secret     (GetSecret)
    PUT    /secrets/NAME     store the body    (SetSecret)
    DELETE /secrets/NAME     delete a secret   (DeleteSecret)

The caller's token comes from `Authorization: Bearer …`, its address from the first
`X-Forwarded-For` entry (as behind a proxy) or the TCP peer. Denials are answered as Key Vault
answers them (status, error code, inner code, message, and the challenge on a 401); a check that
could not decide is a 503.

    python clients/python/examples/secret_store.py --moat-socket run/moat.sock --port 8080
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator

from aiohttp import web

import moat_authz

MOAT = web.AppKey("moat", moat_authz.AsyncClient)
VAULT = web.AppKey("vault", str)
SECRETS = web.AppKey("secrets", dict)
OPERATIONS = {("GET", False): "GetSecrets", ("GET", True): "GetSecret", ("PUT", True): "SetSecret", ("DELETE", True): "DeleteSecret"}


def key_vault_error(status: int, code: str, message: str, inner_code: str | None = None, challenge: str | None = None) -> web.Response:
    error: dict[str, object] = {"code": code, "message": message}
    if inner_code:
        error["innererror"] = {"code": inner_code}
    headers = {"WWW-Authenticate": challenge} if challenge else None
    return web.json_response({"error": error}, status=status, headers=headers)


async def handle(request: web.Request) -> web.Response:
    name = request.match_info.get("name", "")
    operation = OPERATIONS.get((request.method, bool(name)))
    if operation is None:
        return key_vault_error(405, "BadParameter", f"{request.method} is not supported here")
    forwarded = request.headers.get("X-Forwarded-For", "").split(",")[0].strip()
    result = await request.app[MOAT].check(
        moat_authz.CheckRequest(
            vault=request.app[VAULT],
            operation=operation,
            object_name=name,
            source_address=forwarded or request.remote or "",
            token=request.headers.get("Authorization", ""),
        )
    )
    if not result.allowed:
        decision = result.decision
        if decision is None:
            return key_vault_error(503, "ServiceUnavailable", result.error.message if result.error else "authorization unavailable")
        return key_vault_error(decision.http_status, decision.code, decision.message, decision.inner_code, decision.www_authenticate)
    secrets = request.app[SECRETS]
    if operation == "GetSecrets":
        return web.json_response({"value": sorted(secrets)})
    if operation == "GetSecret":
        if name not in secrets:
            return key_vault_error(404, "SecretNotFound", f"no secret '{name}'")
        return web.json_response({"name": name, "value": secrets[name]})
    if operation == "SetSecret":
        secrets[name] = await request.text()
    else:
        secrets.pop(name, None)
    return web.json_response({"name": name})


def make_app(moat_socket: str, vault: str = "contoso-prod") -> web.Application:
    """The service; its Moat client lives as long as the application runs."""
    app = web.Application()
    app[VAULT] = vault
    app[SECRETS] = {}

    async def moat_client(app: web.Application) -> AsyncIterator[None]:
        async with moat_authz.AsyncClient(moat_socket) as moat:
            app[MOAT] = moat
            yield

    app.cleanup_ctx.append(moat_client)
    app.router.add_route("*", "/secrets", handle)
    app.router.add_route("*", "/secrets/{name}", handle)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="An in-memory secret store guarded by Moat.")
    parser.add_argument("--moat-socket", default="run/moat.sock", help="Moat's data socket")
    parser.add_argument("--vault", default="contoso-prod", help="the vault this store stands for in Moat's rules")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    arguments = parser.parse_args()
    web.run_app(make_app(arguments.moat_socket, arguments.vault), host=arguments.host, port=arguments.port)


if __name__ == "__main__":
    main()
