"""The run machinery (portal/runs.py) with real workers: claims, heartbeats, fencing, the reaper."""

import os
import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone

from catalog import scraping
from catalog.models import ConfigItem, ScrapeConfig, ScrapeRun
from catalog.scrape_runs import SCRAPE_RUNS
from portal import runs
from portal.celery import app
from portal.models import Event
from tests.catalog.test_kubernetes_scraper import Cluster, kube_scraper
from tests.conftest import start_worker, stop_worker, wait_for
from tests.kube_emulator import running_emulator

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: leased, namespace: ops}\n"


@pytest.fixture
def config(manifests, transactional_db) -> ScrapeConfig:
    folder = manifests("cm.yaml", CM).parent
    return ScrapeConfig.objects.create(namespace="ops", name="leased",
                                       spec={"file": [{"base": str(folder)}]})


def expire(run_id) -> None:
    ScrapeRun.objects.filter(pk=run_id).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1))


def lines(run_id) -> list[str]:
    return list(ScrapeRun.objects.get(pk=run_id).log_lines.values_list("line", flat=True))


def test_a_queued_run_is_claimed_once_with_a_fresh_token(config):
    run = scraping.enqueue(config, send=False)

    first = runs.claim(SCRAPE_RUNS, run.pk)
    second = runs.claim(SCRAPE_RUNS, run.pk)

    assert first is not None and second is None
    run.refresh_from_db()
    assert (run.status, run.attempt, run.lease_token) == ("running", 1, first.token)
    assert run.lease_expires_at > timezone.now() + timedelta(seconds=20)


def test_the_heartbeat_renews_the_lease_while_the_work_makes_no_progress(config, settings):
    settings.FLIGHTDECK_RUN_LEASE_SECONDS = 2
    settings.FLIGHTDECK_RUN_HEARTBEAT_SECONDS = 1
    run = scraping.enqueue(config, send=False)
    lease = runs.claim(SCRAPE_RUNS, run.pk)
    claimed_until = ScrapeRun.objects.get(pk=run.pk).lease_expires_at

    with lease:
        # Nothing happens on this thread: only the heartbeat keeps the lease beyond its claim.
        renewed = wait_for(
            lambda: ScrapeRun.objects.filter(pk=run.pk,
                                             lease_expires_at__gt=claimed_until + timedelta(
                                                 seconds=1.5)).first(),
            timeout=10, message="the heartbeat to renew the lease")
        reaped = runs.reap(now=claimed_until + timedelta(seconds=1))

    assert renewed.heartbeat_at > renewed.started_at
    assert (reaped.requeued, reaped.failed) == (0, 0)
    assert ScrapeRun.objects.get(pk=run.pk).status == "running"


def test_a_reaped_run_is_never_revived_by_its_old_holder(config):
    run = scraping.enqueue(config, send=False)
    old = runs.claim(SCRAPE_RUNS, run.pk)
    expire(run.pk)

    reaped = runs.reap()
    assert reaped.requeued == 1
    new = runs.claim(SCRAPE_RUNS, run.pk)
    assert new is not None

    with pytest.raises(runs.LeaseLost):
        old.update(status="succeeded", created=99)
    with pytest.raises(runs.LeaseLost):
        old.log("done by the old worker")
    with pytest.raises(runs.LeaseLost), transaction.atomic():
        old.hold()
    row = ScrapeRun.objects.get(pk=run.pk)
    assert (row.status, row.created, row.attempt, row.lease_token) == ("running", 0, 2, new.token)
    assert "done by the old worker" not in lines(run.pk)
    assert any("expired: queued again (attempt 1 of 2)" in line for line in lines(run.pk))

    new.update(status="succeeded")
    assert ScrapeRun.objects.get(pk=run.pk).status == "succeeded"


def test_a_worker_that_lost_its_scrape_writes_nothing(config):
    run = scraping.enqueue(config, send=False)
    lease = runs.claim(SCRAPE_RUNS, run.pk)
    expire(run.pk)
    runs.reap()
    runs.claim(SCRAPE_RUNS, run.pk)

    with pytest.raises(runs.LeaseLost):
        scraping._scrape(lease, None, None)

    assert not ConfigItem.objects.filter(name="leased").exists()
    assert ScrapeRun.objects.get(pk=run.pk).status == "running"


def test_after_the_last_attempt_the_reaper_fails_the_run(config):
    run = scraping.enqueue(config, send=False)
    for _ in range(SCRAPE_RUNS.max_attempts):
        assert runs.claim(SCRAPE_RUNS, run.pk) is not None
        expire(run.pk)
        runs.reap()

    row = ScrapeRun.objects.get(pk=run.pk)
    assert (row.status, row.errors, row.attempt) == ("failed", 1, 2)
    assert row.error_list[0]["message"].startswith("worker lost: lease of ")
    assert lines(run.pk)[-1].startswith("worker lost: lease of ")
    event = Event.objects.get(name="scrape.failed", object_id=run.pk)
    assert event.payload["reason"].startswith("worker lost")


def test_a_queued_run_whose_message_was_lost_is_sent_again(config, celery_worker_process):
    run = scraping.enqueue(config, send=False)  # as if Redis lost the message
    ScrapeRun.objects.filter(pk=run.pk).update(queued_at=timezone.now() - timedelta(hours=1))

    assert runs.reap().redelivered == 1

    done = wait_for(lambda: ScrapeRun.objects.filter(pk=run.pk, status="succeeded").first(),
                    message="the worker to run the resent scrape")
    assert done.created == 2


def test_each_workload_has_its_own_queue(settings):
    def queue(task: str) -> str:
        return app.amqp.router.route({}, task)["queue"].name

    assert queue("catalog.tasks.scrape") == "scrape"
    assert queue("catalog.tasks.dispatch_due_scrapes") == "default"
    assert queue("portal.tasks.reap_runs") == "default"
    assert queue("catalog.tasks.reassess_clock_health") == "default"
    schedule = {e["task"]: e["schedule"] for e in settings.CELERY_BEAT_SCHEDULE.values()}
    # A dead worker's run is taken back within lease + reaper interval: under a minute.
    assert settings.FLIGHTDECK_RUN_LEASE_SECONDS + schedule["portal.tasks.reap_runs"] <= 60


@pytest.mark.django_db(transaction=True)
def test_kill_9_of_a_worker_mid_scrape_is_retried_by_the_reaper(tmp_path: Path,
                                                                  celery_worker_process):
    """A worker stuck in a slow LIST keeps its lease; killed, its run is retried within 60 s."""
    with running_emulator() as emu:
        cluster = Cluster(emu, emu.write_kubeconfig(tmp_path / "kubeconfig", "emulator"))
        config = kube_scraper(cluster, name="slow-cluster")
        stuck = emu.faults.add(method="GET", path_regex=r"^/api/v1/[a-z]+$", delay=45)
        run = scraping.enqueue(config, send=False)
        doomed = start_worker("doomed", FLIGHTDECK_RUN_LEASE_SECONDS="3",
                              FLIGHTDECK_RUN_HEARTBEAT_SECONDS="1")
        try:
            app.send_task("catalog.tasks.scrape", args=[str(run.pk)], queue="doomed")
            claimed = wait_for(lambda: ScrapeRun.objects.filter(pk=run.pk, status="running")
                               .first(), message="the doomed worker to claim the run")
            # Stuck in one LIST, yet renewed past its 3 s lease by the heartbeat thread.
            wait_for(lambda: stuck.hits and ScrapeRun.objects.filter(
                pk=run.pk, heartbeat_at__gt=claimed.started_at + timedelta(seconds=4)).exists(),
                timeout=30, message="heartbeats while the LIST hangs")
            assert ScrapeRun.objects.get(pk=run.pk).status == "running"

            os.killpg(doomed.pid, signal.SIGKILL)
            killed = time.monotonic()
        finally:
            stop_worker(doomed)
        emu.faults.remove(stuck)

        def taken_back() -> bool:
            runs.reap()  # what beat does every FLIGHTDECK_RUN_REAPER_SECONDS
            return ScrapeRun.objects.get(pk=run.pk).status != "running" or \
                ScrapeRun.objects.get(pk=run.pk).worker_id != claimed.worker_id
        wait_for(taken_back, timeout=60, interval=0.5, message="the reaper to take the run back")
        recovery = time.monotonic() - killed

        done = wait_for(lambda: ScrapeRun.objects.filter(pk=run.pk, status__in=ScrapeRun.TERMINAL)
                        .first(), timeout=60, message="the healthy worker to finish the retry")

    assert recovery <= 60
    assert (done.status, done.attempt) == ("succeeded", 2)
    assert done.worker_id != claimed.worker_id
    log = lines(run.pk)
    assert any(f"lease of {claimed.lease_holder} expired" in line for line in log)
    assert log[-1].startswith("succeeded")


def test_run_log_lines_never_store_a_resolved_secret(config):
    from connections.redact import REDACTOR

    secret = "s3cr3t-" + "q" * 20
    REDACTOR.add(secret)
    run = scraping.enqueue(config, send=False)
    lease = runs.claim(SCRAPE_RUNS, run.pk)

    lease.log(f"clone failed: https://bot:{secret}@git.example.com/infra.git")

    stored = lines(run.pk)[-1]
    assert stored.startswith("clone failed: https://bot:")
    assert "git.example.com/infra.git" in stored
    assert secret not in stored
