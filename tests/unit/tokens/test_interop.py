"""Wire compatibility with Hessra, both ways.

Ours -> Hessra: hessra-py 0.2.1 (the vendor's published verifier) accepts the
tokens we mint, and our chain tokens after every attestation step.
Hessra -> ours: tokens written in Hessra's format by plain biscuit_auth code
(current and older formats) verify in ours, and ours grants nothing more.
"""

from __future__ import annotations

import time
from typing import Any

import biscuit_auth
import pytest

from hessra_core import errors
from hessra_core.keys import KeyPair, KeySet
from hessra_core.pki import create_ca
from hessra_core.tokens import (
    SignerRef,
    add_signoff,
    attest_service_chain_token,
    claimed_actor,
    delegate_identity_token,
    mint_identity_token,
    mint_token,
    verify_identity_token,
    verify_service_chain_token,
    verify_token,
)

from .conftest import Chain, chain_json

hessra_py = pytest.importorskip("hessra_py")

ASK = ("alice", "orders", "read")
OTHERS = [("bob", "orders", "read"), ("alice", "invoices", "read"), ("alice", "orders", "delete")]
OTHER_IDS = ["other-subject", "other-resource", "other-operation"]


def hessra_accepts(call: Any, *args: object) -> bool:
    try:
        call(*args)
    except hessra_py.HessraPyException:
        return False
    return True


# ---- ours -> hessra-py -------------------------------------------------------------


def test_hessra_py_accepts_our_simple_token(root: KeyPair, hessra_client: Any) -> None:
    token = mint_token(root, subject="alice", resource="orders", operation="read").token
    assert hessra_accepts(hessra_client.verify_token_local, token, *ASK)
    for other in OTHERS:
        assert not hessra_accepts(hessra_client.verify_token_local, token, *other)


def test_hessra_py_accepts_our_domain_token_only_with_a_domain(
    root: KeyPair, hessra_client: Any
) -> None:
    # hessra-py 0.2.1 cannot pass a domain, so a domain-restricted token must fail there.
    token = mint_token(root, subject="alice", resource="orders", operation="read", domain="d").token
    assert not hessra_accepts(hessra_client.verify_token_local, token, *ASK)


def test_hessra_py_accepts_our_chain_token_after_each_step(
    root: KeyPair, chain: Chain, hessra_client: Any
) -> None:
    config = chain_json(chain.nodes)
    token = mint_token(
        root, subject="alice", resource="orders", operation="read", service_chain=chain.nodes
    ).token
    for step, name in enumerate(chain.names):
        # At this point nodes [0, step) have attested: `name` is the next verifier.
        assert hessra_accepts(hessra_client.verify_token_local, token, *ASK)
        assert hessra_accepts(
            hessra_client.verify_service_chain_token_local, token, *ASK, config, name
        ), f"hessra-py refused the chain token at {name} after {step} attestations"
        later = chain.names[step + 1 :]
        for component in later:
            assert not hessra_accepts(
                hessra_client.verify_service_chain_token_local, token, *ASK, config, component
            )
        verify_service_chain_token(
            token, root.public_key, subject="alice", resource="orders", operation="read",
            chain=chain.nodes, component=name,
        )  # fmt: skip
        token = attest_service_chain_token(
            token, chain.keys[name], resource="orders", root_keys=root.public_key
        )
    assert hessra_accepts(hessra_client.verify_token_local, token, *ASK)
    assert hessra_accepts(hessra_client.verify_service_chain_token_local, token, *ASK, config, None)


def test_hessra_py_accepts_our_multiparty_token_once_signed(
    root: KeyPair, hessra_client: Any
) -> None:
    legal = KeyPair.generate()
    token = mint_token(
        root, subject="alice", resource="orders", operation="read",
        signers=[SignerRef("legal_dept", legal.public_key)],
    ).token  # fmt: skip
    assert not hessra_accepts(hessra_client.verify_token_local, token, *ASK)
    signed = add_signoff(token, legal, signer_name="legal_dept", root_keys=root.public_key)
    assert hessra_accepts(hessra_client.verify_token_local, signed, *ASK)


def test_hessra_py_accepts_our_identity_tokens(root: KeyPair, hessra_client: Any) -> None:
    token = mint_identity_token(root, subject="urn:hessra:alice", ttl=600).token
    verify = hessra_client.verify_identity_token_local
    assert hessra_accepts(verify, token, "urn:hessra:alice")
    assert hessra_accepts(verify, token, "urn:hessra:alice:agent")
    assert not hessra_accepts(verify, token, "urn:hessra:bob")
    agent = delegate_identity_token(token, child="agent", ttl=60, root_keys=root.public_key)
    assert hessra_accepts(verify, agent, "urn:hessra:alice:agent")
    assert not hessra_accepts(verify, agent, "urn:hessra:alice")


# ---- Hessra format (plain biscuit_auth) -> ours ---------------------------------------


def hessra_style(root: KeyPair, code: str, params: dict[str, Any], scope: Any = None) -> Any:
    builder = biscuit_auth.BiscuitBuilder(code, params, scope)
    return builder.build(root.to_biscuit().private_key)


CURRENT = """
right({subject}, {resource}, {operation});
check if subject($sub), resource($res), operation($op), right($sub, $res, $op);
check if time($time), $time < {expiration};
"""

OLDER = """
right({subject}, {resource}, "read");
right({subject}, {resource}, "write");
check if time($time), $time < {expiration};
"""


def expiration() -> int:
    return int(time.time()) + 300


def test_we_accept_hessra_current_format(root: KeyPair) -> None:
    token = hessra_style(
        root, CURRENT,
        {"subject": "alice", "resource": "orders", "operation": "read", "expiration": expiration()},
    ).to_base64()  # fmt: skip
    verify_token(token, root.public_key, subject="alice", resource="orders", operation="read")


@pytest.mark.parametrize("other", OTHERS, ids=OTHER_IDS)
def test_hessra_current_format_grants_nothing_else(
    root: KeyPair, other: tuple[str, str, str]
) -> None:
    token = hessra_style(
        root, CURRENT,
        {"subject": "alice", "resource": "orders", "operation": "read", "expiration": expiration()},
    ).to_base64()  # fmt: skip
    subject, resource, operation = other
    with pytest.raises(errors.RightMismatchError):
        verify_token(
            token, root.public_key, subject=subject, resource=resource, operation=operation
        )


@pytest.mark.parametrize("operation", ["read", "write"])
def test_we_accept_hessra_older_format_for_its_exact_rights(root: KeyPair, operation: str) -> None:
    token = hessra_style(
        root, OLDER, {"subject": "alice", "resource": "orders", "expiration": expiration()}
    ).to_base64()
    verified = verify_token(
        token, root.public_key, subject="alice", resource="orders", operation=operation
    )
    assert verified.root_key_id is None


OLDER_REFUSED = [
    ("other-subject", ("bob", "orders", "read"), errors.SubjectMismatchError),
    ("other-resource", ("alice", "invoices", "read"), errors.ResourceMismatchError),
    ("other-operation", ("alice", "orders", "delete"), errors.OperationMismatchError),
    ("everything-else", ("mallory", "admin", "delete"), errors.SubjectMismatchError),
]


@pytest.mark.parametrize(
    ("asked", "error"), [c[1:] for c in OLDER_REFUSED], ids=[c[0] for c in OLDER_REFUSED]
)
def test_hessra_older_format_grants_only_its_exact_triples(
    root: KeyPair, asked: tuple[str, str, str], error: type[Exception]
) -> None:
    # The older format has no in-token rights check: only the verifier's
    # policy stands between this token and any subject.
    token = hessra_style(
        root, OLDER, {"subject": "alice", "resource": "orders", "expiration": expiration()}
    ).to_base64()
    subject, resource, operation = asked
    with pytest.raises(error):
        verify_token(
            token, root.public_key, subject=subject, resource=resource, operation=operation
        )


def test_we_accept_a_hessra_chain_token_attested_by_plain_biscuit(
    root: KeyPair, chain: Chain
) -> None:
    code = CURRENT
    scope: dict[str, Any] = {}
    params: dict[str, Any] = {
        "subject": "alice", "resource": "orders", "operation": "read", "expiration": expiration(),
    }  # fmt: skip
    for i, node in enumerate(chain.nodes):
        code += f"node($s, {{c{i}}}) <- service($s) trusting {{k{i}}};\n"
        params[f"c{i}"] = node.component
        scope[f"k{i}"] = node.public_key.to_biscuit()
    token = hessra_style(root, code, params, scope)
    for name in chain.names:
        kp = chain.keys[name]
        block = token.third_party_request().create_block(
            kp.to_biscuit().private_key, biscuit_auth.BlockBuilder('service("orders");')
        )
        token = token.append_third_party(kp.public_key.to_biscuit(), block)
    verify_service_chain_token(
        token.to_base64(), root.public_key, subject="alice", resource="orders", operation="read",
        chain=chain.nodes,
    )  # fmt: skip


def test_we_accept_hessra_py_identity_tokens(root: KeyPair) -> None:
    ca = create_ca()
    config = (
        hessra_py.HessraConfig.builder()
        .base_url("127.0.0.1")
        .port(1)
        .protocol("http1")
        .server_ca(ca.cert_pem.decode())
        .public_key(root.public_key.to_pem())
        .personal_keypair(root.private_pem())
        .build()
    )
    client = hessra_py.HessraClient(config)
    token = client.create_identity_token_local("urn:hessra:alice", 300)
    verified = verify_identity_token(token, root.public_key, actor="urn:hessra:alice")
    assert verified.subject == "urn:hessra:alice"
    verify_identity_token(token, root.public_key, actor="urn:hessra:alice:agent")
    with pytest.raises(errors.IdentityMismatchError):
        verify_identity_token(token, root.public_key, actor="urn:hessra:bob")


def test_we_follow_delegations_made_by_hessra_py(root: KeyPair) -> None:
    ca = create_ca()
    config = (
        hessra_py.HessraConfig.builder()
        .base_url("127.0.0.1")
        .port(1)
        .protocol("http1")
        .server_ca(ca.cert_pem.decode())
        .public_key(root.public_key.to_pem())
        .personal_keypair(root.private_pem())
        .build()
    )
    client = hessra_py.HessraClient(config)
    token = mint_identity_token(root, subject="urn:hessra:alice", ttl=600).token
    agent = client.attenuate_identity_token(token, "urn:hessra:alice:agent", 60)
    assert claimed_actor(agent, root.public_key) == "urn:hessra:alice:agent"
    verify_identity_token(agent, root.public_key, actor="urn:hessra:alice:agent")
    with pytest.raises(errors.IdentityMismatchError):
        verify_identity_token(agent, root.public_key, actor="urn:hessra:alice")
    task = delegate_identity_token(agent, child="task", ttl=30, root_keys=root.public_key)
    assert claimed_actor(task, root.public_key) == "urn:hessra:alice:agent:task"
    verify_identity_token(task, root.public_key, actor="urn:hessra:alice:agent:task")


def test_token_without_key_id_needs_a_single_key_set(root: KeyPair, other_root: KeyPair) -> None:
    token = hessra_style(
        root, CURRENT,
        {"subject": "alice", "resource": "orders", "operation": "read", "expiration": expiration()},
    ).to_base64()  # fmt: skip
    verify_token(
        token, KeySet.of(root.public_key), subject="alice", resource="orders", operation="read"
    )
    # With two trusted keys there is no safe way to pick one for an id-less token.
    with pytest.raises(errors.UnknownKeyIdError, match="none"):
        verify_token(
            token,
            KeySet.of(root.public_key, other_root.public_key),
            subject="alice",
            resource="orders",
            operation="read",
        )


def test_we_accept_chain_attestations_made_by_hessra_py(root: KeyPair, chain: Chain) -> None:
    ca = create_ca()
    token = mint_token(
        root, subject="alice", resource="orders", operation="read", service_chain=chain.nodes
    ).token
    for name in chain.names:
        config = (
            hessra_py.HessraConfig.builder()
            .base_url("127.0.0.1")
            .port(1)
            .protocol("http1")
            .server_ca(ca.cert_pem.decode())
            .public_key(root.public_key.to_pem())
            .personal_keypair(chain.keys[name].private_pem())
            .build()
        )
        token = hessra_py.HessraClient(config).attest_service_chain_token(token, "orders")
    verify_service_chain_token(
        token, root.public_key, subject="alice", resource="orders", operation="read",
        chain=chain.nodes,
    )  # fmt: skip
    with pytest.raises(errors.AttestationOrderError):
        verify_service_chain_token(
            token, root.public_key, subject="alice", resource="orders", operation="read",
            chain=chain.nodes[::-1],
        )  # fmt: skip
