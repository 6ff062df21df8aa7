"""Argo CD Applications: Argo's own health and sync verdicts, plus the last sync operation."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from catalog.health.objects import dig, items, mapping, text
from catalog.health.verdict import Health, healthy, progressing, unhealthy, unknown, warning


def _first_error(obj: Mapping[str, Any]) -> str:
    """Application conditions of an *Error type (ComparisonError, SyncError, ...)."""
    for condition in items(dig(obj, "status.conditions")):
        kind = text(condition.get("type"))
        if kind.endswith("Error"):
            return f"{kind}: {text(condition.get('message'))}".rstrip(": ")
    return ""


def assess_application(obj: Mapping[str, Any], now: datetime) -> Health:
    """product.md §4.3: health status first, a failed sync is red, OutOfSync is amber."""
    status = mapping(obj.get("status"))
    health = text(dig(status, "health.status"))
    health_message = text(dig(status, "health.message"))
    sync = text(dig(status, "sync.status"))
    revision = text(dig(status, "sync.revision"))[:7]
    operation = mapping(status.get("operationState"))
    phase = text(operation.get("phase"))
    error = _first_error(obj)

    if phase in ("Failed", "Error"):
        return unhealthy("Sync Failed", text(operation.get("message")) or f"sync {phase.lower()}")
    if health in ("Degraded", "Missing"):
        return unhealthy(health, health_message or error or f"application is {health.lower()}")
    if health == "Suspended":
        return warning("Suspended", health_message or "a resource is suspended", ready=True)
    if phase in ("Running", "Terminating"):
        return progressing("Syncing", text(operation.get("message")) or "sync in progress")
    if health == "Progressing":
        return progressing("Progressing", health_message or "resources are still progressing")
    if health != "Healthy":
        return unknown(health or "Unknown", health_message or error)
    if sync == "OutOfSync":
        return warning("OutOfSync", error or "live state differs from the desired state")
    if error:
        return warning(sync or "Healthy", error, ready=True)
    if sync == "Synced":
        return healthy("Synced", f"synced to {revision}" if revision else "")
    return healthy("Healthy", f"sync status {sync or 'unknown'}", ready=False)
