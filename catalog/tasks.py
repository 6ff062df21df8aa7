"""Thin Celery tasks: only ids travel; the rows are the truth, so redelivery is harmless.

Queues come from CELERY_TASK_ROUTES: `scrape` for scrapes, `default` for the short jobs.
"""

from celery import shared_task

from catalog import scraping


@shared_task(acks_late=True, soft_time_limit=1800, time_limit=1860)
def scrape(run_id: str) -> None:
    scraping.execute(run_id)


@shared_task(soft_time_limit=60, time_limit=90)
def dispatch_due_scrapes() -> None:
    scraping.dispatch_due()


@shared_task(soft_time_limit=600, time_limit=660)
def reassess_clock_health() -> None:
    from catalog.reassess import reassess

    reassess()
