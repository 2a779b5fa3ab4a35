"""Prometheus metrics for policy-sync, on a registry per app (tests run several in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class PolicySyncMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.reconciles = Counter(
            "hessra_policy_sync_reconciles",
            "Reconciles by result (applied, unchanged, failed).",
            ["result"],
            registry=r,
        )
        self.errors = Counter(
            "hessra_policy_sync_reconcile_errors",
            "Failed reconciles by reason (FetchFailed, ValidationFailed, ...).",
            ["reason"],
            registry=r,
        )
        self.duration = Histogram(
            "hessra_policy_sync_reconcile_duration_seconds",
            "Time from fetch to publish.",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.serving = Gauge(
            "hessra_policy_sync_serving_revision_info",
            "1 for the revision and digest being served.",
            ["revision", "digest"],
            registry=r,
        )
        self.last_success = Gauge(
            "hessra_policy_sync_last_success_timestamp_seconds",
            "Unix time of the last reconcile that reached the source and served a good revision.",
            registry=r,
        )
        self.subscribers = Gauge(
            "hessra_policy_sync_subscribers",
            "Open WatchSnapshots streams.",
            registry=r,
        )
        self.webhooks = Counter(
            "hessra_policy_sync_webhooks",
            "Webhook deliveries by provider and outcome.",
            ["provider", "outcome"],
            registry=r,
        )

    def set_serving(self, revision: str, digest: str) -> None:
        # One series only: the old revision's label set would otherwise linger at 1.
        self.serving.clear()
        self.serving.labels(revision=revision, digest=digest).set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)


__all__ = ["PolicySyncMetrics"]
