"""Scheduling through a real Redis broker and a real Celery worker; runs never overlap."""

import pytest
from django.utils import timezone

from catalog import scraping
from catalog.models import ConfigItem, ScrapeConfig, ScrapeRun
from tests.conftest import wait_for

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: scheduled, namespace: ops}\n"


@pytest.fixture
def config(manifests, transactional_db):
    folder = manifests("cm.yaml", CM).parent
    return ScrapeConfig.objects.create(namespace="ops", name="sched", schedule="@every 1h",
                                       spec={"file": [{"base": str(folder)}]})


@pytest.mark.django_db(transaction=True)
def test_run_now_through_the_api_is_executed_by_the_worker(celery_worker_process, config, client,
                                                            root):
    client.force_login(root)

    response = client.post(f"/api/v1/scrape-configs/{config.pk}/run/")

    assert response.status_code == 202
    run_id = response.json()["id"]
    run = wait_for(lambda: ScrapeRun.objects.filter(pk=run_id, status="succeeded").first(),
                   message="the worker to finish the run")
    assert run.created == 2  # the ConfigMap and its cluster
    assert ConfigItem.objects.filter(name="scheduled").exists()
    assert run.log_lines.filter(line__startswith="succeeded").exists()


@pytest.mark.django_db(transaction=True)
def test_beat_dispatch_enqueues_due_scrapers_once(celery_worker_process, config):
    first = scraping.dispatch_due()
    again = scraping.dispatch_due()

    assert [r.scrape_config_id for r in first] == [config.pk]
    assert again == []
    config.refresh_from_db()
    assert config.next_run_at > timezone.now() + timezone.timedelta(minutes=59)
    wait_for(lambda: ScrapeRun.objects.filter(pk=first[0].pk, status="succeeded").exists(),
             message="the scheduled run to finish")


@pytest.mark.django_db(transaction=True)
def test_two_runs_of_one_scraper_never_overlap(config):
    first = scraping.enqueue(config, send=False)

    with pytest.raises(scraping.AlreadyRunning) as caught:
        scraping.enqueue(config, send=False)

    assert caught.value.run.pk == first.pk
    assert scraping.execute(first.pk).status == "succeeded"
    assert scraping.execute(first.pk) is None  # a redelivered message finds nothing to claim
    scraping.enqueue(config, send=False)
