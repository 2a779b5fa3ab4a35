"""The six steps of ``make demo``, in the order of the product description.

Each step prints what it runs and returns the one-line result printed after ``PASS``;
it raises ``StepFailed`` when the system does not behave as described.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stack import GATEWAY
from walkthrough import StepFailed, Walkthrough, json_fields, revision_of, wait_until

from hessra import Hessra, HessraError

LIVE_WITHIN = 1.0  # seconds: the target for a webhook-delivered policy change
GIVE_UP_AFTER = 15.0  # seconds before a step calls a propagation failed


@dataclass
class State:
    """What later steps need from earlier ones."""

    granted_sha: str = ""
    granted_digest: str = ""
    bad_sha: str = ""


def _subject_args(resource: str, operation: str) -> list[str]:
    return ["--subject", GATEWAY, "--resource", resource, "--operation", operation]


def request_and_verify(w: Walkthrough, _state: State) -> str:
    w.say("The CLI reads its connection from the environment (api_gateway's certificate):")
    for name, value in w.stack.cli_env().items():
        if name != "HESSRA_PUBLIC_KEY":
            w.say(f"  {name}={w.rel(value) if name != 'HESSRA_SERVER' else value}")
    keys = w.cli("auth", "public-keys").stdout.split()
    if w.stack.issuer_public_key not in keys:
        raise StepFailed(f"the issuer publishes {keys}, not the generated key")
    token = w.cli("auth", "request", "--resource", "orders", "--operation", "read").stdout.strip()
    w.say("Verified offline with the issuer's public key (HESSRA_PUBLIC_KEY):")
    w.cli("token", "verify", "--token", "-", *_subject_args("orders", "read"), stdin=token)
    w.say("The same token for another operation fails closed:")
    w.cli("token", "verify", "--token", "-", *_subject_args("orders", "write"), stdin=token,
          expect=1)  # fmt: skip
    return "token for orders/read issued over mTLS and verified locally; orders/write refused"


def service_chain(w: Walkthrough, _state: State) -> str:
    resource = ["--resource", "payment_processor"]
    chain: list[str | Path] = ["--chain-config", w.stack.ours.work / "resources.toml"]

    def attest(node: str, token: str) -> str:
        key: list[str | Path] = ["--key-file", w.stack.keys_dir / f"{node}.pem"]
        return w.cli("chain", "attest", "--token", "-", *key, *resource, stdin=token).stdout.strip()

    def verify(component: str | None, token: str, expect: int = 0) -> str:
        who: list[str | Path] = ["--component", component] if component else []
        args = [*_subject_args("payment_processor", "charge"), *chain, *who]
        return w.cli("chain", "verify", "--token", "-", *args, stdin=token, expect=expect).stderr

    token = w.cli("auth", "request", *resource, "--operation", "charge").stdout.strip()
    w.say("api_gateway attests with its node key and forwards:")
    at_gateway = attest("api_gateway", token)
    w.say("fraud_detection checks the partial chain (api_gateway), then attests:")
    verify("fraud_detection", at_gateway)
    at_fraud = attest("fraud_detection", at_gateway)
    w.say("payment_processor checks api_gateway then fraud_detection, then attests:")
    verify("payment_processor", at_fraud)
    complete = attest("payment_processor", at_fraud)
    w.say("Downstream, the complete chain verifies (all three nodes, in order):")
    verify(None, complete)
    w.say("A request that skipped fraud_detection is refused at payment_processor:")
    refused = verify("payment_processor", at_gateway, expect=1)
    if "Missing attestation from: fraud_detection" not in refused:
        raise StepFailed(f"expected 'Missing attestation from: fraud_detection', got {refused}")
    return "attested at every node, verified at each; skipping fraud_detection refused"


def _pending(stdout: str) -> list[str]:
    data = json.loads(stdout)
    return [f"token for {data['subject']}; pending sign-offs:"] + [
        f"  {p['name']} at {p['endpoint']} ({p['public_key'][:20]}...)"
        for p in data["pending_signoffs"]
    ]


def multi_party(w: Walkthrough, _state: State) -> str:
    op = ["--resource", "sensitive_data", "--operation", "export"]
    w.say("sensitive_data needs sign-offs from legal_dept (ours) and partner_company:")
    first = json.loads(w.cli("auth", "request", *op, "--json", show=_pending).stdout)
    pending = sorted(p["name"] for p in first["pending_signoffs"])
    if pending != ["legal_dept", "partner_company"]:
        raise StepFailed(f"expected sign-offs from legal_dept and partner_company, got {pending}")
    unsigned = first["token"]
    refused = w.cli("token", "verify", "--token", "-", *_subject_args("sensitive_data", "export"),
                    stdin=unsigned, expect=1)  # fmt: skip
    if "Required signature from" not in refused.stderr:
        raise StepFailed(f"expected a missing-signature refusal, got {refused.stderr.strip()}")
    w.say("Collect the sign-offs (each signer decides by its own organisation's policy):")
    signed = w.cli(
        "auth", "request", *op, "--collect-signoffs",
        "--signer-ca", f"partner_company={w.stack.partner_ca_file}",
    ).stdout.strip()  # fmt: skip
    w.cli("token", "verify", "--token", "-", *_subject_args("sensitive_data", "export"),
          stdin=signed)  # fmt: skip
    return "unsigned token refused; with legal_dept and partner_company sign-offs it verifies"


def _can_write_orders(client: Hessra) -> bool:
    try:
        client.request_token("orders", "write")
    except HessraError:
        return False
    return True


def live_policy_change(w: Walkthrough, state: State) -> str:
    op = ["--resource", "orders", "--operation", "write"]
    w.say("Before the change, api_gateway may not write orders:")
    w.cli("auth", "request", *op, expect=1)
    state.granted_sha = w.stack.ours.commit_and_push(
        "Grant api_gateway orders/write", w.stack.our_policy({"orders": ["write"]})
    )
    w.say(f"Committed and pushed {state.granted_sha[:12]} (grant orders/write) to "
          f"{w.stack.ours.url}")  # fmt: skip
    code, _ = w.push_webhook("ours", state.granted_sha, secret=b"not-the-secret")
    w.say(f"A webhook with a wrong signature: HTTP {code} (rejected before parsing)")
    if code != 401:
        raise StepFailed(f"a badly signed webhook got HTTP {code}, expected 401")
    gateway = w.stack.tls("api_gateway")
    with Hessra(w.stack.address("issuer"), cert=gateway.cert, key=gateway.key,
                ca=w.stack.ca_file) as client:  # fmt: skip
        sent = time.monotonic()
        code, reply = w.push_webhook("ours", state.granted_sha)
        if code != 202:
            raise StepFailed(f"the signed webhook got HTTP {code} {reply}, expected 202")
        wait_until(lambda: _can_write_orders(client), GIVE_UP_AFTER, "orders/write")
        took = time.monotonic() - sent
        w.say(f"The GitHub-signed webhook (X-Hub-Signature-256): HTTP {code} {reply}")
    verdict = (
        "within a second" if took < LIVE_WITHIN else f"slower than the {LIVE_WITHIN:.0f}s target"
    )
    w.say(f"orders/write is live {took:.3f}s after the webhook ({verdict})")
    w.cli("auth", "request", *op, "--json", show=json_fields("subject", "policy_revision"))
    state.granted_digest = str(w.status()["serving_digest"])
    return f"new permission live {took:.3f}s after the signed webhook"


_LOCATION = re.compile(r"clients\.toml:\d+:\d+: error: ")


def invalid_policy(w: Walkthrough, state: State) -> str:
    state.bad_sha = w.stack.ours.commit_and_push(
        "Grant a misspelled resource",
        w.stack.our_policy({"orders": ["write"], "ordrs": ["read"]}),
    )
    w.say(f"Committed and pushed {state.bad_sha[:12]}: grants `ordrs`, which does not exist")
    code, _ = w.push_webhook("ours", state.bad_sha)
    if code != 202:
        raise StepFailed(f"the signed webhook got HTTP {code}, expected 202")

    def rejected() -> dict[str, object] | None:
        error = w.status().get("last_error")
        return error if error and str(error.get("revision", "")).endswith(state.bad_sha) else None

    error, _ = wait_until(rejected, GIVE_UP_AFTER, "policy-sync to reject the commit")
    status = w.status()
    w.say(f"GET {w.stack.http('ours_sync_http', '/status')}:")
    for c in status["conditions"]:
        w.say(f"  condition {c['type']}={c['status']} ({c['reason']})")
    diagnostics = [str(d) for d in error.get("diagnostics", [])]  # type: ignore[attr-defined]
    for line in diagnostics:
        w.say(f"  {line}")
    if not any(_LOCATION.match(d) for d in diagnostics):
        raise StepFailed(f"no clients.toml:line:column error in /status: {diagnostics}")
    w.say("The same check before pushing, from the work tree:")
    validate = w.cli("policy", "validate", "--path", w.stack.ours.work, expect=1)
    if not _LOCATION.search(validate.stdout + validate.stderr):
        raise StepFailed("`hessra policy validate` printed no clients.toml:line:column error")
    if status["serving_revision"] != revision_of(state.granted_sha):
        raise StepFailed(f"serving {status['serving_revision']}, not the last good commit")
    w.say(f"Still serving the last good commit {status['serving_revision']}; a request succeeds:")
    w.cli("auth", "request", "--resource", "orders", "--operation", "write", "--json",
          show=json_fields("policy_revision"))  # fmt: skip
    return f"rejected with {diagnostics[0].split(': error')[0]}; last good policy still serving"


def revert(w: Walkthrough, state: State) -> str:
    sha = w.stack.ours.revert(state.bad_sha)
    w.say(f"git revert {state.bad_sha[:12]} -> new commit {sha[:12]}, pushed")
    sent = time.monotonic()
    code, _ = w.push_webhook("ours", sha)
    if code != 202:
        raise StepFailed(f"the signed webhook got HTTP {code}, expected 202")

    def serving() -> dict[str, object] | None:
        status = w.status()
        return status if status["serving_revision"] == revision_of(sha) else None

    status, _ = wait_until(serving, GIVE_UP_AFTER, "policy-sync to serve the revert")
    took = time.monotonic() - sent
    ready = [c for c in status["conditions"] if c["type"] == "Ready"]  # type: ignore[attr-defined]
    w.say(f"policy-sync serves {status['serving_revision']} after {took:.3f}s, "
          f"Ready={ready[0]['status'] if ready else '?'}")  # fmt: skip
    if not ready or ready[0]["status"] is not True:
        raise StepFailed(f"Ready is not True after the revert: {ready}")
    if status["serving_digest"] != state.granted_digest:
        raise StepFailed(
            f"the revert serves {status['serving_digest']}, not the content of "
            f"{state.granted_sha[:12]} ({state.granted_digest})"
        )
    digest = str(status["serving_digest"])
    w.say(f"Same content as {state.granted_sha[:12]}, so the same digest {digest[:19]}...")
    w.say("(subscribers already hold that snapshot; nothing changes for them)")
    w.cli("policy", "validate", "--path", w.stack.ours.work)
    w.cli("auth", "request", "--resource", "orders", "--operation", "write")
    return f"revert {sha[:12]} serving after {took:.3f}s; Ready=True; requests succeed"


Step = tuple[str, Callable[[Walkthrough, State], str]]

STEPS: list[Step] = [
    ("Request a token with the CLI and verify it locally", request_and_verify),
    ("A 3-node service chain: api_gateway -> fraud_detection -> payment_processor", service_chain),
    ("Multi-party authorization: sign-offs from legal_dept and partner_company", multi_party),
    ("A policy change goes live through a signed GitHub webhook", live_policy_change),
    ("An invalid policy is rejected; the last good one keeps serving", invalid_policy),
    ("Revert (a new commit): the stack serves it again", revert),
]

__all__ = ["STEPS", "State", "Step"]
