"""A local policy directory watched with watchdog, end to end to a real subscriber."""

from __future__ import annotations

import pytest

from hessra_policy_sync.config import DirSourceConfig
from hessra_policy_sync.testing import conditions, eventually

pytestmark = pytest.mark.slow


async def test_edits_in_a_watched_directory_propagate(
    tmp_path, good_files, start_app, subscriber_factory, client_factory
) -> None:
    policy = tmp_path / "policy"
    policy.mkdir()
    for name, text in good_files(resources=("orders",)).items():
        (policy / name).write_text(text)
    source = DirSourceConfig(path=policy, poll_interval=60.0, poll_jitter=0.0, debounce=0.05)
    app = await start_app(source=source, state_dir=tmp_path / "state-dir")
    sub = await subscriber_factory(app.grpc_port)
    admin = client_factory(app.grpc_port)
    await eventually(lambda: sub.digest != "")
    first = sub.digest
    status = await admin.status()
    assert status.serving_revision == f"dir:{policy.resolve()}"
    assert status.source == f"dir:{policy.resolve()}"
    assert status.branch == ""

    # A burst of writes (an editor saving twice) lands as one new snapshot.
    for name, text in good_files(resources=("orders", "users")).items():
        (policy / name).write_text(text)
    await eventually(lambda: sub.digest != first)
    second = sub.digest

    # A bad edit is not applied; fixing it is.
    (policy / "clients.toml").write_text("version = [oops")
    await eventually(lambda: app.status.view().last_error is not None)
    assert conditions(await admin.status())["Ready"] == (False, "ValidationFailed")
    assert sub.digest == second
    for name, text in good_files(resources=("orders",)).items():
        (policy / name).write_text(text)
    await eventually(lambda: sub.digest == first)
    assert conditions(await admin.status())["Ready"] == (True, "Succeeded")
