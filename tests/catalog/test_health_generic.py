"""The generic fallback: conditions, then a status word, else unknown.

Each case asserts health, status, ready and a substring of the message.
"""

from __future__ import annotations

import pytest

from catalog.health import assess
from tests.catalog.health_builders import NOW, Obj, case, cond, custom, meta

CASES = [
    case(
        custom(
            "rds.aws.upbound.io/v1beta1",
            "Instance",
            conditions=[
                cond("Ready", "True", "Available"),
                cond("Synced", "True", "ReconcileSuccess"),
            ],
        ),
        "healthy",
        "ReconcileSuccess",
        True,
        "available and in sync",
        id="generic-crossplane-ready",
    ),
    case(
        custom(
            "rds.aws.upbound.io/v1beta1",
            "Instance",
            conditions=[
                cond("Ready", "False", "Creating"),
                cond("Synced", "True", "ReconcileSuccess"),
            ],
        ),
        "unknown",
        "ReconcileSuccess",
        False,
        "being created or deleted",
        id="generic-crossplane-creating",
    ),
    case(
        custom(
            "rds.aws.upbound.io/v1beta1",
            "Instance",
            conditions=[
                cond("Ready", "True", "Available"),
                cond(
                    "Synced",
                    "False",
                    "ReconcileError",
                    "cannot update: InvalidParameterCombination",
                ),
            ],
        ),
        "warning",
        "ReconcileError",
        True,
        "InvalidParameterCombination",
        id="generic-crossplane-sync-error",
    ),
    case(
        custom(
            "postgresql.cnpg.io/v1",
            "Cluster",
            conditions=[cond("Ready", "False", "ClusterIsNotReady", "Cluster Is Not Ready")],
            phase="Failing over",
        ),
        "unhealthy",
        "Degraded",
        True,
        "Cluster Is Not Ready",
        id="generic-ready-false",
    ),
    case(
        custom(
            "example.com/v1",
            "Widget",
            conditions=[
                cond("Stalled", "True", "InvalidSpec", "spec.size must be positive"),
                cond("Ready", "False", "InvalidSpec"),
            ],
        ),
        "unhealthy",
        "InvalidSpec",
        False,
        "spec.size must be positive",
        id="generic-stalled",
    ),
    case(
        custom(
            "example.com/v1",
            "Widget",
            generation=5,
            observedGeneration=5,
            conditions=[
                cond("Ready", "True", "Succeeded"),
                cond("Reconciling", "True", "Progressing", "applying revision 6"),
            ],
        ),
        "healthy",
        "Reconciling",
        False,
        "applying revision 6",
        id="generic-reconciling",
    ),
    case(
        custom(
            "example.com/v1",
            "Widget",
            generation=6,
            observedGeneration=5,
            conditions=[cond("Available", "True", "MinimumReplicasAvailable")],
        ),
        "healthy",
        "MinimumReplicasAvailable",
        False,
        "observe the new spec",
        id="generic-generation-lag",
    ),
    case(
        custom(
            "config.openshift.io/v1",
            "ClusterOperator",
            conditions=[
                cond("Available", "True", "AsExpected"),
                cond("Progressing", "False", "AsExpected"),
                cond(
                    "Degraded",
                    "True",
                    "NodeInstaller_InstallerPodFailed",
                    "1 nodes are failing on revision 7",
                ),
            ],
        ),
        "warning",
        "NodeInstaller_InstallerPodFailed",
        True,
        "failing on revision 7",
        id="generic-degraded-condition",
    ),
    case(
        custom("kafka.strimzi.io/v1beta2", "KafkaTopic", phase="Running"),
        "healthy",
        "Running",
        True,
        "status is Running",
        id="generic-phase-running",
    ),
    case(
        custom("example.com/v1", "Backup", state="Failed", message="snapshot timed out"),
        "unhealthy",
        "Failed",
        True,
        "snapshot timed out",
        id="generic-state-failed",
    ),
    case(
        custom("example.com/v1", "Backup", phase="Provisioning"),
        "unknown",
        "Provisioning",
        False,
        "status is Provisioning",
        id="generic-phase-provisioning",
    ),
    case(
        custom("example.com/v1", "Runner", state="Stopped"),
        "unknown",
        "Stopped",
        True,
        "status is Stopped",
        id="generic-stopped-keeps-word",
    ),
    case(
        custom("example.com/v1", "Runner", replicationStatus="degraded"),
        "unhealthy",
        "degraded",
        False,
        "status is degraded",
        id="generic-suffix-status",
    ),
    case(
        custom("example.com/v1", "Runner", phase="Frobnicating"),
        "unknown",
        "Frobnicating",
        False,
        "not in the vocabulary",
        id="generic-unknown-word",
    ),
    case(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": meta("api-config"),
            "data": {"LOG_LEVEL": "info"},
        },
        "unknown",
        "Unknown",
        False,
        "no conditions or status field",
        id="generic-configmap",
    ),
    case(
        {"id": "svc-42", "name": "billing", "status": "MOTHBALLED"},
        "unknown",
        "MOTHBALLED",
        False,
        "not in the vocabulary",
        id="generic-plain-object",
        type="Custom::Service",
    ),
    case(
        {"id": "build-9", "State": "IN_PROGRESS"},
        "unknown",
        "IN_PROGRESS",
        False,
        "status is IN_PROGRESS",
        id="generic-compound-word",
        type="Custom::Build",
    ),
    case(
        {"id": "stack-1", "StackStatus": "UPDATE_ROLLBACK_FAILED"},
        "unhealthy",
        "UPDATE_ROLLBACK_FAILED",
        True,
        "status is UPDATE_ROLLBACK_FAILED",
        id="generic-failed-token",
        type="Custom::Stack",
    ),
]


@pytest.mark.parametrize(("obj", "type_name", "health", "status", "ready", "message"), CASES)
def test_builtin_verdict(
    obj: Obj, type_name: str | None, health: str, status: str, ready: bool, message: str
) -> None:
    verdict = assess(obj, type_name, now=NOW)

    assert (verdict.health, verdict.status, verdict.ready) == (health, status, ready)
    assert message in verdict.message
