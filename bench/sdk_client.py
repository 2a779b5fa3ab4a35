"""The SDK client's request paths against a real in-process issuer and signer, over mTLS.

Baseline: one ``Hessra.request_token`` round trip (sequential). Measured against it:

* ``TokenCache.get`` on a hit (target: far below 0.1x of a round trip);
* ``request_tokens`` of 8 pairs vs 8 sequential requests. Here the client threads and
  the servers share one process and one GIL, so there is nothing to overlap and the
  thread pool's overhead shows (about 1.2x); against an issuer in another process or
  machine the batch overlaps the round trips. This line is reported, not targeted;
* a multi-party token with one sign-off collected vs a plain token (expect 2-4x: one
  more round trip, and the signer verifies the whole token before it signs).

The issuer and signer run on a background event loop in this process, so the
figures are ratios, not absolute latencies. Run: ``.venv/bin/python bench/sdk_client.py``
(or ``make bench``). BENCH_SDK_N sets calls per measurement (default 100).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hessra import Hessra, TokenCache
from hessra_core import pki
from hessra_core.keys import KeyPair, KeySet
from hessra_core.rpc import configure_logging
from hessra_core.testing import client_entry, policy_files, write_tls
from hessra_issuer.app import IssuerApp
from hessra_issuer.config import IssuerConfig
from hessra_signer.app import SignerApp
from hessra_signer.config import SignerConfig

N = int(os.environ.get("BENCH_SDK_N", "100"))
SUBJECT = "uri:urn:bench:client"
LOOPBACK = pki.SubjectNames(dns=["localhost"], ips=["127.0.0.1"])


def per_call(fn: Callable[[], Any], n: int = N) -> float:
    fn()  # warm up (connection, caches)
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def main() -> None:
    configure_logging("warning")
    root = Path(tempfile.mkdtemp(prefix="bench-sdk-"))
    ca = pki.create_ca("bench CA")
    (root / "ca.pem").write_bytes(ca.cert_pem)
    server = write_tls(root, "server", pki.issue_cert(ca, "server", LOOPBACK, server=True))
    client_tls = write_tls(
        root, "client", pki.issue_cert(ca, "client", pki.SubjectNames(uris=["urn:bench:client"]))
    )
    issuer_key, signer_key = KeyPair.generate(), KeyPair.generate()
    issuer_key.save(root / "issuer.pem")
    signer_key.save(root / "signer.pem")
    policy = root / "policy"
    policy.mkdir()

    def write_policy(signer_port: int) -> None:
        resources: dict[str, dict[str, Any]] = {f"r{i}": {} for i in range(8)}
        if signer_port:
            resources["mp"] = {
                "type": "multi_party",
                "required_signers": [
                    {
                        "name": "approver",
                        "url": f"127.0.0.1:{signer_port}",
                        "public_key": signer_key.public_key.to_string(),
                    }
                ],
            }
        grants = {name: ["read"] for name in resources}
        for name, text in policy_files(
            [ca.cert_pem], [client_entry(SUBJECT, grants)], resources
        ).items():
            (policy / name).write_text(text)

    write_policy(0)
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()

    def run(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(30)

    signer = SignerApp(
        SignerConfig(
            name="approver",
            cert_file=server.cert,
            key_file=server.key,
            signing_key_file=root / "signer.pem",
            issuer_keys=KeySet.of(issuer_key.public_key),
            listen="127.0.0.1:0",
            policy_dir=policy,
            policy_poll_interval=0.1,
        )
    )
    run(signer.start())
    write_policy(signer.port)
    issuer = IssuerApp(
        IssuerConfig(
            cert_file=server.cert,
            key_file=server.key,
            signing_key_files=(root / "issuer.pem",),
            listen="127.0.0.1:0",
            policy_dir=policy,
            policy_poll_interval=0.1,
        )
    )
    run(issuer.start())
    deadline = time.monotonic() + 15
    while signer.holder.state is None or signer.holder.state.snapshot.resource("mp") is None:
        if time.monotonic() > deadline:
            raise SystemExit("the signer did not load the multi-party policy")
        time.sleep(0.05)
    try:
        with Hessra(
            f"127.0.0.1:{issuer.port}", cert=client_tls.cert, key=client_tls.key, ca=root / "ca.pem"
        ) as client:
            client.setup()
            request = per_call(lambda: client.request_token("r0", "read"))
            cache = TokenCache(client)
            hit = per_call(lambda: cache.get("r0", "read"), N * 10)
            pairs = [(f"r{i}", "read") for i in range(8)]
            sequential = per_call(lambda: [client.request_token(r, o) for r, o in pairs], N // 4)
            batch = per_call(lambda: client.request_tokens(pairs), N // 4)

            def multi_party() -> str:
                response = client.request_token_full("mp", "read")
                return client.collect_multi_party_signoffs(response, "mp", "read")

            signed = per_call(multi_party, N // 2)
    finally:
        run(issuer.stop(0))
        run(signer.stop(0))
        loop.call_soon_threadsafe(loop.stop)

    print(f"request_token round trip (baseline): {request * 1e6:.0f} us")
    print(f"TokenCache hit / round trip:          {hit / request:.4f}x (target < 0.1x)")
    print(
        f"request_tokens(8) / 8 sequential:     {batch / sequential:.2f}x (same process, one GIL)"
    )
    print(f"multi-party (1 sign-off) / plain:     {signed / request:.2f}x (expect 2-4x)")


if __name__ == "__main__":
    main()
