"""Pick the handler for a type and run it: code handlers, then state tables, then the fallback."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from catalog.health import argo, certmanager, flux, kubernetes, pods, workloads
from catalog.health.cloud import assess_table
from catalog.health.generic import assess_generic
from catalog.health.objects import text
from catalog.health.verdict import Handler, Health
from portal.errors import FlightdeckError

KUBERNETES = "Kubernetes::"

# type -> (handler, API groups it understands). An object of the same kind from another group
# (a Knative `Service`, an ACK `Certificate`) falls through to the generic rules instead.
REGISTRY: dict[str, tuple[Handler, tuple[str, ...]]] = {
    "Kubernetes::Pod": (pods.assess_pod, ("",)),
    "Kubernetes::Deployment": (workloads.assess_deployment, ("apps", "extensions")),
    "Kubernetes::StatefulSet": (workloads.assess_statefulset, ("apps",)),
    "Kubernetes::DaemonSet": (workloads.assess_daemonset, ("apps", "extensions")),
    "Kubernetes::ReplicaSet": (workloads.assess_replicaset, ("apps", "extensions")),
    "Kubernetes::Job": (workloads.assess_job, ("batch",)),
    "Kubernetes::CronJob": (workloads.assess_cronjob, ("batch",)),
    "Kubernetes::Service": (kubernetes.assess_service, ("",)),
    "Kubernetes::Ingress": (kubernetes.assess_ingress, ("networking.k8s.io", "extensions")),
    "Kubernetes::PersistentVolumeClaim": (kubernetes.assess_pvc, ("",)),
    "Kubernetes::PersistentVolume": (kubernetes.assess_pv, ("",)),
    "Kubernetes::Node": (kubernetes.assess_node, ("",)),
    "Kubernetes::Namespace": (kubernetes.assess_namespace, ("",)),
    "Kubernetes::HorizontalPodAutoscaler": (kubernetes.assess_hpa, ("autoscaling",)),
    "Kubernetes::APIService": (kubernetes.assess_apiservice, ("apiregistration.k8s.io",)),
    "Kubernetes::Certificate": (certmanager.assess_certificate, ("cert-manager.io",)),
    "Kubernetes::CertificateRequest": (
        certmanager.assess_certificaterequest,
        ("cert-manager.io",),
    ),
    "Kubernetes::Issuer": (certmanager.assess_issuer, ("cert-manager.io",)),
    "Kubernetes::ClusterIssuer": (certmanager.assess_issuer, ("cert-manager.io",)),
    "Kubernetes::Application": (argo.assess_application, ("argoproj.io",)),
}
for _kind in flux.KINDS:
    _handler = flux.assess_helmrelease if _kind == "HelmRelease" else flux.assess_flux
    REGISTRY[KUBERNETES + _kind] = (_handler, ("*.toolkit.fluxcd.io",))

# Kinds whose verdict changes with time alone (product.md §4.2 step 3): restart windows and
# slow starts, schedules, expiry and issuance deadlines.
CLOCK_TYPES = frozenset(
    {
        "Kubernetes::Pod",
        "Kubernetes::CronJob",
        "Kubernetes::Certificate",
        "Kubernetes::CertificateRequest",
    }
)


def kubernetes_type(obj: Mapping[str, Any]) -> str:
    """`Kubernetes::<kind>` for anything with a kind, else empty."""
    kind = text(obj.get("kind")).strip()
    return KUBERNETES + kind if kind else ""


def depends_on_clock(type: str) -> bool:
    """Whether a periodic job must re-derive this type's health as time passes."""
    return type in CLOCK_TYPES


def _group(obj: Mapping[str, Any]) -> str | None:
    """API group of the object, "" for the core group, None when it does not say."""
    api_version = obj.get("apiVersion")
    if not isinstance(api_version, str) or not api_version:
        return None
    return api_version.rpartition("/")[0] if "/" in api_version else ""


def _handler(type_name: str, obj: Mapping[str, Any]) -> Handler | None:
    entry = REGISTRY.get(type_name)
    if entry is None:
        return None
    handler, groups = entry
    group = _group(obj)
    if group is None:
        return handler
    for allowed in groups:
        if group == allowed or (allowed.startswith("*.") and group.endswith(allowed[1:])):
            return handler
    return None


def assess(
    obj: Mapping[str, Any],
    type: str | None = None,
    now: datetime | None = None,
) -> Health:
    """The built-in verdict for one raw document (product.md §4.2 step 1)."""
    if not isinstance(obj, Mapping):
        raise FlightdeckError(f"cannot assess a {obj.__class__.__name__}: expected an object")
    moment = now or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    type_name = type or kubernetes_type(obj)
    try:
        verdict = _dispatch(type_name, obj, moment)
    except (TypeError, ValueError, AttributeError, KeyError, ArithmeticError) as exc:
        raise FlightdeckError(f"cannot assess {type_name or 'object'}: {exc}") from exc
    # Condition messages can span lines (Helm, kubectl dry-run); a verdict is one sentence.
    message = " ".join(verdict.message.split())
    return verdict if message == verdict.message else replace(verdict, message=message)


def _dispatch(type_name: str, obj: Mapping[str, Any], now: datetime) -> Health:
    handler = _handler(type_name, obj)
    if handler is not None:
        return handler(obj, now)
    if type_name and (verdict := assess_table(type_name, obj, now)) is not None:
        return verdict
    return assess_generic(obj, now)
