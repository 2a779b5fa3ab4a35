"""Webhooks over real HTTP against a running policy-sync with a real git remote."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from typing import Any

import aiohttp
import pytest

from hessra_policy_sync.config import WebhookConfig, WebhookSecrets
from hessra_policy_sync.testing import SECRETS, eventually
from hessra_policy_sync.webhook import sign

pytestmark = pytest.mark.slow

TEN_MIB = 10 * 1024 * 1024


def push_payload(after: str, ref: str = "refs/heads/main") -> bytes:
    return json.dumps({"ref": ref, "after": after, "before": "0" * 40}).encode()


def headers_for(
    provider: str, body: bytes, *, delivery: str | None = None, signed: bool = True
) -> dict[str, str]:
    delivery = delivery or str(uuid.uuid4())
    headers = {"Content-Type": "application/json"}
    if provider == "github":
        headers |= {"X-GitHub-Event": "push", "X-GitHub-Delivery": delivery}
        if signed:
            headers["X-Hub-Signature-256"] = sign(SECRETS.github or b"", body)
    elif provider == "gitlab":
        headers |= {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Event-UUID": delivery}
        if signed:
            headers["X-Gitlab-Token"] = (SECRETS.gitlab or b"").decode()
    else:
        headers |= {"X-Hessra-Delivery": delivery}
        if signed:
            headers["X-Hessra-Signature"] = sign(SECRETS.generic or b"", body)
    return headers


async def post(
    port: int, provider: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"http://127.0.0.1:{port}/webhook/{provider}", data=body, headers=headers
        ) as r,
    ):
        return r.status, await r.json(content_type=None)


@pytest.fixture
async def running(remote, good_files, start_app, subscriber_factory):  # type: ignore[no-untyped-def]
    """A policy-sync serving v1 with a subscriber that holds it, and no reconcile in flight."""
    remote.commit_and_push("v1", good_files(resources=("orders",)))
    app = await start_app()
    sub = await subscriber_factory(app.grpc_port)
    await eventually(lambda: sub.digest != "" and app.reconciler.count == 1)
    return app, sub


async def settle(app, seconds: float = 0.3) -> int:  # type: ignore[no-untyped-def]
    """Wait until no reconcile has started for ``seconds``; the number of reconciles so far."""
    count = -1
    while count != app.reconciler.count:
        count = app.reconciler.count
        await asyncio.sleep(seconds)
        async with app.reconciler._lock:  # wait out one in flight
            pass
    return count


@pytest.mark.parametrize("provider", ["github", "gitlab", "generic"])
async def test_signed_push_applies_the_pushed_commit(provider, running, remote, good_files) -> None:
    app, sub = running
    before = sub.digest
    sha = remote.commit_and_push("v2", good_files(resources=("orders", "users")))
    body = push_payload(sha)
    status, answer = await post(app.http_port, provider, body, headers_for(provider, body))
    assert (status, answer["result"], answer["after"]) == (202, "accepted", sha)
    await eventually(lambda: sub.digest not in ("", before))
    assert app.status.view().serving_revision == f"main@sha1:{sha}"
    metrics = app.metrics.render().decode()
    assert f'hessra_policy_sync_webhooks_total{{outcome="accepted",provider="{provider}"}} 1.0' in (
        metrics
    )


BAD_REQUESTS = [
    ("github", {"X-Hub-Signature-256": None}, 401, "bad_signature"),
    ("github", {"X-Hub-Signature-256": "sha256=" + "0" * 64}, 401, "bad_signature"),
    ("github", {"X-Hub-Signature-256": "sha1=abc"}, 401, "bad_signature"),
    ("generic", {"X-Hessra-Signature": None}, 401, "bad_signature"),
    ("generic", {"X-Hessra-Signature": "sha256=" + "f" * 64}, 401, "bad_signature"),
    ("gitlab", {"X-Gitlab-Token": None}, 401, "bad_signature"),
    ("gitlab", {"X-Gitlab-Token": "gl-tokeN"}, 401, "bad_signature"),
]


@pytest.mark.parametrize(
    ("provider", "header_changes", "code", "outcome"),
    BAD_REQUESTS,
    ids=[
        "github-missing",
        "github-wrong",
        "github-sha1",
        "generic-missing",
        "generic-wrong",
        "gitlab-missing",
        "gitlab-wrong",
    ],
)
async def test_bad_signatures_are_refused_and_trigger_nothing(
    provider, header_changes, code, outcome, running, remote, good_files
) -> None:
    app, _sub = running
    sha = remote.commit_and_push("v2", good_files(resources=("orders", "users")))
    body = push_payload(sha)
    headers = headers_for(provider, body)
    for name, value in header_changes.items():
        headers.pop(name, None)
        if value is not None:
            headers[name] = value
    status, answer = await post(app.http_port, provider, body, headers)
    assert (status, answer["result"]) == (code, outcome)
    assert await settle(app) == 1
    assert app.status.view().last_fetch_revision != f"main@sha1:{sha}"


async def test_signature_over_a_different_body_is_refused(running, remote, good_files) -> None:
    app, _ = running
    sha = remote.commit_and_push("v2", good_files(resources=("orders", "users")))
    signed_body = push_payload(sha)
    sent_body = push_payload(sha, ref="refs/heads/main ")
    headers = headers_for("github", signed_body)
    status, _ = await post(app.http_port, "github", sent_body, headers)
    assert status == 401
    assert await settle(app) == 1


@pytest.mark.parametrize("provider", ["github", "gitlab", "generic"])
async def test_other_branch_is_ignored(provider, running, remote, good_files) -> None:
    app, sub = running
    before = sub.digest
    remote.switch("feature", create=True)
    sha = remote.commit("feature", good_files(resources=("orders", "users")))
    remote.push("feature")
    body = push_payload(sha, ref="refs/heads/feature")
    status, answer = await post(app.http_port, provider, body, headers_for(provider, body))
    assert (status, answer["result"]) == (200, "ignored")
    assert await settle(app) == 1
    assert sub.digest == before


async def test_ping_and_non_push_events_are_answered_not_acted_on(running) -> None:
    app, _ = running
    body = b'{"zen": "Keep it logically awesome."}'
    headers = headers_for("github", body) | {"X-GitHub-Event": "ping"}
    assert (await post(app.http_port, "github", body, headers))[0] == 200
    headers = headers_for("github", body) | {"X-GitHub-Event": "issues"}
    status, answer = await post(app.http_port, "github", body, headers)
    assert (status, answer["result"]) == (200, "ignored")
    assert await settle(app) == 1


async def raw_post(port: int, head: str, body_chunks, *, chunked: bool) -> str:  # type: ignore[no-untyped-def]
    """Send a request by hand (the server may answer before the body is done); the status line."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head.encode())

    async def send() -> None:
        try:
            for chunk in body_chunks:
                if chunked:
                    writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                else:
                    writer.write(chunk)
                await writer.drain()
            if chunked:
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        except (ConnectionError, OSError):
            pass  # the server hung up on us, as it should

    sender = asyncio.create_task(send())
    status_line = (await asyncio.wait_for(reader.readline(), 20)).decode()
    sender.cancel()
    writer.close()
    return status_line


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_ten_mib_body_is_refused_with_413(chunked, running) -> None:
    app, _ = running
    chunk = b"x" * 65536
    chunks = [chunk] * (TEN_MIB // len(chunk))
    signature = "sha256=" + "a" * 64
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {TEN_MIB}"
    head = (
        "POST /webhook/generic HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"X-Hessra-Signature: {signature}\r\nContent-Type: application/json\r\n{framing}\r\n\r\n"
    )
    status_line = await raw_post(app.http_port, head, chunks, chunked=chunked)
    assert status_line.startswith("HTTP/1.1 413"), status_line
    assert await settle(app) == 1
    metrics = app.metrics.render().decode()
    assert (
        'hessra_policy_sync_webhooks_total{outcome="too_large",provider="generic"} 1.0' in metrics
    )


async def test_burst_of_fifty_deliveries_costs_at_most_two_reconciles(
    running, remote, good_files
) -> None:
    app, sub = running
    sha = remote.commit_and_push("v2", good_files(resources=("orders", "users")))
    body = push_payload(sha)
    answers = await asyncio.gather(
        *(post(app.http_port, "github", body, headers_for("github", body)) for _ in range(50))
    )
    assert [status for status, _ in answers] == [202] * 50
    await eventually(lambda: app.status.view().serving_revision == f"main@sha1:{sha}")
    total = await settle(app)
    assert 2 <= total <= 3, f"{total - 1} reconciles for a burst of 50"
    assert sub.digest == app.status.view().serving_digest


async def test_replayed_delivery_is_a_duplicate(running, remote, good_files) -> None:
    app, _ = running
    sha = remote.commit_and_push("v2", good_files(resources=("orders", "users")))
    body = push_payload(sha)
    headers = headers_for("gitlab", body, delivery="delivery-1")
    first = await post(app.http_port, "gitlab", body, headers)
    assert first == (202, {"result": "accepted", "after": sha})
    assert await settle(app) == 2
    second = await post(app.http_port, "gitlab", body, headers)
    assert second == (200, {"result": "duplicate"})
    assert await settle(app) == 2


async def test_pushed_commit_not_yet_visible_is_retried(running, remote, good_files) -> None:
    app, sub = running
    before = sub.digest
    sha = remote.commit("v2, pushed late", good_files(resources=("orders", "users")))
    body = push_payload(sha)
    status, _ = await post(app.http_port, "generic", body, headers_for("generic", body))
    assert status == 202
    await asyncio.sleep(0.3)  # the reconcile has fetched and not found the commit yet
    assert app.status.view().serving_digest == before
    remote.push()
    await eventually(lambda: app.status.view().serving_revision == f"main@sha1:{sha}")
    await eventually(lambda: sub.digest != before)


def _junk(rng: random.Random) -> bytes:
    choices: list[Any] = [
        None,
        [],
        "refs/heads/main",
        {"ref": 1, "after": None},
        {"ref": "refs/heads/main"},
        {"ref": "refs/heads/main", "after": "not-a-sha"},
        {"ref": "main", "after": "a" * 40},
        {"ref": ["refs/heads/main"], "after": "a" * 40},
        {"after": "a" * 40},
        {"ref": "refs/heads/main", "after": "A" * 40},
        {"ref": "refs/heads/main", "after": "a" * 39},
        {"ref": "refs/heads/" + "x" * 1000, "after": "a" * 40},
    ]
    kind = rng.randrange(4)
    if kind == 0:
        return json.dumps(rng.choice(choices)).encode()
    if kind == 1:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
    if kind == 2:
        return b"[" * rng.randrange(1, 5000) + b"]" * rng.randrange(0, 10)
    text = json.dumps({"ref": "refs/heads/main", "after": "b" * 40})
    cut = rng.randrange(len(text))
    return text[:cut].encode() + bytes([rng.randrange(256)]) + text[cut + 1 :].encode()


async def test_malformed_payloads_never_crash_the_receiver(running) -> None:
    app, _ = running
    rng = random.Random(20261129)
    seen: set[int] = set()
    async with aiohttp.ClientSession() as session:
        for _ in range(150):
            body = _junk(rng)
            async with session.post(
                f"http://127.0.0.1:{app.http_port}/webhook/generic",
                data=body,
                headers=headers_for("generic", body),
            ) as response:
                seen.add(response.status)
                assert response.status in (200, 202, 400), (response.status, body[:80])
        async with session.get(f"http://127.0.0.1:{app.http_port}/healthz") as response:
            assert response.status == 200
    assert 400 in seen


async def test_unconfigured_provider_is_404_and_insecure_mode_accepts_unsigned(
    remote, good_files, start_app, capsys
) -> None:
    sha = remote.commit_and_push("v1", good_files())
    body = push_payload(sha)
    strict = await start_app(webhook=WebhookConfig(secrets=WebhookSecrets(github=b"only-github")))
    status, answer = await post(strict.http_port, "gitlab", body, headers_for("gitlab", body))
    assert (status, answer["result"]) == (404, "disabled")

    loose = await start_app(
        webhook=WebhookConfig(secrets=WebhookSecrets(github=b"only-github"), insecure=True),
        state_dir=strict.config.server.state_dir.parent / "state-loose",
    )
    logged = capsys.readouterr()
    assert "INSECURE_WEBHOOKS" in logged.out + logged.err
    unsigned = headers_for("generic", body, signed=False)
    assert (await post(loose.http_port, "generic", body, unsigned))[0] == 202
    # A provider that has a secret still needs its signature, insecure mode or not.
    unsigned = headers_for("github", body, signed=False)
    assert (await post(loose.http_port, "github", body, unsigned))[0] == 401


async def test_status_metrics_and_probes_over_http(running) -> None:
    app, sub = running
    base = f"http://127.0.0.1:{app.http_port}"
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/status") as r:
            status = await r.json()
        async with session.get(f"{base}/metrics") as r:
            metrics = await r.text()
        async with session.get(f"{base}/readyz") as r:
            ready = r.status
    assert status["serving_digest"] == sub.digest
    ready_condition = status["conditions"][0]
    assert (ready_condition["type"], ready_condition["status"]) == ("Ready", True)
    assert ready_condition["reason"] == "Succeeded"
    assert ready == 200
    assert 'hessra_policy_sync_reconciles_total{result="applied"} 1.0' in metrics
    assert "hessra_policy_sync_subscribers 1.0" in metrics
    assert f'digest="{sub.digest}"' in metrics
