"""Flux toolkit objects: the Ready condition's reason is the status, as Mission Control shows it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from catalog.health.objects import conditions, dig, generation_lag, is_false, is_true, number, text
from catalog.health.verdict import (
    HEALTHY,
    UNHEALTHY,
    UNKNOWN,
    WARNING,
    Health,
    unknown,
    warning,
)

# Ready reasons a HelmRelease reports after a failed upgrade or its remediation.
UPGRADE_FAILURES = frozenset(
    {"UpgradeFailed", "RollbackSucceeded", "RollbackFailed", "RemediationFailed"}
)
# Ready=False reasons that are a transient hiccup (the next interval usually fixes them) rather
# than a broken configuration, so they are amber.
TRANSIENT_FAILURES = frozenset(
    {"FetchFailed", "PruneFailed", "ArtifactFailed", "ArtifactOutdated", "ProgressingWithRetry"}
)
# Ready=False reasons that mean "not yet": waiting for another object or for the first pass.
NOT_YET = frozenset({"Progressing", "DependencyNotReady", "Reconciling"})
KINDS = (
    "Kustomization",
    "HelmRelease",
    "GitRepository",
    "HelmRepository",
    "HelmChart",
    "OCIRepository",
    "Bucket",
    "ImageRepository",
    "ImagePolicy",
    "ImageUpdateAutomation",
    "Alert",
    "Provider",
    "Receiver",
)


def _revision(obj: Mapping[str, Any]) -> str:
    """The revision a person recognises: applied for Kustomizations, stored for sources."""
    return (
        text(dig(obj, "status.lastAppliedRevision"))
        or text(dig(obj, "status.artifact.revision"))
        or text(dig(obj, "status.history[0].chartVersion"))
    )


def _failed(obj: Mapping[str, Any], ready: Mapping[str, Any], helm: bool) -> Health:
    """Ready=False: red unless the reason says "later" or "retrying"; Helm failures are final."""
    reason = text(ready.get("reason"))
    message = text(ready.get("message"))
    if reason in NOT_YET:
        return Health(UNKNOWN, reason, False, message or "waiting for reconciliation")
    if reason in TRANSIENT_FAILURES:
        return Health(WARNING, reason, False, message or f"{reason}; retrying")
    if helm:
        failures = number(dig(obj, "status.upgradeFailures"))
        if reason in UPGRADE_FAILURES or (failures and reason != "InstallFailed"):
            return Health(UNHEALTHY, "UpgradeFailed", True, message or "Helm upgrade failed")
        # A failed install or test is final until the spec changes: Flux has stopped trying.
        return Health(UNHEALTHY, reason or "Failed", True, message or "Helm action failed")
    return Health(UNHEALTHY, reason or "Failed", False, message or "reconciliation failed")


def assess_flux(obj: Mapping[str, Any], now: datetime, *, helm: bool = False) -> Health:
    """Ready decides with its reason as status; Stalled is red, Reconciling waits, suspend is
    amber because drift can pile up unseen."""
    conds = conditions(obj)
    ready = conds.get("Ready")
    if dig(obj, "spec.suspend") is True:
        last = text(ready.get("message")) if ready else ""
        message = "reconciliation is suspended" + (f"; last result: {last}" if last else "")
        return warning("Suspended", message, ready=True)
    if helm and ready is None:
        # Older helm-controller versions only set Released on a successful install.
        released = conds.get("Released")
        if is_true(released):
            return Health(HEALTHY, text(released.get("reason")) or "Released", True, "")
    if ready is None:
        if is_true(conds.get("Reconciling")):
            return unknown("Reconciling", text(conds["Reconciling"].get("message")))
        return unknown("Unknown", "not reconciled yet")
    stalled = conds.get("Stalled")
    if is_false(ready):
        verdict = _failed(obj, ready, helm)
        if is_true(stalled) and verdict.health != UNHEALTHY:
            return Health(UNHEALTHY, verdict.status, False, verdict.message)
        return verdict
    if not is_true(ready):
        reason = text(ready.get("reason"))
        status = reason or "Reconciling"
        return Health(UNKNOWN, status, False, text(ready.get("message")) or "reconciling")
    reason = text(ready.get("reason")) or "Ready"
    message = text(ready.get("message"))
    reconciling = conds.get("Reconciling")
    if is_true(reconciling):
        retrying = text(reconciling.get("reason")) == "ProgressingWithRetry"
        detail = text(reconciling.get("message")) or "reconciling a new revision"
        return Health(WARNING if retrying else HEALTHY, "Reconciling", False, detail)
    if generation_lag(obj):
        return Health(HEALTHY, reason, False, "waiting for the controller to observe the new spec")
    healthy_check = conds.get("Healthy")
    if is_false(healthy_check):
        detail = text(healthy_check.get("message")) or "health checks are failing"
        return Health(WARNING, text(healthy_check.get("reason")) or reason, True, detail)
    if not message:
        revision = _revision(obj)
        message = f"revision {revision}" if revision else ""
    return Health(HEALTHY, reason, True, message)


def assess_helmrelease(obj: Mapping[str, Any], now: datetime) -> Health:
    """HelmReleases add upgrade and remediation failures to the toolkit rules."""
    return assess_flux(obj, now, helm=True)
