"""Verdicts that depend on the clock (restart windows, certificate expiry, CronJob schedules)
are re-derived periodically, without waiting for the next scrape."""

import logging
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from catalog.health import Health, apply_rules, assess
from catalog.health.assess import CLOCK_TYPES
from catalog.ingest import ChangeInput, Ingestor, health_transition
from catalog.models import ConfigItem, ScrapeConfig
from catalog.scraping import rules_for

log = logging.getLogger("flightdeck.health")

BATCH = 1000


def reassess(types: frozenset[str] | None = CLOCK_TYPES, now: datetime | None = None) -> int:
    """Returns how many items changed verdict; `types=None` re-derives every live item."""
    now = now or timezone.now()
    changed = 0
    scrapers: dict[object, list] = {}
    items = ConfigItem.objects.filter(deleted_at__isnull=True, config_truncated=False)
    if types is not None:
        items = items.filter(type__in=sorted(types))
    batch: list[ConfigItem] = []
    for item in items.only("id", "type", "name", "namespace", "labels", "tags", "properties",
                           "created_at", "config", "health", "status", "ready", "message",
                           "scraper_id", "agent_id").iterator(chunk_size=BATCH):
        batch.append(item)
        if len(batch) >= BATCH:
            changed += _apply(batch, scrapers, now)
            batch = []
    if batch:
        changed += _apply(batch, scrapers, now)
    return changed


def _rules(scraper_id: object, cache: dict[object, list]) -> list:
    if scraper_id not in cache:
        config = ScrapeConfig.objects.filter(pk=scraper_id).first() if scraper_id else None
        cache[scraper_id] = rules_for(config)
    return cache[scraper_id]


def _apply(batch: list[ConfigItem], cache: dict[object, list], now: datetime) -> int:
    updates: list[tuple] = []
    by_agent: dict[object, list[ChangeInput]] = {}
    events: dict[object, list] = {}
    for item in batch:
        try:
            verdict = assess(item.config or {}, item.type, now=now)
        except Exception:  # one broken document must not stop the sweep
            log.exception("reassess failed", extra={"item": str(item.pk)})
            continue
        rules = _rules(item.scraper_id, cache)
        if rules:
            verdict, _ = apply_rules(verdict, item.config or {}, {
                "type": item.type, "name": item.name, "namespace": item.namespace,
                "labels": item.labels, "tags": item.tags, "properties": item.properties,
                "created_at": item.created_at}, rules, now)
        stored = Health(item.health, item.status, item.ready, item.message)
        if verdict == stored:
            continue
        updates.append((verdict.health, verdict.status[:100], verdict.ready, verdict.message,
                        verdict.health != item.health, item.pk))
        if verdict.health != item.health:
            change, event = health_transition(item.pk, item.type, stored, verdict)
            by_agent.setdefault(item.agent_id, []).append(change)
            events.setdefault(item.agent_id, []).append(event)
    if not updates:
        return 0
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.executemany(
                "UPDATE catalog_configitem SET health = %s, status = %s, ready = %s, "
                "message = %s, updated_at = CASE WHEN %s THEN now() ELSE updated_at END "
                "WHERE id = %s", updates)
        for agent_id, changes in by_agent.items():
            ingestor = Ingestor(agent_id=agent_id, now=now)
            emitted = list(events.get(agent_id, []))
            ingestor.record_changes(changes, emit=emitted)
            ingestor.emit(emitted)
    return len(updates)
