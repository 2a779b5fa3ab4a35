"""Generate the local stack: a development PKI, keys, two policy git repositories, a Procfile.

``generate(out, ports)`` writes everything ``make demo`` and ``make up`` run into one
directory (``.demo/`` by default, git-ignored) and returns a :class:`Stack` that names
every file and port. Nothing here starts a process; ``runner.py`` does that with honcho.

Layout of the output directory::

    tls/        ca.crt (our org), partner-ca.crt, <name>.crt/.key for every server and client
    keys/       issuer.pem, api_gateway.pem, fraud_detection.pem, payment_processor.pem,
                legal_dept.pem, partner_company.pem   (private keys, mode 0600)
    repos/      ours/ and partner/: remote.git (bare, served as file://) and work/ (a clone)
    secrets/    the GitHub webhook secret of each policy-sync (mode 0600)
    state/      what the services persist (last good snapshots, git mirrors)
    Procfile    rendered from Procfile.tmpl; stack.json: ports, endpoints, public keys
    env.sh      `source` it to point the hessra CLI at the issuer

Ports are fixed so the printed commands stay valid: ``HESSRA_DEMO_PORT_BASE`` (default
27150) plus a small offset per endpoint, all on 127.0.0.1.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shlex
import shutil
import string
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from hessra_core import pki
from hessra_core.keys import KeyPair
from hessra_core.testing import GitRemote, TlsFiles, client_entry, policy_files, write_tls

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
DEFAULT_OUT = REPO_ROOT / ".demo"
PORT_BASE_ENV = "HESSRA_DEMO_PORT_BASE"
DEFAULT_PORT_BASE = 27150
# Marks a directory as ours, so regenerating may empty it; any other non-empty directory
# is refused rather than deleted.
MARKER = ".hessra-local-stack"

# endpoint -> offset from the port base
PORT_OFFSETS: dict[str, int] = {
    "ours_sync_grpc": 0,
    "ours_sync_http": 1,
    "partner_sync_grpc": 2,
    "partner_sync_http": 3,
    "issuer": 4,
    "issuer_identity": 5,
    "legal_dept": 6,
    "partner_company": 7,
    "issuer_metrics": 8,
    "legal_dept_metrics": 9,
    "partner_company_metrics": 10,
}

# Who is who. Subjects are what the policy grants to and what tokens carry.
GATEWAY = "uri:urn:service:api-gateway"
REPORTING_SERIAL = 1234567890  # identified by certificate serial, as in the seed's example
NODES = ("api_gateway", "fraud_detection", "payment_processor")
SIGNERS = ("legal_dept", "partner_company")


class StackError(Exception):
    """The stack cannot be generated or started; the message says why and what to do."""


@dataclass(frozen=True)
class Ports:
    base: int

    def __post_init__(self) -> None:
        if not 1024 <= self.base <= 65535 - len(PORT_OFFSETS):
            raise StackError(
                f"port base {self.base} is out of range: pick 1024..{65535 - len(PORT_OFFSETS)}"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Ports:
        raw = (os.environ if env is None else env).get(PORT_BASE_ENV, "")
        if not raw:
            return cls(DEFAULT_PORT_BASE)
        try:
            return cls(int(raw))
        except ValueError:
            raise StackError(f"{PORT_BASE_ENV}={raw!r} is not a port number") from None

    def __getitem__(self, name: str) -> int:
        return self.base + PORT_OFFSETS[name]

    def items(self) -> list[tuple[str, int]]:
        return [(name, self[name]) for name in PORT_OFFSETS]


@dataclass(frozen=True)
class Stack:
    """Every path and port of a generated stack."""

    root: Path
    ports: Ports
    issuer_public_key: str
    node_public_keys: Mapping[str, str]
    signer_public_keys: Mapping[str, str]
    ours: GitRemote  # our org's policy repository (bare remote + work tree)
    partner: GitRemote
    # Held open for the life of the process: another run must not empty this directory.
    lock: IO[bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def tls_dir(self) -> Path:
        return self.root / "tls"

    @property
    def keys_dir(self) -> Path:
        return self.root / "keys"

    @property
    def ca_file(self) -> Path:
        return self.tls_dir / "ca.crt"

    @property
    def partner_ca_file(self) -> Path:
        return self.tls_dir / "partner-ca.crt"

    @property
    def procfile(self) -> Path:
        return self.root / "Procfile"

    def tls(self, name: str) -> TlsFiles:
        return TlsFiles(self.tls_dir / f"{name}.crt", self.tls_dir / f"{name}.key")

    def webhook_secret(self, org: str) -> bytes:
        return (self.root / "secrets" / f"{org}-github-webhook").read_bytes().strip()

    def address(self, endpoint: str) -> str:
        return f"127.0.0.1:{self.ports[endpoint]}"

    def http(self, endpoint: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[endpoint]}{path}"

    def cli_env(self) -> dict[str, str]:
        """What the ``hessra`` CLI reads to reach the issuer as api_gateway."""
        gateway = self.tls("api_gateway")
        return {
            "HESSRA_SERVER": self.address("issuer"),
            "HESSRA_CERT": str(gateway.cert),
            "HESSRA_KEY": str(gateway.key),
            "HESSRA_CA": str(self.ca_file),
            "HESSRA_PUBLIC_KEY": self.issuer_public_key,
        }

    # --- policies -------------------------------------------------------------------

    def our_policy(self, extra_grants: Mapping[str, Sequence[str]] | None = None) -> dict[str, str]:
        """Our org's clients.toml and resources.toml; ``extra_grants`` go to api_gateway."""
        gateway_grants: dict[str, list[str]] = {
            "orders": ["read"],
            "payment_processor": ["charge"],
            "sensitive_data": ["export"],
        }
        for resource, operations in (extra_grants or {}).items():
            gateway_grants.setdefault(resource, [])
            gateway_grants[resource] += [
                op for op in operations if op not in gateway_grants[resource]
            ]
        ca_pem = self.ca_file.read_bytes()
        clients = [
            client_entry(GATEWAY, gateway_grants),
            {
                "identifier": {"type": "serial", "value": str(REPORTING_SERIAL)},
                "resources": [{"name": "orders", "operations": ["read"]}],
                "identity_token_enabled": True,
                "identity_token_duration": 3600,
            },
        ]
        nodes = [{"component": n, "public_key": self.node_public_keys[n]} for n in NODES]
        signers = [
            {
                "name": name,
                "url": f"https://{self.address(name)}",
                "public_key": self.signer_public_keys[name],
            }
            for name in SIGNERS
        ]
        resources: dict[str, dict[str, Any]] = {
            "orders": {},
            "payment_processor": {"type": "service_chain", "nodes": nodes},
            "sensitive_data": {"type": "multi_party", "required_signers": signers},
        }
        return policy_files([ca_pem], clients, resources)

    def partner_policy(self) -> dict[str, str]:
        """The partner's own policy: it trusts our CA and approves our gateway's exports."""
        return policy_files(
            [self.ca_file.read_bytes()],
            [client_entry(GATEWAY, {"sensitive_data": ["export"]})],
            {"sensitive_data": {}},
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "ports": dict(self.ports.items()),
            "issuer_public_key": self.issuer_public_key,
            "node_public_keys": dict(self.node_public_keys),
            "signer_public_keys": dict(self.signer_public_keys),
            "policy_repositories": {
                "ours": self.ours.url,
                "partner": self.partner.url,
            },
        }


def _lock(marker: Path) -> IO[bytes]:
    """An exclusive lock on the marker, held while this process runs the stack."""
    handle = marker.open("ab")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise StackError(
            f"a stack is running from {marker.parent} (`make up` or `make demo`); "
            "stop it first, or pick another directory (--out)"
        ) from None
    return handle


def _prepare(root: Path) -> IO[bytes]:
    """Empty ``root`` (only if an earlier run made it and none runs now); lock it."""
    marker = root / MARKER
    if root.exists() and any(root.iterdir()):
        if not marker.exists():
            raise StackError(
                f"{root} is not empty and was not made by the local stack; "
                "pick another directory (--out)"
            )
        _lock(marker).close()
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    marker.write_text("generated by deploy/local/stack.py; safe to delete\n")
    return _lock(marker)


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _write_pki(tls: Path) -> None:
    ours, partner = pki.create_ca("Demo Org CA"), pki.create_ca("Demo Partner CA")
    tls.mkdir(parents=True, exist_ok=True)
    (tls / "ca.crt").write_bytes(ours.cert_pem)
    (tls / "partner-ca.crt").write_bytes(partner.cert_pem)
    loopback = pki.SubjectNames(dns=["localhost"], ips=["127.0.0.1"])
    servers = {
        "ours-sync-server": ours,
        "issuer": ours,
        "legal_dept": ours,
        "partner-sync-server": partner,
        "partner_company": partner,
    }
    for name, ca in servers.items():
        write_tls(tls, name, pki.issue_cert(ca, name, loopback, server=True))
    clients = {
        # callers of the issuer and the signers
        "api_gateway": (ours, pki.SubjectNames(uris=["urn:service:api-gateway"]), None),
        "reporting": (ours, pki.SubjectNames(uris=["urn:service:reporting"]), REPORTING_SERIAL),
        # subscribers of each organisation's policy-sync
        "issuer-sync": (ours, pki.SubjectNames(uris=["urn:hessra:issuer"]), None),
        "legal-sync": (ours, pki.SubjectNames(uris=["urn:hessra:legal-dept"]), None),
        "partner-sync": (partner, pki.SubjectNames(uris=["urn:partner:signer"]), None),
    }
    for name, (ca, names, serial) in clients.items():
        write_tls(tls, name, pki.issue_cert(ca, name, names, serial=serial))


def _write_keys(keys: Path) -> dict[str, str]:
    public: dict[str, str] = {}
    keys.mkdir(parents=True, exist_ok=True)
    for name in ("issuer", *NODES, *SIGNERS):
        pair = KeyPair.generate()
        pair.save(keys / f"{name}.pem")
        public[name] = pair.public_key.to_string()
    return public


def render_procfile(stack: Stack, template: str | None = None) -> str:
    text = template if template is not None else (HERE / "Procfile.tmpl").read_text()
    values: dict[str, str] = {name: str(port) for name, port in stack.ports.items()}
    paths = {
        "bin": Path(sys.executable).parent,
        "tls": stack.tls_dir,
        "keys": stack.keys_dir,
        "state": stack.root / "state",
        "secrets": stack.root / "secrets",
    }
    values.update({name: shlex.quote(str(path)) for name, path in paths.items()})
    values["ours_url"] = shlex.quote(stack.ours.url)
    values["partner_url"] = shlex.quote(stack.partner.url)
    values["issuer_public_key"] = shlex.quote(stack.issuer_public_key)
    try:
        return string.Template(text).substitute(values)
    except (KeyError, ValueError) as exc:
        raise StackError(f"Procfile.tmpl: unknown or malformed placeholder {exc}") from None


def env_script(stack: Stack) -> str:
    lines = ["# source this file to point the hessra CLI at the local issuer, as api_gateway"]
    lines += [f"export {k}={shlex.quote(v)}" for k, v in stack.cli_env().items()]
    return "\n".join(lines) + "\n"


def generate(root: Path, ports: Ports) -> Stack:
    """Write a fresh stack into ``root`` (emptied first if an earlier run made it)."""
    root = root.resolve()
    lock = _prepare(root)
    _write_pki(root / "tls")
    public = _write_keys(root / "keys")
    for org in ("ours", "partner"):
        _write_private(root / "secrets" / f"{org}-github-webhook", secrets.token_hex(32).encode())
    for name in ("ours-sync", "partner-sync", "issuer", *SIGNERS):
        (root / "state" / name).mkdir(parents=True, exist_ok=True)
    stack = Stack(
        root,
        ports,
        public["issuer"],
        {n: public[n] for n in NODES},
        {n: public[n] for n in SIGNERS},
        GitRemote(root / "repos" / "ours"),
        GitRemote(root / "repos" / "partner"),
        lock,
    )
    stack.ours.commit_and_push(
        "Initial policy: orders, payment chain, sign-offs", stack.our_policy()
    )
    stack.partner.commit_and_push("Partner policy: approve exports", stack.partner_policy())
    stack.procfile.write_text(render_procfile(stack))
    (root / "env.sh").write_text(env_script(stack))
    (root / "stack.json").write_text(json.dumps(stack.to_json(), indent=2) + "\n")
    return stack


__all__ = [
    "DEFAULT_OUT",
    "DEFAULT_PORT_BASE",
    "GATEWAY",
    "NODES",
    "PORT_BASE_ENV",
    "PORT_OFFSETS",
    "SIGNERS",
    "Ports",
    "Stack",
    "StackError",
    "env_script",
    "generate",
    "render_procfile",
]
