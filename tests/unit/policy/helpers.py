"""Small builders for policy trees in tests."""

from __future__ import annotations

from pathlib import Path

from hessra_core.policy import Snapshot, compile_policy_dir


def write_tree(root: Path, clients: str, resources: str | None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "clients.toml").write_text(clients)
    if resources is not None:
        (root / "resources.toml").write_text(resources)
    return root


def client_block(
    kind: str, value: str, grants: str = '{ name = "users", operations = ["read"] }'
) -> str:
    identifier = f'identifier = {{ type = "{kind}", value = "{value}" }}'
    return f"[[clients]]\n{identifier}\nresources = [{grants}]\n"


def snapshot_of(root: Path, clients: str, resources: str = "[resources.users]\n") -> Snapshot:
    header = 'version = "0.2.0"\n'
    return compile_policy_dir(write_tree(root, header + clients, header + resources))
