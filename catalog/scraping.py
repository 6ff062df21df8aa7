"""Scrape runs: enqueue a row, claim it through portal/runs.py, run the scrapers through ingest."""

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog import specs
from catalog.health import Rule
from catalog.ingest import Ingestor, StaleDeleteRefused
from catalog.models import HealthRule, ScrapeConfig, ScrapeRun
from catalog.schedule import next_run
from catalog.scrape_runs import SCRAPE_RUNS
from catalog.scrapers import REGISTRY
from catalog.scrapers.base import Problem, ScrapeContext, ScrapedItem
from portal import outbox, runs

log = logging.getLogger("flightdeck.scrape")

MAX_ERRORS_KEPT = 100
# A progress line at most this often, so a long scrape shows it is alive without flooding.
PROGRESS_SECONDS = 20


class AlreadyRunning(Exception):
    """A live run of this ScrapeConfig exists; runs never overlap."""

    def __init__(self, run: ScrapeRun) -> None:
        super().__init__(f"scrape {run.scrape_config} is already {run.status} (run {run.id})")
        self.run = run


def enqueue(config: ScrapeConfig, trigger: str = ScrapeRun.Trigger.MANUAL,
            send: bool = True) -> ScrapeRun:
    """Creates the run row; the Celery message (the id only) is sent after commit."""
    try:
        with transaction.atomic():
            run = ScrapeRun.objects.create(scrape_config=config, agent_id=config.agent_id,
                                           trigger=trigger)
    except IntegrityError:
        live = ScrapeRun.objects.filter(scrape_config=config,
                                        status__in=["queued", "running"]).first()
        if live is None:  # finished between our insert and this read: try once more
            return enqueue(config, trigger, send)
        raise AlreadyRunning(live) from None
    if send:
        runs.dispatch(SCRAPE_RUNS, run.pk)
    return run


class RunLog:
    """Fenced log lines of the run, optionally echoed to a terminal (manage.py scrape)."""

    def __init__(self, lease: runs.Lease, echo: Callable[[str], None] | None = None) -> None:
        self.lease = lease
        self.echo = echo

    def __call__(self, line: str, level: str = "info") -> None:
        self.lease.log(line, level)
        if self.echo:
            self.echo(line)


def rules_for(config: ScrapeConfig | None) -> list[Rule]:
    """Scraper-scoped rules first, then global ones, each list in `order`."""
    scoped = (HealthRule.objects.filter(enabled=True, scraper=config).order_by("order")
              if config is not None else [])
    rows = list(scoped) + list(
        HealthRule.objects.filter(enabled=True, scope=HealthRule.Scope.GLOBAL).order_by("order")
    )
    inline = [
        Rule(types=tuple(group.get("types") or ()), when=r["when"], health=r.get("health", ""),
             status=r.get("status", ""), ready=r.get("ready", ""), message=r.get("message", ""))
        for group in (config.spec.get("health") if config is not None else None) or []
        for r in group.get("rules") or []
    ]
    return inline + [
        Rule(types=tuple(r.types), when=r.when, health=r.health, status=r.status, ready=r.ready,
             message=r.message) for r in rows
    ]


def scraped(config: ScrapeConfig, ctx: ScrapeContext) -> Iterator[ScrapedItem | Problem]:
    """Every entry of every scraper list in the spec, in order."""
    for kind, scraper in REGISTRY.items():
        for index, entry in enumerate(config.spec.get(kind) or []):
            try:
                yield from scraper.scrape(entry, index, ctx)
            except Exception as exc:  # one broken scraper entry must not stop the others
                log.exception("scraper crashed", extra={"scraper": f"{kind}[{index}]"})
                ctx.incomplete()
                yield Problem(f"{kind}[{index}]", f"scraper failed: {exc.__class__.__name__}: "
                              f"{exc}")


def execute(run_id: uuid.UUID | str, progress: Callable[[int], None] | None = None,
            echo: Callable[[str], None] | None = None) -> ScrapeRun | None:
    """Runs a queued scrape to its end; returns None when another worker already has it.

    Raises LeaseLost when the reaper took the run meanwhile: nothing more is written then.
    """
    lease = runs.claim(SCRAPE_RUNS, run_id)
    if lease is None:
        return None
    with lease:
        return _scrape(lease, progress, echo)


def _scrape(lease: runs.Lease, progress: Callable[[int], None] | None,
            echo: Callable[[str], None] | None) -> ScrapeRun:
    run = ScrapeRun.objects.select_related("scrape_config").get(pk=lease.run_id)
    config = run.scrape_config
    started = time.monotonic()
    say = RunLog(lease, echo)
    say(f"scrape {config.namespace}/{config.name} started ({run.trigger}, attempt {run.attempt})")
    errors: list[dict[str, str]] = []
    status = ScrapeRun.Status.SUCCEEDED
    stats = None
    ingestor = None
    try:
        retention = specs.retention(config.spec)
        ctx = ScrapeContext(
            scraper_key=f"{config.namespace}/{config.name}", spec=config.spec,
            agent_id=config.agent_id, max_document_bytes=settings.FLIGHTDECK_MAX_DOCUMENT_BYTES,
        )
        # Every ingest transaction first proves the lease is still ours (fencing).
        ingestor = Ingestor(scraper_id=config.id, agent_id=config.agent_id,
                            rules=rules_for(config), guard=lease.hold)
        last_progress = time.monotonic()
        count = 0
        for produced in scraped(config, ctx):
            lease.check()
            if isinstance(produced, Problem):
                entry = {"scraper": produced.scraper, "message": produced.message,
                         "item": produced.item}
                if produced.level == "error":
                    errors.append(entry)
                say(f"{produced.level}: {produced.scraper} {produced.item}: {produced.message}",
                    "error" if produced.level == "error" else "warning")
                continue
            ingestor.change_author = ctx.change_author
            ingestor.add(produced)
            count += 1
            if progress:
                progress(count)
            if time.monotonic() - last_progress > PROGRESS_SECONDS:
                last_progress = time.monotonic()
                say(f"{count} items so far")
        # Any error may hide items that still exist (an unparsable file): delete nothing then.
        complete = ctx.complete and not errors
        stats = ingestor.finish(complete=complete, stale_age=retention.stale_item_age,
                                max_delete_percent=retention.max_delete_percent)
        errors += [{"scraper": "health", "message": e, "item": ""}
                   for e in ingestor.rule_errors[:MAX_ERRORS_KEPT]]
        if errors:
            status = ScrapeRun.Status.PARTIAL
        if not complete:
            say("scrape incomplete: nothing was marked deleted", "warning")
    except runs.LeaseLost:
        log.warning("scrape lease lost; stopping without writing", extra={"run_id": str(run.pk)})
        raise
    except StaleDeleteRefused as exc:
        status = ScrapeRun.Status.FAILED
        errors.append({"scraper": "retention", "message": str(exc), "item": ""})
        say(f"error: {exc}", "error")
        stats = ingestor.stats if ingestor is not None else None
    except Exception as exc:  # the run row must end in a final state whatever happened
        log.exception("scrape failed", extra={"run_id": str(run.pk)})
        status = ScrapeRun.Status.FAILED
        errors.append({"scraper": "", "message": f"{exc.__class__.__name__}: {exc}", "item": ""})
        say(f"error: {exc.__class__.__name__}: {exc}", "error")
    return _finish(lease, run, status, stats, errors, started, say)


def _finish(lease: runs.Lease, run: ScrapeRun, status: str, stats: Any,
            errors: list[dict[str, str]], started: float, say: RunLog) -> ScrapeRun:
    from connections.redact import REDACTOR

    counters = stats.as_dict() if stats is not None else {}
    # Error messages may quote a value a scraper resolved from a secret.
    errors = REDACTOR.mask_data(errors)
    duration_ms = int((time.monotonic() - started) * 1000)
    with transaction.atomic():
        lease.hold()
        ScrapeRun.objects.filter(pk=run.pk).update(
            status=status, finished_at=timezone.now(), duration_ms=duration_ms,
            lease_expires_at=None, errors=len(errors), error_list=errors[:MAX_ERRORS_KEPT],
            created=counters.get("created", 0), updated=counters.get("updated", 0),
            unchanged=counters.get("unchanged", 0), deleted=counters.get("deleted", 0),
            undeleted=counters.get("undeleted", 0), changes=counters.get("changes", 0),
            changes_deduped=counters.get("changes_deduped", 0),
            per_type=counters.get("per_type", {}),
        )
        ScrapeConfig.objects.filter(pk=run.scrape_config_id).update(last_run=run.pk)
        if status in (ScrapeRun.Status.FAILED, ScrapeRun.Status.PARTIAL):
            outbox.emit("scrape.failed", "scrape_run", run.pk, agent_id=run.agent_id,
                        payload={"scrape_run_id": str(run.pk), "errors": len(errors)})
        run.refresh_from_db()
        # The lease ended with the final status: this line is the run's last word.
        runs.append_log(SCRAPE_RUNS, run.pk, summary(run))
    if say.echo:
        say.echo(summary(run))
    return run


def summary(run: ScrapeRun) -> str:
    return (f"{run.status}: {run.created} created, {run.updated} updated, {run.unchanged} "
            f"unchanged, {run.deleted} deleted, {run.changes} changes, {run.errors} errors "
            f"in {run.duration_ms or 0} ms")


def dispatch_due(now: Any = None) -> list[ScrapeRun]:
    """Beat calls this every 30 s: enqueue every live, unpaused ScrapeConfig that is due."""
    now = now or timezone.now()
    created: list[ScrapeRun] = []
    due = ScrapeConfig.objects.filter(deleted_at__isnull=True, paused=False).filter(
        next_run_at__isnull=True) | ScrapeConfig.objects.filter(
        deleted_at__isnull=True, paused=False, next_run_at__lte=now)
    for config in due:
        ScrapeConfig.objects.filter(pk=config.pk).update(
            next_run_at=next_run(config.schedule, now))
        try:
            created.append(enqueue(config, ScrapeRun.Trigger.SCHEDULE))
        except AlreadyRunning:
            continue
    return created
