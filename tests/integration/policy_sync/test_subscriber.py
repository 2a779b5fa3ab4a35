"""SnapshotSubscriber against a real policy-sync over mTLS: persistence, resume, bad digests."""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from hessra_core.policy.snapshot import compile_policy_dir
from hessra_core.rpc.subscriber import SnapshotSubscriber
from hessra_core.snapshot_file import read_snapshot_file, save_snapshot
from hessra_policy_sync.testing import eventually, make_config

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def compiled(tmp_path: Path, files: dict[str, str], name: str):  # type: ignore[no-untyped-def]
    d = tmp_path / name
    d.mkdir()
    for fname, text in files.items():
        (d / fname).write_text(text)
    return compile_policy_dir(d)


async def test_starts_from_persisted_copy_then_follows_policy_sync(
    tmp_path, remote, good_files, start_app, subscriber_factory
) -> None:
    old = compiled(tmp_path, good_files(resources=("legacy",)), "old")
    persist = tmp_path / "issuer.bin"
    save_snapshot(persist, old)
    port = free_port()
    seen: list[str] = []

    sub = await subscriber_factory(port, persist=persist)
    sub.add_listener(lambda s: seen.append(s.digest))
    # Nobody listens on the port yet: the persisted copy serves.
    assert sub.digest == old.digest
    await eventually(lambda: sub.reconnects >= 2)
    assert sub.current is not None
    assert sub.current.revision == old.revision
    labels = {"target": sub.target}
    assert REGISTRY.get_sample_value("hessra_policy_subscription_connected", labels) == 0
    reconnects = REGISTRY.get_sample_value("hessra_policy_subscription_reconnects_total", labels)
    assert reconnects is not None
    assert reconnects >= 2

    v1 = good_files(resources=("orders",))
    remote.commit_and_push("v1", v1)
    fresh = compiled(tmp_path, v1, "v1")
    app = await start_app(grpc_port=port)
    await eventually(lambda: sub.digest == fresh.digest, within=15)
    assert seen == [fresh.digest]
    # The persisted copy follows: what a restart would start from is the new snapshot.
    payload = read_snapshot_file(persist)
    assert payload is not None
    assert fresh.digest.encode() in payload
    assert app.servicer.subscribers == 1
    assert REGISTRY.get_sample_value("hessra_policy_subscription_connected", labels) == 1


async def test_damaged_persisted_copy_is_ignored(tmp_path, subscriber_factory) -> None:
    persist = tmp_path / "issuer.bin"
    persist.write_bytes(b"HESSRA-SNAPSHOT 1\nsha256:" + b"0" * 64 + b"\n\x0a\x03abc")
    sub = await subscriber_factory(free_port(), persist=persist)
    assert sub.current is None
    assert sub.digest == ""


class _Tampered:
    """A snapshot whose content no longer matches its digest, as a corrupted sender would send."""

    def __init__(self, real) -> None:  # type: ignore[no-untyped-def]
        self._real = real
        self.revision = real.revision
        self.digest = "sha256:" + "0" * 64

    def to_proto(self):  # type: ignore[no-untyped-def]
        message = self._real.to_proto()
        message.digest = self.digest
        return message


async def test_snapshot_with_wrong_digest_is_rejected(
    tmp_path, remote, good_files, start_app, subscriber_factory
) -> None:
    remote.commit_and_push("v1", good_files(resources=("orders",)))
    app = await start_app()
    sub = await subscriber_factory(app.grpc_port)
    await eventually(lambda: sub.digest != "")
    good = app.hub.current
    assert good is not None
    received = sub.received

    app.hub.publish(_Tampered(compiled(tmp_path, good_files(resources=("evil",)), "evil")))
    # The bad snapshot is refused; then a good one still gets through on the same stream.
    newer = compiled(tmp_path, good_files(resources=("orders", "users")), "newer")
    app.hub.publish(newer)
    await eventually(lambda: sub.digest == newer.digest)
    assert sub.received == received + 1


async def test_plaintext_grpc_only_when_asked_and_loudly(
    tmp_path, remote, good_files, start_app, dev_pki, capsys
) -> None:
    remote.commit_and_push("v1", good_files())
    server = make_config(dev_pki, tmp_path / "state", remote.url).server
    app = await start_app(server=replace(server, plaintext_grpc=True))
    logged = capsys.readouterr()
    assert "INSECURE_PLAINTEXT_GRPC" in logged.out + logged.err
    sub = SnapshotSubscriber(f"127.0.0.1:{app.grpc_port}", None, tmp_path / "plain.bin")
    logged = capsys.readouterr()
    assert "INSECURE_PLAINTEXT_SUBSCRIPTION" in logged.out + logged.err
    await sub.start()
    try:
        await eventually(lambda: sub.digest != "")
    finally:
        await sub.stop()
