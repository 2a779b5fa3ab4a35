"""Token verification cost: hessra_core.tokens against hessra-py and raw biscuit_auth.

On the same tokens, in one process, three shapes are verified:

* simple: one authority block;
* chain(3): a three-node service chain, all three attestations in, verified as
  the end of the chain (order checked by ours, presence by the others);
* multiparty(3): three required sign-offs, all present.

Three verifiers:

* ours: ``verify_token`` / ``verify_service_chain_token``;
* hessra-py 0.2.1: ``verify_token_local`` / ``verify_service_chain_token_local``;
* raw: the same Datalog written straight against biscuit_auth (parse, build an
  authorizer from source with parameters, authorize), no error mapping.

"cold" verifies distinct tokens with our parsed-token cache off, so every call
checks signatures; "warm" verifies tokens already seen (cache on), which is
what a service sees on retries and at each hop of a chain. hessra-py and raw
have no cache, so they are the same in both.

Prints microseconds per call and the ratios ours/hessra-py, ours/raw,
chain(3)/simple and multiparty(3)/simple, with the targets beside them.
Run: ``.venv/bin/python bench/verify.py`` (or ``make bench``). BENCH_VERIFY_N
sets calls per measurement (default 100).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import biscuit_auth as biscuit

from hessra_core.keys import KeyPair
from hessra_core.pki import create_ca
from hessra_core.tokens import (
    DEFAULT_LIMITS,
    ServiceNode,
    SignerRef,
    add_signoff,
    attest_service_chain_token,
    configure_token_cache,
    mint_token,
    verify_service_chain_token,
    verify_token,
)

N = int(os.environ.get("BENCH_VERIFY_N", "100"))
ROUNDS = 30
POOL = 300  # distinct tokens per shape; cold runs cycle through them with the cache off
SUB, RES, OP = "uri:urn:user:123", "orders", "read"

TARGETS = {
    "ours/hessra-py": 1.0,
    "ours/raw": 1.15,
    "chain(3)/simple": 3.0,
    "multiparty(3)/simple": 3.5,
}


def hessra_client(root: KeyPair) -> Any:
    import hessra_py

    config = (
        hessra_py.HessraConfig.builder()
        .base_url("127.0.0.1")
        .port(1)
        .protocol("http1")
        .server_ca(create_ca().cert_pem.decode())
        .public_key(root.public_key.to_pem())
        .build()
    )
    return hessra_py.HessraClient(config)


def mint_pool(root: KeyPair, nodes: dict[str, KeyPair], signers: dict[str, KeyPair]) -> dict:
    chain = [ServiceNode(n, kp.public_key) for n, kp in nodes.items()]
    refs = [SignerRef(n, kp.public_key) for n, kp in signers.items()]
    pools: dict[str, list[str]] = {"simple": [], "chain(3)": [], "multiparty(3)": []}
    for _ in range(POOL):
        pools["simple"].append(mint_token(root, subject=SUB, resource=RES, operation=OP).token)
        token = mint_token(root, subject=SUB, resource=RES, operation=OP, service_chain=chain).token
        for kp in nodes.values():
            token = attest_service_chain_token(token, kp, resource=RES, root_keys=root.public_key)
        pools["chain(3)"].append(token)
        token = mint_token(root, subject=SUB, resource=RES, operation=OP, signers=refs).token
        for name, kp in signers.items():
            token = add_signoff(token, kp, signer_name=name, root_keys=root.public_key)
        pools["multiparty(3)"].append(token)
    return pools


RAW_SIMPLE = (
    "time({now}); subject({s}); resource({r}); operation({o});"
    " allow if subject($s), resource($r), operation($o), right($s, $r, $o);"
)


def raw_verifier(root: KeyPair, chain: list[ServiceNode] | None) -> Callable[[str], None]:
    root_key = root.public_key.to_biscuit()
    code = RAW_SIMPLE
    scope: dict[str, Any] = {}
    names: dict[str, str] = {}
    for i, node in enumerate(chain or []):
        code += f" check if node({{r}}, {{c{i}}}) trusting authority, {{k{i}}};"
        names[f"c{i}"] = node.component
        scope[f"k{i}"] = node.public_key.to_biscuit()

    # The same explicit limits ours uses: biscuit's 1 ms default fails good tokens under load.
    limits = biscuit.AuthorizerBuilder().limits()
    limits.max_time = timedelta(milliseconds=DEFAULT_LIMITS.max_time_ms)

    def verify(token: str) -> None:
        parsed = biscuit.Biscuit.from_base64(token, root_key)
        params = {"now": int(time.time()), "s": SUB, "r": RES, "o": OP, **names}
        builder = biscuit.AuthorizerBuilder(code, params, scope or None)
        builder.set_limits(limits)
        builder.build(parsed).authorize()

    return verify


REFUSED: dict[str, int] = {}


def counting(name: str, fn: Callable[[str], object]) -> Callable[[str], object]:
    """hessra-py refuses a few valid tokens under load (its 1 ms Datalog limit); count them."""

    def call(token: str) -> object:
        try:
            return fn(token)
        except Exception:
            REFUSED[name] = REFUSED.get(name, 0) + 1
            return None

    return call


def per_call(fn: Callable[[str], object], tokens: list[str]) -> float:
    """Microseconds per call over N calls, cycling through ``tokens``."""
    start = time.perf_counter()
    for i in range(N):
        fn(tokens[i % len(tokens)])
    return (time.perf_counter() - start) / N * 1e6


def main() -> None:
    root = KeyPair.generate()
    nodes = {n: KeyPair.generate() for n in ("gateway", "fraud_detection", "payments")}
    signers = {n: KeyPair.generate() for n in ("legal_dept", "finance", "partner")}
    chain = [ServiceNode(n, kp.public_key) for n, kp in nodes.items()]
    chain_json = json.dumps(
        [{"component": n.component, "public_key": n.public_key.to_string()} for n in chain]
    )
    pools = mint_pool(root, nodes, signers)
    hp = hessra_client(root)
    pk = root.public_key

    ours: dict[str, Callable[[str], object]] = {
        "simple": lambda t: verify_token(t, pk, subject=SUB, resource=RES, operation=OP),
        "chain(3)": lambda t: verify_service_chain_token(
            t, pk, subject=SUB, resource=RES, operation=OP, chain=chain
        ),
        "multiparty(3)": lambda t: verify_token(t, pk, subject=SUB, resource=RES, operation=OP),
    }
    theirs: dict[str, Callable[[str], object]] = {
        "simple": lambda t: hp.verify_token_local(t, SUB, RES, OP),
        "chain(3)": lambda t: hp.verify_service_chain_token_local(
            t, SUB, RES, OP, chain_json, None
        ),
        "multiparty(3)": lambda t: hp.verify_token_local(t, SUB, RES, OP),
    }
    raw = {
        "simple": raw_verifier(root, None),
        "chain(3)": raw_verifier(root, chain),
        "multiparty(3)": raw_verifier(root, None),
    }

    # Every verifier must accept every token before anything is timed.
    for shape, tokens in pools.items():
        for fn in (ours[shape], theirs[shape], raw[shape]):
            for token in tokens[:5]:
                fn(token)

    # Rounds interleave every variant so a burst of load elsewhere on the
    # machine hits them alike; each figure is the best round.
    variants: list[tuple[str, str, Callable[[str], object], int]] = []
    for shape in pools:
        variants += [
            (shape, "ours-cold", ours[shape], 0),
            (shape, "ours-warm", ours[shape], 4096),
            (shape, "hessra-py", counting(f"hessra-py {shape}", theirs[shape]), 4096),
            (shape, "raw", counting(f"raw {shape}", raw[shape]), 4096),
        ]
    results: dict[str, dict[str, float]] = {shape: {} for shape in pools}
    started = time.perf_counter()
    for _ in range(ROUNDS):
        for shape, name, fn, cache in variants:
            configure_token_cache(cache)
            if name == "ours-warm":
                for token in pools[shape]:
                    fn(token)
            took = per_call(fn, pools[shape])
            results[shape][name] = min(results[shape].get(name, float("inf")), took)
    elapsed = time.perf_counter() - started

    print(f"verify: {N} calls x best of {ROUNDS}, {POOL} distinct tokens per shape")
    print(f"{'shape':<15}{'ours cold':>11}{'ours warm':>11}{'hessra-py':>11}{'raw':>9}   (us/call)")
    for shape, r in results.items():
        print(
            f"{shape:<15}{r['ours-cold']:>11.1f}{r['ours-warm']:>11.1f}"
            f"{r['hessra-py']:>11.1f}{r['raw']:>9.1f}"
        )
    print()
    print(f"{'ratio':<34}{'cold':>8}{'warm':>8}{'target':>9}")
    rows: list[tuple[str, str, float, float]] = []
    for shape in results:
        r = results[shape]
        for base in ("hessra-py", "raw"):
            rows.append(
                (f"ours/{base} {shape}", f"ours/{base}", r["ours-cold"] / r[base],
                 r["ours-warm"] / r[base])
            )  # fmt: skip
    for shape in ("chain(3)", "multiparty(3)"):
        rows.append(
            (f"{shape}/simple (ours)", f"{shape}/simple",
             results[shape]["ours-cold"] / results["simple"]["ours-cold"],
             results[shape]["ours-warm"] / results["simple"]["ours-warm"])
        )  # fmt: skip
    for label, key, cold, warm in rows:
        target = TARGETS[key]
        verdict = "ok" if cold <= target else "MISS (cold)" if warm <= target else "MISS"
        print(f"{label:<34}{cold:>8.2f}{warm:>8.2f}{target:>9.2f}  {verdict}")
    # What the token format itself costs: more blocks, more signatures to check.
    for base in ("hessra-py", "raw"):
        for shape in ("chain(3)", "multiparty(3)"):
            ratio = results[shape][base] / results["simple"][base]
            print(f"{shape + '/simple (' + base + ')':<34}{ratio:>8.2f}{'':>8}{'':>9}  reference")
    for name, count in REFUSED.items():
        print(f"{name} refused {count} of {N * ROUNDS} valid tokens")
    print(f"\nmeasured in {elapsed:.1f} s")


if __name__ == "__main__":
    main()
