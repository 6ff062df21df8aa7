"""Operators platform teams run most, each judged the way Mission Control judges it.

External Secrets, Knative, Strimzi, KEDA, Karpenter, Istio, the Prometheus operator, Velero,
CloudNativePG, Zalando's Postgres operator, Argo Rollouts, ApplicationSets and Workflows, and
Flanksource's own kinds. Anything not covered here falls through to the generic rules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from catalog.health.generic import conditions_verdict, status_word_verdict
from catalog.health.objects import (
    conditions,
    dig,
    generation_lag,
    is_false,
    is_true,
    items,
    mapping,
    number,
    text,
)
from catalog.health.verdict import HEALTHY, UNHEALTHY, UNKNOWN, WARNING, Health, unknown


def _reason(condition: Mapping[str, Any] | None) -> str:
    return text(condition.get("reason")) if condition else ""


def _message(condition: Mapping[str, Any] | None) -> str:
    return text(condition.get("message")) if condition else ""


def settled_ready(obj: Mapping[str, Any], now: datetime | None = None) -> Health:
    """Ready=True is healthy, Ready=False is a failure the controller reports as final (so the
    object is ready, just broken), anything else is still progressing."""
    conds = conditions(obj)
    ready = conds.get("Ready")
    if is_true(ready):
        warn = conds.get("Warning")
        if is_true(warn):
            return Health(WARNING, _reason(warn) or "Warning", True, _message(warn))
        return Health(HEALTHY, _reason(ready) or "Ready", True, _message(ready) or "ready")
    if is_false(ready):
        detail = _message(ready) or "the controller reports it is not ready"
        return Health(UNHEALTHY, _reason(ready) or "NotReady", True, detail)
    if ready is None and (verdict := conditions_verdict(obj) or status_word_verdict(obj)):
        return verdict
    message = _message(ready) or "waiting for the controller to report readiness"
    return Health(UNKNOWN, "Progressing", False, message)


def assess_strimzi(obj: Mapping[str, Any], now: datetime) -> Health:
    """Strimzi adds NotReady=True while it creates or rolls the cluster."""
    not_ready = conditions(obj).get("NotReady")
    if is_true(not_ready) and not is_true(conditions(obj).get("Ready")):
        reason = _reason(not_ready)
        if reason in ("Creating", "Updating", "RollingUpdate", "Reconciling"):
            return Health(UNKNOWN, reason, False, _message(not_ready))
        return Health(UNHEALTHY, reason or "NotReady", True, _message(not_ready))
    return settled_ready(obj, now)


def assess_keda(obj: Mapping[str, Any], now: datetime) -> Health:
    """ScaledObjects and ScaledJobs: Ready decides, paused autoscaling is amber, a fallback
    replica count means the scaler cannot read its metric."""
    conds = conditions(obj)
    paused = conds.get("Paused")
    if is_true(paused):
        return Health(WARNING, "Suspended", True, _message(paused) or "autoscaling is paused")
    ready = conds.get("Ready")
    if is_false(ready):
        return Health(UNHEALTHY, _reason(ready) or "NotReady", False, _message(ready))
    fallback = conds.get("Fallback")
    if is_true(fallback):
        return Health(WARNING, "Fallback", True, _message(fallback) or "using fallback replicas")
    if is_true(ready):
        active = conds.get("Active")
        status = "Active" if is_true(active) else _reason(ready) or "Ready"
        return Health(HEALTHY, status, True, _message(active) or _message(ready))
    return conditions_verdict(obj) or unknown("Unknown", "KEDA has not reconciled the object")


def assess_karpenter(obj: Mapping[str, Any], now: datetime) -> Health:
    """NodePools, NodeClaims and node classes report kstatus conditions; a drifted NodeClaim is
    fine but about to be replaced, so it is not ready."""
    verdict = conditions_verdict(obj)
    if verdict is None:
        return unknown("Unknown", "Karpenter has not reconciled the object")
    drifted = conditions(obj).get("Drifted")
    if verdict.health == HEALTHY and is_true(drifted):
        return Health(HEALTHY, "Drifted", False, _message(drifted) or "will be replaced")
    return verdict


def assess_istio(obj: Mapping[str, Any], now: datetime) -> Health:
    """Istio config: analysis messages carry the verdict; Reconciled says it was pushed."""
    worst = ""
    for entry in items(dig(obj, "status.validationMessages")):
        level = text(dig(entry, "level")).upper()
        code = text(dig(entry, "type.code")) or text(dig(entry, "type.name"))
        detail = text(entry.get("documentationUrl")) or code
        if level == "ERROR":
            return Health(UNHEALTHY, code or "Error", True, detail)
        if level == "WARNING" and not worst:
            worst = code or "Warning"
    if worst:
        return Health(WARNING, worst, True, "analysis reported a warning")
    verdict = conditions_verdict(obj)
    if verdict is not None:
        return verdict
    return unknown("Unknown", "no status reported (Istio status writing may be disabled)")


def assess_prometheus_operator(obj: Mapping[str, Any], now: datetime) -> Health:
    """Prometheus, Alertmanager and friends: Available may be True, Degraded or False."""
    conds = conditions(obj)
    available, reconciled = conds.get("Available"), conds.get("Reconciled")
    if available is not None:
        state = text(available.get("status"))
        if state.lower() == "degraded":
            return Health(WARNING, _reason(available) or "Degraded", True, _message(available))
        if is_false(available):
            reason = _reason(available) or "Unavailable"
            return Health(UNHEALTHY, reason, False, _message(available))
    if is_false(reconciled):
        return Health(WARNING, _reason(reconciled) or "ReconcileFailed", True, _message(reconciled))
    if is_true(available):
        return Health(HEALTHY, "Available", True, _message(available))
    return conditions_verdict(obj) or unknown("Unknown", "the operator has not reported yet")


# Velero phases as (health, ready).
VELERO_PHASES: dict[str, tuple[str, bool]] = {
    "Completed": (HEALTHY, True),
    "Available": (HEALTHY, True),
    "Enabled": (HEALTHY, True),
    "PartiallyFailed": (WARNING, True),
    "Failed": (UNHEALTHY, True),
    "FailedValidation": (UNHEALTHY, True),
    "Unavailable": (UNHEALTHY, False),
    "New": (UNKNOWN, False),
    "InProgress": (UNKNOWN, False),
    "WaitingForPluginOperations": (UNKNOWN, False),
    "WaitingForPluginOperationsPartiallyFailed": (WARNING, False),
    "Finalizing": (UNKNOWN, False),
    "FinalizingPartiallyFailed": (WARNING, False),
    "Deleting": (UNKNOWN, False),
}


def assess_velero(obj: Mapping[str, Any], now: datetime) -> Health:
    """Backups and restores by phase, storage locations by availability, schedules by state."""
    if dig(obj, "spec.paused") is True:
        return Health(WARNING, "Suspended", True, "schedule is paused")
    phase = text(dig(obj, "status.phase"))
    errors = number(dig(obj, "status.errors"))
    reasons = [text(r) for r in dig(obj, "status.validationErrors", []) if text(r)]
    message = text(dig(obj, "status.message")) or "; ".join(reasons)
    if errors and not message:
        message = f"{errors} errors"
    if phase in VELERO_PHASES:
        health, ready = VELERO_PHASES[phase]
        return Health(health, phase, ready, message or f"status.phase is {phase}")
    if not phase:
        return unknown("New", "Velero has not processed the object yet")
    return unknown(phase, message or f"unknown Velero phase {phase!r}")


# CloudNativePG cluster phases that mean "working on it" rather than "something is wrong".
CNPG_PROGRESSING_PHASES = frozenset(
    {
        "Setting up primary",
        "Creating a new replica",
        "Upgrading cluster",
        "Waiting for the instances to become active",
        "Promoting to primary cluster",
    }
)


def _stale(obj: Mapping[str, Any], condition: Mapping[str, Any] | None) -> bool:
    observed = condition.get("observedGeneration") if condition else None
    generation = dig(obj, "metadata.generation")
    return isinstance(observed, int) and isinstance(generation, int) and observed < generation


def _cnpg_phase(obj: Mapping[str, Any]) -> tuple[str, str]:
    """(Healthy | Progressing | Degraded, message) from the cluster's phase."""
    phase = text(dig(obj, "status.phase"))
    reason = text(dig(obj, "status.phaseReason"))
    if phase == "Cluster in healthy state":
        return "Healthy", reason or phase
    if not phase or phase in CNPG_PROGRESSING_PHASES:
        return "Progressing", reason or phase or "waiting for the cluster to become ready"
    return "Degraded", reason or phase


def assess_cnpg_cluster(obj: Mapping[str, Any], now: datetime) -> Health:
    """CloudNativePG Cluster: suspension, the Ready condition and phase, then the last backup."""
    if mapping(dig(obj, "metadata.annotations")).get("cnpg.io/reconciliationLoop") == "disabled":
        return Health(WARNING, "Suspended", True, "Cluster reconciliation is suspended")
    conds = conditions(obj)
    hibernation = conds.get("cnpg.io/hibernation")
    if is_true(hibernation):
        return Health(WARNING, "Suspended", True, _message(hibernation) or "Cluster is hibernated")
    if not mapping(obj.get("status")):
        return Health(UNKNOWN, "Progressing", False, "Waiting for CloudNativePG cluster status")
    ready = conds.get("Ready")
    if _stale(obj, ready):
        message = "Waiting for CloudNativePG to reconcile the latest generation"
        verdict = Health(UNKNOWN, "Progressing", False, message)
    elif is_true(ready):
        message = _message(ready) or _reason(ready) or text(dig(obj, "status.phase"))
        verdict = Health(HEALTHY, "Healthy", True, message)
    elif ready is not None and not is_false(ready):
        verdict = Health(UNKNOWN, "Progressing", False, _message(ready) or _reason(ready))
    else:
        shown, message = _cnpg_phase(obj)
        if is_false(ready) and shown == "Healthy":
            shown = "Degraded"
        if is_false(ready) and not text(dig(obj, "status.phaseReason")):
            message = _message(ready) or _reason(ready) or message
        if shown == "Degraded":
            verdict = Health(UNHEALTHY, "Degraded", True, message)
        elif shown == "Healthy":
            verdict = Health(HEALTHY, "Healthy", True, message)
        else:
            verdict = Health(UNKNOWN, "Progressing", False, message)
    backup = conds.get("LastBackupSucceeded")
    if (
        is_false(backup)
        and _reason(backup) != "BackupStarted"
        and not _stale(obj, backup)
        and verdict.health in (HEALTHY, UNKNOWN)
        and verdict.status != "Suspended"
    ):
        return Health(
            WARNING,
            _reason(backup) or "LastBackupFailed",
            is_true(ready) or verdict.status == "Healthy",
            _message(backup) or _reason(backup) or "Last backup failed",
        )
    return verdict


def assess_cnpg_backup(obj: Mapping[str, Any], now: datetime) -> Health:
    """CloudNativePG Backup: by phase, with the error the operator recorded."""
    phase = text(dig(obj, "status.phase"))
    error = text(dig(obj, "status.error")) or text(dig(obj, "status.commandError"))
    if not phase:
        return Health(UNKNOWN, "Progressing", False, "Waiting for CloudNativePG backup status")
    if phase in ("failed", "walArchivingFailing", "invalid backup definition") or error:
        return Health(UNHEALTHY, "Degraded", True, error or "CloudNativePG backup failed")
    if phase == "completed":
        return Health(HEALTHY, "Healthy", True, "Backup completed")
    if phase in ("pending", "started", "running", "finalizing"):
        return Health(UNKNOWN, "Progressing", False, f"Backup {phase}")
    return Health(UNKNOWN, "Unknown", False, f"Unknown CloudNativePG backup phase: {phase}")


# Zalando postgres-operator cluster states as (health, ready).
ZALANDO_STATES: dict[str, tuple[str, bool]] = {
    "Running": (HEALTHY, True),
    "Creating": (UNKNOWN, False),
    "Updating": (HEALTHY, False),
    "CreateFailed": (UNHEALTHY, True),
    "UpdateFailed": (UNHEALTHY, True),
    "SyncFailed": (UNHEALTHY, True),
    "DeleteFailed": (UNHEALTHY, True),
    "Invalid": (UNHEALTHY, True),
}


def assess_zalando_postgres(obj: Mapping[str, Any], now: datetime) -> Health:
    """Zalando `postgresql`: the operator writes one state word per cluster."""
    state = text(dig(obj, "status.PostgresClusterStatus")) or text(dig(obj, "status"))
    if state in ZALANDO_STATES:
        health, ready = ZALANDO_STATES[state]
        return Health(health, state, ready, f"cluster state is {state}")
    if not state:
        return unknown("Unknown", "the operator has not reported a state yet")
    return unknown(state, f"unknown cluster state {state!r}")


def assess_rollout(obj: Mapping[str, Any], now: datetime) -> Health:
    """Argo Rollouts report a phase like an Argo CD health status."""
    phase = text(dig(obj, "status.phase"))
    message = text(dig(obj, "status.message"))
    if dig(obj, "spec.paused") is True or phase == "Paused":
        return Health(WARNING, "Suspended", False, message or "rollout is paused")
    if phase == "Healthy":
        return Health(HEALTHY, "Healthy", True, message)
    if phase == "Progressing":
        return Health(HEALTHY, "Progressing", False, message or "rollout in progress")
    if phase == "Degraded":
        return Health(UNHEALTHY, "Degraded", False, message or "rollout is degraded")
    if generation_lag(obj):
        return Health(UNKNOWN, "Progressing", False, "waiting for the controller")
    return conditions_verdict(obj) or unknown(phase or "Unknown", message)


def assess_applicationset(obj: Mapping[str, Any], now: datetime) -> Health:
    """ApplicationSets: an error while generating applications is red."""
    conds = conditions(obj)
    error = conds.get("ErrorOccurred")
    if is_true(error):
        return Health(UNHEALTHY, _reason(error) or "ErrorOccurred", True, _message(error))
    progressing = conds.get("RolloutProgressing")
    if is_true(progressing):
        return Health(HEALTHY, "Progressing", False, _message(progressing))
    up_to_date = conds.get("ResourcesUpToDate")
    if is_true(up_to_date):
        return Health(HEALTHY, _reason(up_to_date) or "Healthy", True, _message(up_to_date))
    if is_false(up_to_date):
        return Health(WARNING, _reason(up_to_date) or "OutOfDate", False, _message(up_to_date))
    return unknown("Unknown", "the ApplicationSet controller has not reported yet")


def assess_workflow(obj: Mapping[str, Any], now: datetime) -> Health:
    """Argo Workflows: Mission Control counts a running workflow as ready (it was admitted)."""
    phase = text(dig(obj, "status.phase"))
    message = text(dig(obj, "status.message"))
    if phase in ("", "Pending"):
        return Health(HEALTHY, "Progressing", False, message)
    if phase == "Running":
        return Health(HEALTHY, "Progressing", True, message)
    if phase == "Succeeded":
        return Health(HEALTHY, "Healthy", True, message)
    if phase in ("Failed", "Error"):
        return Health(UNHEALTHY, "Degraded", False, message)
    return unknown("Unknown", message)


_UPTIME = re.compile(r"\((\d+(?:\.\d+)?)%\)|(\d+(?:\.\d+)?)%")


def _uptime(value: str) -> float | None:
    match = _UPTIME.search(value)
    if match is None:
        return None
    return float(match.group(1) or match.group(2))


def assess_canary(obj: Mapping[str, Any], now: datetime) -> Health:
    """Canaries: the last run's result, amber when the hour's uptime is under 80%."""
    if generation_lag(obj):
        return Health(WARNING, "Degraded", False, "the latest spec has not been reconciled yet")
    error = text(dig(obj, "status.errorMessage"))
    if error:
        return Health(UNHEALTHY, "Error", True, error)
    status = text(dig(obj, "status.status"))
    uptime = text(dig(obj, "status.uptime1h"))
    message = text(dig(obj, "status.message")) or (f"uptime: {uptime}" if uptime else "")
    if status == "Passed":
        low = (value := _uptime(uptime)) is not None and value < 80
        return Health(WARNING if low else HEALTHY, status, True, message)
    if status == "Failed":
        return Health(UNHEALTHY, status, True, message)
    if status == "Invalid":
        # An invalid canary will not fix itself; it needs a person.
        return Health(UNHEALTHY, status, False, message)
    return Health(UNKNOWN, status or "Unknown", True, message)


def assess_flanksource(obj: Mapping[str, Any], now: datetime) -> Health:
    """Mission Control's own resources: the Ready reason is the status; a controller that has
    not caught up with the latest spec is amber, because what runs is not what was applied."""
    if generation_lag(obj):
        return Health(WARNING, "Degraded", False, "the latest spec has not been reconciled yet")
    errors = [text(e) for e in dig(obj, "status.incremental.errors", []) if text(e)]
    errors = errors or [text(e) for e in dig(obj, "status.lastRun.errors", []) if text(e)]
    if errors:
        return Health(WARNING, "Warning", True, errors[0])
    verdict = conditions_verdict(obj) or status_word_verdict(obj)
    if verdict is not None:
        return verdict
    return unknown("Unknown", "no status reported yet")
