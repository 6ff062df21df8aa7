"""cert-manager: certificate expiry and slow issuance, requests and issuers."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from catalog.health.objects import (
    ago,
    conditions,
    dig,
    duration,
    is_false,
    is_true,
    sentence,
    text,
    timestamp,
)
from catalog.health.verdict import Health, healthy, unhealthy, unknown, warning

# Still issuing after this long is amber ...
ISSUING_WARNING_AFTER = timedelta(minutes=15)
# ... and after this long red.
ISSUING_UNHEALTHY_AFTER = timedelta(hours=1)
# Expiring this soon is red (renewal has failed for a long time) ...
EXPIRY_UNHEALTHY_WITHIN = timedelta(days=2)
# ... and this soon amber. cert-manager renews at 2/3 of the lifetime (30 days before a 90-day
# certificate expires), so reaching 14 days means renewal has been failing for over two weeks.
EXPIRY_WARNING_WITHIN = timedelta(days=14)
# Short-lived certificates (hours or days) would sit inside the fixed windows for their whole
# life, so each window is also capped at a fraction of the certificate's lifetime.
EXPIRY_UNHEALTHY_FRACTION = 0.1
# Renewal time passed this long ago without a new certificate: cert-manager is stuck.
RENEWAL_OVERDUE_AFTER = timedelta(minutes=30)
# Ready=False reasons that a new request will not fix: the spec itself is wrong.
CONFIG_ERRORS = frozenset({"ConfigError", "InvalidSpec"})
EXPIRY_WARNING_FRACTION = 1 / 6


def _windows(obj: Mapping[str, Any]) -> tuple[timedelta, timedelta]:
    """Expiry windows, shrunk for certificates that live shorter than a few weeks."""
    not_before = timestamp(dig(obj, "status.notBefore"))
    not_after = timestamp(dig(obj, "status.notAfter"))
    if not_before is None or not_after is None or not_after <= not_before:
        return EXPIRY_UNHEALTHY_WITHIN, EXPIRY_WARNING_WITHIN
    lifetime = not_after - not_before
    return (
        min(EXPIRY_UNHEALTHY_WITHIN, lifetime * EXPIRY_UNHEALTHY_FRACTION),
        min(EXPIRY_WARNING_WITHIN, lifetime * EXPIRY_WARNING_FRACTION),
    )


def assess_certificate(obj: Mapping[str, Any], now: datetime) -> Health:
    """Expiry beats everything; then slow or failed issuance; then the Ready condition."""
    conds = conditions(obj)
    ready = conds.get("Ready")
    issuing = conds.get("Issuing")
    not_after = timestamp(dig(obj, "status.notAfter"))
    issuing_note = text(issuing.get("message")) if is_true(issuing) else ""

    if not_after is not None and not_after <= now:
        message = f"certificate expired {ago(not_after, now)}"
        return unhealthy("Expired", sentence(message, issuing_note), ready=True)
    red_window, amber_window = _windows(obj)
    left = not_after - now if not_after is not None else None
    if left is not None and left <= red_window:
        message = f"certificate expires in {duration(left)}"
        return unhealthy("Expiring", sentence(message, issuing_note), ready=is_true(ready))

    if is_true(issuing):
        since = timestamp(issuing.get("lastTransitionTime"))
        elapsed = now - since if since is not None else timedelta(0)
        message = issuing_note or "issuing a certificate"
        if elapsed >= ISSUING_UNHEALTHY_AFTER:
            return unhealthy("Issuing", f"{message} (issuing for {duration(elapsed)})")
        if elapsed >= ISSUING_WARNING_AFTER:
            return warning("Issuing", f"{message} (issuing for {duration(elapsed)})")
        # A first issuance or a renewal under way: too early to call either way.
        return unknown("Issuing", message)

    failed_at = timestamp(dig(obj, "status.lastFailureTime"))
    if is_false(issuing) and text(issuing.get("reason")) == "Failed":
        detail = text(issuing.get("message")) or "issuance failed"
        if failed_at is not None:
            detail += f" ({ago(failed_at, now)})"
        if is_true(ready):
            return warning("Failed", f"renewal failed: {detail}", ready=True)
        return unhealthy("Failed", detail)

    if ready is None:
        return unknown("Unknown", "cert-manager has not processed the certificate yet")
    if is_false(ready):
        reason = text(ready.get("reason"))
        message = text(ready.get("message")) or "certificate is not ready"
        if reason in CONFIG_ERRORS:
            return unhealthy(reason, message, ready=True)
        # Not ready without a failed issuance means a request is on its way.
        return unknown("Issuing", message)
    if not is_true(ready):
        return unknown("Unknown", text(ready.get("message")))
    if left is not None and left <= amber_window:
        return warning("Expiring", f"certificate expires in {duration(left)}", ready=True)
    expiry = f"valid until {not_after:%Y-%m-%d}" if not_after is not None else ""
    renewal = timestamp(dig(obj, "status.renewalTime"))
    if renewal is not None and now - renewal > RENEWAL_OVERDUE_AFTER:
        return warning("Warning", f"certificate should have been renewed {ago(renewal, now)}", True)
    renews = f"renews {ago(renewal, now)}" if renewal is not None and renewal > now else ""
    return healthy("Issued", sentence(expiry, renews) or text(ready.get("message")))


# A pending request is the same wait as an issuing certificate.
def assess_certificaterequest(obj: Mapping[str, Any], now: datetime) -> Health:
    """Issued, denied, invalid and failed are final; pending is judged by its age."""
    conds = conditions(obj)
    ready = conds.get("Ready")
    for name, status in (("Denied", "Denied"), ("InvalidRequest", "Invalid")):
        condition = conds.get(name)
        if is_true(condition):
            message = text(condition.get("message")) or f"request {status.lower()}"
            return unhealthy(status, message, ready=True)
    if is_true(ready):
        reason = text(ready.get("reason")) or "Issued"
        return healthy(reason, text(ready.get("message")) or "certificate issued")
    reason = text(ready.get("reason")) if ready else ""
    message = text(ready.get("message")) if ready else ""
    if is_false(ready) and reason in ("Failed", "Denied"):
        return unhealthy(reason, message or "issuance failed", ready=True)
    created = timestamp(dig(obj, "metadata.creationTimestamp"))
    elapsed = now - created if created is not None else timedelta(0)
    message = message or "waiting for the issuer"
    if elapsed >= ISSUING_UNHEALTHY_AFTER:
        return unhealthy("Pending", f"{message} (pending for {duration(elapsed)})")
    if elapsed >= ISSUING_WARNING_AFTER:
        return warning("Pending", f"{message} (pending for {duration(elapsed)})")
    return unknown("Pending", message)


def assess_issuer(obj: Mapping[str, Any], now: datetime) -> Health:
    """Issuers and ClusterIssuers: the Ready condition, with its reason as the status."""
    ready = conditions(obj).get("Ready")
    if ready is None:
        return unknown("Unknown", "cert-manager has not checked the issuer yet")
    message = text(ready.get("message"))
    if is_true(ready):
        return healthy(text(ready.get("reason")) or "Ready", message)
    if is_false(ready):
        return unhealthy(text(ready.get("reason")) or "NotReady", message or "issuer not ready")
    return unknown(text(ready.get("reason")) or "Unknown", message)
