"""Policy engine benchmark: validate+compile cost against plain TOML parsing, and decision
latency as the policy grows.

For 100, 1,000 and 10,000 clients (and as many resources) it prints:
- validate+compile time, and its ratio to ``tomllib`` parsing the same two files alone;
- the mean time of one ``Snapshot.decide`` call (exact and wildcard callers mixed), and its
  ratio to the smallest policy's (flat means ~1.0);
- the process's peak RSS so far.
Targets at 10,000: validate+compile <= 2 s, decide <= 20 us.

Run: .venv/bin/python bench/policy.py
"""

from __future__ import annotations

import random
import resource
import sys
import tempfile
import time
import tomllib
from pathlib import Path

from hessra_core import pki
from hessra_core.keys import KeyPair
from hessra_core.policy import compile_policy_dir
from hessra_core.x509_identity import PresentedIdentities

SIZES = (100, 1_000, 10_000)
DECISIONS = 20_000
OPS = ("read", "write", "create", "delete", "process")


Caller = tuple[PresentedIdentities, list[tuple[str, str]]]


def write_policy(root: Path, n: int, ca_pem: str, keys: list[str]) -> list[Caller]:
    """Write clients.toml/resources.toml with ``n`` of each; return callers and their grants."""
    rng = random.Random(n)
    res_lines = ['version = "0.2.0"\n']
    for i in range(n):
        res_lines.append(f"[resources.res_{i}]\n")
        if i % 100 == 0:  # one resource in a hundred is a two-node service chain
            res_lines.append(
                'type = "service_chain"\nnodes = [\n'
                f'  {{ component = "edge", public_key = "{keys[0]}" }},\n'
                f'  {{ component = "backend", public_key = "{keys[1]}" }},\n]\n'
            )
    cli_lines = ['version = "0.2.0"\n', f"[cacerts]\ncert_chain = '''{ca_pem}'''\n"]
    callers: list[Caller] = []
    for i in range(n):
        if i % 10 == 9:
            kind, value = "san_dns", f"worker-*.pool{i}.example.com"
            who = PresentedIdentities.of(dns=[f"worker-{i}.pool{i}.example.com"])
        elif i % 10 in (7, 8):
            kind, value = "san_dns", f"svc{i}.internal.example.com"
            who = PresentedIdentities.of(dns=[value], serial=10_000_000 + i)
        else:
            kind, value = "san_uri", f"urn:service:svc-{i}"
            who = PresentedIdentities.of(uris=[value], serial=10_000_000 + i)
        granted = [
            (f"res_{r}", op)
            for r, op in {rng.randrange(n): rng.choice(OPS) for _ in range(3)}.items()
        ]
        callers.append((who, granted))
        grants = ", ".join(f'{{ name = "{r}", operations = ["{op}"] }}' for r, op in granted)
        cli_lines.append(
            f'\n[[clients]]\nidentifier = {{ type = "{kind}", value = "{value}" }}\n'
            f"resources = [{grants}]\n"
        )
    (root / "resources.toml").write_text("".join(res_lines))
    (root / "clients.toml").write_text("".join(cli_lines))
    return callers


def best_of(runs: int, fn) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    ca_pem = pki.create_ca("Bench CA").cert_pem.decode()
    keys = [KeyPair.generate().public_key.to_string() for _ in range(2)]
    base_decide = None
    failed = False
    print(
        f"{'clients':>8} {'tomllib':>9} {'validate+compile':>17} {'ratio':>6} "
        f"{'decide':>9} {'vs 100':>7} {'peak RSS':>9}"
    )
    for n in SIZES:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            callers = write_policy(root, n, ca_pem, keys)
            texts = [(root / f).read_text() for f in ("clients.toml", "resources.toml")]
            runs = 3 if n < 10_000 else 2
            parse = best_of(runs, lambda texts=texts: [tomllib.loads(t) for t in texts])
            compile_s = best_of(runs, lambda root=root: compile_policy_dir(root))
            snapshot = compile_policy_dir(root)
        rng = random.Random(1)
        requests = []
        for k in range(DECISIONS):
            who, granted = callers[rng.randrange(n)]
            # Half the requests ask for something granted, half for something that is not.
            res, op = rng.choice(granted) if k % 2 else (f"res_{rng.randrange(n)}", "delete")
            requests.append((who, res, op))
        allowed = sum(snapshot.decide(*r).allowed for r in requests[:1000])
        decide = best_of(3, lambda s=snapshot, rs=requests: [s.decide(*r) for r in rs]) / DECISIONS
        base_decide = base_decide or decide
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"{n:>8} {parse * 1000:>7.1f}ms {compile_s * 1000:>15.1f}ms {compile_s / parse:>6.2f} "
            f"{decide * 1e6:>7.2f}us {decide / base_decide:>7.2f} {rss_mb:>7.1f}MB"
            f"  ({allowed}/1000 sampled requests allowed)"
        )
        if n == 10_000:
            failed = compile_s > 2.0 or decide > 20e-6
    print(
        "targets at 10,000: validate+compile <= 2 s, decide <= 20 us:",
        "MISSED" if failed else "met",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
