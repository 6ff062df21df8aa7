"""A Kubernetes object -> ScrapedItem, with its parent and relationships: shared by the file,
git and kubernetes scrapers so a manifest folder and a live cluster describe the same items."""

import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from catalog.identity import (
    cluster_item_id,
    kubernetes_alias,
    kubernetes_item_id,
    kubernetes_type,
)
from catalog.scrapers.base import RelationRef, ScrapedItem

# Cloud-neutral classes for the kinds people filter on most.
CLASSES = {
    "Pod": "Pod", "Deployment": "Deployment", "StatefulSet": "StatefulSet",
    "DaemonSet": "DaemonSet", "ReplicaSet": "ReplicaSet", "Job": "Job", "CronJob": "CronJob",
    "Node": "Node", "Namespace": "Namespace", "Service": "Service", "Ingress": "Ingress",
    "PersistentVolumeClaim": "Volume", "PersistentVolume": "Volume", "ConfigMap": "Config",
    "Secret": "Secret", "Cluster": "Cluster",
}
CLUSTER_SCOPED = frozenset({"Node", "Namespace", "PersistentVolume", "StorageClass",
                            "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
                            "ClusterIssuer", "APIService", "PriorityClass"})
# Derived labels people filter by, taken from owner chains: pod -> deployment name, etc.
POD_TEMPLATE_HASH = "pod-template-hash"


def is_kubernetes_document(doc: Any) -> bool:
    return isinstance(doc, Mapping) and bool(doc.get("apiVersion")) and bool(doc.get("kind"))


def expand_lists(doc: Any) -> Iterator[Any]:
    """`List` and `<Kind>List` documents with `items` are expanded, as kubectl does."""
    if is_kubernetes_document(doc) and str(doc["kind"]).endswith("List") and isinstance(
        doc.get("items"), list
    ):
        for item in doc["items"]:
            yield from expand_lists(item)
    else:
        yield doc


def parse_time(value: Any) -> datetime | None:
    """RFC 3339 from the API server; None for anything else."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _ref(cluster: str, kind: str, namespace: str, name: str, relation: str,
         incoming: bool = False) -> RelationRef:
    alias = kubernetes_alias(cluster, kind, namespace, name)
    return RelationRef(relation=relation, target_alias=alias, incoming=incoming)


def _pod_references(spec: Mapping[str, Any], cluster: str, ns: str) -> Iterator[RelationRef]:
    """Pod -> ConfigMap/Secret/PVC through volumes, env and envFrom."""
    seen: set[tuple[str, str]] = set()

    def add(kind: str, name: Any) -> Iterator[RelationRef]:
        if isinstance(name, str) and name and (kind, name) not in seen:
            seen.add((kind, name))
            yield _ref(cluster, kind, ns, name, f"Pod{kind}")

    for volume in spec.get("volumes") or []:
        yield from add("ConfigMap", (volume.get("configMap") or {}).get("name"))
        yield from add("Secret", (volume.get("secret") or {}).get("secretName"))
        yield from add("PersistentVolumeClaim",
                       (volume.get("persistentVolumeClaim") or {}).get("claimName"))
        for source in (volume.get("projected") or {}).get("sources") or []:
            yield from add("ConfigMap", (source.get("configMap") or {}).get("name"))
            yield from add("Secret", (source.get("secret") or {}).get("name"))
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        for env in container.get("env") or []:
            source = env.get("valueFrom") or {}
            yield from add("ConfigMap", (source.get("configMapKeyRef") or {}).get("name"))
            yield from add("Secret", (source.get("secretKeyRef") or {}).get("name"))
        for env_from in container.get("envFrom") or []:
            yield from add("ConfigMap", (env_from.get("configMapRef") or {}).get("name"))
            yield from add("Secret", (env_from.get("secretRef") or {}).get("name"))


def relationships(obj: Mapping[str, Any], cluster: str) -> Iterator[RelationRef]:
    kind = obj.get("kind", "")
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace", "") or ""
    spec = obj.get("spec") or {}
    labels = meta.get("labels") or {}
    for owner in meta.get("ownerReferences") or []:
        # Owner -> owned, so the Deployment's outgoing edges are its ReplicaSets.
        yield _ref(cluster, owner.get("kind", ""), ns, owner.get("name", ""),
                   f"{owner.get('kind', '')}{kind}", incoming=True)
    if kind == "Pod":
        if spec.get("nodeName"):
            yield _ref(cluster, "Node", "", spec["nodeName"], "NodePod", incoming=True)
        yield from _pod_references(spec, cluster, ns)
    elif kind == "Service" and isinstance(spec.get("selector"), Mapping) and spec["selector"]:
        yield RelationRef(relation="ServicePod", selector=dict(spec["selector"]),
                          selector_type="Kubernetes::Pod", selector_namespace=ns,
                          selector_cluster=cluster)
    elif kind == "Ingress":
        backends = [spec.get("defaultBackend") or {}]
        for rule in spec.get("rules") or []:
            paths = (rule.get("http") or {}).get("paths") or []
            backends += [p.get("backend") or {} for p in paths]
        names = {(b.get("service") or {}).get("name") or b.get("serviceName") for b in backends}
        for name in sorted(n for n in names if n):
            yield _ref(cluster, "Service", ns, name, "IngressService")
    elif kind == "HorizontalPodAutoscaler":
        target = spec.get("scaleTargetRef") or {}
        if target.get("name"):
            yield _ref(cluster, target.get("kind", ""), ns, target["name"],
                       f"HorizontalPodAutoscaler{target.get('kind', '')}")
    elif kind == "PersistentVolumeClaim":
        if spec.get("volumeName"):
            yield _ref(cluster, "PersistentVolume", "", spec["volumeName"],
                       "PersistentVolumeClaimPersistentVolume")
        if spec.get("storageClassName"):
            yield _ref(cluster, "StorageClass", "", spec["storageClassName"],
                       "PersistentVolumeClaimStorageClass")
    elif kind == "PersistentVolume" and spec.get("storageClassName"):
        yield _ref(cluster, "StorageClass", "", spec["storageClassName"],
                   "PersistentVolumeStorageClass")
    # GitOps owners: Flux and Argo CD label what they manage.
    flux_name = labels.get("kustomize.toolkit.fluxcd.io/name")
    if flux_name:
        flux_ns = labels.get("kustomize.toolkit.fluxcd.io/namespace", "flux-system")
        yield _ref(cluster, "Kustomization", flux_ns, flux_name, f"Kustomization{kind}",
                   incoming=True)
    helm_name = labels.get("helm.toolkit.fluxcd.io/name")
    if helm_name:
        helm_ns = labels.get("helm.toolkit.fluxcd.io/namespace", ns)
        yield _ref(cluster, "HelmRelease", helm_ns, helm_name, f"HelmRelease{kind}", incoming=True)
    argo_app = labels.get("argocd.argoproj.io/instance") or labels.get("app.kubernetes.io/instance")
    if argo_app and labels.get("argocd.argoproj.io/instance"):
        yield _ref(cluster, "Application", "argocd", argo_app, f"Application{kind}", incoming=True)


def parent_of(obj: Mapping[str, Any], cluster: str, agent_id: uuid.UUID) -> tuple[
    uuid.UUID | None, str | None
]:
    """Hard containment: controller owner, else the namespace, else the cluster."""
    meta = obj.get("metadata") or {}
    for owner in meta.get("ownerReferences") or []:
        if owner.get("controller") and owner.get("uid"):
            try:
                return uuid.UUID(owner["uid"]), None
            except ValueError:
                return None, kubernetes_alias(cluster, owner.get("kind", ""),
                                              meta.get("namespace", ""), owner.get("name", ""))
    if meta.get("namespace"):
        return None, kubernetes_alias(cluster, "Namespace", "", meta["namespace"])
    if obj.get("kind") != "Cluster":
        return cluster_item_id(cluster, agent_id), None
    return None, None


def to_item(obj: Mapping[str, Any], cluster: str, agent_id: uuid.UUID, *,
            tags: Mapping[str, str] | None = None, source: str = "kubernetes") -> ScrapedItem:
    meta = obj.get("metadata") or {}
    kind = str(obj.get("kind"))
    ns = "" if kind in CLUSTER_SCOPED else str(meta.get("namespace") or "")
    labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
    labels["apiVersion"] = str(obj.get("apiVersion", ""))
    if kind == "Pod" and "nodeName" in (obj.get("spec") or {}):
        labels.setdefault("node", str(obj["spec"]["nodeName"]))
    parent_id, parent_alias = parent_of(obj, cluster, agent_id)
    return ScrapedItem(
        id=kubernetes_item_id(obj, cluster, agent_id),
        type=kubernetes_type(obj),
        name=str(meta.get("name", "")),
        namespace=ns,
        config=dict(obj),
        config_class=CLASSES.get(kind, kind),
        labels=labels,
        tags={"cluster": cluster, **(tags or {})},
        external_ids=[kubernetes_alias(cluster, kind, ns, str(meta.get("name", "")))],
        description=str((meta.get("annotations") or {}).get("description", "")),
        source=source,
        created_at=parse_time(meta.get("creationTimestamp")),
        parent_id=parent_id,
        parent_alias=parent_alias,
        relationships=list(relationships(obj, cluster)),
    )


def cluster_item(cluster: str, agent_id: uuid.UUID, tags: Mapping[str, str] | None = None,
                 source: str = "kubernetes") -> ScrapedItem:
    """The synthetic root every Kubernetes item of one cluster hangs under."""
    return ScrapedItem(
        id=cluster_item_id(cluster, agent_id), type="Kubernetes::Cluster", name=cluster,
        config={"name": cluster}, config_class="Cluster", tags={"cluster": cluster, **(tags or {})},
        external_ids=[f"kubernetes/{cluster}".lower()], source=source,
        health="healthy", status="Connected", ready=True, message="",
    )
