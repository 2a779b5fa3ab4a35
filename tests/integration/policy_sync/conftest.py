"""Fixtures for policy-sync integration tests: real git remotes, real mTLS, real servers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from hessra_core.rpc.subscriber import SnapshotSubscriber
from hessra_core.testing import GitRemote
from hessra_policy_sync.app import PolicySyncApp
from hessra_policy_sync.testing import (
    ADMIN_URI,
    ISSUER_URI,
    DevPki,
    PolicySyncClient,
    make_config,
    policy_files,
)


@pytest.fixture(scope="session")
def dev_pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    return DevPki.create(tmp_path_factory.mktemp("pki"), {"admin": ADMIN_URI, "issuer": ISSUER_URI})


@pytest.fixture
def remote(tmp_path: Path) -> GitRemote:
    return GitRemote(tmp_path / "repo")


@pytest.fixture
def good_files(dev_pki: DevPki) -> Callable[..., dict[str, str]]:
    def make(**kwargs: Any) -> dict[str, str]:
        return policy_files(dev_pki.ca_pem, **kwargs)

    return make


AppFactory = Callable[..., Awaitable[PolicySyncApp]]


@pytest.fixture
async def start_app(
    dev_pki: DevPki, tmp_path: Path, remote: GitRemote
) -> AsyncIterator[AppFactory]:
    apps: list[PolicySyncApp] = []

    async def start(**kwargs: Any) -> PolicySyncApp:
        overrides = {k: kwargs.pop(k) for k in ("server", "source", "webhook") if k in kwargs}
        state_dir = kwargs.pop("state_dir", tmp_path / "state")
        url = kwargs.pop("url", remote.url)
        grpc_port = kwargs.pop("grpc_port", 0)
        config = make_config(dev_pki, state_dir, url, **kwargs)
        config = replace(config, **overrides)
        if grpc_port:
            server = replace(config.server, grpc_listen=f"127.0.0.1:{grpc_port}")
            config = replace(config, server=server)
        app = PolicySyncApp(config, retry_delay=0.05)
        await app.start()
        apps.append(app)
        return app

    yield start
    for app in apps:
        await app.stop(grace=0.1)


@pytest.fixture
async def subscriber_factory(
    dev_pki: DevPki, tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[SnapshotSubscriber]]]:
    subs: list[SnapshotSubscriber] = []

    async def make(
        port: int, *, name: str = "issuer", persist: Path | None = None
    ) -> SnapshotSubscriber:
        sub = SnapshotSubscriber(
            f"127.0.0.1:{port}",
            dev_pki.channel_credentials("issuer"),
            persist if persist is not None else tmp_path / f"sub-{len(subs)}.bin",
            name=name,
            backoff_initial=0.05,
            backoff_max=0.5,
        )
        await sub.start()
        subs.append(sub)
        return sub

    yield make
    for sub in subs:
        await sub.stop()


@pytest.fixture
async def client_factory(dev_pki: DevPki) -> AsyncIterator[Callable[..., PolicySyncClient]]:
    clients: list[PolicySyncClient] = []

    def make(port: int, identity: str = "admin") -> PolicySyncClient:
        client = PolicySyncClient(port, dev_pki.channel_credentials(identity))
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()
