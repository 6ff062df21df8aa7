"""Argo CD Applications: Argo's own health and sync verdicts, plus the last sync operation."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from catalog.health.objects import dig, items, mapping, text
from catalog.health.verdict import HEALTHY, Health, unhealthy, unknown, warning


def _first_error(obj: Mapping[str, Any]) -> str:
    """Application conditions of an *Error type (ComparisonError, SyncError, ...)."""
    for condition in items(dig(obj, "status.conditions")):
        kind = text(condition.get("type"))
        if kind.endswith("Error"):
            return f"{kind}: {text(condition.get('message'))}".rstrip(": ")
    return ""


def assess_application(obj: Mapping[str, Any], now: datetime) -> Health:
    """Argo CD's own health word is the status; ready means synced. A failed sync is red and
    an OutOfSync app amber, because drift that Argo CD will not fix needs a person."""
    status = mapping(obj.get("status"))
    health = text(dig(status, "health.status"))
    health_message = text(dig(status, "health.message"))
    sync = text(dig(status, "sync.status"))
    synced = sync == "Synced"
    operation = mapping(status.get("operationState"))
    phase = text(operation.get("phase"))
    error = _first_error(obj)

    if phase in ("Failed", "Error"):
        return unhealthy("Sync Failed", text(operation.get("message")) or f"sync {phase.lower()}")
    if health == "Degraded":
        return unhealthy(health, health_message or error or "application is degraded", synced)
    if health in ("Missing", "Progressing", "Suspended", "Unknown") or not health:
        # Argo CD cannot tell yet (or was told not to act): no verdict either way.
        shown = health or "Unknown"
        return unknown(shown, health_message or error or f"application is {shown.lower()}", synced)
    if phase in ("Running", "Terminating"):
        return Health(HEALTHY, "Syncing", False, text(operation.get("message")) or "syncing")
    if sync == "OutOfSync":
        return warning("OutOfSync", error or "live state differs from the desired state")
    if error:
        return warning(health, error, ready=synced)
    revision = text(dig(status, "sync.revision"))[:7]
    message = health_message or (f"synced to {revision}" if synced and revision else "")
    return Health(HEALTHY, health, synced, message or f"sync status {sync or 'unknown'}")
