"""Render the kustomize overlays in deploy/k8s once per session, with the real kubectl."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
OVERLAYS = ("dev", "prod", "partner-signer")
KUBECTL = shutil.which("kubectl")

_rendered: dict[str, list[dict[str, Any]]] = {}


def render(overlay: str) -> list[dict[str, Any]]:
    """``kubectl kustomize deploy/k8s/overlays/<overlay>`` as a list of objects."""
    if KUBECTL is None:
        pytest.skip("kubectl is not installed: cannot render the kustomize overlays")
    if overlay not in _rendered:
        done = subprocess.run(
            [KUBECTL, "kustomize", str(K8S / "overlays" / overlay)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"kubectl kustomize {overlay} failed:\n{done.stderr}"
        _rendered[overlay] = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
    return _rendered[overlay]


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def pod_specs(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        name: d["spec"]["template"]["spec"] for name, d in by_kind(objects, "Deployment").items()
    }
