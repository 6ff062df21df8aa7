"""Controllers of cloud resources: Crossplane, GCP Config Connector and AWS Controllers (ACK).

All three report through conditions, each with its own names; the verdicts follow Mission
Control's reading, so a resource shows the same status word here as there.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from catalog.health.generic import conditions_verdict
from catalog.health.objects import conditions, is_false, is_true, text
from catalog.health.verdict import HEALTHY, UNHEALTHY, UNKNOWN, WARNING, Health, unknown

# Crossplane Ready reasons: still being created or deleted is unknown, never red.
_XP_WAITING = frozenset({"Creating", "Deleting", "Pending", "Unknown"})


def _reason(condition: Mapping[str, Any] | None) -> str:
    return text(condition.get("reason")) if condition else ""


def _message(condition: Mapping[str, Any] | None) -> str:
    return text(condition.get("message")) if condition else ""


def _package(conds: dict[str, Mapping[str, Any]]) -> Health | None:
    """Providers, Configurations, Functions and their revisions: installed and healthy."""
    installed, healthy = conds.get("Installed"), conds.get("Healthy")
    if installed is None and healthy is None:
        return None
    broken = next((c for c in (installed, healthy) if is_false(c)), None)
    if broken is not None:
        return Health(UNHEALTHY, _reason(broken) or "Unhealthy", False, _message(broken))
    if is_true(installed) and not is_false(healthy):
        ready = healthy is None or is_true(healthy)
        reasons = " ".join(r for r in (_reason(installed), _reason(healthy)) if r)
        return Health(HEALTHY if ready else UNKNOWN, _reason(installed), ready, reasons)
    if is_true(healthy):
        return Health(HEALTHY, _reason(healthy), True, _message(healthy))
    return unknown(_reason(installed or healthy) or "Installing", "package is being installed")


def _definition(conds: dict[str, Mapping[str, Any]]) -> Health | None:
    """CompositeResourceDefinitions: the API is served once Established, claims once Offered."""
    established = conds.get("Established")
    if established is None:
        return None
    offered = conds.get("Offered")
    if is_true(established) and not is_false(offered):
        message = _message(established) or "the API is established" + (
            " and offered to claims" if offered is not None else ""
        )
        return Health(HEALTHY, _reason(offered or established), True, message)
    broken = offered if is_false(offered) else established
    if is_false(broken):
        return Health(UNHEALTHY, _reason(broken) or "NotEstablished", False, _message(broken))
    return unknown(_reason(established) or "Establishing", _message(established))


def assess_crossplane(obj: Mapping[str, Any], now: datetime) -> Health:
    """Managed resources, composites and claims: Ready says whether it exists, Synced whether the
    last reconcile worked; a failed reconcile of a ready resource is amber, not red."""
    conds = conditions(obj)
    for special in (_package, _definition):
        if (verdict := special(conds)) is not None:
            return verdict
    ready, synced = conds.get("Ready"), conds.get("Synced")
    async_op = conds.get("LastAsyncOperation")
    if ready is None and synced is None:
        return unknown("Unknown", "not reconciled yet")
    reason = _reason(ready)
    if is_true(ready):
        health, done = HEALTHY, True
    elif is_false(ready) and reason not in _XP_WAITING:
        health, done = UNHEALTHY, True
    elif ready is None and is_true(synced):
        health, done = HEALTHY, True
    else:
        health, done = UNKNOWN, False
    if _reason(synced) == "ReconcilePaused":
        done = False
    status = reason or "Unknown"
    message = _message(ready)
    if is_true(synced):
        status = _reason(synced) or status
    if is_true(async_op) and not is_false(synced):
        # A finished async call says nothing new; an ongoing one means "not there yet".
        done = done and _reason(async_op) != "Ongoing"
    for failing in (async_op, synced):
        if is_false(failing):
            status = _reason(failing) or "ReconcileError"
            message = _message(failing) or message
            if health != UNHEALTHY:
                health = WARNING
    if not message:
        message = {HEALTHY: "available and in sync", UNKNOWN: "being created or deleted"}.get(
            health, f"Ready is False ({reason})" if reason else "not available"
        )
    return Health(health, status, done, message)


# Config Connector Ready reasons and what they mean, as (health, ready).
CNRM_REASONS: dict[str, tuple[str, bool]] = {
    "UpToDate": (HEALTHY, True),
    "UpdateFailed": (UNHEALTHY, True),
    "DeleteFailed": (UNHEALTHY, True),
    "DependencyNotFound": (UNHEALTHY, True),
    "DependencyInvalid": (UNHEALTHY, True),
    "ManagementConflict": (UNHEALTHY, True),
    "DependencyNotReady": (UNKNOWN, False),
    "Updating": (UNKNOWN, False),
    "Deleting": (UNKNOWN, False),
    "Abandoning": (UNKNOWN, False),
}


def assess_config_connector(obj: Mapping[str, Any], now: datetime) -> Health:
    """The Ready condition's reason decides; an update in progress shows as Progressing."""
    ready = conditions(obj).get("Ready")
    if ready is None:
        return unknown("Unknown", "Config Connector has not reconciled the resource yet")
    reason, message = _reason(ready), _message(ready)
    if reason in ("UpdateInProgress", "Updating"):
        return Health(UNKNOWN, "Progressing", False, message or "update in progress")
    if reason in CNRM_REASONS:
        health, done = CNRM_REASONS[reason]
        return Health(health, reason, done, message)
    if is_true(ready):
        return Health(HEALTHY, reason or "UpToDate", True, message)
    if is_false(ready):
        return Health(UNHEALTHY, reason or "NotReady", True, message)
    return Health(UNKNOWN, reason or "Progressing", False, message)


def assess_ack(obj: Mapping[str, Any], now: datetime) -> Health:
    """ACK: ResourceSynced says the AWS resource matches the spec; Terminal means it never will
    without a spec change; Recoverable errors are retried."""
    conds = conditions(obj)
    terminal = conds.get("ACK.Terminal")
    if is_true(terminal):
        return Health(UNHEALTHY, "Terminal", True, _message(terminal) or "terminal error")
    recoverable = conds.get("ACK.Recoverable")
    synced = conds.get("ACK.ResourceSynced")
    if is_true(recoverable):
        return Health(WARNING, "Recoverable", False, _message(recoverable) or "retrying")
    if is_true(synced):
        return Health(HEALTHY, "Synced", True, _message(synced) or "in sync with AWS")
    if is_false(synced):
        return Health(UNKNOWN, "NotSynced", False, _message(synced) or "syncing with AWS")
    if is_true(conds.get("ACK.Adopted")):
        return Health(UNKNOWN, "Adopted", False, _message(conds["ACK.Adopted"]))
    return conditions_verdict(obj) or unknown("Unknown", "ACK has not reconciled the resource")
