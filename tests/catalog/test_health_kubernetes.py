"""Built-in verdicts for core Kubernetes kinds at a fixed NOW.

Service, Ingress, PersistentVolumeClaim, PersistentVolume, Node, Namespace,
HorizontalPodAutoscaler and APIService; each case asserts health, status, ready and a
substring of the message.
"""

from __future__ import annotations

from typing import Any

import pytest

from catalog.health import assess
from tests.catalog.health_builders import NOW, Obj, ago, case, cond, custom, meta


def service(kind: str = "ClusterIP", ingress: list[Obj] | None = None, **spec: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta("api"),
        "spec": {"type": kind, "ports": [{"port": 80, "targetPort": 8080}], **spec},
        "status": {"loadBalancer": {"ingress": ingress} if ingress else {}},
    }


def ingress(addresses: list[Obj] | None = None) -> Obj:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": meta("shop"),
        "spec": {"ingressClassName": "nginx", "rules": [{"host": "shop.example.com"}]},
        "status": {"loadBalancer": {"ingress": addresses} if addresses else {}},
    }


def pvc(phase: str, conditions: list[Obj] | None = None) -> Obj:
    status: Obj = {"phase": phase}
    if phase == "Bound":
        status["capacity"] = {"storage": "20Gi"}
    if conditions:
        status["conditions"] = conditions
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": meta("data-postgres-0"),
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "20Gi"}},
            "storageClassName": "gp3",
            **({"volumeName": "pvc-5b1c"} if phase in ("Bound", "Lost") else {}),
        },
        "status": status,
    }


def pv(phase: str, message: str = "", policy: str = "Delete") -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": meta("pvc-5b1c", namespace=""),
        "spec": {
            "capacity": {"storage": "20Gi"},
            "persistentVolumeReclaimPolicy": policy,
            "claimRef": {"namespace": "shop", "name": "data-postgres-0"},
        },
        "status": {"phase": phase, **({"message": message} if message else {})},
    }


def node(conditions: list[Obj], unschedulable: bool = False) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": meta("ip-10-0-1-17.eu-west-1.compute.internal", namespace=""),
        "spec": {"providerID": "aws:///eu-west-1a/i-0abc", "unschedulable": unschedulable},
        "status": {"conditions": conditions, "nodeInfo": {"kubeletVersion": "v1.30.2"}},
    }


CALM = [
    cond("MemoryPressure", "False", "KubeletHasSufficientMemory"),
    cond("DiskPressure", "False", "KubeletHasNoDiskPressure"),
    cond("PIDPressure", "False", "KubeletHasSufficientPID"),
]
READY = cond("Ready", "True", "KubeletReady", "kubelet is posting ready status")


def hpa(current: int, desired: int, conditions: list[Obj], maximum: int = 10) -> Obj:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta("api"),
        "spec": {
            "minReplicas": 2,
            "maxReplicas": maximum,
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
        },
        "status": {
            "currentReplicas": current,
            "desiredReplicas": desired,
            "conditions": conditions,
        },
    }


ABLE = cond("AbleToScale", "True", "ReadyForNewScale", "recommended size matches current size")
ACTIVE = cond("ScalingActive", "True", "ValidMetricFound", "the HPA was able to compute")
UNLIMITED = cond("ScalingLimited", "False", "DesiredWithinRange", "within the acceptable range")

CASES = [
    case(service(), "healthy", "Healthy", True, "ClusterIP service", id="svc-clusterip"),
    case(
        service("LoadBalancer"),
        "healthy",
        "Pending",
        False,
        "waiting for the load balancer",
        id="svc-lb-pending",
    ),
    case(
        service("LoadBalancer", [{"hostname": "a1b2.elb.eu-west-1.amazonaws.com"}]),
        "healthy",
        "Healthy",
        True,
        "load balancer at a1b2.elb.eu-west-1.amazonaws.com",
        id="svc-lb-ready",
    ),
    case(
        service("ExternalName", externalName="db.internal.example.com"),
        "healthy",
        "Healthy",
        True,
        "alias for db.internal.example.com",
        id="svc-external-name",
    ),
    case(
        custom(
            "serving.knative.dev/v1",
            "Service",
            conditions=[
                cond(
                    "Ready",
                    "False",
                    "RevisionMissing",
                    'Configuration "hello" does not have any ready Revision.',
                )
            ],
        ),
        "unhealthy",
        "RevisionMissing",
        True,
        "does not have any ready Revision",
        id="svc-knative-is-not-core",
    ),
    case(
        ingress([{"ip": "203.0.113.10"}]),
        "healthy",
        "Healthy",
        True,
        "served at 203.0.113.10",
        id="ingress-ready",
    ),
    case(
        ingress(),
        "healthy",
        "Pending",
        False,
        "waiting for the ingress controller",
        id="ingress-pending",
    ),
    case(pvc("Bound"), "healthy", "Healthy", True, "bound to pvc-5b1c; 20Gi", id="pvc-bound"),
    case(pvc("Pending"), "healthy", "Progressing", False, "waiting for a volume", id="pvc-pending"),
    case(pvc("Lost"), "unhealthy", "Degraded", True, "no longer exists", id="pvc-lost"),
    case(
        pvc(
            "Bound",
            [
                cond(
                    "FileSystemResizePending",
                    "True",
                    "",
                    "Waiting for user to (re-)start a pod to finish file system resize",
                )
            ],
        ),
        "healthy",
        "Resizing",
        False,
        "finish file system resize",
        id="pvc-resizing",
    ),
    case(pv("Bound"), "healthy", "Bound", True, "bound to shop/data-postgres-0", id="pv-bound"),
    case(pv("Available"), "healthy", "Available", True, "not bound", id="pv-available"),
    case(
        pv("Released", policy="Retain"),
        "healthy",
        "Released",
        True,
        "reclaim policy Retain",
        id="pv-released",
    ),
    case(
        pv("Failed", "error getting deleter volume plugin for volume"),
        "unhealthy",
        "Failed",
        True,
        "error getting deleter",
        id="pv-failed",
    ),
    case(
        node([*CALM, READY]),
        "healthy",
        "Healthy",
        True,
        "kubelet is posting ready status",
        id="node-ready",
    ),
    case(
        node(
            [
                *CALM,
                cond(
                    "Ready",
                    "False",
                    "KubeletNotReady",
                    "container runtime network not ready: NetworkReady=false",
                ),
            ]
        ),
        "unhealthy",
        "NotReady",
        False,
        "container runtime network not ready",
        id="node-not-ready",
    ),
    case(
        node(
            [
                *CALM,
                cond(
                    "Ready", "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status."
                ),
            ]
        ),
        "unknown",
        "NotReady",
        False,
        "Kubelet stopped posting node status.",
        id="node-unknown",
    ),
    case(
        node(
            [
                cond("DiskPressure", "True", "KubeletHasDiskPressure", "kubelet has disk pressure"),
                READY,
            ]
        ),
        "warning",
        "Disk Pressure",
        True,
        "kubelet has disk pressure",
        id="node-disk-pressure",
    ),
    case(
        node([*CALM, READY], unschedulable=True),
        "warning",
        "Cordoned",
        False,
        "node is cordoned",
        id="node-cordoned",
    ),
    case(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": meta("shop", namespace=""),
            "status": {"phase": "Active"},
        },
        "healthy",
        "Active",
        True,
        "namespace is active",
        id="ns-active",
    ),
    case(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": meta("old-shop", namespace="", deletionTimestamp=ago(hours=2)),
            "status": {
                "phase": "Terminating",
                "conditions": [
                    cond("NamespaceDeletionDiscoveryFailure", "False", "ResourcesDiscovered"),
                    cond(
                        "NamespaceContentRemaining",
                        "True",
                        "SomeResourcesRemain",
                        "Some resources are remaining: kafkatopics.kafka.strimzi.io has 2",
                    ),
                    cond(
                        "NamespaceFinalizersRemaining",
                        "True",
                        "SomeFinalizersRemain",
                        "Some content has finalizers remaining: strimzi.io/topic-operator",
                    ),
                ],
            },
        },
        "warning",
        "TerminatingStalled",
        False,
        "kafkatopics.kafka.strimzi.io has 2; Some content has finalizers remaining",
        id="ns-terminating",
    ),
    case(
        hpa(3, 3, [ABLE, ACTIVE, UNLIMITED]),
        "healthy",
        "Healthy",
        True,
        "recommended size matches current size",
        id="hpa-ok",
    ),
    case(
        hpa(
            3,
            3,
            [
                cond(
                    "AbleToScale",
                    "False",
                    "FailedGetScale",
                    'deployments/scale.apps "api" not found',
                ),
                ACTIVE,
            ],
        ),
        "unhealthy",
        "Degraded",
        False,
        'deployments/scale.apps "api" not found',
        id="hpa-cannot-scale",
    ),
    case(
        hpa(
            3,
            3,
            [
                ABLE,
                cond(
                    "ScalingActive",
                    "False",
                    "FailedGetResourceMetric",
                    "failed to get cpu utilization: missing request for cpu",
                ),
            ],
        ),
        "unhealthy",
        "Degraded",
        False,
        "missing request for cpu",
        id="hpa-inactive",
    ),
    case(
        hpa(
            10,
            10,
            [
                ABLE,
                ACTIVE,
                cond(
                    "ScalingLimited",
                    "True",
                    "TooManyReplicas",
                    "the desired replica count is more than the maximum",
                ),
            ],
        ),
        "healthy",
        "Healthy",
        True,
        "recommended size matches current size",
        id="hpa-at-max",
    ),
    case(
        hpa(3, 6, [ABLE, ACTIVE, UNLIMITED]),
        "healthy",
        "Healthy",
        True,
        "recommended size matches current size",
        id="hpa-scaling",
    ),
    case(
        {
            "apiVersion": "autoscaling/v1",
            "kind": "HorizontalPodAutoscaler",
            "metadata": meta(
                "api",
                annotations={
                    "autoscaling.alpha.kubernetes.io/conditions": (
                        '[{"type":"AbleToScale","status":"False","reason":"FailedGetScale",'
                        '"message":"no matches for kind Rollout"}]'
                    ),
                },
            ),
            "spec": {"minReplicas": 1, "maxReplicas": 4},
            "status": {"currentReplicas": 1, "desiredReplicas": 1},
        },
        "unhealthy",
        "Degraded",
        False,
        "no matches for kind Rollout",
        id="hpa-v1-annotation",
    ),
    case(
        {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": meta("v1.apps", namespace=""),
            "spec": {"group": "apps"},
            "status": {
                "conditions": [
                    cond("Available", "True", "Local", "Local APIServices are always available")
                ]
            },
        },
        "healthy",
        "Available",
        True,
        "Local APIServices",
        id="apiservice-local",
    ),
    case(
        {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": meta("v1beta1.metrics.k8s.io", namespace=""),
            "spec": {"service": {"name": "metrics-server", "namespace": "kube-system"}},
            "status": {
                "conditions": [
                    cond(
                        "Available",
                        "False",
                        "FailedDiscoveryCheck",
                        "failing or missing response from https://10.96.0.12:443/apis/metrics.k8s.io/v1beta1",
                    )
                ]
            },
        },
        "unhealthy",
        "Unavailable",
        False,
        "failing or missing response",
        id="apiservice-down",
    ),
]


@pytest.mark.parametrize(("obj", "type_name", "health", "status", "ready", "message"), CASES)
def test_builtin_verdict(
    obj: Obj, type_name: str | None, health: str, status: str, ready: bool, message: str
) -> None:
    verdict = assess(obj, type_name, now=NOW)

    assert (verdict.health, verdict.status, verdict.ready) == (health, status, ready)
    assert message in verdict.message
