"""The kubernetes scraper against the emulator over real HTTP with the official client."""

import base64
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from catalog import specs
from catalog.models import ConfigChange, ConfigItem, ConfigRelationship, ScrapeConfig
from catalog.scrapers.kubernetes import PAGE_SIZE
from tests.catalog.scrape_helpers import run_now
from tests.kube_emulator import RunningEmulator, running_emulator

pytestmark = pytest.mark.django_db

CLUSTER = "test-1"


# -- builders shared with test_watcher.py ------------------------------------------------------


@dataclass
class Cluster:
    emu: RunningEmulator
    kubeconfig: Path


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with running_emulator() as emu:
        yield Cluster(emu, emu.write_kubeconfig(tmp_path / "kubeconfig", "emulator"))


def kube_scraper(cluster: Cluster, name: str = "cluster", **entry: Any) -> ScrapeConfig:
    spec = {
        "kubernetes": [
            {
                "clusterName": CLUSTER,
                "kubeconfig": str(cluster.kubeconfig),
                "context": "emulator",
                **entry,
            }
        ],
        "retention": {"staleItemAge": "0s", "maxDeletePercent": 100},
    }
    assert specs.validate_spec(spec) == []
    return ScrapeConfig.objects.create(namespace="platform", name=name, spec=spec)


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def node(name: str, heartbeat: str = "2025-01-01T00:00:00Z") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name},
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "lastHeartbeatTime": heartbeat,
                    "lastTransitionTime": "2025-01-01T00:00:00Z",
                }
            ]
        },
    }


def pod(
    name: str,
    ns: str = "shop",
    *,
    owner: dict[str, Any] | None = None,
    node_name: str = "node-1",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns, "labels": labels or {"app": "api"}}
    if annotations:
        meta["annotations"] = annotations
    if owner:
        meta["ownerReferences"] = [
            {
                "apiVersion": owner["apiVersion"],
                "kind": owner["kind"],
                "name": owner["metadata"]["name"],
                "controller": True,
                "uid": owner["metadata"]["uid"],
            }
        ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {
            "nodeName": node_name,
            "containers": [
                {
                    "name": "api",
                    "image": "shop/api:1",
                    "envFrom": [{"configMapRef": {"name": "api-env"}}],
                }
            ],
        },
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }


def app(emu: RunningEmulator, ns: str = "shop", pods: int = 1) -> dict[str, Any]:
    """Namespace, Node, ConfigMap, Deployment -> ReplicaSet -> Pods and a Service, as a
    controller would have left them (the emulator runs no controllers)."""
    made: dict[str, Any] = {
        "namespace": emu.create(namespace(ns)),
        "node": emu.create(node("node-1")),
    }
    made["configmap"] = emu.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "api-env", "namespace": ns},
            "data": {"LOG_LEVEL": "info"},
        }
    )
    made["deployment"] = emu.create(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "api", "namespace": ns, "labels": {"app": "api"}},
            "spec": {
                "replicas": pods,
                "selector": {"matchLabels": {"app": "api"}},
                "template": {
                    "metadata": {"labels": {"app": "api"}},
                    "spec": {"containers": [{"name": "api", "image": "shop/api:1"}]},
                },
            },
        }
    )
    deployment = made["deployment"]
    made["replicaset"] = emu.create(
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": "api-7d9f",
                "namespace": ns,
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": "api",
                        "controller": True,
                        "uid": deployment["metadata"]["uid"],
                    }
                ],
            },
            "spec": {"replicas": pods},
            "status": {"replicas": pods, "readyReplicas": pods},
        }
    )
    made["pods"] = [
        emu.create(pod(f"api-7d9f-{i}", ns, owner=made["replicaset"])) for i in range(pods)
    ]
    made["service"] = emu.create(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "api", "namespace": ns},
            "spec": {"selector": {"app": "api"}, "ports": [{"port": 80}]},
        }
    )
    return made


def event(
    involved: dict[str, Any],
    name: str,
    *,
    reason: str = "BackOff",
    type_: str = "Warning",
    count: int = 1,
    message: str = "Back-off restarting failed container",
) -> dict[str, Any]:
    meta = involved["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": meta.get("namespace", "default")},
        "involvedObject": {
            "apiVersion": involved["apiVersion"],
            "kind": involved["kind"],
            "namespace": meta.get("namespace"),
            "name": meta["name"],
            "uid": meta["uid"],
        },
        "reason": reason,
        "message": message,
        "type": type_,
        "count": count,
        "firstTimestamp": "2025-01-01T00:00:00Z",
        "lastTimestamp": now_rfc3339(),
        "source": {"component": "kubelet", "host": "node-1"},
    }


def live(type_: str, **filters: Any) -> Any:
    return ConfigItem.objects.filter(type=type_, deleted_at__isnull=True, **filters)


def edges(**filters: Any) -> set[tuple[str, str, str]]:
    rows = ConfigRelationship.objects.filter(deleted_at__isnull=True, **filters)
    return {
        (r.config.name, r.related.name, r.relation)
        for r in rows.select_related("config", "related")
    }


def tables_containing(text: str) -> list[str]:
    """Every table of the public schema whose rows mention `text` anywhere."""
    hits = []
    with connection.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        for (table,) in cur.fetchall():
            cur.execute(
                f'SELECT count(*) FROM "{table}" t WHERE t::text LIKE %s',  # noqa: S608
                [f"%{text}%"],
            )
            if cur.fetchone()[0]:
                hits.append(table)
    return hits


# -- discovery and listing ---------------------------------------------------------------------


def test_custom_resources_are_discovered_and_scraped(cluster: Cluster) -> None:
    cluster.emu.register_crd("example.com", "v1", "widgets", "Widget")
    cluster.emu.create(
        {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "sprocket", "namespace": "shop"},
            "spec": {"size": 3},
        }
    )

    run = run_now(kube_scraper(cluster))

    assert run.status == "succeeded", run.error_list
    widget = live("Kubernetes::Widget").get()
    assert (widget.name, widget.namespace, widget.tags["cluster"]) == ("sprocket", "shop", CLUSTER)
    assert widget.config["spec"] == {"size": 3}
    assert live("Kubernetes::CustomResourceDefinition", name="widgets.example.com").exists()


def test_lists_are_paged_past_the_page_size(cluster: Cluster) -> None:
    total = PAGE_SIZE + 20
    cluster.emu.load(
        [
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"cm-{i:04d}", "namespace": "bulk"},
                "data": {"i": str(i)},
            }
            for i in range(total)
        ]
    )

    run = run_now(kube_scraper(cluster))

    assert run.status == "succeeded", run.error_list
    assert live("Kubernetes::ConfigMap", namespace="bulk").count() == total


def test_items_carry_cluster_tag_parent_chain_and_no_resource_version(cluster: Cluster) -> None:
    made = app(cluster.emu)

    run_now(kube_scraper(cluster, tags={"environment": "prod"}))

    pod_item = live("Kubernetes::Pod").get()
    assert pod_item.tags == {"cluster": CLUSTER, "environment": "prod"}
    assert "resourceVersion" not in pod_item.config["metadata"]
    assert pod_item.config["metadata"]["generation"] == 1
    chain = []
    current = pod_item
    while current is not None:
        chain.append(current.type)
        current = current.parent
    assert chain == [
        "Kubernetes::Pod",
        "Kubernetes::ReplicaSet",
        "Kubernetes::Deployment",
        "Kubernetes::Namespace",
        "Kubernetes::Cluster",
    ]
    assert str(pod_item.id) == made["pods"][0]["metadata"]["uid"]


def test_resource_version_bump_without_content_change_is_not_a_diff(cluster: Cluster) -> None:
    cluster.emu.create(node("node-1", heartbeat="2025-01-01T00:00:00Z"))
    config = kube_scraper(cluster)
    run_now(config)

    cluster.emu.patch(
        "v1",
        "Node",
        None,
        "node-1",
        {
            "status": {
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "lastHeartbeatTime": "2025-01-01T00:05:00Z",
                        "lastTransitionTime": "2025-01-01T00:00:00Z",
                    }
                ]
            }
        },
    )
    run = run_now(config)

    assert run.updated == 0 and run.changes == 0
    assert not ConfigChange.objects.filter(change_type="diff").exists()


def test_a_content_change_is_a_diff(cluster: Cluster) -> None:
    made = app(cluster.emu)
    config = kube_scraper(cluster)
    run_now(config)

    cluster.emu.patch("apps/v1", "Deployment", "shop", "api", {"spec": {"replicas": 3}})
    run = run_now(config)

    assert run.updated == 1
    change = ConfigChange.objects.get(change_type="diff")
    assert str(change.config_id) == made["deployment"]["metadata"]["uid"]
    assert "spec.replicas" in change.summary


# -- filters -----------------------------------------------------------------------------------


def test_namespaces_ignore_annotation_and_label_exclusions(cluster: Cluster) -> None:
    emu = cluster.emu
    for ns in ("shop", "kube-system", "staging"):
        emu.create(namespace(ns))
    emu.create(pod("kept", "shop"))
    emu.create(pod("system", "kube-system"))
    emu.create(pod("ignored", "shop", annotations={"flightdeck.dev/ignore": "true"}))
    emu.create(pod("noisy", "shop", labels={"app": "api", "tier": "debug"}))
    emu.create(pod("elsewhere", "staging"))

    run_now(
        kube_scraper(
            cluster,
            namespaces=["s*", "kube-*", "!kube-system"],
            exclusions={"labels": {"tier": "deb*"}},
        )
    )

    assert set(live("Kubernetes::Pod").values_list("name", flat=True)) == {"kept", "elsewhere"}
    assert set(live("Kubernetes::Namespace").values_list("name", flat=True)) == {"shop", "staging"}


def test_literal_namespaces_are_listed_per_namespace(cluster: Cluster) -> None:
    cluster.emu.create(pod("a", "shop"))
    cluster.emu.create(pod("b", "other"))
    # Cluster-wide pod lists fail: only a per-namespace read can succeed.
    cluster.emu.faults.add(method="GET", path_regex=r"^/api/v1/pods$", status=403)

    run = run_now(kube_scraper(cluster, namespaces=["shop"]))

    assert run.status == "succeeded", run.error_list
    assert set(live("Kubernetes::Pod").values_list("name", flat=True)) == {"a"}


def test_label_selector_is_sent_to_the_apiserver(cluster: Cluster) -> None:
    cluster.emu.create(pod("front", labels={"app": "web"}))
    cluster.emu.create(pod("back", labels={"app": "api"}))

    run_now(kube_scraper(cluster, selector="app=web"))

    assert set(live("Kubernetes::Pod").values_list("name", flat=True)) == {"front"}


def test_default_exclusions_skip_noise_and_an_entry_can_replace_them(cluster: Cluster) -> None:
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "leader", "namespace": "shop"},
        "spec": {},
    }
    cluster.emu.create(lease)
    cluster.emu.create(pod("api", "shop"))

    config = kube_scraper(cluster)
    run_now(config)
    assert not live("Kubernetes::Lease").exists()

    config.spec["kubernetes"][0]["exclusions"] = {"kinds": ["Pod"]}
    config.save()
    run_now(config)
    assert live("Kubernetes::Lease").exists()
    assert not live("Kubernetes::Pod").exists()


# -- failures ----------------------------------------------------------------------------------


def test_a_throttled_list_is_retried(cluster: Cluster) -> None:
    cluster.emu.create(pod("api", "shop"))
    fault = cluster.emu.faults.add(method="GET", path_regex=r"^/api/v1/pods$", status=429, times=1)

    run = run_now(kube_scraper(cluster))

    assert fault.hits == 1
    assert run.status == "succeeded", run.error_list
    assert live("Kubernetes::Pod").count() == 1


@pytest.mark.parametrize("status", [429, 500])
def test_a_failed_list_makes_the_run_partial_and_deletes_nothing(
    cluster: Cluster, status: int
) -> None:
    cluster.emu.create(pod("stays", "shop"))
    cluster.emu.create(pod("goes", "shop"))
    cluster.emu.create(namespace("shop"))
    config = kube_scraper(cluster)
    run_now(config)
    cluster.emu.delete("v1", "Pod", "shop", "goes")
    cluster.emu.delete("v1", "Namespace", None, "shop")
    fault = cluster.emu.faults.add(method="GET", path_regex=r"^/api/v1/pods$", status=status)

    run = run_now(config)

    assert run.status == "partial"
    assert any("pods" in e["message"] and str(status) in e["message"] for e in run.error_list)
    assert run.deleted == 0
    assert set(live("Kubernetes::Pod").values_list("name", flat=True)) == {"stays", "goes"}
    assert live("Kubernetes::Namespace", name="shop").exists()  # other kinds wait too

    cluster.emu.faults.remove(fault)
    run = run_now(config)
    assert run.status == "succeeded"
    assert set(live("Kubernetes::Pod").values_list("name", flat=True)) == {"stays"}
    gone = ConfigItem.objects.get(name="goes")
    assert gone.delete_reason == "stale"


def test_an_unreachable_cluster_fails_the_entry_without_deleting(
    cluster: Cluster, tmp_path: Path
) -> None:
    cluster.emu.create(pod("api", "shop"))
    config = kube_scraper(cluster)
    run_now(config)
    cluster.emu.faults.add(path_regex=r"^/api", status=503)

    run = run_now(config)

    assert run.status == "partial"
    assert "discovery" in run.error_list[0]["message"]
    assert live("Kubernetes::Pod").count() == 1


def test_an_unknown_connection_is_a_problem_of_the_entry() -> None:
    config = ScrapeConfig.objects.create(
        namespace="platform",
        name="conn",
        spec={"kubernetes": [{"clusterName": "x", "connection": "connection://platform/prod"}]},
    )

    run = run_now(config)

    assert run.status == "partial"
    assert run.error_list[0]["scraper"] == "kubernetes[0]"
    assert "connection://platform/prod does not exist" in run.error_list[0]["message"]


def test_spec_validation_names_the_bad_fields() -> None:
    errors = specs.validate_spec(
        {
            "kubernetes": [
                {
                    "namespaces": "default",
                    "events": {"severity": {"urgent": ["BackOff"]}},
                    "connection": "prod",
                    "exclusions": {"kinds": "Lease"},
                }
            ]
        }
    )

    assert "kubernetes[0].clusterName: required" in errors
    assert "kubernetes[0].namespaces: must be a list of strings" in errors
    assert "kubernetes[0].exclusions.kinds: must be a list of strings" in errors
    assert any(e.startswith("kubernetes[0].events.severity.urgent") for e in errors)
    assert any(e.startswith("kubernetes[0].connection") for e in errors)


# -- relationships -----------------------------------------------------------------------------


def test_relationships_are_created_and_removed_with_their_objects(cluster: Cluster) -> None:
    made = app(cluster.emu, pods=2)
    config = kube_scraper(cluster)
    run_now(config)

    assert {
        ("api", "api-7d9f", "DeploymentReplicaSet"),
        ("api-7d9f", "api-7d9f-0", "ReplicaSetPod"),
        ("node-1", "api-7d9f-0", "NodePod"),
        ("api", "api-7d9f-0", "ServicePod"),
        ("api-7d9f-0", "api-env", "PodConfigMap"),
        ("api", "api-7d9f-1", "ServicePod"),
    } <= edges()

    cluster.emu.delete("v1", "Pod", "shop", made["pods"][1]["metadata"]["name"])
    run_now(config)

    assert not any("api-7d9f-1" in edge for edge in edges())
    assert ("api", "api-7d9f-0", "ServicePod") in edges()
    assert (
        ConfigRelationship.objects.filter(
            related__name="api-7d9f-1", deleted_at__isnull=False
        ).count()
        == 3
    )


# -- secrets -----------------------------------------------------------------------------------


def test_secret_values_are_never_stored(cluster: Cluster) -> None:
    canary = secrets.token_hex(16)
    encoded = base64.b64encode(canary.encode()).decode()
    cluster.emu.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {
                "name": "db",
                "namespace": "shop",
                "annotations": {
                    "kubectl.kubernetes.io/last-applied-configuration":
                        f'{{"stringData": {{"password": "{canary}"}}}}',
                },
            },
            "data": {"password": encoded},
            "stringData": {"token": canary},
        }
    )
    config = kube_scraper(cluster)
    run_now(config)
    cluster.emu.patch(
        "v1",
        "Secret",
        "shop",
        "db",
        {"data": {"password": base64.b64encode(b"rotated-" + canary.encode()).decode()}},
    )
    run_now(config)

    secret = live("Kubernetes::Secret").get()
    assert set(secret.config["data"]) == {"password", "token"}
    assert ConfigChange.objects.filter(config=secret, change_type="diff").exists()
    for text in (canary, encoded):
        assert tables_containing(text) == []


# -- events ------------------------------------------------------------------------------------


def test_events_become_changes_on_their_object(cluster: Cluster) -> None:
    made = app(cluster.emu)
    the_pod = made["pods"][0]
    backoff = cluster.emu.create(event(the_pod, "api.1", count=3))
    cluster.emu.create(
        event(
            the_pod,
            "api.2",
            reason="Pulled",
            type_="Normal",
            message="Container image already present",
        )
    )
    cluster.emu.create(
        event(
            made["deployment"],
            "api.3",
            reason="ScalingReplicaSet",
            type_="Normal",
            message="Scaled up replica set api-7d9f to 1",
        )
    )

    run_now(kube_scraper(cluster, events={"exclude": [{"reason": "Pulled"}]}))

    assert not live("Kubernetes::Event").exists()
    change = ConfigChange.objects.get(change_type="BackOff")
    assert str(change.config_id) == the_pod["metadata"]["uid"]
    assert (change.severity, change.source, change.count) == ("medium", "kubernetes/event", 3)
    assert change.summary == "Back-off restarting failed container"
    assert change.external_change_id == backoff["metadata"]["uid"]
    assert change.details["kind"] == "Event/v1" and change.details["reason"] == "BackOff"
    assert not ConfigChange.objects.filter(change_type="Pulled").exists()
    scaled = ConfigChange.objects.get(change_type="ScalingReplicaSet")
    assert (scaled.severity, str(scaled.config_id)) == (
        "info",
        made["deployment"]["metadata"]["uid"],
    )


def test_node_events_keyed_by_node_name_reach_the_node(cluster: Cluster) -> None:
    the_node = cluster.emu.create(node("node-1"))
    config = kube_scraper(cluster)
    run_now(config)
    # kubelet reports Node events with the node's name where the uid should be.
    cluster.emu.create(event({**the_node, "metadata": {"name": "node-1", "uid": "node-1"}},
                             "node-1.1", reason="NodeNotReady",
                             message="Node node-1 status is now: NodeNotReady"))

    run_now(config)

    change = ConfigChange.objects.get(change_type="NodeNotReady")
    assert str(change.config_id) == the_node["metadata"]["uid"]


def test_event_severity_can_be_overridden(cluster: Cluster) -> None:
    the_pod = app(cluster.emu)["pods"][0]
    cluster.emu.create(event(the_pod, "api.1", reason="OOMKilling"))

    run_now(kube_scraper(cluster, events={"severity": {"critical": ["OOMKilling"]}}))

    assert ConfigChange.objects.get(change_type="OOMKilling").severity == "critical"


def test_repeated_events_fold_by_uid_and_count(cluster: Cluster) -> None:
    the_pod = app(cluster.emu)["pods"][0]
    cluster.emu.create(event(the_pod, "api.1", count=3))
    config = kube_scraper(cluster)
    run_now(config)
    run_now(config)  # the same event again: no new row, no new count

    assert ConfigChange.objects.filter(change_type="BackOff").count() == 1
    cluster.emu.patch("v1", "Event", "shop", "api.1", {"count": 7, "lastTimestamp": now_rfc3339()})
    run_now(config)

    change = ConfigChange.objects.get(change_type="BackOff")
    assert change.count == 7


# -- kubeconfig_scraper ------------------------------------------------------------------------


def test_kubeconfig_scraper_creates_then_updates_a_scrape_config(
    cluster: Cluster, tmp_path: Path
) -> None:
    kubeconfig = cluster.emu.write_kubeconfig(tmp_path / "dev" / "config", "Kind_Dev.1")
    cluster.emu.create(pod("api", "shop"))

    call_command("kubeconfig_scraper", kubeconfig=str(kubeconfig))
    call_command("kubeconfig_scraper", kubeconfig=str(kubeconfig))

    config = ScrapeConfig.objects.get(deleted_at__isnull=True)
    assert (config.namespace, config.name, config.managed_by) == ("default", "kind-dev-1", "file")
    assert config.spec == {
        "kubernetes": [
            {"clusterName": "Kind_Dev.1", "kubeconfig": str(kubeconfig), "context": "Kind_Dev.1"}
        ]
    }
    assert run_now(config).status == "succeeded"
    assert live("Kubernetes::Pod").get().tags["cluster"] == "Kind_Dev.1"
