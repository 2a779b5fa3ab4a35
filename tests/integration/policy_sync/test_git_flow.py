"""policy-sync against real git remotes, observed through a real mTLS subscriber and GetStatus.

Every step pushes to a bare repository served as ``file://``, asks for a reconcile
over gRPC (``Resync`` as the admin identity) and then checks what a real
``SnapshotSubscriber`` holds and what ``GetStatus`` reports.
"""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from hessra_core.policy.snapshot import compile_policy_dir
from hessra_policy_sync.testing import conditions, eventually

pytestmark = pytest.mark.slow


def expected_digest(tmp_path, files) -> str:  # type: ignore[no-untyped-def]
    """The digest the policy engine gives these files, compiled independently of policy-sync."""
    d = tmp_path / f"expect-{len(list(tmp_path.glob('expect-*')))}"
    d.mkdir()
    for name, content in files.items():
        (d / name).write_text(content)
    return compile_policy_dir(d).digest


async def test_good_bad_good_then_bad_and_revert(
    tmp_path, remote, good_files, start_app, subscriber_factory, client_factory
) -> None:
    v1 = good_files(resources=("orders",))
    sha1 = remote.commit_and_push("v1", v1)
    app = await start_app()
    sub = await subscriber_factory(app.grpc_port)
    admin = client_factory(app.grpc_port)

    d1 = expected_digest(tmp_path, v1)
    await eventually(lambda: sub.digest == d1)
    status = await admin.status()
    assert status.serving_revision == f"main@sha1:{sha1}"
    assert status.serving_digest == d1
    assert conditions(status)["Ready"] == (True, "Succeeded")
    assert status.source == remote.url
    assert status.branch == "main"

    # A bad commit: typo in a resource name. Never applied; status says why, with file:line.
    bad_sha = remote.commit_and_push("typo", good_files(resources=("orders",), typo=True))
    response = await admin.resync()
    assert response.accepted
    assert not response.changed
    assert response.revision == f"main@sha1:{sha1}"
    assert response.error.revision == f"main@sha1:{bad_sha}"
    status = await admin.status()
    assert status.serving_digest == d1 == sub.digest
    assert conditions(status)["Ready"] == (False, "ValidationFailed")
    assert conditions(status)["Stalled"] == (True, "ValidationFailed")
    [diag] = status.last_error.diagnostics
    assert (diag.path, diag.line > 0, "unknown resource `orderx`" in diag.message) == (
        "clients.toml",
        True,
        True,
    )
    assert status.last_fetch_revision == f"main@sha1:{bad_sha}"

    # Asking again for the same bad revision changes nothing and keeps the failure visible.
    again = await admin.resync()
    assert again.error.revision == f"main@sha1:{bad_sha}"
    assert conditions(await admin.status())["Ready"] == (False, "ValidationFailed")

    # The next good commit applies.
    v2 = good_files(resources=("orders", "users"))
    sha2 = remote.commit_and_push("v2", v2)
    response = await admin.resync()
    d2 = expected_digest(tmp_path, v2)
    assert response.changed
    assert response.revision == f"main@sha1:{sha2}"
    await eventually(lambda: sub.digest == d2)
    status = await admin.status()
    assert conditions(status)["Ready"] == (True, "Succeeded")
    assert conditions(status)["Stalled"][0] is False
    assert not status.HasField("last_error")

    # Another bad commit, then its revert: a revert is just a good commit. The content is
    # v2's again, so subscribers keep their digest while the revision moves on.
    bad2 = remote.commit_and_push("typo again", good_files(resources=("orders",), typo=True))
    assert (await admin.resync()).error.revision == f"main@sha1:{bad2}"
    assert conditions(await admin.status())["Ready"] == (False, "ValidationFailed")
    sha3 = remote.revert(bad2)
    response = await admin.resync()
    assert not response.HasField("error")
    assert response.revision == f"main@sha1:{sha3}"
    status = await admin.status()
    assert status.serving_revision == f"main@sha1:{sha3}"
    assert status.serving_digest == d2 == sub.digest
    assert conditions(status)["Ready"] == (True, "Succeeded")


async def test_force_push_rewrites_history(
    tmp_path, remote, good_files, start_app, subscriber_factory, client_factory
) -> None:
    base = remote.commit_and_push("base", good_files(resources=("orders",)))
    remote.commit_and_push("v2", good_files(resources=("orders", "users")))
    app = await start_app()
    sub = await subscriber_factory(app.grpc_port)
    admin = client_factory(app.grpc_port)
    await eventually(lambda: sub.digest != "")

    # Rewrite: drop v2 and push a different commit on top of base, forced.
    remote.run("reset", "--hard", base)
    v3 = good_files(resources=("orders", "payments"))
    sha3 = remote.commit("v3 rewritten", v3)
    remote.push(force=True)
    response = await admin.resync()
    assert response.changed
    assert response.revision == f"main@sha1:{sha3}"
    await eventually(lambda: sub.digest == expected_digest(tmp_path, v3))
    assert conditions(await admin.status())["Ready"] == (True, "Succeeded")


async def test_other_branch_is_not_followed(
    tmp_path, remote, good_files, start_app, subscriber_factory, client_factory
) -> None:
    v1 = good_files(resources=("orders",))
    sha1 = remote.commit_and_push("v1", v1)
    app = await start_app()
    sub = await subscriber_factory(app.grpc_port)
    admin = client_factory(app.grpc_port)
    await eventually(lambda: sub.digest == expected_digest(tmp_path, v1))

    remote.switch("feature", create=True)
    remote.commit("feature work", good_files(resources=("orders", "users")))
    remote.push("feature")
    response = await admin.resync()
    assert not response.changed
    assert response.revision == f"main@sha1:{sha1}"
    assert sub.digest == expected_digest(tmp_path, v1)
    assert (await admin.status()).last_fetch_revision == f"main@sha1:{sha1}"


async def test_subpath_and_missing_subpath(
    tmp_path, remote, good_files, start_app, subscriber_factory, client_factory
) -> None:
    # Policy lives in policy/prod; other files elsewhere in the repo are irrelevant.
    inside = good_files(resources=("orders",), prefix="policy/prod/")
    outside = good_files(resources=("decoy",), prefix="policy/staging/")
    sha1 = remote.commit_and_push("v1", {**inside, **outside, "README.md": "hi"})
    app = await start_app(subpath="policy/prod")
    sub = await subscriber_factory(app.grpc_port)
    admin = client_factory(app.grpc_port)
    plain = good_files(resources=("orders",))
    await eventually(lambda: sub.digest == expected_digest(tmp_path, plain))
    assert (await admin.status()).serving_revision == f"main@sha1:{sha1}"

    # Moving the directory away is a validation failure naming the missing files.
    gone = {name: None for name in inside}
    bad = remote.commit_and_push("move away", gone)
    response = await admin.resync()
    assert response.error.revision == f"main@sha1:{bad}"
    paths = {d.path for d in response.error.diagnostics}
    assert "clients.toml" in paths
    assert sub.digest == expected_digest(tmp_path, plain)


async def test_unreachable_remote_reports_fetch_failed_without_credentials(
    tmp_path, start_app, client_factory, capsys
) -> None:
    url = f"https://user:hunter2@127.0.0.1:9/{tmp_path.name}.git"
    app = await start_app(url=url)
    admin = client_factory(app.grpc_port)
    response = await admin.resync()
    assert response.revision == ""
    assert response.error.step == response.error.FETCH
    status = await admin.status()
    assert conditions(status)["Ready"] == (False, "FetchFailed")
    assert conditions(status)["Stalled"] == (False, "Retrying")
    assert not status.HasField("last_fetch_time")  # never stamped by a failed fetch
    text = str(status)
    assert "hunter2" not in text
    assert "user:" not in text
    assert status.source == f"https://127.0.0.1:9/{tmp_path.name}.git"
    logged = capsys.readouterr()
    assert "FetchFailed" in logged.out + logged.err
    assert "hunter2" not in logged.out + logged.err


async def test_resync_needs_an_allowed_identity(remote, good_files, start_app, client_factory):
    remote.commit_and_push("v1", good_files())
    app = await start_app()
    issuer = client_factory(app.grpc_port, "issuer")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await issuer.resync()
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "resync_allowed" in info.value.details()
    # Reading status is open to any authenticated subscriber.
    assert (await issuer.status()).source == remote.url


async def test_health_follows_the_snapshot_and_reflection_lists_the_service(
    remote, good_files, start_app, client_factory
) -> None:
    app = await start_app()  # nothing pushed yet: no snapshot
    admin = client_factory(app.grpc_port)
    health = health_pb2_grpc.HealthStub(admin.channel)
    request = health_pb2.HealthCheckRequest(service="hessra.v1.PolicySync")
    answer = await health.Check(request, timeout=5)
    assert answer.status == health_pb2.HealthCheckResponse.NOT_SERVING

    remote.commit_and_push("v1", good_files())
    await admin.resync()
    await eventually(lambda: app.hub.current is not None)

    async def serving() -> bool:
        return (await health.Check(request, timeout=5)).status == (
            health_pb2.HealthCheckResponse.SERVING
        )

    for _ in range(100):
        if await serving():
            break
        await asyncio.sleep(0.02)
    assert await serving()

    stub = reflection_pb2_grpc.ServerReflectionStub(admin.channel)
    query = reflection_pb2.ServerReflectionRequest(list_services="")
    async for reply in stub.ServerReflectionInfo(iter([query]), timeout=5):
        names = {s.name for s in reply.list_services_response.service}
        break
    assert "hessra.v1.PolicySync" in names
