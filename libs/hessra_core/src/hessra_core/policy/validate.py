"""Validate a policy tree: every check, every problem at once, nothing raised for bad input.

``read_policy_dir`` is the one entry point; it returns the model (when there is no
error) and every diagnostic, sorted by file and position.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from hessra_core.policy._checks import Reporter, check_keys, describe
from hessra_core.policy.diagnostics import Diagnostic, Severity, has_errors
from hessra_core.policy.loader import TomlDocument, parse_toml
from hessra_core.policy.model import POLICY_VERSION, Policy
from hessra_core.policy.validate_certs import check_cert_chain
from hessra_core.policy.validate_clients import parse_clients
from hessra_core.policy.validate_resources import parse_resources

CLIENTS_FILE = "clients.toml"
RESOURCES_FILE = "resources.toml"
# A policy file larger than this is refused before parsing: policies are text written by
# people, and an unbounded read is a way to exhaust memory.
MAX_FILE_BYTES = 32 * 1024 * 1024
# The first line of every Git LFS pointer file.
_LFS_POINTER = "version https://git-lfs.github.com/spec/"


@dataclass(frozen=True)
class ReadResult:
    policy: Policy | None
    diagnostics: tuple[Diagnostic, ...]
    ca_certificates: tuple[x509.Certificate, ...] = ()

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if not d.is_error)


_NOT_REGULAR = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _read(r: Reporter, path: Path) -> str | None:
    # O_NONBLOCK: opening a FIFO must not wait for a writer. The type is checked on the open
    # descriptor, and the read itself is bounded, so neither a FIFO, a device (a link to
    # /dev/zero never ends) nor a file growing after the check can stall or exhaust memory.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            mode = os.fstat(fd).st_mode
        except OSError:
            os.close(fd)
            raise
        if not stat.S_ISREG(mode):
            os.close(fd)
            kind = next((name for test, name in _NOT_REGULAR if test(mode)), "a special file")
            r.file_level(Severity.ERROR, f"{r.path} is not a regular file (it is {kind})")
            return None
        with os.fdopen(fd, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        r.file_level(Severity.ERROR, f"cannot read {r.path}: {exc.strerror}")
        return None
    if len(raw) > MAX_FILE_BYTES:
        r.file_level(Severity.ERROR, f"{r.path} is larger than {MAX_FILE_BYTES} bytes")
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        prefix = raw[: exc.start]
        line = prefix.count(b"\n") + 1
        column = exc.start - (prefix.rfind(b"\n") + 1) + 1
        r.add(Diagnostic(r.path, line, column, Severity.ERROR, "invalid TOML: file is not UTF-8"))
        return None


def _document(r: Reporter, path: Path) -> TomlDocument | None:
    text = _read(r, path)
    if text is None:
        return None
    parsed = parse_toml(r.path, text)
    if isinstance(parsed, Diagnostic):
        if text.startswith(_LFS_POINTER):
            # The TOML error ("expected '=' after a key") would not tell anyone why.
            parsed = Diagnostic(
                r.path,
                1,
                1,
                Severity.ERROR,
                f"{r.path} is a Git LFS pointer, not a policy file",
                "policy is read from git objects, and LFS content is not fetched; "
                "commit policy files without LFS (check .gitattributes)",
            )
        r.add(parsed)
        return None
    r.document = parsed
    return parsed


def _version(r: Reporter, data: dict[str, Any]) -> str:
    version = data.get("version")
    if version is None:
        r.warning(
            (),
            f'no `version`; reading the file as version "{POLICY_VERSION}"',
            f'add version = "{POLICY_VERSION}" at the top',
        )
    elif not isinstance(version, str):
        r.error(("version",), f"`version` must be a string, not {describe(version)}")
    elif version != POLICY_VERSION:
        r.error(
            ("version",),
            f"unsupported policy version `{version}`",
            f'this release reads version = "{POLICY_VERSION}"',
        )
    return POLICY_VERSION


def read_policy_dir(path: Path, *, now: datetime | None = None) -> ReadResult:
    """Load, validate and model the policy in ``path`` (a directory)."""
    now = now or datetime.now(UTC)
    path = Path(path)
    if not path.is_dir():
        diag = Diagnostic("", 0, 0, Severity.ERROR, f"policy directory `{path}` does not exist")
        return ReadResult(None, (diag,))
    clients_r = Reporter(CLIENTS_FILE)
    resources_r = Reporter(RESOURCES_FILE)

    declared: set[str] | None = None
    # After a syntax error in resources.toml, checking references would only add noise.
    references_known = True
    resources = []
    resources_path = path / RESOURCES_FILE
    if not resources_path.exists():
        resources_r.file_level(
            Severity.WARNING,
            "resources.toml not found: no resources are declared",
            "clients may then name no resource; add resources.toml to declare some",
        )
    else:
        doc = _document(resources_r, resources_path)
        if doc is not None:
            _version(resources_r, doc.data)
            resources = parse_resources(resources_r, doc.data)
            declared = (
                set(doc.data.get("resources", {}))
                if isinstance(doc.data.get("resources", {}), dict)
                else set()
            )
        else:
            declared = set()
            references_known = False

    clients = []
    ca_pem = ""
    cas: list[x509.Certificate] = []
    clients_path = path / CLIENTS_FILE
    if not clients_path.exists():
        clients_r.file_level(
            Severity.ERROR,
            "clients.toml not found",
            "every policy needs clients.toml with [cacerts] and [[clients]]",
        )
    else:
        doc = _document(clients_r, clients_path)
        if doc is not None:
            _version(clients_r, doc.data)
            ca_pem, cas = _cacerts(clients_r, doc.data, now)
            clients = parse_clients(
                clients_r,
                doc.data,
                declared,
                check_references=references_known,
                ca_issuers=_issuers(cas),
            )

    diagnostics = sorted(
        clients_r.diagnostics() + resources_r.diagnostics(),
        key=lambda d: (d.path, d.line, d.column),
    )
    if has_errors(diagnostics):
        return ReadResult(None, tuple(diagnostics))
    policy = Policy(POLICY_VERSION, ca_pem, tuple(clients), tuple(resources))
    return ReadResult(policy, tuple(diagnostics), tuple(cas))


def _issuers(cas: list[x509.Certificate]) -> int:
    """Distinct CA names: a CA renewed in place keeps its name and its serial-number space."""
    return len({ca.subject for ca in cas})


def _cacerts(
    r: Reporter, data: dict[str, Any], now: datetime
) -> tuple[str, list[x509.Certificate]]:
    if "cacerts" not in data:
        r.warning(
            (),
            "no [cacerts]: no client certificate will be trusted",
            "add [cacerts] with the cert_chain of the CA that issues client certificates",
        )
        return "", []
    table = data["cacerts"]
    if not isinstance(table, dict):
        r.error(("cacerts",), f"`cacerts` must be a table, not {describe(table)}")
        return "", []
    check_keys(r, table, ("cacerts",), ("cert_chain",))
    chain = table.get("cert_chain")
    if chain is None:
        r.error(("cacerts",), "[cacerts] has no `cert_chain`", key=True)
        return "", []
    if not isinstance(chain, str):
        r.error(("cacerts", "cert_chain"), f"`cert_chain` must be a string, not {describe(chain)}")
        return "", []
    return chain, check_cert_chain(r, ("cacerts", "cert_chain"), chain, now)


def validate_policy_dir(path: Path, *, now: datetime | None = None) -> list[Diagnostic]:
    """Every error and warning for the policy in ``path``; never raises for bad policy."""
    return list(read_policy_dir(path, now=now).diagnostics)


__all__ = [
    "CLIENTS_FILE",
    "RESOURCES_FILE",
    "ReadResult",
    "read_policy_dir",
    "validate_policy_dir",
]
