"""What the SDK's edges add on top of a plain local verification.

Each shape verifies the same number of distinct, freshly minted tokens (so the
engine's parsed-token cache never helps), and is reported as a ratio against
the baseline, ``hessra_core.tokens.verify_token`` called directly in this
process:

* ``LocalVerifier.verify``: the SDK's one verification path;
* ``HessraMiddleware``: a raw ASGI request (headers in, response out) through the
  middleware to a trivial app, no HTTP client or server in between;
* ``verify_event``: an event payload as JSON text;
* the three-node service chain verified as the last component, against the same
  chain verified with ``verify_service_chain_token`` directly.

A ratio near 1.0 means the edge costs little beyond verification itself.
Run: ``.venv/bin/python bench/sdk_middleware.py`` (or ``make bench``).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from typing import Any

from hessra import KeyPair, LocalVerifier, ServiceChain, verify_event
from hessra.middleware.asgi import HessraMiddleware
from hessra_core.tokens import (
    attest_service_chain_token,
    mint_token,
    verify_service_chain_token,
    verify_token,
)

N = int(os.environ.get("BENCH_SDK_TOKENS", "400"))
SUBJECT, RESOURCE, OPERATION = "uri:urn:user:123", "orders", "read"


async def _app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def asgi_rate(middleware: HessraMiddleware, tokens: list[str]) -> float:
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def drive() -> None:
        for token in tokens:
            scope = {
                "type": "http",
                "method": "GET",
                "path": "/orders",
                "headers": [
                    (b"authorization", f"Bearer {token}".encode()),
                    (b"x-subject", SUBJECT.encode()),
                    (b"x-resource", RESOURCE.encode()),
                    (b"x-operation", OPERATION.encode()),
                ],
            }
            await middleware(scope, receive, send)

    start = time.perf_counter()
    asyncio.run(drive())
    elapsed = time.perf_counter() - start
    assert statuses == [200] * len(tokens), "a good token was refused"
    return len(tokens) / elapsed


def best(rounds: int, make: Callable[[], list[Any]], run: Callable[[list[Any]], None]) -> float:
    """Best rate over a few rounds, each on freshly made inputs (minting is not timed)."""
    rates = []
    for _ in range(rounds):
        items = make()
        start = time.perf_counter()
        run(items)
        rates.append(len(items) / (time.perf_counter() - start))
    return max(rates)


def main() -> int:
    import structlog

    # The middleware writes one decision line per request; keep them out of the figures.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    issuer = KeyPair.generate()
    key = issuer.public_key
    verifier = LocalVerifier.create(key)
    middleware = HessraMiddleware(_app, public_keys=key)

    def fresh() -> list[str]:
        return [
            mint_token(issuer, subject=SUBJECT, resource=RESOURCE, operation=OPERATION).token
            for _ in range(N)
        ]

    def events() -> list[str]:
        claims = {"subject": SUBJECT, "resource": RESOURCE, "operation": OPERATION}
        return [json.dumps({"data": {}, "authorization": {"token": t, **claims}}) for t in fresh()]

    def direct(tokens: list[str]) -> None:
        for t in tokens:
            verify_token(t, key, subject=SUBJECT, resource=RESOURCE, operation=OPERATION)

    def sdk(tokens: list[str]) -> None:
        for t in tokens:
            verifier.verify(t, SUBJECT, RESOURCE, OPERATION)

    def event(payloads: list[str]) -> None:
        for e in payloads:
            verify_event(e, verifier)

    nodes = {n: KeyPair.generate() for n in ("api_gateway", "fraud_detection", "payment")}
    chain = ServiceChain()
    for name, pair in nodes.items():
        chain = chain.with_node(name, pair.public_key)
    chain_verifier = LocalVerifier.create(key, chain=chain)

    def chain_tokens() -> list[str]:
        out = []
        for _ in range(N // 4):
            t = mint_token(
                issuer,
                subject=SUBJECT,
                resource=RESOURCE,
                operation=OPERATION,
                service_chain=chain.nodes,
            ).token
            for pair in nodes.values():
                t = attest_service_chain_token(t, pair, resource=RESOURCE, root_keys=key)
            out.append(t)
        return out

    def chain_direct(tokens: list[str]) -> None:
        for t in tokens:
            verify_service_chain_token(
                t, key, subject=SUBJECT, resource=RESOURCE, operation=OPERATION, chain=chain.nodes
            )

    def chain_sdk(tokens: list[str]) -> None:
        for t in tokens:
            chain_verifier.verify(t, SUBJECT, RESOURCE, OPERATION)

    rounds = 3
    baseline = best(rounds, fresh, direct)
    figures = [
        ("LocalVerifier.verify", best(rounds, fresh, sdk)),
        ("HessraMiddleware (raw ASGI)", max(asgi_rate(middleware, fresh()) for _ in range(rounds))),
        ("verify_event (JSON text)", best(rounds, events, event)),
    ]
    chain_base = best(rounds, chain_tokens, chain_direct)
    chain_figure = best(rounds, chain_tokens, chain_sdk)

    print(f"distinct tokens per round: {N} (chain: {N // 4}); best of {rounds} rounds")
    print(f"{'baseline verify_token':34s} {baseline:8.0f}/s  1.00x")
    for label, value in figures:
        print(f"{label:34s} {value:8.0f}/s  {value / baseline:.2f}x")
    print(f"{'baseline verify_service_chain':34s} {chain_base:8.0f}/s  1.00x")
    ratio = chain_figure / chain_base
    print(f"{'LocalVerifier, 3-node chain':34s} {chain_figure:8.0f}/s  {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
