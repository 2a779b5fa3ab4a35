"""Reconnect backoff against a real policy-sync whose streams end as soon as they open.

That is policy-sync between ``hub.close()`` and the end of its shutdown, or a server
that accepts a stream and drops it at once: each attempt "connects". If connecting
reset the backoff, every subscriber would retry every ~0.1 s for as long as it lasts.
"""

from __future__ import annotations

import asyncio

import pytest

from hessra_core.rpc.subscriber import SnapshotSubscriber
from hessra_policy_sync.testing import eventually

pytestmark = pytest.mark.slow


async def test_streams_that_end_at_once_do_not_reset_the_backoff(
    dev_pki, remote, good_files, start_app
) -> None:
    remote.commit_and_push("v1", good_files())
    app = await start_app()
    await eventually(lambda: app.hub.current is not None, within=15)
    app.hub.close()  # every WatchSnapshots call now ends right after its headers
    sub = SnapshotSubscriber(
        f"127.0.0.1:{app.grpc_port}",
        dev_pki.channel_credentials("issuer"),
        name="issuer",
        backoff_initial=0.05,
        backoff_max=1.0,
    )
    await sub.start()
    try:
        await asyncio.sleep(3.0)
        # Doubling from 0.05 s to 1 s: about 10 attempts in 3 s. Resetting on each
        # connect retries every 0.05-0.1 s: 30 or more.
        assert 2 <= sub.reconnects <= 18, sub.reconnects
    finally:
        await sub.stop()
