"""Cross-cutting Celery tasks; like every task here, a thin call into a domain module."""

from celery import shared_task

from portal import outbox, runs


@shared_task(soft_time_limit=60, time_limit=90)
def reap_runs() -> None:
    runs.reap()


@shared_task(soft_time_limit=600, time_limit=660)
def prune_events() -> None:
    outbox.prune()
