"""Once shutdown begins, readiness stays off: a snapshot arriving during the grace period
must not report the server SERVING again (in its state or its log)."""

from __future__ import annotations

from typing import Any

import grpc
import structlog

from hessra_core.rpc import DynamicServerCredentials, Listener, start_server


async def test_set_serving_after_stop_changes_nothing(rpc_pki: Any) -> None:
    creds = DynamicServerCredentials(
        rpc_pki.cert_file, rpc_pki.key_file, client_ca=lambda: rpc_pki.ca.cert_pem
    )
    handler = grpc.method_handlers_generic_handler("test.Echo", {})
    running = await start_server(
        listeners=[Listener("127.0.0.1:0", creds.server_credentials())],
        services=[(lambda _s, server: server.add_generic_rpc_handlers((handler,)), None)],
        service_names=["test.Echo"],
        serving=True,
        reflection_enabled=False,
    )
    assert running.serving is True
    await running.stop(0)
    assert running.serving is False
    with structlog.testing.capture_logs() as logs:
        await running.set_serving(True)  # what ServeWhenReady does on a late snapshot
    assert running.serving is False
    assert [e for e in logs if e["event"] == "health_changed"] == []
