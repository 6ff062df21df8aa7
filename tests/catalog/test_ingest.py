"""Ingest semantics through the real file scraper: create, unchanged, change, dedupe, delete."""

from pathlib import Path

import pytest
from django.db import connection

from catalog.models import ConfigChange, ConfigItem, ConfigRelationship
from portal.models import Event
from tests.catalog.scrape_helpers import file_scraper, run_now

pytestmark = pytest.mark.django_db

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop, uid: 11111111-1111-4111-8111-111111111111,
           labels: {app: api}}
spec:
  replicas: {replicas}
  selector: {matchLabels: {app: api}}
  template:
    spec:
      containers: [{name: api, image: "shop/api:{tag}"}]
status: {replicas: {replicas}, updatedReplicas: {replicas}, readyReplicas: {replicas},
         availableReplicas: {replicas}, observedGeneration: 1}
"""
POD = """
apiVersion: v1
kind: Pod
metadata:
  name: api-7d9f-abcde
  namespace: shop
  uid: 33333333-3333-4333-8333-333333333333
  labels: {app: api}
  ownerReferences:
    - {apiVersion: apps/v1, kind: ReplicaSet, name: api-7d9f, controller: true,
       uid: 22222222-2222-4222-8222-222222222222}
spec:
  nodeName: node-1
  containers: [{name: api, image: shop/api:1, envFrom: [{configMapRef: {name: api-env}}]}]
status:
  phase: {phase}
  conditions: [{type: Ready, status: "{ready}"}]
  containerStatuses: [{name: api, ready: {ready_bool}, restartCount: 0, state: {running: {}}}]
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: api-7d9f
  namespace: shop
  uid: 22222222-2222-4222-8222-222222222222
  ownerReferences:
    - {apiVersion: apps/v1, kind: Deployment, name: api, controller: true,
       uid: 11111111-1111-4111-8111-111111111111}
spec: {replicas: 1}
status: {replicas: 1, readyReplicas: 1, availableReplicas: 1}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop, uid: 44444444-4444-4444-8444-444444444444}
spec: {selector: {app: api}, ports: [{port: 80}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: api-env, namespace: shop, uid: 55555555-5555-4555-8555-555555555555}
data: {LOG_LEVEL: info}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop, uid: 66666666-6666-4666-8666-666666666666}
status: {phase: Active}
"""


def deployment(replicas: int = 2, tag: str = "1") -> str:
    return DEPLOYMENT.replace("{replicas}", str(replicas)).replace("{tag}", tag)


def pods(phase: str = "Running", ready: bool = True) -> str:
    return (POD.replace("{phase}", phase).replace("{ready}", "True" if ready else "False")
            .replace("{ready_bool}", "true" if ready else "false"))


@pytest.fixture
def folder(manifests) -> Path:
    manifests("deploy.yaml", deployment())
    return manifests("pods.yaml", pods()).parent


def row_writes() -> int:
    """Inserts, updates and deletes on the catalog tables in this transaction."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) "
            "FROM pg_stat_xact_user_tables WHERE relname IN "
            "('catalog_configitem', 'catalog_configchange', 'catalog_configrelationship')"
        )
        return int(cur.fetchone()[0])


def test_manifests_become_items_with_uid_identity_and_health(folder):
    run = run_now(file_scraper(folder))

    assert run.status == "succeeded"
    assert run.created == 7  # 6 objects + the synthetic cluster item
    pod = ConfigItem.objects.get(type="Kubernetes::Pod")
    assert str(pod.id) == "33333333-3333-4333-8333-333333333333"
    assert (pod.namespace, pod.tags["cluster"], pod.health) == ("shop", "test-1", "healthy")
    assert str(pod.parent_id) == "22222222-2222-4222-8222-222222222222"
    assert Event.objects.filter(name="config.created").count() == 7


def test_owner_selector_and_reference_relationships_are_created(folder):
    run_now(file_scraper(folder))

    edges = set(ConfigRelationship.objects.values_list("config__name", "related__name",
                                                      "relation"))
    assert ("api", "api-7d9f", "DeploymentReplicaSet") in edges
    assert ("api-7d9f", "api-7d9f-abcde", "ReplicaSetPod") in edges
    assert ("api", "api-7d9f-abcde", "ServicePod") in edges
    assert ("api-7d9f-abcde", "api-env", "PodConfigMap") in edges


def test_parent_chain_and_path_reach_the_namespace(folder):
    run_now(file_scraper(folder))

    namespace = ConfigItem.objects.get(type="Kubernetes::Namespace")
    deployment_item = ConfigItem.objects.get(type="Kubernetes::Deployment")
    assert deployment_item.parent_id == namespace.id
    pod = ConfigItem.objects.get(type="Kubernetes::Pod")
    assert pod.path.startswith(namespace.path + ".")
    assert ConfigItem.objects.filter(path__startswith=namespace.path + ".").count() == 5


def test_unchanged_rescrape_writes_no_catalog_rows(folder):
    config = file_scraper(folder)
    run_now(config)
    before = row_writes()

    run = run_now(config)

    assert (run.status, run.unchanged, run.created, run.updated) == ("succeeded", 7, 0, 0)
    assert row_writes() == before


def test_changed_object_gets_one_diff_change_with_summary_diff_and_patch(folder, manifests):
    config = file_scraper(folder)
    run_now(config)
    manifests("deploy.yaml", deployment(replicas=3, tag="2"))

    run = run_now(config)

    assert (run.updated, run.changes) == (1, 1)
    change = ConfigChange.objects.get(change_type="diff")
    assert "spec.replicas" in change.summary
    assert "spec.template.spec.containers[0].image" in change.summary
    assert "-  replicas: 2" in change.diff and "+  replicas: 3" in change.diff
    assert change.patch["spec"]["replicas"] == 3
    assert Event.objects.filter(name="config.updated", object_id=change.config_id).exists()


def test_identical_change_within_window_folds_into_count(folder, manifests):
    config = file_scraper(folder)
    run_now(config)
    for replicas in (3, 2, 3):
        manifests("deploy.yaml", deployment(replicas=replicas))
        run_now(config)

    up = ConfigChange.objects.filter(change_type="diff", patch__spec__replicas=3)
    assert up.count() == 1
    assert up.get().count == 2
    assert ConfigChange.objects.filter(change_type="diff").count() == 2


def test_health_transition_is_its_own_change_and_event(folder, manifests):
    config = file_scraper(folder)
    run_now(config)
    manifests("pods.yaml", pods(phase="Failed", ready=False))

    run_now(config)

    pod = ConfigItem.objects.get(type="Kubernetes::Pod")
    assert pod.health == "unhealthy"
    health_change = ConfigChange.objects.get(config=pod, source="flightdeck/health")
    assert (health_change.change_type, health_change.severity) == ("Unhealthy", "high")
    assert health_change.summary.startswith("healthy → unhealthy")
    assert Event.objects.filter(name="config.unhealthy", object_id=pod.id).exists()


def test_missing_item_is_soft_deleted_after_complete_scrape_and_undeleted_on_return(
    folder, manifests
):
    config = file_scraper(folder)
    run_now(config)
    deploy_text = (folder / "deploy.yaml").read_text()
    (folder / "deploy.yaml").unlink()

    run = run_now(config)

    item = ConfigItem.objects.get(type="Kubernetes::Deployment")
    assert (run.deleted, item.delete_reason) == (1, "stale")
    assert item.deleted_at is not None
    assert not ConfigRelationship.objects.filter(config=item, deleted_at__isnull=True).exists()
    manifests("deploy.yaml", deploy_text)

    run = run_now(config)

    item.refresh_from_db()
    assert item.deleted_at is None and run.undeleted == 1


def test_partial_scrape_deletes_nothing(folder):
    config = file_scraper(folder, entry={"paths": ["deploy.yaml", "gone.yaml"]})
    run_now(config)
    config.spec["file"][0]["paths"] = ["gone.yaml"]
    config.save()

    run = run_now(config)

    assert run.status == "partial"
    assert run.deleted == 0
    assert ConfigItem.objects.filter(deleted_at__isnull=False).count() == 0


def test_mass_deletion_over_max_delete_percent_fails_the_run(folder):
    config = file_scraper(folder)
    config.spec["retention"]["maxDeletePercent"] = 20
    config.save()
    run_now(config)
    (folder / "pods.yaml").unlink()

    run = run_now(config)

    assert run.status == "failed"
    assert "maxDeletePercent" in run.error_list[0]["message"]
    assert ConfigItem.objects.filter(deleted_at__isnull=False).count() == 0


def test_secret_values_are_replaced_by_key_names_and_hashes(manifests):
    canary = "s3cr3t-canary-value-9f8e7d"
    import base64

    encoded = base64.b64encode(canary.encode()).decode()
    folder = manifests("secret.yaml", f"""
apiVersion: v1
kind: Secret
metadata: {{name: db, namespace: shop, uid: 77777777-7777-4777-8777-777777777777}}
data: {{password: {encoded}}}
stringData: {{token: {canary}}}
""").parent
    config = file_scraper(folder)
    run_now(config)
    secret = ConfigItem.objects.get(type="Kubernetes::Secret")
    assert set(secret.config["data"]) == {"password", "token"}
    assert secret.config["data"]["password"].startswith("sha256:")
    (folder / "secret.yaml").write_text((folder / "secret.yaml").read_text().replace(
        encoded, base64.b64encode(b"rotated").decode()))

    run_now(config)

    with connection.cursor() as cur:
        for table in ("catalog_configitem", "catalog_configchange", "portal_event",
                      "catalog_scrapelogline"):
            cur.execute(f"SELECT count(*) FROM {table} t WHERE t::text LIKE %s "  # noqa: S608
                        f"OR t::text LIKE %s", [f"%{canary}%", f"%{encoded}%"])
            assert cur.fetchone()[0] == 0, table
    assert ConfigChange.objects.get(config=secret, change_type="diff").summary == "data.password"


def test_changed_tags_without_config_change_update_the_item_without_a_diff(folder):
    config = file_scraper(folder)
    run_now(config)
    config.spec["file"][0]["tags"] = {"environment": "staging"}
    config.save()

    run = run_now(config)

    assert run.status == "succeeded" and run.updated == 7 and run.changes == 0
    assert ConfigItem.objects.get(type="Kubernetes::Pod").tags["environment"] == "staging"
