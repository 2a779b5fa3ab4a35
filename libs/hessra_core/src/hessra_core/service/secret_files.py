"""Secret files other users on the host can read or write, named in a start-up warning.

A world-readable signing key lets anyone on the host mint or co-sign tokens; a readable
TLS key or git credential lets them impersonate the service. Services warn rather than
refuse: some platforms mount secrets world-readable by default (Docker's are 0444),
while the Kubernetes manifests' 0440 (owner and group only) stays quiet.

    warn_exposed_secret_files(log, {"server.key_file": cfg.key_file, ...})

logs one ``private_key_file_exposed`` warning per exposed file, with the setting that
names it, its path and its mode (never its contents). The issuer, the signer and
policy-sync each call it at start-up.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXPOSED_EVENT = "private_key_file_exposed"
_OTHER_BITS = 0o007
_NOTE = "other users may read or replace this file; make it 0600 or 0440"


@dataclass(frozen=True)
class ExposedFile:
    setting: str
    path: Path
    mode: str  # as ``0644``


def exposed_secret_files(files: Mapping[str, Path | None]) -> list[ExposedFile]:
    """The files of ``files`` (setting -> path; None is skipped) with any 'other' permission
    bit, in the mapping's order. A file that cannot be stat'ed is skipped: reading it is the
    loader's job, and the loader reports it."""
    exposed = []
    for setting, path in files.items():
        if path is None:
            continue
        try:
            mode = os.stat(path).st_mode  # follows symlinks, as Kubernetes secret mounts use
        except OSError:
            continue
        if mode & _OTHER_BITS:
            exposed.append(ExposedFile(setting, Path(path), f"{mode & 0o777:04o}"))
    return exposed


def warn_exposed_secret_files(log: Any, files: Mapping[str, Path | None]) -> list[ExposedFile]:
    """Log ``private_key_file_exposed`` (a warning) for each exposed file; return them."""
    exposed = exposed_secret_files(files)
    for item in exposed:
        log.warning(
            EXPOSED_EVENT, setting=item.setting, path=str(item.path), mode=item.mode, note=_NOTE
        )
    return exposed


__all__ = ["EXPOSED_EVENT", "ExposedFile", "exposed_secret_files", "warn_exposed_secret_files"]
