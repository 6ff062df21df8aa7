"""Verdicts for the operators platform teams run most, beyond Flux, Argo CD and cert-manager.

Each case asserts health, status, ready and a substring of the message.
"""

from __future__ import annotations

import pytest

from catalog.health import assess
from tests.catalog.health_builders import NOW, Obj, ago, case, cond, custom


def obj_with(api: str, kind: str, generation: int = 2, **status: object) -> Obj:
    return custom(api, kind, generation=generation, observedGeneration=generation, **status)


CASES = [
    case(
        obj_with(
            "keda.sh/v1alpha1",
            "ScaledObject",
            conditions=[
                cond("Ready", "True", "ScaledObjectReady", "ScaledObject is defined correctly"),
                cond(
                    "Active",
                    "True",
                    "ScalerActive",
                    "Scaling is performed because triggers are active",
                ),
            ],
        ),
        "healthy",
        "Active",
        True,
        "triggers are active",
        id="keda-active",
    ),
    case(
        obj_with(
            "keda.sh/v1alpha1",
            "ScaledObject",
            conditions=[
                cond("Ready", "False", "ScaledObjectCheckFailed", "Target resource doesn't exist"),
            ],
        ),
        "unhealthy",
        "ScaledObjectCheckFailed",
        False,
        "Target resource doesn't exist",
        id="keda-check-failed",
    ),
    case(
        obj_with(
            "keda.sh/v1alpha1",
            "ScaledObject",
            conditions=[
                cond("Ready", "True", "ScaledObjectReady", "ok"),
                cond("Paused", "True", "ScaledObjectPaused", "ScaledObject is paused"),
            ],
        ),
        "warning",
        "Suspended",
        True,
        "ScaledObject is paused",
        id="keda-paused",
    ),
    case(
        obj_with(
            "keda.sh/v1alpha1",
            "ScaledJob",
            conditions=[
                cond("Ready", "True", "ScaledJobReady", "ok"),
                cond("Fallback", "True", "FallbackExists", "At least one trigger is falling back"),
            ],
        ),
        "warning",
        "Fallback",
        True,
        "falling back",
        id="keda-fallback",
    ),
    case(
        obj_with(
            "karpenter.sh/v1",
            "NodeClaim",
            conditions=[
                cond("Launched", "True", "Launched"),
                cond("Registered", "True", "Registered"),
                cond("Initialized", "True", "Initialized"),
                cond("Drifted", "True", "NodePoolDrifted", "NodePool hash changed"),
                cond("Ready", "True", "Ready"),
            ],
        ),
        "healthy",
        "Drifted",
        False,
        "NodePool hash changed",
        id="karpenter-drifted",
    ),
    case(
        obj_with(
            "karpenter.sh/v1",
            "NodePool",
            conditions=[
                cond(
                    "Ready",
                    "False",
                    "NodeClassReadyFailed",
                    'NodeClass "default" not found',
                )
            ],
        ),
        "unhealthy",
        "NodeClassReadyFailed",
        False,
        'NodeClass "default" not found',
        id="karpenter-nodepool-broken",
    ),
    case(
        custom(
            "networking.istio.io/v1",
            "VirtualService",
            validationMessages=[
                {"level": "ERROR", "type": {"code": "IST0101"}, "documentationUrl": "ref"},
            ],
        ),
        "unhealthy",
        "IST0101",
        True,
        "ref",
        id="istio-referenced-resource-missing",
    ),
    case(
        custom(
            "networking.istio.io/v1",
            "Gateway",
            conditions=[cond("Reconciled", "True", "Reconciled", "pushed to 12 proxies")],
        ),
        "unknown",
        "Unknown",
        False,
        "no status reported",
        id="istio-reconciled-only",
    ),
    case(
        obj_with(
            "kafka.strimzi.io/v1beta2",
            "Kafka",
            conditions=[cond("Ready", "True")],
        ),
        "healthy",
        "Ready",
        True,
        "ready",
        id="strimzi-ready",
    ),
    case(
        obj_with(
            "kafka.strimzi.io/v1beta2",
            "Kafka",
            conditions=[cond("NotReady", "True", "Creating", "Kafka cluster is being deployed")],
        ),
        "unknown",
        "Creating",
        False,
        "being deployed",
        id="strimzi-creating",
    ),
    case(
        obj_with(
            "kafka.strimzi.io/v1beta2",
            "KafkaTopic",
            conditions=[cond("Ready", "False", "KafkaError", "Invalid replication factor")],
        ),
        "unhealthy",
        "KafkaError",
        True,
        "Invalid replication factor",
        id="strimzi-topic-error",
    ),
    case(
        obj_with(
            "kafka.strimzi.io/v1beta2",
            "Kafka",
            conditions=[
                cond("Ready", "True"),
                cond("Warning", "True", "KafkaStorage", "JBOD storage with one volume"),
            ],
        ),
        "warning",
        "KafkaStorage",
        True,
        "JBOD",
        id="strimzi-warning",
    ),
    case(
        obj_with(
            "monitoring.coreos.com/v1",
            "Prometheus",
            conditions=[
                cond("Available", "True", "", "all replicas ready"),
                cond("Reconciled", "True"),
            ],
        ),
        "healthy",
        "Available",
        True,
        "all replicas ready",
        id="prometheus-available",
    ),
    case(
        obj_with(
            "monitoring.coreos.com/v1",
            "Alertmanager",
            conditions=[
                cond("Available", "Degraded", "SomePodsNotReady", "1/3 pods not ready"),
                cond("Reconciled", "True"),
            ],
        ),
        "warning",
        "SomePodsNotReady",
        True,
        "1/3 pods not ready",
        id="alertmanager-degraded",
    ),
    case(
        obj_with(
            "monitoring.coreos.com/v1",
            "Prometheus",
            conditions=[
                cond("Available", "True"),
                cond("Reconciled", "False", "ReconciliationFailed", "invalid remote write"),
            ],
        ),
        "warning",
        "ReconciliationFailed",
        True,
        "invalid remote write",
        id="prometheus-reconcile-failed",
    ),
    case(
        custom("velero.io/v1", "Backup", phase="Completed"),
        "healthy",
        "Completed",
        True,
        "status.phase is Completed",
        id="velero-backup-completed",
    ),
    case(
        custom("velero.io/v1", "Backup", phase="PartiallyFailed", errors=3),
        "warning",
        "PartiallyFailed",
        True,
        "3 errors",
        id="velero-backup-partially-failed",
    ),
    case(
        custom(
            "velero.io/v1",
            "Restore",
            phase="FailedValidation",
            validationErrors=["backup not found"],
        ),
        "unhealthy",
        "FailedValidation",
        True,
        "backup not found",
        id="velero-restore-invalid",
    ),
    case(
        custom("velero.io/v1", "BackupStorageLocation", phase="Unavailable", message="403"),
        "unhealthy",
        "Unavailable",
        False,
        "403",
        id="velero-bsl-unavailable",
    ),
    case(
        custom("velero.io/v1", "Schedule", {"paused": True}, phase="Enabled"),
        "warning",
        "Suspended",
        True,
        "schedule is paused",
        id="velero-schedule-paused",
    ),
    case(
        custom("acid.zalan.do/v1", "postgresql", PostgresClusterStatus="Running"),
        "healthy",
        "Running",
        True,
        "cluster state is Running",
        id="zalando-running",
    ),
    case(
        custom("acid.zalan.do/v1", "postgresql", PostgresClusterStatus="SyncFailed"),
        "unhealthy",
        "SyncFailed",
        True,
        "cluster state is SyncFailed",
        id="zalando-sync-failed",
    ),
    case(
        custom(
            "s3.services.k8s.aws/v1alpha1",
            "Bucket",
            conditions=[cond("ACK.ResourceSynced", "True", "", "Resource synced successfully")],
        ),
        "healthy",
        "Synced",
        True,
        "Resource synced successfully",
        id="ack-synced",
    ),
    case(
        custom(
            "rds.services.k8s.aws/v1alpha1",
            "DBInstance",
            conditions=[
                cond("ACK.Terminal", "True", "", "InvalidParameterCombination: bad engine"),
                cond("ACK.ResourceSynced", "False"),
            ],
        ),
        "unhealthy",
        "Terminal",
        True,
        "InvalidParameterCombination",
        id="ack-terminal",
    ),
    case(
        custom(
            "rds.services.k8s.aws/v1alpha1",
            "DBInstance",
            conditions=[
                cond("ACK.Recoverable", "True", "", "throttled"),
                cond("ACK.ResourceSynced", "False"),
            ],
        ),
        "warning",
        "Recoverable",
        False,
        "throttled",
        id="ack-recoverable",
    ),
    case(
        custom(
            "apiextensions.crossplane.io/v1",
            "CompositeResourceDefinition",
            conditions=[
                cond("Established", "True", "WatchingCompositeResource"),
                cond("Offered", "True", "OfferedCompositeResourceClaims"),
            ],
        ),
        "healthy",
        "OfferedCompositeResourceClaims",
        True,
        "established and offered",
        id="crossplane-xrd-offered",
    ),
    case(
        custom(
            "platform.example.org/v1alpha1",
            "XDatabase",
            conditions=[
                cond("Synced", "True", "ReconcileSuccess"),
                cond("Ready", "False", "Creating"),
            ],
        ),
        "unknown",
        "Creating",
        False,
        "Ready is False (Creating)",
        id="composite-in-own-group-creating",
        type="Kubernetes::XDatabase",
    ),
    case(
        custom(
            "platform.example.org/v1alpha1",
            "XDatabase",
            {"compositionRef": {"name": "aws-postgres"}},
            conditions=[
                cond("Synced", "True", "ReconcileSuccess"),
                cond("Ready", "False", "Creating"),
            ],
        ),
        "unknown",
        "ReconcileSuccess",
        False,
        "being created",
        id="crossplane-composite-in-own-group-creating",
    ),
    case(
        custom(
            "platform.example.org/v1alpha1",
            "Database",
            {"resourceRef": {"name": "orders-x7k2"}, "compositionRef": {"name": "aws-postgres"}},
            conditions=[
                cond("Synced", "True", "ReconcileSuccess"),
                cond("Ready", "True", "Available"),
            ],
        ),
        "healthy",
        "ReconcileSuccess",
        True,
        "available and in sync",
        id="crossplane-claim-in-own-group-available",
    ),
    case(
        custom(
            "argoproj.io/v1alpha1",
            "Rollout",
            phase="Progressing",
            message="more replicas need to be updated",
        ),
        "healthy",
        "Progressing",
        False,
        "more replicas need to be updated",
        id="argo-rollout-progressing",
    ),
    case(
        custom(
            "argoproj.io/v1alpha1", "Rollout", phase="Degraded", message="ProgressDeadlineExceeded"
        ),
        "unhealthy",
        "Degraded",
        False,
        "ProgressDeadlineExceeded",
        id="argo-rollout-degraded",
    ),
    case(
        custom("argoproj.io/v1alpha1", "Rollout", phase="Paused", message="CanaryPauseStep"),
        "warning",
        "Suspended",
        False,
        "CanaryPauseStep",
        id="argo-rollout-paused",
    ),
    case(
        custom(
            "argoproj.io/v1alpha1",
            "ApplicationSet",
            conditions=[
                cond(
                    "ErrorOccurred", "True", "ApplicationGenerationFromParamsError", "bad template"
                ),
                cond("ResourcesUpToDate", "False", "ApplicationGenerationFromParamsError"),
            ],
        ),
        "unhealthy",
        "ApplicationGenerationFromParamsError",
        True,
        "bad template",
        id="argo-applicationset-error",
    ),
    case(
        custom(
            "argoproj.io/v1alpha1",
            "ApplicationSet",
            conditions=[
                cond("ErrorOccurred", "False", "ApplicationSetUpToDate"),
                cond(
                    "ResourcesUpToDate",
                    "True",
                    "ApplicationSetUpToDate",
                    "All applications have been generated successfully",
                ),
            ],
        ),
        "healthy",
        "ApplicationSetUpToDate",
        True,
        "generated successfully",
        id="argo-applicationset-up-to-date",
    ),
    case(
        custom(
            "canaries.flanksource.com/v1",
            "Canary",
            generation=1,
            observedGeneration=1,
            status="Passed",
            uptime1h="12/20 (60%)",
        ),
        "warning",
        "Passed",
        True,
        "uptime: 12/20 (60%)",
        id="canary-low-uptime",
    ),
    case(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "migrate", "deletionTimestamp": ago(minutes=2)},
            "status": {"active": 1},
        },
        "unknown",
        "Terminating",
        False,
        "pending deletion",
        id="any-kind-terminating",
    ),
]


@pytest.mark.parametrize(("obj", "type_name", "health", "status", "ready", "message"), CASES)
def test_builtin_verdict(
    obj: Obj, type_name: str | None, health: str, status: str, ready: bool, message: str
) -> None:
    verdict = assess(obj, type_name, NOW)

    assert (verdict.health, verdict.status, verdict.ready) == (health, status, ready)
    assert message in verdict.message
