"""Flux toolkit objects: kstatus conditions plus suspension and Helm failure vocabulary."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from catalog.health.generic import conditions_verdict
from catalog.health.objects import conditions, dig, number, text
from catalog.health.verdict import UNHEALTHY, Health, unknown, warning

# Ready reasons a HelmRelease reports after a failed upgrade or its remediation.
UPGRADE_FAILURES = frozenset(
    {"UpgradeFailed", "RollbackSucceeded", "RollbackFailed", "RemediationFailed"}
)
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


def assess_flux(obj: Mapping[str, Any], now: datetime, *, helm: bool = False) -> Health:
    """Ready decides, Stalled is red, Reconciling waits, suspend is amber (drift can pile up)."""
    conds = conditions(obj)
    ready = conds.get("Ready")
    if dig(obj, "spec.suspend") is True:
        last = text(ready.get("message")) if ready else ""
        message = "reconciliation is suspended" + (f"; last result: {last}" if last else "")
        return warning("Suspended", message, ready=True)
    verdict = conditions_verdict(obj)
    if verdict is None:
        return unknown("Unknown", "not reconciled yet")
    reason = text(ready.get("reason")) if ready else ""
    if helm and verdict.health == UNHEALTHY:
        failures = number(dig(obj, "status.upgradeFailures"))
        if reason in UPGRADE_FAILURES or (failures and reason != "InstallFailed"):
            message = text(ready.get("message")) if ready else verdict.message
            return Health(UNHEALTHY, "UpgradeFailed", False, message or verdict.message)
    if verdict.health == UNHEALTHY and verdict.status == "Stalled" and reason:
        # Stalled says "gave up"; the Ready reason says what failed, which is what people search.
        return Health(UNHEALTHY, reason, verdict.ready, verdict.message)
    if verdict.ready and verdict.status == "Ready" and not verdict.message:
        revision = _revision(obj)
        return Health(verdict.health, "Ready", True, f"revision {revision}" if revision else "")
    return verdict


def assess_helmrelease(obj: Mapping[str, Any], now: datetime) -> Health:
    """HelmReleases add upgrade and remediation failures to the toolkit rules."""
    return assess_flux(obj, now, helm=True)
