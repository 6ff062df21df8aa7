"""The bundled demo catalog must load on a fresh `make run`: these checks need no database."""

import functools
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from catalog.scrapers.documents import parse

DEMO = Path(__file__).resolve().parents[2] / "catalog" / "demo"
CLUSTERS = sorted(p.name for p in (DEMO / "clusters").iterdir() if p.is_dir())
DATA_FILES = sorted(
    p for p in DEMO.rglob("*") if p.is_file() and p.suffix in (".yaml", ".yml", ".json")
)
PLACEHOLDER = re.compile(r"\$\{now(?:[+-]\d+[smhd])?\}")
ANY_PLACEHOLDER = re.compile(r"\$\{[^}]*\}")
DUMMY_TIME = "2025-01-15T12:00:00Z"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
Obj = dict[str, Any]
# The C loader when PyYAML has it: the demo is about 1 MB of YAML, parsed once per test session.
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.cache
def _documents(path: Path) -> list[Any]:
    text = PLACEHOLDER.sub(DUMMY_TIME, path.read_text(encoding="utf-8"))
    return [doc for doc in yaml.load_all(text, Loader=Loader) if doc is not None]


def _expand(doc: Obj) -> Iterator[Obj]:
    """`List` and `<Kind>List` with `items` stand for their items, as in the scraper."""
    if str(doc.get("kind", "")).endswith("List") and isinstance(doc.get("items"), list):
        for item in doc["items"]:
            yield from _expand(item)
    else:
        yield doc


@functools.cache
def _objects(cluster: str) -> list[Obj]:
    return [
        obj
        for path in sorted((DEMO / "clusters" / cluster).rglob("*.yaml"))
        for doc in _documents(path)
        for obj in _expand(doc)
    ]


def _all_objects() -> list[Obj]:
    return [obj for cluster in CLUSTERS for obj in _objects(cluster)]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


@functools.cache
def _raw_documents(path: Path) -> list[Any]:
    return [doc for doc in yaml.load_all(path.read_text(encoding="utf-8"), Loader=Loader) if doc]


def _external_items() -> list[Obj]:
    return _documents(DEMO / "external" / "items.yaml")


def _key(obj: Obj) -> tuple[str, str, str]:
    meta = obj["metadata"]
    return obj["kind"], meta.get("namespace", ""), meta["name"]


def _condition(obj: Obj, type_: str) -> Obj:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == type_), {})


def _containers(pod: Obj) -> list[Obj]:
    return (pod.get("status") or {}).get("containerStatuses") or []


@pytest.mark.parametrize("path", DATA_FILES, ids=lambda p: str(p.relative_to(DEMO)))
def test_file_parses_after_placeholder_substitution(path: Path) -> None:
    # The scraper's own parser: strict about duplicate keys, one problem per bad document.
    text = PLACEHOLDER.sub(DUMMY_TIME, path.read_text(encoding="utf-8"))
    documents = list(parse(text.encode(), path.name))
    assert documents
    assert [d.error for d in documents if d.error] == []


def test_both_clusters_are_present() -> None:
    assert CLUSTERS == ["prod-eu-1", "staging-us-1"]


def test_placeholders_are_whole_quoted_values_in_the_documented_grammar() -> None:
    # The loader may substitute per scalar, so a placeholder is never part of a longer string.
    bad = [
        f"{path.relative_to(DEMO)}: {value!r}"
        for path in DATA_FILES
        for doc in _raw_documents(path)
        for value in _strings(doc)
        if ANY_PLACEHOLDER.search(value) and not PLACEHOLDER.fullmatch(value)
    ]
    assert bad == []


def test_creation_timestamps_are_relative_to_load_time() -> None:
    raw = [
        obj
        for path in (DEMO / "clusters").rglob("*.yaml")
        for doc in _raw_documents(path)
        for obj in _expand(doc)
    ]
    fixed = [_key(o) for o in raw if not PLACEHOLDER.fullmatch(o["metadata"]["creationTimestamp"])]
    assert fixed == []


def test_every_kubernetes_object_has_apiversion_kind_name_and_uuid_uid() -> None:
    bad = [
        (obj.get("kind"), (obj.get("metadata") or {}).get("name"))
        for obj in _all_objects()
        if not (
            obj.get("apiVersion")
            and obj.get("kind")
            and obj.get("metadata", {}).get("name")
            and UUID.match(str(obj["metadata"].get("uid", "")))
        )
    ]
    assert bad == []


def test_uids_are_unique_across_the_demo() -> None:
    seen: dict[str, tuple[str, str, str]] = {}
    duplicates = []
    for obj in _all_objects():
        uid = obj["metadata"]["uid"]
        if uid in seen:
            duplicates.append((seen[uid], _key(obj)))
        seen[uid] = _key(obj)
    assert duplicates == []


def test_object_keys_are_unique_within_a_cluster() -> None:
    for cluster in CLUSTERS:
        keys = [_key(o) for o in _objects(cluster)]
        assert len(keys) == len(set(keys)), cluster


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_owner_references_point_at_objects_in_the_same_cluster(cluster: str) -> None:
    objects = _objects(cluster)
    by_key = {_key(o): o for o in objects}
    dangling = []
    for obj in objects:
        namespace = obj["metadata"].get("namespace", "")
        for ref in obj["metadata"].get("ownerReferences") or []:
            owner = by_key.get((ref["kind"], namespace, ref["name"])) or by_key.get(
                (ref["kind"], "", ref["name"])
            )
            if (
                owner is None
                or owner["metadata"]["uid"] != ref["uid"]
                or owner["apiVersion"] != ref["apiVersion"]
            ):
                dangling.append((_key(obj), ref["kind"], ref["name"]))
    assert dangling == []


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_scheduled_pods_run_on_nodes_of_their_cluster(cluster: str) -> None:
    objects = _objects(cluster)
    nodes = {o["metadata"]["name"] for o in objects if o["kind"] == "Node"}
    strays = [
        _key(o)
        for o in objects
        if o["kind"] == "Pod" and o["spec"].get("nodeName") and o["spec"]["nodeName"] not in nodes
    ]
    assert strays == []


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_bound_claims_and_volumes_point_at_each_other(cluster: str) -> None:
    objects = _objects(cluster)
    volumes = {o["metadata"]["name"]: o for o in objects if o["kind"] == "PersistentVolume"}
    claims = [
        o
        for o in objects
        if o["kind"] == "PersistentVolumeClaim" and o["status"]["phase"] == "Bound"
    ]
    for claim in claims:
        claim_ref = volumes[claim["spec"]["volumeName"]]["spec"]["claimRef"]
        assert claim_ref["uid"] == claim["metadata"]["uid"], _key(claim)
    assert len(claims) == len(volumes)


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_namespaced_objects_live_in_declared_namespaces(cluster: str) -> None:
    objects = _objects(cluster)
    namespaces = {o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"}
    missing = {
        o["metadata"]["namespace"] for o in objects if o["metadata"].get("namespace")
    } - namespaces
    assert missing == set()


def test_both_list_styles_and_multi_document_files_are_used() -> None:
    kinds = {
        doc.get("kind")
        for path in (DEMO / "clusters").rglob("*.yaml")
        for doc in _documents(path)
        if "items" in doc
    }
    multi = [p for p in (DEMO / "clusters").rglob("*.yaml") if len(_documents(p)) > 1]
    assert "List" in kinds
    assert kinds - {"List"}, "no <Kind>List document"
    assert multi


def test_demo_size_stays_a_quick_first_load() -> None:
    assert 150 <= len(_all_objects()) <= 300


# What the README promises is broken on purpose; each predicate finds one example.
SCENARIOS: dict[str, Callable[[Obj], bool]] = {
    "pod crash-looping after OOMKilled": lambda o: (
        o["kind"] == "Pod"
        and any(
            c["state"].get("waiting", {}).get("reason") == "CrashLoopBackOff"
            and c["lastState"].get("terminated", {}).get("reason") == "OOMKilled"
            and c["restartCount"] > 0
            for c in _containers(o)
        )
    ),
    "pod pending as unschedulable": lambda o: (
        o["kind"] == "Pod" and _condition(o, "PodScheduled").get("reason") == "Unschedulable"
    ),
    "pod in ImagePullBackOff": lambda o: (
        o["kind"] == "Pod"
        and any(
            c["state"].get("waiting", {}).get("reason") == "ImagePullBackOff"
            for c in _containers(o)
        )
    ),
    "deployment rolling out": lambda o: (
        o["kind"] == "Deployment"
        and 0 < o["status"].get("updatedReplicas", 0) < o["spec"]["replicas"]
        and _condition(o, "Progressing").get("reason") == "ReplicaSetUpdated"
    ),
    "deployment past its progress deadline": lambda o: (
        o["kind"] == "Deployment"
        and _condition(o, "Progressing").get("reason") == "ProgressDeadlineExceeded"
    ),
    "deployment scaled to zero": lambda o: o["kind"] == "Deployment" and o["spec"]["replicas"] == 0,
    "job failed on back-off limit": lambda o: (
        o["kind"] == "Job" and _condition(o, "Failed").get("reason") == "BackoffLimitExceeded"
    ),
    "suspended cronjob": lambda o: o["kind"] == "CronJob" and o["spec"]["suspend"] is True,
    "load balancer without address": lambda o: (
        o["kind"] == "Service"
        and o["spec"]["type"] == "LoadBalancer"
        and not o["status"]["loadBalancer"]
    ),
    "ingress without address": lambda o: o["kind"] == "Ingress" and not o["status"]["loadBalancer"],
    "hpa pinned at max": lambda o: (
        o["kind"] == "HorizontalPodAutoscaler"
        and o["status"]["currentReplicas"] == o["spec"]["maxReplicas"]
        and _condition(o, "ScalingLimited").get("status") == "True"
    ),
    "pending claim": lambda o: (
        o["kind"] == "PersistentVolumeClaim" and o["status"]["phase"] == "Pending"
    ),
    "node under memory pressure": lambda o: (
        o["kind"] == "Node" and _condition(o, "MemoryPressure").get("status") == "True"
    ),
    "cordoned node": lambda o: o["kind"] == "Node" and o["spec"].get("unschedulable") is True,
    "certificate expired": lambda o: (
        o["kind"] == "Certificate" and _condition(o, "Ready").get("reason") == "Expired"
    ),
    "flux kustomization failing": lambda o: (
        o["kind"] == "Kustomization"
        and _condition(o, "Ready").get("reason") == "ReconciliationFailed"
    ),
    "flux kustomization suspended": lambda o: (
        o["kind"] == "Kustomization" and o["spec"].get("suspend") is True
    ),
    "helm upgrade failed": lambda o: (
        o["kind"] == "HelmRelease" and _condition(o, "Ready").get("reason") == "UpgradeFailed"
    ),
    "argo application out of sync": lambda o: (
        o["kind"] == "Application" and o["status"]["sync"]["status"] == "OutOfSync"
    ),
    "argo application degraded": lambda o: (
        o["kind"] == "Application" and o["status"]["health"]["status"] == "Degraded"
    ),
    "argo application synced and healthy": lambda o: (
        o["kind"] == "Application"
        and o["status"]["sync"]["status"] == "Synced"
        and o["status"]["health"]["status"] == "Healthy"
    ),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_demo_shows_scenario(scenario: str) -> None:
    assert any(SCENARIOS[scenario](obj) for obj in _all_objects())


def test_a_certificate_expires_within_36_hours() -> None:
    # Checked on the raw text: the placeholder itself says how far away notAfter is.
    offsets = [
        obj["status"]["notAfter"]
        for path in (DEMO / "clusters").rglob("certificates.yaml")
        for obj in _raw_documents(path)
    ]
    soon = [
        o
        for o in offsets
        if re.fullmatch(r"\$\{now\+(\d+)h\}", o)
        and int(re.fullmatch(r"\$\{now\+(\d+)h\}", o).group(1)) <= 36
    ]
    assert soon


def test_external_items_carry_every_field_the_scraper_maps() -> None:
    items = _external_items()
    missing = [
        item.get("id")
        for item in items
        if not all(item.get(f) for f in ("id", "type", "name", "status"))
        or not {"team", "environment"} <= set(item.get("tags") or {})
    ]
    assert missing == []
    assert len({item["id"] for item in items}) == len(items)


def test_external_items_cover_the_promised_types() -> None:
    types = {item["type"] for item in _external_items()}
    assert {
        "AWS::RDS::DBInstance",
        "Database::PostgreSQL",
        "DNS::Record",
        "AWS::S3::Bucket",
        "AWS::EC2::Instance",
    } <= types


def _scrape_configs() -> list[Obj]:
    return _documents(DEMO / "scrapeconfigs.yaml")


def test_scrape_configs_are_flightdeck_resources() -> None:
    configs = _scrape_configs()
    assert {(c["apiVersion"], c["kind"]) for c in configs} == {
        ("flightdeck.dev/v1", "ScrapeConfig")
    }
    assert len({c["metadata"]["name"] for c in configs}) == len(configs)


def test_scrape_config_paths_cover_every_data_file() -> None:
    patterns = [p for c in _scrape_configs() for e in c["spec"]["file"] for p in e["paths"]]
    matched: set[Path] = set()
    for pattern in patterns:
        hits = {p for p in DEMO.glob(pattern) if p.is_file()}
        assert hits, f"{pattern} matches nothing"
        matched |= hits
    expected = {p for p in DATA_FILES if p.parent != DEMO}
    assert expected - matched == set()
