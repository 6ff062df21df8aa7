"""Core Kubernetes kinds that do not own pods: networking, storage, nodes, autoscaling, APIs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from catalog.health.objects import (
    conditions,
    dig,
    duration,
    humanize,
    is_false,
    is_true,
    items,
    mapping,
    sentence,
    text,
    timestamp,
)
from catalog.health.verdict import Health, healthy, progressing, unhealthy, unknown, warning

NODE_PRESSURE = ("MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable")
# A namespace still terminating this long after deletion was requested is stuck, nearly always
# on a finalizer or on resources whose controller is gone.
NAMESPACE_STALLED_AFTER = timedelta(minutes=15)
# HPA conditions that mean the autoscaler cannot do its job at all.
HPA_DEGRADED = frozenset(
    {
        ("AbleToScale", "FailedGetScale"),
        ("AbleToScale", "FailedUpdateScale"),
        ("ScalingActive", "FailedGetResourceMetric"),
        ("ScalingActive", "FailedGetPodsMetric"),
        ("ScalingActive", "FailedGetObjectMetric"),
        ("ScalingActive", "FailedGetExternalMetric"),
        ("ScalingActive", "FailedGetContainerResourceMetric"),
        ("ScalingActive", "InvalidSelector"),
        ("ScalingActive", "InvalidMetricSourceType"),
    }
)


def _addresses(obj: Mapping[str, Any]) -> list[str]:
    """Load-balancer ingress points: a hostname on AWS, an IP elsewhere."""
    found = []
    for entry in items(dig(obj, "status.loadBalancer.ingress")):
        address = text(entry.get("hostname")) or text(entry.get("ip"))
        if address:
            found.append(address)
    return found


def assess_service(obj: Mapping[str, Any], now: datetime) -> Health:
    """A LoadBalancer Service is only ready once the cloud has given it an address."""
    kind = text(dig(obj, "spec.type")) or "ClusterIP"
    if kind == "ExternalName":
        return healthy("Healthy", f"alias for {text(dig(obj, 'spec.externalName'))}")
    if kind == "LoadBalancer":
        addresses = _addresses(obj)
        if not addresses:
            return progressing("Pending", "waiting for the load balancer's external address")
        return healthy("Healthy", f"load balancer at {', '.join(addresses)}")
    return healthy("Healthy", f"{kind} service")


def assess_ingress(obj: Mapping[str, Any], now: datetime) -> Health:
    """The ingress controller writes an address once it serves the rules."""
    addresses = _addresses(obj)
    if not addresses:
        return progressing("Pending", "waiting for the ingress controller to assign an address")
    return healthy("Healthy", f"served at {', '.join(addresses)}")


def assess_pvc(obj: Mapping[str, Any], now: datetime) -> Health:
    """Bound is healthy, Pending is on its way (volumes bind on first use), Lost is red."""
    phase = text(dig(obj, "status.phase"))
    conds = conditions(obj)
    if phase == "Lost":
        return unhealthy("Degraded", "claim lost: the bound volume no longer exists", ready=True)
    if phase == "Pending":
        return progressing("Progressing", "waiting for a volume to be provisioned or bound")
    if phase == "Bound":
        for name in ("Resizing", "FileSystemResizePending", "ControllerResizeError"):
            condition = conds.get(name)
            if is_true(condition):
                message = text(condition.get("message")) or f"{name} in progress"
                if name.endswith("Error"):
                    return warning("Resize Failed", message, ready=True)
                return progressing("Resizing", message)
        capacity = text(dig(obj, "status.capacity.storage"))
        volume = text(dig(obj, "spec.volumeName"))
        return healthy("Healthy", sentence(f"bound to {volume}" if volume else "", capacity))
    return unknown(phase or "Unknown", "no phase reported")


def assess_pv(obj: Mapping[str, Any], now: datetime) -> Health:
    """Available and Bound are fine; Failed means reclamation broke."""
    phase = text(dig(obj, "status.phase"))
    message = text(dig(obj, "status.message"))
    claim = mapping(dig(obj, "spec.claimRef"))
    if phase == "Failed":
        return unhealthy("Failed", message or "volume reclamation failed", ready=True)
    if phase == "Bound":
        name = f"{text(claim.get('namespace'))}/{text(claim.get('name'))}".strip("/")
        return healthy("Bound", f"bound to {name}" if name else "")
    if phase == "Available":
        return healthy("Available", "not bound to any claim")
    if phase == "Released":
        policy = text(dig(obj, "spec.persistentVolumeReclaimPolicy")) or "Retain"
        return healthy("Released", f"claim deleted; data kept by reclaim policy {policy}")
    if phase == "Pending":
        return progressing("Pending", message)
    return unknown(phase or "Unknown", message)


def assess_node(obj: Mapping[str, Any], now: datetime) -> Health:
    """The Ready condition decides; pressure is amber; a cordoned node says so in its status."""
    conds = conditions(obj)
    ready_condition = conds.get("Ready")
    cordoned = dig(obj, "spec.unschedulable") is True
    if ready_condition is None:
        return unknown("Unknown", "no Ready condition reported")
    detail = text(ready_condition.get("message"))
    if is_false(ready_condition):
        return unhealthy("NotReady", detail or "kubelet reports the node is not ready")
    if not is_true(ready_condition):
        return unknown("NotReady", detail or "kubelet stopped posting node status")
    for name in NODE_PRESSURE:
        condition = conds.get(name)
        if is_true(condition):
            message = text(condition.get("message")) or f"node reports {name}"
            shown = "PID Pressure" if name == "PIDPressure" else humanize(name)
            return warning("Cordoned" if cordoned else shown, message, ready=True)
    if cordoned:
        return warning("Cordoned", "node is cordoned: no new pods are scheduled")
    kubelet = text(dig(obj, "status.nodeInfo.kubeletVersion"))
    return healthy("Healthy", detail or (f"kubelet {kubelet}" if kubelet else ""))


def assess_namespace(obj: Mapping[str, Any], now: datetime) -> Health:
    """Terminating is normal for a while; stuck, it says which condition holds it."""
    phase = text(dig(obj, "status.phase")) or "Active"
    if phase == "Terminating":
        blockers = [
            text(c.get("message"))
            for c in items(dig(obj, "status.conditions"))
            if is_true(c) and text(c.get("message"))
        ]
        deleted = timestamp(dig(obj, "metadata.deletionTimestamp"))
        if deleted is not None and now - deleted > NAMESPACE_STALLED_AFTER:
            message = sentence(f"terminating for {duration(now - deleted)}", *blockers)
            return warning("TerminatingStalled", message)
        return unknown("Terminating", sentence(*blockers) or "namespace is being deleted")
    if phase == "Active":
        return healthy("Active", "namespace is active")
    return unknown(phase)


def _hpa_conditions(obj: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """autoscaling/v2 has status.conditions; v1 hides them in an annotation as JSON."""
    found = conditions(obj)
    if found:
        return found
    raw = mapping(dig(obj, "metadata.annotations")).get(
        "autoscaling.alpha.kubernetes.io/conditions"
    )
    if isinstance(raw, str):
        try:
            decoded = json.loads(raw)
        except ValueError:
            return {}
        return {text(c.get("type")): c for c in items(decoded) if c.get("type")}
    return {}


def assess_hpa(obj: Mapping[str, Any], now: datetime) -> Health:
    """Failing to read the target or its metrics is red; able to scale (or limited by its
    bounds) is healthy; no conditions yet means it is still waiting to autoscale."""
    conds = _hpa_conditions(obj)
    for name, condition in conds.items():
        if (name, text(condition.get("reason"))) in HPA_DEGRADED:
            message = text(condition.get("message")) or f"{name}: {text(condition.get('reason'))}"
            return unhealthy("Degraded", message)
    able = conds.get("AbleToScale")
    if is_false(able):
        return unhealthy("Degraded", text(able.get("message")) or "cannot scale the target")
    for name in ("AbleToScale", "ScalingLimited"):
        condition = conds.get(name)
        if is_true(condition):
            return healthy("Healthy", text(condition.get("message")))
    return progressing("Progressing", "Waiting to Autoscale")


def assess_apiservice(obj: Mapping[str, Any], now: datetime) -> Health:
    """An unavailable aggregated API breaks discovery for every client of the cluster."""
    available = conditions(obj).get("Available")
    if available is None:
        return unknown("Unknown", "no Available condition reported")
    message = text(available.get("message")) or text(available.get("reason"))
    if is_true(available):
        return healthy("Available", message)
    if is_false(available):
        return unhealthy("Unavailable", message or "the API service is not available")
    return unknown("Unknown", message)
