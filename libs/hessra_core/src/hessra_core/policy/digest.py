"""The canonical form of a policy and its ``sha256:`` digest.

The same policy always has the same digest, however the files are written: key order,
whitespace, comments, PEM line wrapping, the order of clients, of grants and of
operations, and which of the two resource spellings is used do not count. What does
count is everything that changes a decision or a token: identifiers as written (they
become token subjects), grants, mechanisms, the order of chain nodes and of signers,
lifetimes, and the CA certificates (compared as DER).
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from hessra_core.policy.model import Policy


def ca_der_list(pem: str) -> list[bytes]:
    """DER of each certificate in ``pem``; an empty string gives an empty list."""
    if not pem.strip():
        return []
    certs = x509.load_pem_x509_certificates(pem.encode("utf-8"))
    return [c.public_bytes(serialization.Encoding.DER) for c in certs]


def canonical_form(policy: Policy) -> dict[str, Any]:
    clients = sorted(
        (
            {
                "type": c.identifier.type.value,
                "value": c.identifier.value,
                "grants": sorted(
                    (
                        {"resource": g.resource, "operations": sorted(g.operations)}
                        for g in c.grants
                    ),
                    key=lambda g: str(g["resource"]),
                ),
                "identity_token_enabled": c.identity_token_enabled,
                "identity_token_duration": c.identity_token_duration,
            }
            for c in policy.clients
        ),
        key=lambda c: (str(c["type"]), str(c["value"])),
    )
    resources = [
        {
            "name": r.name,
            "mechanisms": sorted(m.value for m in r.mechanisms),
            "token_lifetime": r.token_lifetime,
            "service_chain": [
                {"component": n.component, "public_key": n.public_key.to_string()}
                for n in r.service_chain
            ],
            "required_signers": [
                {"name": s.name, "url": s.url, "public_key": s.public_key.to_string()}
                for s in r.required_signers
            ],
        }
        for r in sorted(policy.resources, key=lambda r: r.name)
    ]
    return {
        "version": policy.version,
        "ca_certs": [base64.b64encode(d).decode("ascii") for d in ca_der_list(policy.ca_certs_pem)],
        "clients": clients,
        "resources": resources,
    }


def policy_digest(policy: Policy) -> str:
    """``sha256:<hex>`` of the canonical JSON form."""
    text = json.dumps(canonical_form(policy), sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


__all__ = ["ca_der_list", "canonical_form", "policy_digest"]
