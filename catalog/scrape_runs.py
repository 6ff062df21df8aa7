"""Scrape runs as a kind of run for portal/runs.py: claimed, leased, reaped like every long job."""

from typing import Any

from django.db.models import F

from catalog.models import ScrapeLogLine, ScrapeRun
from portal import outbox, runs


def _lost(run_id: Any, message: str) -> None:
    """A reaped scrape counts as failed on its page and in the outbox, like any other failure."""
    ScrapeRun.objects.filter(pk=run_id).update(
        errors=F("errors") + 1,
        error_list=[{"scraper": "", "message": message, "item": ""}],
    )
    run = ScrapeRun.objects.only("agent_id").get(pk=run_id)
    outbox.emit("scrape.failed", "scrape_run", run_id, agent_id=run.agent_id,
                payload={"scrape_run_id": str(run_id), "errors": 1, "reason": message})


# Ingest is idempotent (content hashes, guarded merges), so a scrape whose worker died is
# simply run again once before it is failed.
SCRAPE_RUNS = runs.RunKind(name="scrape", model=ScrapeRun, log_model=ScrapeLogLine,
                           task="catalog.tasks.scrape", max_attempts=2, on_lost=_lost)


def register() -> None:
    runs.register(SCRAPE_RUNS)
