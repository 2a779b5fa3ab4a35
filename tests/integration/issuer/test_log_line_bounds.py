"""A caller cannot make the issuer write megabyte log lines.

The interceptor logs the request's resource and operation before anyone is
authenticated; on the identity listener any TLS client may call. A 1 MB resource name
used to be copied whole into the log line of every such request.
"""

from __future__ import annotations

from typing import Any

import grpc
import grpc.aio
import pytest
import structlog

from hessra.v1 import issuer_pb2

# Far over the 512-character cut, while the request (two of these) stays under the
# servers' 512 KiB receive cap, which refuses larger requests before any log line.
BIG = "r" * 200_000


@pytest.mark.parametrize("identity_port", [True, False], ids=["anonymous", "mtls"])
async def test_caller_supplied_fields_are_cut_in_the_log_line(
    issuer: Any, identity_port: bool
) -> None:
    stub = issuer.stub(None if identity_port else "serial", identity_port=identity_port)
    with structlog.testing.capture_logs() as logs, pytest.raises(grpc.aio.AioRpcError):
        await stub.RequestToken(
            issuer_pb2.RequestTokenRequest(resource=BIG, operation=BIG), timeout=10
        )
    (line,) = [entry for entry in logs if entry["event"] == "rpc"]
    for name in ("resource", "operation"):
        assert line[name].startswith("r" * 100)
        assert len(line[name]) < 600
        assert "more characters" in line[name]
    assert len(repr(line)) < 10_000
