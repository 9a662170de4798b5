"""The Python client's part of the client benchmark: checks per second and p50/p99 latency of the
blocking and the asyncio client against a running moatd, with 1 and 8 concurrent callers sharing
one client. A benchmark, not a test: it asserts nothing but that every check was decided.

    make run                                   # moatd on deploy/examples/rules.json in ./run
    TOKEN=$(.build/debug/moatctl token mint --oid a11ce000-0000-4000-8000-000000000001)
    .venv/bin/python clients/python/bench.py --socket run/moat.sock --token "$TOKEN"

The request is alice's GetSecret on contoso-prod from 203.0.113.5 (allowed by the example rules).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time

import moat_authz


def report(name: str, callers: int, seconds: float, latencies: list[float]) -> None:
    quantiles = statistics.quantiles(latencies, n=100)
    print(
        f"{name:<14} {callers} caller{'s' if callers > 1 else ' '}  {len(latencies) / seconds:>9.0f} checks/s"
        f"  p50 {quantiles[49] * 1e6:>7.0f} µs  p99 {quantiles[98] * 1e6:>7.0f} µs"
    )


def decided(result: moat_authz.CheckResult) -> None:
    if not result.allowed:
        raise SystemExit(f"the benchmark's check was not allowed: {result}")


def bench_blocking(socket: str, request: moat_authz.CheckRequest, callers: int, seconds: float) -> list[float]:
    latencies: list[list[float]] = [[] for _ in range(callers)]
    with moat_authz.Client(socket, moat_authz.Options(deadline=5.0)) as client:
        decided(client.check(request))  # connects
        end = time.perf_counter() + seconds

        def caller(mine: list[float]) -> None:
            while (start := time.perf_counter()) < end:
                decided(client.check(request))
                mine.append(time.perf_counter() - start)

        threads = [threading.Thread(target=caller, args=(mine,)) for mine in latencies]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return [latency for mine in latencies for latency in mine]


def bench_asyncio(socket: str, request: moat_authz.CheckRequest, callers: int, seconds: float) -> list[float]:
    async def main() -> list[float]:
        latencies: list[float] = []
        async with moat_authz.AsyncClient(socket, moat_authz.Options(deadline=5.0)) as client:
            decided(await client.check(request))  # connects
            end = time.perf_counter() + seconds

            async def caller() -> None:
                while (start := time.perf_counter()) < end:
                    decided(await client.check(request))
                    latencies.append(time.perf_counter() - start)

            await asyncio.gather(*(caller() for _ in range(callers)))
        return latencies

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark the Python client against a running moatd.")
    parser.add_argument("--socket", required=True, help="moatd's data socket (serving deploy/examples/rules.json)")
    parser.add_argument("--token", required=True, help="alice's token (moatctl token mint --oid a11ce000-…01)")
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each measurement")
    parser.add_argument("--callers", type=int, nargs="+", default=[1, 8], help="concurrent callers")
    arguments = parser.parse_args()
    request = moat_authz.CheckRequest(
        vault="contoso-prod",
        operation="GetSecret",
        object_name="db-password",
        source_address="203.0.113.5",
        token=arguments.token,
    )
    for name, bench in (("python-sync", bench_blocking), ("python-asyncio", bench_asyncio)):
        for callers in arguments.callers:
            report(name, callers, arguments.seconds, bench(arguments.socket, request, callers, arguments.seconds))


if __name__ == "__main__":
    main()
