"""hessra_authz.verify_token inside PostgreSQL vs the same verification in plain Python.

Starts a throwaway PostgreSQL cluster (deploy/postgres/cluster.py), creates the
extension and counts ``verify_token`` calls per second in two shapes:

* distinct tokens: every call is a full verification (parse, signatures, Datalog);
  the baseline verifies the same number of fresh tokens with hessra_core.tokens in
  this process;
* one token on every row, as an RLS policy whose arguments involve a column: the
  baseline calls hessra_core.tokens.verify_token repeatedly with that token (its
  parsed-token cache warm); the extension answers repeats inside one statement from
  its per-statement memo.

A call whose arguments are all constants or settings (the seed's policy) is not made
per row at all: PostgreSQL plans it as a One-Time Filter, evaluated once per
statement. That is why the per-row query below feeds the row number into an argument.

Prints rates and the ratio database/baseline. Skips (exit 0) without PostgreSQL.
Run: ``.venv/bin/python bench/postgres_verify.py`` (or ``make bench``).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "deploy" / "postgres"))

import cluster  # noqa: E402
import install  # noqa: E402

from hessra_core.keys import KeyPair  # noqa: E402
from hessra_core.tokens import mint_token, verify_token  # noqa: E402

DISTINCT = int(os.environ.get("BENCH_PG_DISTINCT", "300"))
ROWS = int(os.environ.get("BENCH_PG_ROWS", "20000"))
SUBJECT, RESOURCE, OPERATION = "uri:urn:user:123", "user_data", "read"


def mint(issuer: KeyPair, n: int) -> list[str]:
    return [
        mint_token(issuer, subject=SUBJECT, resource=RESOURCE, operation=OPERATION).token
        for _ in range(n)
    ]


def python_rate(issuer: KeyPair, tokens: list[str]) -> float:
    key = issuer.public_key
    start = time.perf_counter()
    for token in tokens:
        verify_token(token, key, subject=SUBJECT, resource=RESOURCE, operation=OPERATION)
    return len(tokens) / (time.perf_counter() - start)


def main() -> int:
    pg_config = install.find_pg_config()
    if pg_config is None:
        print("skipped: PostgreSQL not installed (make pg-deps)")
        return 0
    pg = install.pg_install(pg_config)
    try:
        install.install_extension_files(pg)
    except install.InstallError as exc:
        print(f"skipped: {exc}")
        return 0

    issuer = KeyPair.generate()
    with cluster.ThrowawayCluster(pg.bindir) as server, server.connect(autocommit=True) as conn:
        conn.execute("CREATE EXTENSION hessra_authz CASCADE")
        conn.execute(
            "SELECT hessra_authz.add_public_key('issuer', %s, true)",
            [issuer.public_key.to_string()],
        )
        # Warm the backend (imports, key parse, plans) so we time verification only.
        warm = mint(issuer, 1)[0]
        conn.execute("SELECT hessra_authz.verify_token(%s, %s, %s, %s)", [warm, *_args()])

        conn.execute("CREATE TEMP TABLE toks (token text NOT NULL)")
        with conn.cursor().copy("COPY toks (token) FROM STDIN") as copy:
            for token in mint(issuer, DISTINCT):
                copy.write_row([token])
        start = time.perf_counter()
        row = conn.execute(
            "SELECT count(*) FROM toks WHERE hessra_authz.verify_token(token, %s, %s, %s)",
            _args(),
        ).fetchone()
        db_distinct = DISTINCT / (time.perf_counter() - start)
        assert row == (DISTINCT,), row

        one = mint(issuer, 1)[0]
        start = time.perf_counter()
        row = conn.execute(
            "SELECT count(*) FROM generate_series(1, %s) AS g "
            "WHERE hessra_authz.verify_token(CASE WHEN g > 0 THEN %s END, %s, %s, %s)",
            [ROWS, one, *_args()],
        ).fetchone()
        db_rows = ROWS / (time.perf_counter() - start)
        assert row == (ROWS,), row

    py_distinct = python_rate(issuer, mint(issuer, DISTINCT))
    py_rows = python_rate(issuer, [one] * ROWS)

    print(
        f"distinct tokens ({DISTINCT}): PostgreSQL {db_distinct:,.0f}/s, "
        f"Python {py_distinct:,.0f}/s, ratio {db_distinct / py_distinct:.2f}x"
    )
    print(
        f"one token on each of {ROWS} rows: PostgreSQL {db_rows:,.0f}/s, "
        f"Python {py_rows:,.0f}/s, ratio {db_rows / py_rows:.2f}x"
    )
    return 0


def _args() -> list[str]:
    return [SUBJECT, RESOURCE, OPERATION]


if __name__ == "__main__":
    sys.exit(main())
