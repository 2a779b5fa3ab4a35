"""One publish, many subscribers: the snapshot is converted to its message once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hessra_core.policy.snapshot import compile_policy_dir
from hessra_policy_sync.testing import eventually

pytestmark = pytest.mark.slow


class _Counted:
    """A real snapshot that counts its conversions to a protobuf message."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.revision = real.revision
        self.digest = real.digest
        self.conversions = 0

    def to_proto(self) -> Any:
        self.conversions += 1
        return self._real.to_proto()


async def test_publish_converts_once_for_all_streams(
    tmp_path: Path, remote, good_files, start_app, subscriber_factory
) -> None:
    remote.commit_and_push("v1", good_files(resources=("orders",)))
    app = await start_app()
    await eventually(lambda: app.hub.current is not None, within=15)
    real = app.hub.current
    assert real is not None
    subs = [await subscriber_factory(app.grpc_port, name=f"issuer-{i}") for i in range(6)]
    await eventually(lambda: all(s.digest == real.digest for s in subs), within=15)
    await eventually(lambda: app.servicer.subscribers == len(subs), within=5)

    tree = tmp_path / "v2"
    tree.mkdir()
    for name, text in good_files(resources=("orders", "users")).items():
        (tree / name).write_text(text)
    counted = _Counted(compile_policy_dir(tree))
    app.hub.publish(counted)
    await eventually(lambda: all(s.digest == counted.digest for s in subs), within=15)
    assert counted.conversions == 1
