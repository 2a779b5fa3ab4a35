"""A consistent private copy of the policy files of a directory that may change at any time.

The validator reads ``resources.toml`` and then ``clients.toml``. Read in place, a
change to both (a ``git pull``, a Kubernetes ConfigMap update) landing between the
two reads gives a policy nobody wrote, which may be valid and looser than either
state. So a watched directory is compiled from a copy, taken when a stamp of the
directory (its caller's fingerprint) is the same after copying as before.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from hessra_core.policy.validate import CLIENTS_FILE, RESOURCES_FILE

_Stamp = TypeVar("_Stamp")

POLICY_FILES = (CLIENTS_FILE, RESOURCES_FILE)


def copy_policy_files(directory: Path, dest: Path) -> None:
    """Copy the policy files of ``directory`` into ``dest`` (an existing directory).

    Regular files are copied through symlinks, as the validator would read them. Anything
    else that exists (a directory, a FIFO, a dangling link) is linked, not read, so the
    validator still says what it is. Raises ``OSError``.
    """
    for name in POLICY_FILES:
        source, target = Path(directory) / name, Path(dest) / name
        target.unlink(missing_ok=True)
        if source.is_file():
            shutil.copyfile(source, target)
        elif os.path.lexists(source):
            target.symlink_to(source)


def copy_when_stable(
    directory: Path,
    dest: Path,
    stamp: Callable[[Path], _Stamp],
    before: _Stamp,
    *,
    attempts: int = 5,
) -> bool:
    """Copy the policy files until ``stamp(directory)`` is the same after a copy as before it.

    ``before`` is the stamp taken last (when the caller decided to compile). False when the
    directory kept changing for ``attempts`` copies. Raises ``OSError``.
    """
    for _ in range(attempts):
        copy_policy_files(directory, dest)
        after = stamp(directory)
        if after == before:
            return True
        before = after
    return False


__all__ = ["POLICY_FILES", "copy_policy_files", "copy_when_stable"]
