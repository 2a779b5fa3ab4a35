"""Service-chain verification in SQL, with the chain given inline or stored by name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from hessra_core.keys import KeyPair
from hessra_core.tokens import ServiceNode, attest_service_chain_token, mint_token

pytestmark = pytest.mark.postgres

SUBJECT = "uri:urn:services:api-gateway"
RESOURCE = "payment_processing"
COMPONENTS = ("api_gateway", "fraud_detection", "payment_processor")

VERIFY = "SELECT hessra_authz.verify_service_chain_token(%s, %s, %s, 'process', %s, %s)"
VERIFY_STORED = (
    "SELECT hessra_authz.verify_service_chain_token_with_stored_key("
    "%s, NULL, %s, %s, 'process', 'payments', %s)"
)


class Chain:
    """An issuer, three nodes and tokens attested by any prefix or order of them."""

    def __init__(self) -> None:
        self.issuer = KeyPair.generate()
        self.node_keys = {c: KeyPair.generate() for c in COMPONENTS}
        self.nodes = [ServiceNode(c, self.node_keys[c].public_key) for c in COMPONENTS]
        self.json = [
            {"component": n.component, "public_key": str(n.public_key)} for n in self.nodes
        ]

    def token(self, attested_by: tuple[str, ...]) -> str:
        token = mint_token(
            self.issuer,
            subject=SUBJECT,
            resource=RESOURCE,
            operation="process",
            service_chain=self.nodes,
        ).token
        for component in attested_by:
            token = attest_service_chain_token(
                token,
                self.node_keys[component],
                resource=RESOURCE,
                root_keys=self.issuer.public_key,
            )
        return token


@pytest.fixture(scope="module")
def chain() -> Chain:
    return Chain()


@pytest.fixture(scope="module")
def chain_db(pg_server: Any, template_db: str, chain: Chain) -> Iterator[str]:
    name = "hessra_chain"
    with pg_server.connect(autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {template_db} STRATEGY FILE_COPY")
    with pg_server.connect(name, autocommit=True) as conn:
        conn.execute(
            "SELECT hessra_authz.add_public_key('issuer', %s, true)",
            [chain.issuer.public_key.to_string()],
        )
        conn.execute("SELECT hessra_authz.add_service_chain('payments', %s)", [Jsonb(chain.json)])
    yield name
    with pg_server.connect(autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


CASES = [
    # (id, attested by, verifying component, expected)
    ("fully-attested-any-verifier", COMPONENTS, None, True),
    ("prefix-for-processor", COMPONENTS[:2], "payment_processor", True),
    ("gateway-only-for-fraud", COMPONENTS[:1], "fraud_detection", True),
    ("first-node-needs-nothing", (), "api_gateway", True),
    ("missing-fraud-attestation", COMPONENTS[:1], "payment_processor", False),
    ("no-attestation", (), None, False),
    ("out-of-order", ("fraud_detection", "api_gateway"), "payment_processor", False),
    ("attested-twice", ("api_gateway", "api_gateway"), "fraud_detection", False),
]


@pytest.mark.parametrize(
    ("attested_by", "component", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
@pytest.mark.parametrize("stored", [False, True], ids=["inline-nodes", "stored-chain"])
def test_service_chain_verification(
    pg_server: Any,
    chain_db: str,
    chain: Chain,
    attested_by: tuple[str, ...],
    component: str | None,
    expected: bool,
    stored: bool,
) -> None:
    token = chain.token(attested_by)
    with pg_server.connect(chain_db) as conn:
        if stored:
            row = conn.execute(VERIFY_STORED, [token, SUBJECT, RESOURCE, component]).fetchone()
        else:
            params = [token, SUBJECT, RESOURCE, Jsonb(chain.json), component]
            row = conn.execute(VERIFY, params).fetchone()
    assert row == (expected,)


def test_chain_token_still_needs_the_right_subject_and_resource(
    pg_server: Any, chain_db: str, chain: Chain
) -> None:
    token = chain.token(COMPONENTS)
    nodes = Jsonb(chain.json)
    with pg_server.connect(chain_db) as conn:
        assert conn.execute(VERIFY, [token, SUBJECT, RESOURCE, nodes, None]).fetchone() == (True,)
        assert conn.execute(VERIFY, [token, "uri:urn:x", RESOURCE, nodes, None]).fetchone() == (
            False,
        )
        assert conn.execute(VERIFY, [token, SUBJECT, "orders", nodes, None]).fetchone() == (False,)
        assert conn.execute(VERIFY, [None, SUBJECT, RESOURCE, nodes, None]).fetchone() == (False,)
        assert conn.execute(VERIFY, ["junk", SUBJECT, RESOURCE, nodes, None]).fetchone() == (False,)


def _swap_keys(chain: Chain) -> list[dict[str, str]]:
    """The same components with their keys swapped: attestations come from the wrong keys."""
    swapped = [dict(n) for n in chain.json]
    swapped[0]["public_key"], swapped[1]["public_key"] = (
        swapped[1]["public_key"],
        swapped[0]["public_key"],
    )
    return swapped


def test_attestation_by_a_key_outside_the_configured_chain_fails(
    pg_server: Any, chain_db: str, chain: Chain
) -> None:
    token = chain.token(COMPONENTS[:2])
    with pg_server.connect(chain_db) as conn:
        row = conn.execute(
            VERIFY, [token, SUBJECT, RESOURCE, Jsonb(_swap_keys(chain)), "payment_processor"]
        ).fetchone()
    assert row == (False,)


GOOD_KEY = "ed25519/" + "11" * 32
BAD_NODES = [
    ("object-not-array", {"component": "a", "public_key": GOOD_KEY}, "expected a JSON array"),
    ("string-element", ["api_gateway"], r"\[0\]: expected an object"),
    ("missing-component", [{"public_key": GOOD_KEY}], r"\[0\]\.component"),
    ("bad-key", [{"component": "a", "public_key": "ed25519/zz"}], r"\[0\]\.public_key"),
    ("key-not-string", [{"component": "a", "public_key": 7}], r"\[0\]\.public_key"),
    ("unknown-field", [{"component": "a", "public_key": GOOD_KEY, "url": "x"}], "unknown field"),
    (
        "duplicate-component",
        [{"component": "a", "public_key": GOOD_KEY}, {"component": "a", "public_key": GOOD_KEY}],
        "duplicate component",
    ),
    ("quote-in-component", [{"component": 'a"b', "public_key": GOOD_KEY}], "forbidden"),
    ("empty-array", [], "the chain is empty"),
    (
        "duplicate-key",
        [{"component": "a", "public_key": GOOD_KEY}, {"component": "b", "public_key": GOOD_KEY}],
        "duplicate public_key",
    ),
]


@pytest.mark.parametrize(
    ("nodes", "message"), [c[1:] for c in BAD_NODES], ids=[c[0] for c in BAD_NODES]
)
def test_malformed_service_nodes_are_a_clear_error(
    pg_server: Any, chain_db: str, chain: Chain, nodes: object, message: str
) -> None:
    token = chain.token(COMPONENTS)
    with pg_server.connect(chain_db, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InvalidParameterValue, match=message):
            conn.execute(VERIFY, [token, SUBJECT, RESOURCE, Jsonb(nodes), None])
        with pytest.raises(psycopg.errors.InvalidParameterValue, match=message):
            conn.execute("SELECT hessra_authz.add_service_chain('bad', %s)", [Jsonb(nodes)])


def test_unknown_component_and_null_nodes_are_errors(
    pg_server: Any, chain_db: str, chain: Chain
) -> None:
    token = chain.token(COMPONENTS)
    with pg_server.connect(chain_db, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="not in service_nodes"):
            conn.execute(VERIFY, [token, SUBJECT, RESOURCE, Jsonb(chain.json), "billing"])
        with pytest.raises(psycopg.errors.NullValueNotAllowed):
            conn.execute(VERIFY, [token, SUBJECT, RESOURCE, None, None])


def test_stored_chain_lifecycle(pg_server: Any, fresh_db: str, chain: Chain) -> None:
    with pg_server.connect(fresh_db, autocommit=True) as conn:
        chain_id = conn.execute(
            "SELECT hessra_authz.add_service_chain('flow', %s)", [Jsonb(chain.json[:1])]
        ).fetchone()
        assert chain_id is not None
        assert chain_id[0] > 0
        got = conn.execute("SELECT hessra_authz.get_service_chain('flow')").fetchone()
        assert got == (chain.json[:1],)
        update = "SELECT hessra_authz.update_service_chain(%s, %s)"
        assert conn.execute(update, ["flow", Jsonb(chain.json)]).fetchone() == (True,)
        assert conn.execute(update, ["nope", Jsonb(chain.json)]).fetchone() == (False,)
        got = conn.execute("SELECT hessra_authz.get_service_chain('flow')").fetchone()
        assert got == (chain.json,)
        delete = "SELECT hessra_authz.delete_service_chain(%s)"
        assert conn.execute(delete, ["flow"]).fetchone() == (True,)
        assert conn.execute(delete, ["flow"]).fetchone() == (False,)
        with pytest.raises(psycopg.errors.UndefinedObject, match="no service chain found"):
            conn.execute("SELECT hessra_authz.get_service_chain('flow')")
