"""Built-in verdicts for cert-manager, Flux and Argo CD objects.

Each case asserts health, status, ready and a substring of the message, at a fixed NOW.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from catalog.health import assess
from tests.catalog.health_builders import NOW, Obj, ago, case, cond, custom, meta, rfc3339


def certificate(conditions: list[Obj] | None = None, **status: Any) -> Obj:
    body: Obj = dict(status)
    if conditions is not None:
        body["conditions"] = conditions
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": meta("shop-tls", generation=1),
        "spec": {
            "secretName": "shop-tls",
            "dnsNames": ["shop.example.com"],
            "issuerRef": {"kind": "ClusterIssuer", "name": "letsencrypt"},
        },
        "status": body,
    }


CERT_READY = cond("Ready", "True", "Ready", "Certificate is up to date and has not expired")


def issued(days_left: float, lifetime_days: float = 90) -> Obj:
    """Validity fields of a certificate with `days_left` of `lifetime_days` remaining."""
    not_after = NOW + timedelta(days=days_left)
    return {
        "notBefore": rfc3339(not_after - timedelta(days=lifetime_days)),
        "notAfter": rfc3339(not_after),
        "renewalTime": rfc3339(not_after - timedelta(days=lifetime_days / 3)),
        "revision": 4,
    }


CERTMANAGER_CASES = [
    case(
        certificate([CERT_READY], **issued(60)),
        "healthy",
        "Issued",
        True,
        "valid until 2024-06-30; renews in 30d",
        id="cert-ready",
    ),
    case(
        certificate(
            [cond("Ready", "False", "Expired", "Certificate expired on 2024-04-28")], **issued(-3)
        ),
        "unhealthy",
        "Expired",
        True,
        "certificate expired 3d ago",
        id="cert-expired",
    ),
    case(
        certificate([CERT_READY], **issued(1)),
        "unhealthy",
        "Expiring",
        True,
        "certificate expires in 24h",
        id="cert-expiring-1d",
    ),
    case(
        certificate([CERT_READY], **issued(10)),
        "warning",
        "Expiring",
        True,
        "certificate expires in 10d",
        id="cert-expiring-10d",
    ),
    case(
        certificate([CERT_READY], **issued(days_left=0.5, lifetime_days=1)),
        "healthy",
        "Issued",
        True,
        "valid until",
        id="cert-short-lived-is-fine",
    ),
    case(
        certificate(
            [
                cond(
                    "Ready", "False", "DoesNotExist", "Issuing certificate as Secret does not exist"
                ),
                cond(
                    "Issuing",
                    "True",
                    "DoesNotExist",
                    "Issuing certificate as Secret does not exist",
                    since=ago(minutes=4),
                ),
            ]
        ),
        "unknown",
        "Issuing",
        False,
        "Secret does not exist",
        id="cert-issuing-4m",
    ),
    case(
        certificate(
            [
                cond("Ready", "False", "DoesNotExist", "Secret does not exist"),
                cond(
                    "Issuing", "True", "DoesNotExist", "Issuing certificate", since=ago(minutes=20)
                ),
            ]
        ),
        "warning",
        "Issuing",
        False,
        "Issuing certificate (issuing for 20m)",
        id="cert-issuing-20m",
    ),
    case(
        certificate(
            [
                cond("Ready", "False", "DoesNotExist", "Secret does not exist"),
                cond("Issuing", "True", "DoesNotExist", "Issuing certificate", since=ago(hours=2)),
            ]
        ),
        "unhealthy",
        "Issuing",
        False,
        "issuing for 2h",
        id="cert-issuing-2h",
    ),
    case(
        certificate(
            [
                CERT_READY,
                cond(
                    "Issuing", "False", "Failed", "The certificate request has failed to complete"
                ),
            ],
            lastFailureTime=ago(hours=1),
            failedIssuanceAttempts=2,
            **issued(25),
        ),
        "warning",
        "Failed",
        True,
        "renewal failed: The certificate request has failed",
        id="cert-renewal-failed",
    ),
    case(
        certificate(
            [
                cond("Ready", "False", "Failed", "ACME order was rejected"),
                cond("Issuing", "False", "Failed", "ACME order was rejected"),
            ],
            lastFailureTime=ago(minutes=30),
        ),
        "unhealthy",
        "Failed",
        False,
        "ACME order was rejected (30m ago)",
        id="cert-failed",
    ),
    case(
        certificate(None),
        "unknown",
        "Unknown",
        False,
        "not processed",
        id="cert-no-status",
    ),
    case(
        custom(
            "acm.services.k8s.aws/v1alpha1",
            "Certificate",
            status="ISSUED",
            conditions=[cond("ACK.ResourceSynced", "True")],
        ),
        "healthy",
        "Synced",
        True,
        "in sync with AWS",
        id="cert-ack-is-not-cert-manager",
    ),
    case(
        custom(
            "cert-manager.io/v1",
            "CertificateRequest",
            conditions=[
                cond("Approved", "True", "cert-manager.io"),
                cond("Ready", "True", "Issued", "Certificate fetched from issuer successfully"),
            ],
        ),
        "healthy",
        "Issued",
        True,
        "fetched from issuer",
        id="certreq-issued",
    ),
    case(
        {
            **custom(
                "cert-manager.io/v1",
                "CertificateRequest",
                conditions=[
                    cond("Approved", "True"),
                    cond(
                        "Ready",
                        "False",
                        "Pending",
                        "Waiting on certificate issuance from order shop-tls-1-2861",
                    ),
                ],
            ),
            "metadata": meta("shop-tls-1", created=ago(minutes=5)),
        },
        "unknown",
        "Pending",
        False,
        "Waiting on certificate issuance",
        id="certreq-pending-5m",
    ),
    case(
        {
            **custom(
                "cert-manager.io/v1",
                "CertificateRequest",
                conditions=[cond("Ready", "False", "Pending", "Referenced issuer does not exist")],
            ),
            "metadata": meta("shop-tls-1", created=ago(hours=3)),
        },
        "unhealthy",
        "Pending",
        False,
        "does not exist (pending for 3h)",
        id="certreq-pending-3h",
    ),
    case(
        custom(
            "cert-manager.io/v1",
            "CertificateRequest",
            conditions=[
                cond("Denied", "True", "policy.cert-manager.io", "DNS name not allowed"),
                cond("Ready", "False", "Denied", "The CertificateRequest was denied"),
            ],
        ),
        "unhealthy",
        "Denied",
        True,
        "DNS name not allowed",
        id="certreq-denied",
    ),
    case(
        custom(
            "cert-manager.io/v1",
            "ClusterIssuer",
            conditions=[
                cond(
                    "Ready",
                    "True",
                    "ACMEAccountRegistered",
                    "The ACME account was registered with the ACME server",
                )
            ],
        ),
        "healthy",
        "ACMEAccountRegistered",
        True,
        "ACME account was registered",
        id="clusterissuer-ready",
    ),
    case(
        custom(
            "cert-manager.io/v1",
            "Issuer",
            conditions=[
                cond(
                    "Ready",
                    "False",
                    "ErrGetKeyPair",
                    'Error getting keypair for CA issuer: secret "ca-key" not found',
                )
            ],
        ),
        "unhealthy",
        "ErrGetKeyPair",
        False,
        'secret "ca-key" not found',
        id="issuer-not-ready",
    ),
]


def flux(
    kind: str,
    conditions: list[Obj],
    spec: Obj | None = None,
    generation: int = 2,
    observed: int = 2,
    **status: Any,
) -> Obj:
    group = {
        "Kustomization": "kustomize.toolkit.fluxcd.io/v1",
        "HelmRelease": "helm.toolkit.fluxcd.io/v2",
    }.get(kind, "source.toolkit.fluxcd.io/v1")
    return {
        "apiVersion": group,
        "kind": kind,
        "metadata": meta("apps", "flux-system", generation=generation),
        "spec": {"interval": "10m", **(spec or {})},
        "status": {"observedGeneration": observed, "conditions": conditions, **status},
    }


APPLIED = cond(
    "Ready", "True", "ReconciliationSucceeded", "Applied revision: main@sha1:4c2b9e1f0d7a"
)

FLUX_CASES = [
    case(
        flux("Kustomization", [APPLIED], lastAppliedRevision="main@sha1:4c2b9e1f0d7a"),
        "healthy",
        "ReconciliationSucceeded",
        True,
        "Applied revision: main@sha1:4c2b",
        id="flux-ks-ready",
    ),
    case(
        flux(
            "Kustomization",
            [
                cond("Reconciling", "True", "Progressing", "Running health checks"),
                cond("Ready", "Unknown", "Progressing", "Reconciliation in progress"),
            ],
        ),
        "unknown",
        "Progressing",
        False,
        "Reconciliation in progress",
        id="flux-ks-reconciling",
    ),
    case(
        flux(
            "Kustomization",
            [
                cond(
                    "Ready",
                    "False",
                    "BuildFailed",
                    "kustomize build failed: accumulating resources",
                )
            ],
        ),
        "unhealthy",
        "BuildFailed",
        False,
        "kustomize build failed",
        id="flux-ks-build-failed",
    ),
    case(
        flux(
            "Kustomization",
            [
                cond("Stalled", "True", "InvalidPath", "path ./apps/prod not found"),
                cond("Ready", "False", "InvalidPath", "path ./apps/prod not found"),
            ],
        ),
        "unhealthy",
        "InvalidPath",
        False,
        "path ./apps/prod not found",
        id="flux-ks-stalled",
    ),
    case(
        flux("Kustomization", [APPLIED], spec={"suspend": True}),
        "warning",
        "Suspended",
        True,
        "reconciliation is suspended; last result: Applied",
        id="flux-ks-suspended",
    ),
    case(
        flux(
            "Kustomization",
            [
                cond(
                    "Ready",
                    "False",
                    "DependencyNotReady",
                    "dependency 'flux-system/infra' is not ready",
                )
            ],
        ),
        "unknown",
        "DependencyNotReady",
        False,
        "infra' is not ready",
        id="flux-ks-dependency",
    ),
    case(
        flux("Kustomization", [APPLIED], generation=3, observed=2),
        "healthy",
        "ReconciliationSucceeded",
        False,
        "observe the new spec",
        id="flux-ks-generation-lag",
    ),
    case(
        flux(
            "HelmRelease",
            [
                cond(
                    "Ready",
                    "False",
                    "RollbackSucceeded",
                    "Helm rollback to previous release shop/api.v4 succeeded",
                ),
                cond(
                    "Released",
                    "False",
                    "UpgradeFailed",
                    "Helm upgrade failed: context deadline exceeded",
                ),
                cond("Remediated", "True", "RollbackSucceeded", "Helm rollback succeeded"),
            ],
            upgradeFailures=1,
        ),
        "unhealthy",
        "UpgradeFailed",
        True,
        "rollback to previous release",
        id="flux-hr-upgrade-failed",
    ),
    case(
        flux(
            "HelmRelease",
            [
                cond(
                    "Ready",
                    "False",
                    "InstallFailed",
                    "Helm install failed for release shop/api: timed out",
                )
            ],
            installFailures=1,
        ),
        "unhealthy",
        "InstallFailed",
        True,
        "Helm install failed",
        id="flux-hr-install-failed",
    ),
    case(
        flux(
            "HelmRelease",
            [
                cond(
                    "Ready",
                    "True",
                    "UpgradeSucceeded",
                    "Helm upgrade succeeded for release shop/api.v5 with chart api@1.8.0",
                )
            ],
        ),
        "healthy",
        "UpgradeSucceeded",
        True,
        "chart api@1.8.0",
        id="flux-hr-ready",
    ),
    case(
        flux(
            "GitRepository",
            [
                cond(
                    "Ready",
                    "False",
                    "GitOperationFailed",
                    "failed to checkout and determine revision: authentication required",
                )
            ],
        ),
        "unhealthy",
        "GitOperationFailed",
        False,
        "authentication required",
        id="flux-git-auth",
    ),
    case(
        flux(
            "HelmRepository",
            [cond("Ready", "True", "Succeeded", "stored artifact: revision 'sha256:91a3'")],
        ),
        "healthy",
        "Succeeded",
        True,
        "stored artifact",
        id="flux-helmrepo-ready",
    ),
    case(
        flux(
            "OCIRepository",
            [cond("Ready", "True", "Succeeded", "")],
            artifact={"revision": "v1.2.0@sha256:3b0c"},
        ),
        "healthy",
        "Succeeded",
        True,
        "revision v1.2.0@sha256:3b0c",
        id="flux-oci-ready",
    ),
    case(
        flux(
            "Bucket",
            [
                cond("Reconciling", "True", "ProgressingWithRetry", "retrying"),
                cond("Ready", "False", "BucketOperationFailed", "Access Denied"),
            ],
        ),
        "unhealthy",
        "BucketOperationFailed",
        False,
        "Access Denied",
        id="flux-bucket-failed",
    ),
]


def application(
    health: str,
    sync: str,
    operation: Obj | None = None,
    conditions: list[Obj] | None = None,
    message: str = "",
) -> Obj:
    status: Obj = {
        "health": {"status": health, **({"message": message} if message else {})},
        "sync": {"status": sync, "revision": "9f3c2a1b7e6d5c4b"},
    }
    if operation:
        status["operationState"] = operation
    if conditions:
        status["conditions"] = conditions
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": meta("shop", "argocd"),
        "spec": {"project": "default", "destination": {"namespace": "shop"}},
        "status": status,
    }


ARGO_CASES = [
    case(
        application("Healthy", "Synced"),
        "healthy",
        "Healthy",
        True,
        "synced to 9f3c2a1",
        id="argo-synced",
    ),
    case(
        application("Healthy", "OutOfSync"),
        "warning",
        "OutOfSync",
        False,
        "live state differs",
        id="argo-out-of-sync",
    ),
    case(
        application(
            "Degraded", "Synced", message='Deployment "api" exceeded its progress deadline'
        ),
        "unhealthy",
        "Degraded",
        True,
        "exceeded its progress deadline",
        id="argo-degraded",
    ),
    case(
        application("Missing", "OutOfSync"),
        "unknown",
        "Missing",
        False,
        "application is missing",
        id="argo-missing",
    ),
    case(
        application("Progressing", "Synced"),
        "unknown",
        "Progressing",
        True,
        "application is progressing",
        id="argo-progressing",
    ),
    case(
        application("Suspended", "Synced"),
        "unknown",
        "Suspended",
        True,
        "suspended",
        id="argo-suspended",
    ),
    case(
        application(
            "Healthy",
            "OutOfSync",
            operation={
                "phase": "Failed",
                "message": "one or more objects failed to apply, reason: admission webhook denied",
                "startedAt": ago(minutes=3),
            },
        ),
        "unhealthy",
        "Sync Failed",
        False,
        "admission webhook denied",
        id="argo-sync-failed",
    ),
    case(
        application(
            "Healthy",
            "OutOfSync",
            operation={
                "phase": "Running",
                "message": "waiting for completion of hook batch/Job/migrate",
            },
        ),
        "healthy",
        "Syncing",
        False,
        "waiting for completion of hook",
        id="argo-syncing",
    ),
    case(
        application(
            "Healthy",
            "Synced",
            conditions=[
                {
                    "type": "ComparisonError",
                    "message": "Failed to load target state: repository not accessible",
                }
            ],
        ),
        "warning",
        "Healthy",
        True,
        "ComparisonError: Failed to load target state",
        id="argo-comparison-error",
    ),
    case(
        application("Unknown", "Unknown"),
        "unknown",
        "Unknown",
        False,
        "application is unknown",
        id="argo-unknown",
    ),
]


CASES = [*CERTMANAGER_CASES, *FLUX_CASES, *ARGO_CASES]


@pytest.mark.parametrize(("obj", "type_name", "health", "status", "ready", "message"), CASES)
def test_builtin_verdict(
    obj: Obj, type_name: str | None, health: str, status: str, ready: bool, message: str
) -> None:
    verdict = assess(obj, type_name, now=NOW)

    assert (verdict.health, verdict.status, verdict.ready) == (health, status, ready)
    assert message in verdict.message


def test_naive_now_is_read_as_utc() -> None:
    naive = NOW.replace(tzinfo=None)

    assert assess(certificate([CERT_READY], **issued(10)), now=naive).status == "Expiring"
