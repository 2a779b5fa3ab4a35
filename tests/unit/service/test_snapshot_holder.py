"""The shared snapshot holder: atomic swap by digest, trust anchors, listeners, readiness."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hessra_core.errors import NotReadyError
from hessra_core.policy import compile_policy_dir
from hessra_core.rpc import Listener, start_server
from hessra_core.service.snapshot_holder import ServeWhenReady, ServingState, SnapshotHolder

WritePolicy = Callable[..., Path]


def test_nothing_is_served_before_the_first_snapshot() -> None:
    holder = SnapshotHolder(b"EXTRA")
    assert holder.state is None
    assert holder.client_ca_pem == b"EXTRA"
    with pytest.raises(NotReadyError, match="no policy snapshot loaded yet"):
        holder.require()


@pytest.mark.parametrize(
    ("extra", "cas"),
    [(b"", 1), (b"", 2), (b"-----EXTRA-----", 1)],
    ids=["one-ca", "two-cas", "extra-ca"],
)
def test_a_new_snapshot_swaps_state_and_trust(
    write_policy: WritePolicy, ca_pems: tuple[bytes, bytes], extra: bytes, cas: int
) -> None:
    snapshot = compile_policy_dir(write_policy(cas=cas))
    holder = SnapshotHolder(extra)
    assert holder.set(snapshot) is True
    state = holder.require()
    assert state is holder.state
    assert state.snapshot is snapshot
    assert (state.revision, state.digest) == (str(snapshot.revision), str(snapshot.digest))
    assert len(state.anchors) == cas
    assert holder.client_ca_pem.startswith(b"".join(ca_pems[:cas]).strip())
    assert holder.client_ca_pem.endswith(b"\n" + extra if extra else b"-----\n")


def test_the_same_digest_again_changes_nothing(write_policy: WritePolicy) -> None:
    directory = write_policy()
    holder = SnapshotHolder()
    seen: list[ServingState] = []
    holder.on_change(seen.append)
    assert holder.set(compile_policy_dir(directory)) is True
    first = holder.state
    assert holder.set(compile_policy_dir(directory)) is False
    assert holder.state is first
    assert seen == [first]


def test_listeners_hear_every_change_and_late_ones_the_current_state(
    write_policy: WritePolicy,
) -> None:
    holder = SnapshotHolder()
    early: list[str] = []
    holder.on_change(lambda s: early.append(s.digest))
    one = compile_policy_dir(write_policy(resources=("orders",)))
    two = compile_policy_dir(write_policy(resources=("orders", "reports")))
    holder.set(one)
    holder.set(two)
    assert early == [one.digest, two.digest]
    late: list[str] = []
    holder.on_change(lambda s: late.append(s.digest))
    assert late == [two.digest]


class _CorruptCa:
    """A snapshot whose ``[cacerts]`` does not parse (validation normally stops this)."""

    revision = "r1"
    digest = "sha256:corrupt"
    ca_certs = "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"


def test_unparseable_cacerts_trust_nothing() -> None:
    holder = SnapshotHolder()
    assert holder.set(_CorruptCa()) is True
    assert holder.require().anchors == ()


async def _server() -> Any:
    return await start_server(
        listeners=[Listener("127.0.0.1:0", None)], services=[], service_names=["demo.Svc"]
    )


async def test_serve_when_ready_turns_health_serving_from_any_thread(
    write_policy: WritePolicy,
) -> None:
    running = await _server()
    try:
        holder = SnapshotHolder()
        holder.on_change(ServeWhenReady(running))
        assert running.serving is False
        snapshot = compile_policy_dir(write_policy())
        thread = threading.Thread(target=holder.set, args=(snapshot,))
        thread.start()
        thread.join()
        for _ in range(200):
            if running.serving:
                break
            await asyncio.sleep(0.01)
        assert running.serving is True
    finally:
        await running.stop(0)


async def test_serve_when_ready_fires_at_once_for_a_snapshot_already_held(
    write_policy: WritePolicy,
) -> None:
    holder = SnapshotHolder()
    holder.set(compile_policy_dir(write_policy()))
    running = await _server()
    try:
        holder.on_change(ServeWhenReady(running))
        for _ in range(200):
            if running.serving:
                break
            await asyncio.sleep(0.01)
        assert running.serving is True
    finally:
        await running.stop(0)
