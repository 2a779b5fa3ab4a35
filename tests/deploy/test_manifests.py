"""The rendered overlays: valid Kubernetes objects, locked down, Secrets by reference only.

Every overlay is built with the real ``kubectl kustomize`` and every object is validated
offline against the Kubernetes OpenAPI schema shipped in the ``kubernetes-validate``
package (strict: unknown fields are errors).
"""

from __future__ import annotations

import tomllib
from typing import Any

import kubernetes_validate
import pytest
import yaml

from .conftest import K8S, OVERLAYS, by_kind, pod_specs, render

# The schema version validated against; kubernetes-validate ships it (no network).
K8S_VERSION = "1.32.0"

# What each overlay must contain (Deployments) and what the operator creates (by name).
EXPECTED_DEPLOYMENTS = {
    "dev": {"hessra-policy-sync", "hessra-issuer", "hessra-signer"},
    "prod": {"hessra-policy-sync", "hessra-issuer", "hessra-signer"},
    "partner-signer": {"hessra-policy-sync", "hessra-signer"},
}
OPERATOR_SECRETS = {
    "hessra-policy-sync-tls",
    "hessra-policy-sync-git",
    "hessra-policy-sync-webhook",
    "hessra-issuer-tls",
    "hessra-issuer-signing-key",
    "hessra-signer-tls",
    "hessra-signer-signing-key",
}
OPERATOR_CONFIGMAPS = {"hessra-issuer-public-keys"}
CONSOLE_SCRIPTS = {"hessra-policy-sync", "hessra-issuer", "hessra-signer"}
CONFIG_FILES = {
    "hessra-policy-sync": ("hessra-policy-sync-config", "policy-sync.toml"),
    "hessra-issuer": ("hessra-issuer-config", "issuer.toml"),
    "hessra-signer": ("hessra-signer-config", "signer.toml"),
}
HEALTH_PORT_NAME = "grpc-health"


def _containers(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{name}/{c['name']}", c)
        for name, spec in pod_specs(objects).items()
        for c in spec["containers"]
    ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_builds_with_the_expected_deployments(overlay: str) -> None:
    objects = render(overlay)
    assert set(by_kind(objects, "Deployment")) == EXPECTED_DEPLOYMENTS[overlay]
    namespaces = {o["metadata"].get("namespace") for o in objects}
    assert len(namespaces) == 1
    assert None not in namespaces


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_validates_against_the_kubernetes_schema(overlay: str) -> None:
    problems = []
    for obj in render(overlay):
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path)
            problems.append(f"{obj['kind']}/{obj['metadata']['name']}: {where}: {exc.message}")
    assert problems == []


def test_schema_validation_catches_a_bad_field() -> None:
    """The validator really checks: a misspelt field and a wrong type are refused."""
    deployment = by_kind(render("dev"), "Deployment")["hessra-issuer"]
    bad = {**deployment, "spec": {**deployment["spec"], "replicsa": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)
    wrong_type = {**deployment, "spec": {**deployment["spec"], "replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong_type, K8S_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_containers_are_non_root_read_only_and_bounded(overlay: str) -> None:
    objects = render(overlay)
    for name, spec in pod_specs(objects).items():
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, name
        assert pod["runAsUser"] >= 10000, name
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["automountServiceAccountToken"] is False, name
    for name, c in _containers(objects):
        sc = c["securityContext"]
        assert sc["runAsNonRoot"] is True, name
        assert sc["readOnlyRootFilesystem"] is True, name
        assert sc["allowPrivilegeEscalation"] is False, name
        assert sc["capabilities"] == {"drop": ["ALL"]}, name
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(c["resources"][kind]), f"{name}: {kind}"
        # A read-only root needs somewhere to write: /tmp and the state directory.
        mounts = {m["mountPath"] for m in c["volumeMounts"]}
        assert {"/tmp", "/var/lib/hessra"} <= mounts, name
        assert c["command"][0] in CONSOLE_SCRIPTS, name
        assert c["image"].startswith("registry.example.com/hessra/hessra:"), name


def _config(objects: list[dict[str, Any]], deployment: str) -> dict[str, Any]:
    prefix, key = CONFIG_FILES[deployment]
    for name, cm in by_kind(objects, "ConfigMap").items():
        if name.startswith(prefix):
            return tomllib.loads(cm["data"][key])
    raise AssertionError(f"no ConfigMap {prefix}*")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_are_native_grpc_on_the_health_only_port(overlay: str) -> None:
    objects = render(overlay)
    for deployment, spec in pod_specs(objects).items():
        (c,) = spec["containers"]
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        health_port = ports[HEALTH_PORT_NAME]
        # The service's config binds that very port for its health-only listener, on
        # all interfaces (the kubelet connects to the pod IP), apart from the mTLS port.
        listen = _config(objects, deployment)["server"]["health_listen"]
        assert listen == f"0.0.0.0:{health_port}", deployment
        assert health_port != ports["grpc"], deployment
        ready, live = c["readinessProbe"], c["livenessProbe"]
        for probe in (ready, live, c.get("startupProbe") or {"grpc": {"port": health_port}}):
            assert (
                set(probe)
                - {
                    "grpc",
                    "initialDelaySeconds",
                    "periodSeconds",
                    "timeoutSeconds",
                    "failureThreshold",
                    "successThreshold",
                }
                == set()
            ), f"{deployment}: only native grpc probes ({sorted(probe)})"
            assert probe["grpc"]["port"] == health_port, deployment
        # Readiness asks for the overall status (SERVING once a snapshot is loaded).
        assert ready["grpc"].get("service", "") == "", deployment
        # Liveness asks for the entry that stays SERVING while the pod waits for its
        # first snapshot, so waiting is never punished with a restart; and it is patient.
        assert live["grpc"]["service"] == "liveness", deployment
        patience = live.get("initialDelaySeconds", 0) + live.get("failureThreshold", 3) * live.get(
            "periodSeconds", 10
        )
        assert patience >= 60, deployment


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_nothing_mounts_probe_certificates_any_more(overlay: str) -> None:
    objects = render(overlay)
    for deployment, spec in pod_specs(objects).items():
        secrets = {v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v}
        assert "hessra-probe-tls" not in secrets, deployment
        server = _config(objects, deployment)["server"]
        assert "probe" not in str(server.get("extra_client_ca_file", "")), deployment


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_are_referenced_never_rendered(overlay: str) -> None:
    objects = render(overlay)
    assert by_kind(objects, "Secret") == {}
    configmaps = set(by_kind(objects, "ConfigMap"))
    for name, spec in pod_specs(objects).items():
        for volume in spec["volumes"]:
            if "secret" in volume:
                assert volume["secret"]["secretName"] in OPERATOR_SECRETS, name
            if "configMap" in volume:
                ref = volume["configMap"]["name"]
                assert ref in configmaps or ref in OPERATOR_CONFIGMAPS, f"{name}: {ref}"
        for c in spec["containers"]:
            for env in c.get("env", []):
                assert "valueFrom" in env or not any(
                    word in env["name"].lower() for word in ("secret", "token", "password")
                ), f"{name}: {env['name']} holds a secret value inline"


def _secrets_referenced(objects: list[dict[str, Any]]) -> set[str]:
    """Every Secret an object needs: pod volumes and Ingress TLS."""
    names = {
        v["secret"]["secretName"]
        for spec in pod_specs(objects).values()
        for v in spec["volumes"]
        if "secret" in v
    }
    for ingress in by_kind(objects, "Ingress").values():
        names |= {t["secretName"] for t in ingress["spec"].get("tls", [])}
    return names


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_secret_an_overlay_needs_is_documented(overlay: str) -> None:
    """The operator creates every Secret by hand, so each one must be listed where they
    read what to create: secret-templates/README.md and the README's Kubernetes section."""
    templates = (K8S / "secret-templates" / "README.md").read_text()
    readme = (K8S.parents[1] / "README.md").read_text()
    section = readme.split("## Deploying to Kubernetes", 1)[1].split("\n## ", 1)[0]
    for name in sorted(_secrets_referenced(render(overlay))):
        assert f"`{name}`" in templates, f"secret-templates/README.md does not list {name}"
        assert f"`{name}`" in section, f"README 'Deploying to Kubernetes' does not list {name}"


def test_secret_templates_are_not_part_of_any_kustomization() -> None:
    kustomizations = list(K8S.rglob("kustomization.yaml"))
    assert len(kustomizations) >= 8
    for path in kustomizations:
        doc = yaml.safe_load(path.read_text())
        assert "secretGenerator" not in doc, path
        refs = [*doc.get("resources", []), *doc.get("components", [])]
        assert not [r for r in refs if "secret-templates" in r], path
    # The templates hold placeholders only.
    for obj in yaml.safe_load_all((K8S / "secret-templates" / "secrets.example.yaml").read_text()):
        values = obj.get("stringData") or obj.get("data")
        assert all("REPLACE-ME" in v for v in values.values()), obj["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_configmaps_hold_the_services_config_as_valid_toml(overlay: str) -> None:
    configs = by_kind(render(overlay), "ConfigMap")
    assert configs
    for name, cm in configs.items():
        for key, text in cm["data"].items():
            assert key.endswith(".toml"), f"{name}: {key}"
            parsed = tomllib.loads(text)
            assert "server" in parsed, f"{name}: {key}"


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_the_issuer_has_a_pdb_and_a_v2_autoscaler(overlay: str) -> None:
    objects = render(overlay)
    hpa = by_kind(objects, "HorizontalPodAutoscaler")["hessra-issuer"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "hessra-issuer",
    }
    assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    pdb = by_kind(objects, "PodDisruptionBudget")["hessra-issuer"]
    assert pdb["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "hessra-issuer"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_autoscaled_deployments_leave_the_replica_count_to_the_autoscaler(overlay: str) -> None:
    """A Deployment an HPA scales must not set ``spec.replicas``: every ``kubectl apply``
    would reset the autoscaled count to that number (say from 12 busy pods to 3) until
    the HPA scales it back up."""
    objects = render(overlay)
    deployments = by_kind(objects, "Deployment")
    scaled = [
        hpa["spec"]["scaleTargetRef"]["name"]
        for hpa in by_kind(objects, "HorizontalPodAutoscaler").values()
    ]
    for name in scaled:
        assert name in deployments, f"the HPA scales {name}, which the overlay does not have"
        assert "replicas" not in deployments[name]["spec"], f"{overlay}: {name} sets replicas"


def _replicas(objects: list[dict[str, Any]], name: str) -> int:
    """The fewest pods a Deployment runs: its HPA's minReplicas, else spec.replicas."""
    for hpa in by_kind(objects, "HorizontalPodAutoscaler").values():
        if hpa["spec"]["scaleTargetRef"]["name"] == name:
            return int(hpa["spec"].get("minReplicas", 1))
    return int(by_kind(objects, "Deployment")[name]["spec"].get("replicas", 1))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_replicated_deployment_has_a_pdb_that_still_lets_nodes_drain(overlay: str) -> None:
    """A Deployment serving live traffic from several pods keeps at least one through a
    node drain; and no PDB asks for as many pods as there are, which would block drains."""
    objects = render(overlay)
    pdbs = list(by_kind(objects, "PodDisruptionBudget").values())
    for name, deployment in by_kind(objects, "Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        mine = [p for p in pdbs if p["spec"]["selector"]["matchLabels"].items() <= labels.items()]
        replicas = _replicas(objects, name)
        if replicas > 1:
            assert mine, f"{overlay}: {name} runs {replicas} pods and has no PodDisruptionBudget"
        for pdb in mine:
            assert 0 <= pdb["spec"]["minAvailable"] < max(replicas, 1), (
                f"{overlay}: {pdb['metadata']['name']} would block every eviction of {name}"
            )


def _log_level(objects: list[dict[str, Any]], deployment: str, container: dict[str, Any]) -> str:
    """The level the container runs at: a --log-level flag beats the environment, which
    beats the config file (the services' precedence)."""
    args = [*container["command"], *container.get("args", [])]
    if "--log-level" in args:
        return str(args[args.index("--log-level") + 1])
    for env in container.get("env", []):
        if env["name"].endswith("_SERVER_LOG_LEVEL"):
            return str(env["value"])
    return str(_config(objects, deployment)["server"].get("log_level", "info"))


def test_dev_runs_every_service_with_debug_logs() -> None:
    objects = render("dev")
    for deployment, spec in pod_specs(objects).items():
        (c,) = spec["containers"]
        assert _log_level(objects, deployment, c) == "debug", deployment


def test_prod_logs_at_info() -> None:
    objects = render("prod")
    for deployment, spec in pod_specs(objects).items():
        (c,) = spec["containers"]
        assert _log_level(objects, deployment, c) == "info", deployment


def test_prod_scales_the_issuer_by_processes_and_replicas() -> None:
    objects = render("prod")
    issuer_toml = next(
        cm["data"]["issuer.toml"]
        for name, cm in by_kind(objects, "ConfigMap").items()
        if name.startswith("hessra-issuer-config")
    )
    assert tomllib.loads(issuer_toml)["server"]["processes"] == 2
    assert by_kind(objects, "HorizontalPodAutoscaler")["hessra-issuer"]["spec"]["minReplicas"] >= 3
    issuer = pod_specs(objects)["hessra-issuer"]["containers"][0]
    assert issuer["resources"]["requests"]["cpu"] == "2"  # one core per worker process


def _policy(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return by_kind(objects, "NetworkPolicy")[name]["spec"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_deny_by_default_and_open_only_what_is_needed(overlay: str) -> None:
    objects = render(overlay)
    deny = _policy(objects, "hessra-default-deny")
    assert deny["podSelector"] == {}
    assert sorted(deny["policyTypes"]) == ["Egress", "Ingress"]
    assert "ingress" not in deny
    assert "egress" not in deny

    dns = _policy(objects, "hessra-allow-dns")
    assert {p["port"] for p in dns["egress"][0]["ports"]} == {53}

    sync = _policy(objects, "hessra-policy-sync")
    grpc_rule, http_rule = sync["ingress"]
    allowed = {
        s["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for s in grpc_rule["from"]
    }
    assert allowed == {"issuer", "signer"}
    assert [p["port"] for p in grpc_rule["ports"]] == [50053]
    assert [p["port"] for p in http_rule["ports"]] == [8083]
    assert {p["port"] for p in sync["egress"][0]["ports"]} == {443, 22}

    for name in EXPECTED_DEPLOYMENTS[overlay] - {"hessra-policy-sync"}:
        spec = _policy(objects, name)
        (egress,) = spec["egress"]
        assert egress["to"] == [
            {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "hessra-policy-sync"}}}
        ]
        grpc_port = 50051 if name == "hessra-issuer" else 50052
        assert [p["port"] for p in spec["ingress"][0]["ports"]] == [grpc_port]

    # The plaintext health-only port is opened to no pod: only the kubelet (from the
    # node, which NetworkPolicies do not filter) probes it.
    for deployment, spec in pod_specs(objects).items():
        (c,) = spec["containers"]
        health_port = next(p["containerPort"] for p in c["ports"] if p["name"] == HEALTH_PORT_NAME)
        rules = _policy(objects, deployment)["ingress"]
        opened = {p["port"] for rule in rules for p in rule.get("ports", [])}
        assert health_port not in opened, deployment
        assert all(rule.get("ports") for rule in rules), deployment  # no all-ports rule
    for name, service in by_kind(objects, "Service").items():
        targets = {p["targetPort"] for p in service["spec"]["ports"]}
        assert not targets & {HEALTH_PORT_NAME, 8081}, f"Service {name} exposes grpc-health"


@pytest.mark.parametrize("overlay", ["prod", "partner-signer"])
def test_the_webhook_ingress_exposes_only_the_webhook_paths(overlay: str) -> None:
    objects = render(overlay)
    ingress = by_kind(objects, "Ingress")["hessra-policy-sync-webhook"]
    (rule,) = ingress["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    assert path["path"] == "/webhook/"
    backend = path["backend"]["service"]
    service = by_kind(objects, "Service")[backend["name"]]
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert rule["host"].endswith(".example")  # the overlay's own host, not the base's


def test_the_partner_follows_its_own_policy_repository_as_its_own_signer() -> None:
    ours, partner = render("prod"), render("partner-signer")

    def config(objects: list[dict[str, Any]], prefix: str, key: str) -> dict[str, Any]:
        for name, cm in by_kind(objects, "ConfigMap").items():
            if name.startswith(prefix):
                return tomllib.loads(cm["data"][key])
        raise AssertionError(f"no ConfigMap {prefix}*")

    our_url = config(ours, "hessra-policy-sync-config", "policy-sync.toml")["source"]["url"]
    their_url = config(partner, "hessra-policy-sync-config", "policy-sync.toml")["source"]["url"]
    assert their_url != our_url
    assert config(partner, "hessra-signer-config", "signer.toml")["signer"]["name"] == "partner_org"
    assert "HorizontalPodAutoscaler" not in {o["kind"] for o in partner}
    namespaces = {o["metadata"]["namespace"] for o in ours + partner}
    assert namespaces == {"hessra", "hessra-partner"}
