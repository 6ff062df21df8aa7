"""Pick the handler for a type and run it: code handlers, then state tables, then the fallback."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from catalog.health import (
    argo,
    certmanager,
    crossplane,
    flux,
    kubernetes,
    operators,
    pods,
    workloads,
)
from catalog.health.cloud import assess_table
from catalog.health.generic import assess_generic
from catalog.health.objects import dig, duration, text, timestamp
from catalog.health.verdict import UNKNOWN, WARNING, Handler, Health
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
    "Kubernetes::ApplicationSet": (operators.assess_applicationset, ("argoproj.io",)),
    "Kubernetes::Rollout": (operators.assess_rollout, ("argoproj.io",)),
    "Kubernetes::Workflow": (operators.assess_workflow, ("argoproj.io",)),
    "Kubernetes::Canary": (operators.assess_canary, ("canaries.flanksource.com",)),
    "Kubernetes::Cluster": (operators.assess_cnpg_cluster, ("postgresql.cnpg.io",)),
    "Kubernetes::Backup": (operators.assess_cnpg_backup, ("postgresql.cnpg.io",)),
    "Kubernetes::postgresql": (operators.assess_zalando_postgres, ("acid.zalan.do",)),
}
for _kind in flux.KINDS:
    _handler = flux.assess_helmrelease if _kind == "HelmRelease" else flux.assess_flux
    REGISTRY[KUBERNETES + _kind] = (_handler, ("*.toolkit.fluxcd.io",))

# API group (a suffix when it starts with ".") -> handler for every kind of that group that the
# type registry above does not claim. Order matters: the first match wins.
GROUP_HANDLERS: tuple[tuple[str, Handler], ...] = (
    (".crossplane.io", crossplane.assess_crossplane),
    ("crossplane.io", crossplane.assess_crossplane),
    (".upbound.io", crossplane.assess_crossplane),
    (".cnrm.cloud.google.com", crossplane.assess_config_connector),
    (".services.k8s.aws", crossplane.assess_ack),
    ("external-secrets.io", operators.settled_ready),
    ("generators.external-secrets.io", operators.settled_ready),
    (".knative.dev", operators.settled_ready),
    ("kafka.strimzi.io", operators.assess_strimzi),
    ("core.strimzi.io", operators.assess_strimzi),
    ("keda.sh", operators.assess_keda),
    ("eventing.keda.sh", operators.assess_keda),
    ("karpenter.sh", operators.assess_karpenter),
    (".karpenter.sh", operators.assess_karpenter),
    ("karpenter.k8s.aws", operators.assess_karpenter),
    (".istio.io", operators.assess_istio),
    ("monitoring.coreos.com", operators.assess_prometheus_operator),
    ("velero.io", operators.assess_velero),
    (".flanksource.com", operators.assess_flanksource),
)
# Spec fields only Crossplane composite resources and claims carry (v1 and v2 layouts).
CROSSPLANE_SPEC_KEYS = ("compositionRef", "compositionSelector", "resourceRefs", "crossplane")
# Objects still being deleted this long after deletion was requested are stuck, usually on a
# finalizer whose controller is gone.
TERMINATING_STALLED_AFTER = timedelta(minutes=15)
OWN_TERMINATION = frozenset({"Kubernetes::Pod", "Kubernetes::Namespace"})

# Kinds whose verdict changes with time alone, so a periodic job re-derives them: restart
# windows and slow starts, schedules, expiry and issuance deadlines, namespaces stuck deleting.
CLOCK_TYPES = frozenset(
    {
        "Kubernetes::Pod",
        "Kubernetes::CronJob",
        "Kubernetes::Certificate",
        "Kubernetes::CertificateRequest",
        "Kubernetes::Namespace",
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
    group = _group(obj)
    entry = REGISTRY.get(type_name)
    if entry is not None:
        handler, groups = entry
        if group is None:
            return handler
        for allowed in groups:
            if group == allowed or (allowed.startswith("*.") and group.endswith(allowed[1:])):
                return handler
    if not group or not type_name.startswith(KUBERNETES):
        return None
    for suffix, handler in GROUP_HANDLERS:
        if group == suffix or (suffix.startswith(".") and group.endswith(suffix)):
            return handler
    # Composites and claims live in the platform team's own API group; their spec gives them away.
    spec = obj.get("spec")
    if isinstance(spec, Mapping) and any(key in spec for key in CROSSPLANE_SPEC_KEYS):
        return crossplane.assess_crossplane
    return None


def _terminating(obj: Mapping[str, Any], now: datetime) -> Health | None:
    """Anything being deleted is on its way out; stuck for long, it needs a person."""
    deleted = timestamp(dig(obj, "metadata.deletionTimestamp"))
    if deleted is None:
        return None
    age = now - deleted
    if age > TERMINATING_STALLED_AFTER:
        return Health(WARNING, "TerminatingStalled", False, f"terminating for {duration(age)}")
    return Health(UNKNOWN, "Terminating", False, "pending deletion")


def assess(
    obj: Mapping[str, Any],
    type: str | None = None,
    now: datetime | None = None,
) -> Health:
    """The built-in verdict for one raw document, before any user rule is applied."""
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
    # Pods and namespaces have their own rule: kubectl shows them as Terminating however long it
    # takes, and a namespace can say which finalizer holds it.
    if type_name.startswith(KUBERNETES) and type_name not in OWN_TERMINATION:
        if (verdict := _terminating(obj, now)) is not None:
            return verdict
    handler = _handler(type_name, obj)
    if handler is not None:
        return handler(obj, now)
    if type_name and (verdict := assess_table(type_name, obj, now)) is not None:
        return verdict
    return assess_generic(obj, now)
