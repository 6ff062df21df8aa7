"""The Kubernetes watcher: LIST then WATCH per kind, writing through its own DB connection."""

import base64
import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.conf import settings

from catalog.models import ConfigChange, ConfigItem, ConfigRelationship, ScrapeConfig
from catalog.watcher import ClusterWatch, KindStream, Watcher
from tests.catalog import test_kubernetes_scraper
from tests.catalog.scrape_helpers import run_now
from tests.catalog.test_kubernetes_scraper import (
    Cluster,
    app,
    edges,
    event,
    kube_scraper,
    live,
    pod,
    tables_containing,
)
from tests.conftest import ROOT, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
cluster = test_kubernetes_scraper.cluster  # the emulator fixture, shared


@contextmanager
def watching(config: ScrapeConfig) -> Iterator[ClusterWatch]:
    """A running ClusterWatch whose every kind has finished its first LIST."""
    watch = ClusterWatch(config, 0, config.spec["kubernetes"][0])
    watch.start()
    try:
        assert watch.ready.wait(15), "the watch never connected"
        wait_for(lambda: all(s.stats.lists for s in watch.streams), 15, message="first lists")
        yield watch
    finally:
        watch.stop()
        assert not watch.alive


def stream_of(watch: ClusterWatch, kind: str) -> KindStream:
    return next(s for s in watch.streams if s.resource.kind == kind)


def test_watch_events_reach_the_database(cluster: Cluster) -> None:
    config = kube_scraper(cluster)
    with watching(config):
        made = cluster.emu.create(pod("api-1", "shop"))
        item = wait_for(lambda: live("Kubernetes::Pod", name="api-1").first(),
                        message="ADDED pod")
        assert str(item.id) == made["metadata"]["uid"]
        assert item.scraper_id == config.pk and item.tags["cluster"] == "test-1"

        cluster.emu.patch("v1", "Pod", "shop", "api-1", {"metadata": {"labels": {"v": "2"}}})
        wait_for(lambda: live("Kubernetes::Pod", name="api-1", labels__v="2").exists(),
                 message="MODIFIED pod")
        assert ConfigChange.objects.filter(config_id=item.id, change_type="diff").exists()

        cluster.emu.delete("v1", "Pod", "shop", "api-1")
        gone = wait_for(lambda: ConfigItem.objects.filter(
            name="api-1", deleted_at__isnull=False).first(), message="DELETED pod")
        assert gone.delete_reason == "source_deleted"


def test_a_watch_never_stale_deletes(cluster: Cluster) -> None:
    cluster.emu.create(pod("old", "shop"))
    config = kube_scraper(cluster)
    run_now(config)
    cluster.emu.delete("v1", "Pod", "shop", "old")  # while nobody watches: no DELETED seen

    with watching(config) as watch:
        cluster.emu.create(pod("new", "shop"))
        wait_for(lambda: live("Kubernetes::Pod", name="new").exists(), message="new pod")
        assert watch.batches >= 1

    assert live("Kubernetes::Pod", name="old").exists()
    run_now(config)  # only a complete full scrape removes it
    assert not live("Kubernetes::Pod", name="old").exists()


def test_a_deleted_object_loses_its_relationships(cluster: Cluster) -> None:
    made = app(cluster.emu, pods=2)
    config = kube_scraper(cluster)
    run_now(config)
    assert ("node-1", "api-7d9f-1", "NodePod") in edges()

    with watching(config):
        cluster.emu.delete("v1", "Pod", "shop", made["pods"][1]["metadata"]["name"])
        wait_for(lambda: not live("Kubernetes::Pod", name="api-7d9f-1").exists(),
                 message="pod deleted")

    assert not any("api-7d9f-1" in edge for edge in edges())
    assert ConfigRelationship.objects.filter(related__name="api-7d9f-1",
                                             deleted_at__isnull=False).count() == 3
    assert ("api-7d9f", "api-7d9f-0", "ReplicaSetPod") in edges()


def test_a_watched_pod_gets_its_relationships(cluster: Cluster) -> None:
    made = app(cluster.emu)
    config = kube_scraper(cluster)
    run_now(config)

    with watching(config):
        cluster.emu.create(pod("api-7d9f-new", "shop", owner=made["replicaset"]))
        wait_for(lambda: {("api-7d9f", "api-7d9f-new", "ReplicaSetPod"),
                          ("node-1", "api-7d9f-new", "NodePod"),
                          ("api-7d9f-new", "api-env", "PodConfigMap")} <= edges(),
                 message="edges of the new pod")


def test_410_gone_relists(cluster: Cluster) -> None:
    fault = cluster.emu.faults.add(method="GET", path_regex=r"^/api/v1/pods$", watch=True,
                                   gone=True, times=1)
    config = kube_scraper(cluster)
    with watching(config) as watch:
        cluster.emu.create(pod("after-gone", "shop"))
        wait_for(lambda: live("Kubernetes::Pod", name="after-gone").exists(),
                 message="pod after 410")
        pods = stream_of(watch, "Pod")
        assert fault.hits == 1
        assert pods.stats.relists == 1 and pods.stats.lists == 2


def test_an_outage_past_compaction_relists(cluster: Cluster) -> None:
    cluster.emu.create(pod("before", "shop"))  # so the list's resourceVersion is not "0"
    config = kube_scraper(cluster)
    with watching(config) as watch:
        pods = stream_of(watch, "Pod")
        outage = cluster.emu.faults.add(method="GET", path_regex=r"^/api/v1/pods$", watch=True,
                                        status=500)
        pods.stop()  # the stream drops and cannot come back while the outage lasts
        wait_for(lambda: outage.hits >= 1, message="a failed resume")
        cluster.emu.create(pod("during-outage", "shop"))
        cluster.emu.compact()  # the resourceVersion the stream holds is now too old
        cluster.emu.faults.remove(outage)
        wait_for(lambda: live("Kubernetes::Pod", name="during-outage").exists(),
                 message="pod created during the outage")
        assert pods.stats.relists >= 1


def test_a_dropped_watch_resumes(cluster: Cluster) -> None:
    fault = cluster.emu.faults.add(method="GET", path_regex=r"^/api/v1/pods$", watch=True,
                                   drop_after=1, abort=True, times=1)
    config = kube_scraper(cluster)
    with watching(config) as watch:
        cluster.emu.create(pod("first", "shop"))
        wait_for(lambda: live("Kubernetes::Pod", name="first").exists(), message="first")
        cluster.emu.create(pod("second", "shop"))
        wait_for(lambda: live("Kubernetes::Pod", name="second").exists(), message="second")
        pods = stream_of(watch, "Pod")
        assert fault.hits == 1
        assert pods.stats.watches >= 2 and pods.stats.relists == 0


def test_a_failing_watch_backs_off_and_recovers(cluster: Cluster) -> None:
    fault = cluster.emu.faults.add(method="GET", path_regex=r"^/api/v1/pods$", watch=True,
                                   status=500, times=3)
    config = kube_scraper(cluster)
    with watching(config) as watch:
        cluster.emu.create(pod("late", "shop"))
        wait_for(lambda: live("Kubernetes::Pod", name="late").exists(), message="late pod")
        assert fault.hits == 3
        assert len(stream_of(watch, "Pod").stats.errors) == 3


def test_events_seen_by_the_watch_become_changes(cluster: Cluster) -> None:
    made = app(cluster.emu)
    config = kube_scraper(cluster, events={"severity": {"high": ["BackOff"]}})
    run_now(config)
    with watching(config):
        the_pod = made["pods"][0]
        created = cluster.emu.create(event(the_pod, "api.1", count=2))
        change = wait_for(lambda: ConfigChange.objects.filter(change_type="BackOff").first(),
                          message="event change")
        assert (change.severity, change.count) == ("high", 2)
        assert change.external_change_id == created["metadata"]["uid"]

        cluster.emu.patch("v1", "Event", "shop", "api.1", {"count": 4})
        wait_for(lambda: ConfigChange.objects.filter(change_type="BackOff", count=4).exists(),
                 message="event count update")
        assert ConfigChange.objects.filter(change_type="BackOff").count() == 1


def test_an_event_refetches_an_unwatched_object(cluster: Cluster) -> None:
    made = app(cluster.emu)
    config = kube_scraper(cluster)
    run_now(config)
    with watching(config):
        changed = cluster.emu.patch("v1", "ConfigMap", "shop", "api-env",
                                    {"data": {"LOG_LEVEL": "debug"}})
        cluster.emu.create(event(changed, "cm.1", reason="Updated", type_="Normal",
                                 message="config changed"))
        wait_for(lambda: live("Kubernetes::ConfigMap", name="api-env",
                              config__data__LOG_LEVEL="debug").exists(),
                 message="refetched ConfigMap")
    assert made["configmap"]["metadata"]["uid"] == str(
        live("Kubernetes::ConfigMap").get().id)


def test_secrets_from_a_watch_are_masked(cluster: Cluster) -> None:
    canary = secrets.token_hex(16)
    encoded = base64.b64encode(canary.encode()).decode()
    config = kube_scraper(cluster, watch=[{"apiVersion": "v1", "kind": "Secret"}])
    with watching(config):
        cluster.emu.create({"apiVersion": "v1", "kind": "Secret",
                            "metadata": {"name": "db", "namespace": "shop"},
                            "data": {"password": encoded}})
        secret = wait_for(lambda: live("Kubernetes::Secret", name="db").first(),
                          message="secret")
    assert list(secret.config["data"]) == ["password"]
    assert tables_containing(canary) == [] and tables_containing(encoded) == []


def test_a_stream_of_new_pods_all_arrive(cluster: Cluster) -> None:
    # Lag is measured by `make bench` (W4), never asserted by a clock in the test suite.
    config = kube_scraper(cluster)
    with watching(config):
        for i in range(20):
            cluster.emu.create(pod(f"lag-{i}", "shop"))
        wait_for(lambda: live("Kubernetes::Pod", name__startswith="lag-").count() == 20,
                 interval=0.01, message="all 20 pods")
    assert live("Kubernetes::Pod", name__startswith="lag-").count() == 20


def test_the_watcher_follows_scrape_configs_and_stops(cluster: Cluster) -> None:
    stop = threading.Event()
    watcher = Watcher(stop, refresh=0.1)
    thread = threading.Thread(target=watcher.run)
    thread.start()
    try:
        config = kube_scraper(cluster)
        wait_for(lambda: len(watcher.watches) == 1, message="watch started")
        cluster.emu.create(pod("seen", "shop"))
        wait_for(lambda: live("Kubernetes::Pod", name="seen").exists(), message="pod")

        ScrapeConfig.objects.filter(pk=config.pk).update(paused=True)
        wait_for(lambda: not watcher.watches, message="watch stopped for a paused scraper")
    finally:
        stop.set()
        thread.join(15)
    assert not thread.is_alive()


def test_run_watcher_stops_cleanly_on_sigterm(cluster: Cluster) -> None:
    kube_scraper(cluster)
    db = settings.DATABASES["default"]
    url = (f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
           f"{db['NAME']}")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "run_watcher", "--refresh", "0.2"],
        cwd=ROOT, env={**os.environ, "DATABASE_URL": url},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        cluster.emu.create(pod("from-subprocess", "shop"))
        # Generous: a cold Django start is slow on a loaded machine.
        wait_for(lambda: live("Kubernetes::Pod", name="from-subprocess").exists(), timeout=90,
                 message="pod written by the watcher process")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
