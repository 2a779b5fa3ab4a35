"""The manifests start our real services: each container's command, args, env, ConfigMaps
and probes are taken from the rendered overlay and run here as real OS processes.

Each pod gets its own temporary root: volume mounts become directories under it (the
ConfigMap files as rendered, the Secrets as generated certificates and keys), absolute
paths in config, args and env are moved under it, listen addresses and Service
references become free loopback ports, and policy-sync's repository URL becomes a local
bare ``file://`` repository. Then every service must report SERVING over gRPC health
(mTLS, on its grpc port), and the manifests' own readiness and liveness probes must pass
when called the way the kubelet calls a native ``grpc:`` probe: plaintext
``grpc.health.v1.Health/Check`` on the probe's port for the probe's service, passing
only on SERVING.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
import tomli_w
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hessra.v1 import issuer_pb2, issuer_pb2_grpc
from hessra_core import pki
from hessra_core.keys import KeyPair
from hessra_core.testing import GitRemote
from hessra_core.tokens import verify_token

from .conftest import OVERLAYS, by_kind, render

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BIN = Path(sys.executable).parent
DEADLINE_S = 45.0
CLIENT = "uri:urn:test:deploy-client"


@dataclass
class Fixtures:
    """The Secrets and operator ConfigMaps the manifests mount, by name -> {key: bytes}."""

    ca: pki.IssuedCert
    client: pki.IssuedCert  # a caller the test policy grants `orders`
    issuer_key: KeyPair
    objects: dict[str, dict[str, bytes]] = field(default_factory=dict)


def _service_names(service: str, namespace: str) -> list[str]:
    return [service, f"{service}.{namespace}", f"{service}.{namespace}.svc"]


def make_fixtures(namespace: str) -> Fixtures:
    ca = pki.create_ca("deploy contract CA")

    def cert(service: str) -> pki.IssuedCert:
        names = pki.SubjectNames(dns=_service_names(service, namespace), ips=["127.0.0.1"])
        return pki.issue_cert(ca, service, names, server=True, client=True)

    def tls(issued: pki.IssuedCert, ca_pem: bytes) -> dict[str, bytes]:
        return {"tls.crt": issued.cert_pem, "tls.key": issued.key_pem, "ca.crt": ca_pem}

    issuer_key, signer_key = KeyPair.generate(), KeyPair.generate()
    objects = {
        "hessra-policy-sync-tls": tls(cert("hessra-policy-sync"), ca.cert_pem),
        "hessra-policy-sync-git": {"token": b"not-a-real-token"},
        "hessra-policy-sync-webhook": {"github": b"webhook-test-secret"},
        "hessra-issuer-tls": tls(cert("hessra-issuer"), ca.cert_pem),
        "hessra-issuer-signing-key": {"signing.pem": issuer_key.private_pem().encode()},
        "hessra-signer-tls": tls(cert("hessra-signer"), ca.cert_pem),
        "hessra-signer-signing-key": {"signing.pem": signer_key.private_pem().encode()},
        "hessra-issuer-public-keys": {"issuer.pub": issuer_key.public_key.to_string().encode()},
    }
    client = pki.issue_cert(ca, "client", pki.SubjectNames(uris=[CLIENT.removeprefix("uri:")]))
    return Fixtures(ca, client, issuer_key, objects)


def _free_port() -> int:
    """A free loopback port whose successor is free too (worker i binds metrics + i)."""
    for _ in range(100):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            if port >= 65535:
                continue
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
            return port
    raise AssertionError("no free loopback port pair")


@dataclass
class Pod:
    deployment: str
    root: Path
    container: dict[str, Any]
    ports: dict[int, int]  # containerPort -> loopback port
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    writable: list[Path] = field(default_factory=list)  # emptyDir mounts
    prepared: set[Path] = field(default_factory=set)  # files written before the start

    def written_outside_writable_mounts(self) -> list[str]:
        """Files the process created where a read-only root filesystem would refuse."""
        log = self.root / "container.log"
        return sorted(
            str(path.relative_to(self.root))
            for path in self.root.rglob("*")
            if path.is_file()
            and path not in self.prepared
            and path != log
            and not any(path.is_relative_to(w) for w in self.writable)
        )

    def named_port(self, name: str) -> int:
        for p in self.container["ports"]:
            if p["name"] == name:
                return self.ports[p["containerPort"]]
        raise AssertionError(f"{self.deployment}: no port named {name}")

    def log(self) -> str:
        path = self.root / "container.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


class Cluster:
    """The rendered overlay, mapped onto this machine."""

    def __init__(self, overlay: str, tmp: Path, fixtures: Fixtures, repo_url: str) -> None:
        self.objects = render(overlay)
        self.fixtures = fixtures
        self.remote: GitRemote | None = None
        self.policy_prefix = ""
        self.repo_url = repo_url
        deployments = by_kind(self.objects, "Deployment")
        self.namespace = next(iter(deployments.values()))["metadata"]["namespace"]
        self.configmaps = by_kind(self.objects, "ConfigMap")
        self.pods: dict[str, Pod] = {}
        for name, dep in deployments.items():
            (container,) = dep["spec"]["template"]["spec"]["containers"]
            ports = {p["containerPort"]: _free_port() for p in container["ports"]}
            self.pods[name] = Pod(name, tmp / name, container, ports)
        # Service DNS name:port -> the selected pod's loopback port.
        self.services: dict[str, int] = {}
        for svc_name, svc in by_kind(self.objects, "Service").items():
            app = svc["spec"]["selector"]["app.kubernetes.io/name"]
            pod = self.pods[app]
            for port in svc["spec"]["ports"]:
                target = port["targetPort"]
                local = pod.named_port(target) if isinstance(target, str) else pod.ports[target]
                for dns in _service_names(svc_name, self.namespace):
                    self.services[f"{dns}:{port['port']}"] = local
        for name, dep in deployments.items():
            self._prepare(self.pods[name], dep["spec"]["template"]["spec"])

    # --- rewriting ---------------------------------------------------------------------

    def _string(self, pod: Pod, value: str) -> str:
        if value in self.services:
            return f"127.0.0.1:{self.services[value]}"
        match = re.fullmatch(r"(0\.0\.0\.0|127\.0\.0\.1|\[::\]):(\d+)", value)
        if match:
            port = int(match.group(2))
            assert port in pod.ports, f"{pod.deployment}: {value} is not a declared containerPort"
            return f"127.0.0.1:{pod.ports[port]}"
        if value.startswith("/"):
            return str(pod.root) + value
        return value

    def _arg(self, pod: Pod, arg: str) -> str:
        if arg.startswith("--") and "=" in arg:
            flag, _, value = arg.partition("=")
            return f"{flag}={self._string(pod, value)}"
        return self._string(pod, arg)

    def _toml(self, pod: Pod, data: Any, key: str = "") -> Any:
        if isinstance(data, dict):
            out = {k: self._toml(pod, v, k) for k, v in data.items()}
            if out.get("kind", "git") == "git" and "url" in out:
                out["url"] = self.repo_url
            return out
        if isinstance(data, list):
            return [self._toml(pod, v, key) for v in data]
        if isinstance(data, str):
            return self._string(pod, data)
        if key == "metrics_port" and isinstance(data, int) and data > 0:
            assert data in pod.ports, f"{pod.deployment}: metrics port {data} not declared"
            return pod.ports[data]
        return data

    def _executable(self, name: str) -> list[str]:
        path = BIN / name
        assert path.exists(), f"{name} is not a console script installed from our pyprojects"
        return [str(path)]

    def command(self, pod: Pod, argv: list[str]) -> list[str]:
        return [*self._executable(argv[0]), *(self._arg(pod, a) for a in argv[1:])]

    # --- volumes -----------------------------------------------------------------------

    def _prepare(self, pod: Pod, spec: dict[str, Any]) -> None:
        volumes = {v["name"]: v for v in spec["volumes"]}
        for mount in pod.container["volumeMounts"]:
            target = Path(str(pod.root) + mount["mountPath"])
            target.mkdir(parents=True, exist_ok=True)
            volume = volumes[mount["name"]]
            if "emptyDir" in volume:
                pod.writable.append(target)
                continue
            if "configMap" in volume:
                name = volume["configMap"]["name"]
                if name in self.configmaps:
                    files = {
                        k: self._config_file(pod, k, v)
                        for k, v in self.configmaps[name]["data"].items()
                    }
                else:
                    files = self._fixture(name, pod)
            else:
                files = self._fixture(volume["secret"]["secretName"], pod)
                items = volume["secret"].get("items")
                if items:
                    files = {i["path"]: files[i["key"]] for i in items}
            for key, data in files.items():
                (target / key).write_bytes(data)
                (target / key).chmod(0o400)
                pod.prepared.add(target / key)
        c = pod.container
        pod.argv = self.command(pod, [*c["command"], *c.get("args", [])])
        pod.env = {e["name"]: self._env(pod, e) for e in c.get("env", [])}

    def _config_file(self, pod: Pod, key: str, text: str) -> bytes:
        assert key.endswith(".toml"), key
        return tomli_w.dumps(self._toml(pod, tomllib.loads(text))).encode()

    def _env(self, pod: Pod, entry: dict[str, Any]) -> str:
        assert "value" in entry, f"{pod.deployment}: env {entry['name']} is not a literal"
        if entry["name"] == "HESSRA_POLICY_SYNC_SOURCE_URL":
            return self.repo_url
        return self._string(pod, entry["value"])

    def _fixture(self, name: str, pod: Pod) -> dict[str, bytes]:
        assert name in self.fixtures.objects, (
            f"{pod.deployment} mounts {name}, which deploy/k8s/secret-templates does not list"
        )
        return self.fixtures.objects[name]

    # --- processes ---------------------------------------------------------------------

    def start(self) -> None:
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("HESSRA_")}
        for pod in self.pods.values():
            workdir = Path(str(pod.root) + pod.container.get("workingDir", "/var/lib/hessra"))
            workdir.mkdir(parents=True, exist_ok=True)
            pod.prepared |= {p for p in pod.root.rglob("*") if p.is_file()}
            env = {**base_env, "HOME": str(pod.root / "tmp"), **pod.env}
            with (pod.root / "container.log").open("wb") as log:
                pod.proc = subprocess.Popen(
                    pod.argv, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT
                )

    def stop(self) -> None:
        for pod in self.pods.values():
            if pod.proc is not None and pod.proc.poll() is None:
                pod.proc.send_signal(signal.SIGTERM)
        for pod in self.pods.values():
            if pod.proc is None:
                continue
            try:
                pod.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pod.proc.kill()
                pod.proc.wait()

    def alive(self, pod: Pod) -> None:
        assert pod.proc is not None
        if pod.proc.poll() is not None:
            raise AssertionError(
                f"{pod.deployment} exited with {pod.proc.returncode}: {pod.argv}\n{pod.log()}"
            )


def _grpc_status(port: int, fixtures: Fixtures, cert_secret: str, server_name: str) -> int:
    creds = fixtures.objects[cert_secret]
    credentials = grpc.ssl_channel_credentials(
        fixtures.ca.cert_pem, creds["tls.key"], creds["tls.crt"]
    )
    options = [("grpc.ssl_target_name_override", server_name)]
    with grpc.secure_channel(f"127.0.0.1:{port}", credentials, options=options) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            return int(stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2).status)
        except grpc.RpcError:
            return -1


def _kubelet_grpc_probe(port: int, service: str, timeout_s: float) -> bool:
    """What the kubelet's native grpc probe does: a plaintext connection (no client
    certificate), one ``Health/Check`` for ``service``; success only on SERVING."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout_s)
        except grpc.RpcError:
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def _probe_passes(pod: Pod, probe: dict[str, Any]) -> bool:
    assert set(probe) & {"exec", "httpGet", "tcpSocket"} == set(), (
        f"{pod.deployment}: expected a native grpc probe, got {sorted(probe)}"
    )
    port = probe["grpc"]["port"]
    assert port in pod.ports, f"{pod.deployment}: probe port {port} is not a containerPort"
    return _kubelet_grpc_probe(
        pod.ports[port], probe["grpc"].get("service", ""), probe.get("timeoutSeconds", 1)
    )


def _wait(what: str, check: Any, cluster: Cluster, deadline: float) -> None:
    while time.monotonic() < deadline:
        for pod in cluster.pods.values():
            cluster.alive(pod)
        if check():
            return
        time.sleep(0.2)
    logs = "\n".join(f"--- {p.deployment}\n{p.log()}" for p in cluster.pods.values())
    raise AssertionError(f"timed out waiting for {what}\n{logs}")


def _policy_files(ca_pem: bytes, operations: tuple[str, ...] = ("read",)) -> dict[str, str | None]:
    clients = {
        "version": "0.2.0",
        "cacerts": {"cert_chain": ca_pem.decode()},
        "clients": [
            {
                "identifier": {"type": "san_uri", "value": CLIENT},
                "resources": [{"name": "orders", "operations": list(operations)}],
            }
        ],
    }
    resources = {"version": "0.2.0", "resources": {"orders": {}}}
    return {"clients.toml": tomli_w.dumps(clients), "resources.toml": tomli_w.dumps(resources)}


@pytest.fixture(params=OVERLAYS)
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    overlay = request.param
    namespace = render(overlay)[0]["metadata"]["namespace"]
    fixtures = make_fixtures(namespace)
    remote = GitRemote(tmp_path / "git")
    cluster = Cluster(overlay, tmp_path / "pods", fixtures, remote.url)
    sync_toml = next(
        tomllib.loads(cm["data"]["policy-sync.toml"])
        for name, cm in cluster.configmaps.items()
        if name.startswith("hessra-policy-sync-config")
    )
    subpath = sync_toml["source"].get("subpath", "").strip("/")
    prefix = f"{subpath}/" if subpath else ""
    files = _policy_files(fixtures.ca.cert_pem)
    remote.commit_and_push("policy", {prefix + name: text for name, text in files.items()})
    cluster.remote, cluster.policy_prefix = remote, prefix
    try:
        yield cluster
    finally:
        cluster.stop()


def _start_until_serving(cluster: Cluster, deadline: float) -> None:
    """Start every pod's process; wait for gRPC SERVING and the manifests' own probes."""
    cluster.start()
    for pod in cluster.pods.values():
        grpc_port = pod.named_port("grpc")
        # Our own check: gRPC health over mTLS with the service's own client certificate.
        secret = f"{pod.deployment}-tls"

        def serving(
            port: int = grpc_port, secret: str = secret, name: str = pod.deployment
        ) -> bool:
            status = _grpc_status(port, cluster.fixtures, secret, name)
            return status == health_pb2.HealthCheckResponse.SERVING

        _wait(f"{pod.deployment} gRPC health SERVING", serving, cluster, deadline)
        # The manifest's own probes, called as the kubelet would.
        # Each call is a new connection, which the kernel hands to any of the pod's
        # worker processes (SO_REUSEPORT): several passes in a row mean every worker
        # answers SERVING, not just the first one that loaded the snapshot.
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            probe = pod.container.get(kind)
            if probe is None:
                continue
            _wait(
                f"{pod.deployment} {kind}",
                lambda probe=probe, pod=pod: all(_probe_passes(pod, probe) for _ in range(8)),
                cluster,
                deadline,
            )


def test_every_deployment_starts_and_reports_serving(cluster: Cluster) -> None:
    deadline = time.monotonic() + DEADLINE_S
    _start_until_serving(cluster, deadline)

    # The last good snapshot is persisted in the state volume (so a restarted container
    # serves before it reaches policy-sync), and nothing is written anywhere a read-only
    # root filesystem would refuse.
    for pod in cluster.pods.values():
        toml_name = pod.deployment.removeprefix("hessra-") + ".toml"
        config = next(
            tomllib.loads(cm["data"][toml_name])
            for cm in cluster.configmaps.values()
            if toml_name in cm["data"]
        )
        server = config["server"]
        state = server.get("state_dir") or config["policy"]["snapshot_file"]
        local_state = Path(str(pod.root) + state)
        _wait(
            f"{pod.deployment} persisting its snapshot under {state}",
            lambda local_state=local_state: (
                local_state.exists()
                and any(p.is_file() for p in [local_state, *local_state.rglob("*")])
            ),
            cluster,
            deadline,
        )
        assert any(local_state.is_relative_to(w) for w in pod.writable), state
        assert pod.written_outside_writable_mounts() == [], pod.deployment

    # The probes' port is plaintext and answers health only: the issuer's RequestToken,
    # served on the mTLS port, is UNIMPLEMENTED there.
    if "hessra-issuer" in cluster.pods:
        health = cluster.pods["hessra-issuer"].named_port("grpc-health")
        with grpc.insecure_channel(f"127.0.0.1:{health}") as channel:
            with pytest.raises(grpc.RpcError) as info:
                issuer_pb2_grpc.IssuerStub(channel).RequestToken(
                    issuer_pb2.RequestTokenRequest(resource="orders", operation="read"), timeout=5
                )
            assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (loopback)
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _status(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback http)
        return dict(json.loads(response.read()))


def _request_token(cluster: Cluster, operation: str) -> str | None:
    pod = cluster.pods["hessra-issuer"]
    fx = cluster.fixtures
    credentials = grpc.ssl_channel_credentials(
        fx.ca.cert_pem, fx.client.key_pem, fx.client.cert_pem
    )
    options = [("grpc.ssl_target_name_override", "hessra-issuer")]
    address = f"127.0.0.1:{pod.named_port('grpc')}"
    with grpc.secure_channel(address, credentials, options=options) as channel:
        stub = issuer_pb2_grpc.IssuerStub(channel)
        request = issuer_pb2.RequestTokenRequest(resource="orders", operation=operation)
        try:
            return str(stub.RequestToken(request, timeout=5).token)
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.PERMISSION_DENIED:
                raise
            return None


def test_a_signed_push_webhook_updates_policy_through_the_manifests(cluster: Cluster) -> None:
    """The webhook secret, git credentials and policy-sync subscription as mounted work:
    an unsigned webhook is refused, a signed one applies the pushed commit, and (where
    the overlay has an issuer) the new grant is served."""
    deadline = time.monotonic() + DEADLINE_S
    _start_until_serving(cluster, deadline)
    has_issuer = "hessra-issuer" in cluster.pods
    if has_issuer:
        token = _request_token(cluster, "read")
        assert token is not None
        verify_token(
            token, cluster.fixtures.issuer_key.public_key, subject=CLIENT, resource="orders",
            operation="read",
        )  # fmt: skip
        assert _request_token(cluster, "create") is None

    assert cluster.remote is not None
    files = _policy_files(cluster.fixtures.ca.cert_pem, ("read", "create"))
    sha = cluster.remote.commit_and_push(
        "grant create", {cluster.policy_prefix + name: text for name, text in files.items()}
    )
    http = cluster.pods["hessra-policy-sync"].named_port("http")
    body = json.dumps({"ref": "refs/heads/main", "after": sha}).encode()
    secret = cluster.fixtures.objects["hessra-policy-sync-webhook"]["github"]
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "push"}
    url = f"http://127.0.0.1:{http}/webhook/github"
    forged = "sha256=" + hmac.new(b"wrong secret", body, hashlib.sha256).hexdigest()
    assert _post(url, body, {**headers, "X-Hub-Signature-256": forged}) == 401
    signed = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    assert _post(url, body, {**headers, "X-Hub-Signature-256": signed}) == 202

    status_url = f"http://127.0.0.1:{http}/status"
    _wait(
        "policy-sync serving the pushed commit",
        lambda: sha in (_status(status_url)["serving_revision"] or ""),
        cluster,
        deadline,
    )
    if has_issuer:
        _wait(
            "the issuer granting the pushed permission",
            lambda: _request_token(cluster, "create") is not None,
            cluster,
            deadline,
        )
