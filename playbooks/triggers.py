"""Non-manual triggers: outbox events (`on.events`) and cron schedules (`on.schedule`).

Both only write run rows through execution.start, keyed so a repeat is harmless: an event
redelivered by the dispatcher, or a schedule slot seen by two beat ticks, starts one run.
Runs started here act as no person (created_by is empty); the trigger and the event are
recorded on the run instead. One playbook's bad filter, template or parameter is logged and
skipped so it never stops the others.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter
from django.db import DatabaseError, transaction
from django.utils import timezone

from playbooks import execution
from playbooks.models import Playbook, PlaybookRun, ScheduleState
from playbooks.spec import EVENT_FILTER_DECLARATIONS, selector_query
from portal import expressions, outbox, templating
from portal.errors import FlightdeckError
from portal.models import Event

log = logging.getLogger("flightdeck.playbooks.triggers")

CONSUMER = "playbooks"
# A schedule seen for the first time (or just edited) looks back this far, so a slot between
# the save and the next beat tick is not lost, without replaying history at deployment.
FIRST_LOOK_BACK = timedelta(seconds=60)
# One slot of a schedule over a broad selector must not flood the workers.
MAX_ITEMS_PER_SLOT = 500


def render_params(params: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    """`params` of a trigger entry, rendered as YAML values (so "{{ 3 }}" becomes 3)."""
    return {name: templating.render_yaml_value(value, context) for name, value in params.items()}


# -- events ---------------------------------------------------------------------------------


def _event_context(event: Event) -> dict[str, Any]:
    return {"id": event.pk, "name": event.name, "created_at": event.created_at.isoformat(),
            "object_type": event.object_type, "object_id": str(event.object_id),
            "payload": event.payload or {}}


def _event_object(event: Event) -> tuple[Any, dict[str, Any]]:
    """The event's catalog item (when it is about one) and the objects a filter sees."""
    item, seen = None, {"config": None, "run": None, "check": None}
    if event.object_type == "config":
        from catalog.models import ConfigItem

        item = ConfigItem.objects.filter(pk=event.object_id).first()
        seen["config"] = execution.item_context(item)
    elif event.object_type == "playbook_run":
        run = PlaybookRun.objects.filter(pk=event.object_id).select_related("playbook").first()
        if run is not None:
            seen["run"] = {"id": str(run.pk), "playbook": run.playbook.ref,
                           "playbook_id": str(run.playbook_id), "status": run.status,
                           "trigger": run.trigger, "error": run.error}
    return item, seen


def _event_playbooks(name: str) -> Iterator[tuple[Playbook, list[dict[str, Any]]]]:
    """Live playbooks with an `on.events` entry matching `name`, with those entries.

    The JSONB test keeps playbooks without event triggers in the database; patterns are
    matched here because they are fnmatch, not SQL.
    """
    rows = Playbook.objects.live().filter(spec__on__events__0__isnull=False).order_by("pk")
    for playbook in rows:
        entries = [entry for entry in (playbook.spec.get("on") or {}).get("events") or []
                   if fnmatchcase(name, entry.get("event", ""))]
        if entries:
            yield playbook, entries


def handle_event(event: Event) -> None:
    """The outbox consumer: start each playbook whose event trigger matches and whose filter
    holds, at most once per (playbook, event)."""
    matches = list(_event_playbooks(event.name))
    if not matches:
        return
    item, seen = _event_object(event)
    activation = {"event": _event_context(event), **seen}
    for playbook, entries in matches:
        # A playbook triggered by its own runs' events would restart itself forever.
        if seen["run"] is not None and seen["run"]["playbook_id"] == str(playbook.pk):
            continue
        fields = {"playbook_id": str(playbook.pk), "event_id": event.pk, "event": event.name}
        try:
            with transaction.atomic():
                _start_for_event(playbook, entries, event, item, activation)
        except DatabaseError:
            raise  # the dispatcher retries the event; the idempotency key makes that safe
        except FlightdeckError as exc:
            log.warning("event trigger skipped", extra={**fields, "reason": str(exc)[:500]})
        except Exception:  # a bug with one playbook must not stop the others
            log.exception("event trigger failed", extra=fields)


def _start_for_event(playbook: Playbook, entries: list[dict[str, Any]], event: Event, item: Any,
                     activation: Mapping[str, Any]) -> PlaybookRun | None:
    has_selectors = bool(playbook.spec.get("configs"))
    if has_selectors and (item is None or not execution.applies_to(playbook, item)):
        return None
    for entry in entries:
        if entry.get("filter") and expressions.evaluate_source(
                entry["filter"], activation, EVENT_FILTER_DECLARATIONS) is not True:
            continue
        params = render_params(entry.get("params") or {}, activation)
        return execution.start(
            playbook, user=None, config=item if has_selectors else None, params=params,
            trigger=PlaybookRun.Trigger.EVENT, event=event,
            idempotency_key=f"event:{playbook.pk}:{event.pk}")
    return None


def register() -> None:
    outbox.register(outbox.Consumer(CONSUMER, handle_event))


# -- schedules ------------------------------------------------------------------------------


def _fingerprint(entry: Mapping[str, Any]) -> str:
    return f"{entry['cron']}|{entry.get('timezone') or 'UTC'}"[:200]


def _next_after(entry: Mapping[str, Any], moment: datetime) -> datetime:
    zone = ZoneInfo(entry.get("timezone") or "UTC")
    return croniter(entry["cron"], moment.astimezone(zone)).get_next(datetime)


def _latest_due(entry: Mapping[str, Any], now: datetime) -> datetime:
    """The newest slot at or before `now`: a beat that was down catches up once, not per slot."""
    zone = ZoneInfo(entry.get("timezone") or "UTC")
    local = now.astimezone(zone)
    if croniter.match(entry["cron"], local.replace(second=0, microsecond=0)):
        return local.replace(second=0, microsecond=0)
    return croniter(entry["cron"], local).get_prev(datetime)


def dispatch_scheduled(now: datetime | None = None) -> int:
    """Start the runs of every schedule slot due since the last check; returns how many."""
    now = now or timezone.now()
    started = 0
    playbooks = list(Playbook.objects.live().filter(spec__on__schedule__0__isnull=False))
    ScheduleState.objects.exclude(playbook__in=playbooks).delete()
    for playbook in playbooks:
        entries = (playbook.spec.get("on") or {}).get("schedule") or []
        ScheduleState.objects.filter(playbook=playbook, index__gte=len(entries)).delete()
        for index, entry in enumerate(entries):
            try:
                started += _dispatch_entry(playbook, index, entry, now)
            except DatabaseError:
                raise
            except Exception:  # one broken entry must not stop the other schedules
                log.exception("schedule failed", extra={"playbook_id": str(playbook.pk),
                                                        "index": index})
    return started


def _dispatch_entry(playbook: Playbook, index: int, entry: Mapping[str, Any],
                    now: datetime) -> int:
    fingerprint = _fingerprint(entry)
    first_look = max(playbook.updated_at, now - FIRST_LOOK_BACK)
    ScheduleState.objects.get_or_create(
        playbook=playbook, index=index,
        defaults={"fingerprint": fingerprint, "next_run_at": _next_after(entry, first_look)})
    with transaction.atomic():
        # Two beat ticks (or two beats) cannot both take the slot.
        state = ScheduleState.objects.select_for_update(skip_locked=True).filter(
            playbook=playbook, index=index).first()
        if state is None:
            return 0
        if state.fingerprint != fingerprint:
            state.fingerprint = fingerprint
            state.next_run_at = _next_after(entry, first_look)
            state.save(update_fields=["fingerprint", "next_run_at", "updated_at"])
        if state.next_run_at > now:
            return 0
        due_at = _latest_due(entry, now)
        state.next_run_at = _next_after(entry, now)
        state.save(update_fields=["next_run_at", "updated_at"])
        return _start_slot(playbook, index, entry, due_at)


def _slot_items(entry: Mapping[str, Any]) -> list[Any]:
    from catalog.models import ConfigItem
    from catalog.search import filter_items

    found: dict[Any, Any] = {}
    for selector in entry.get("configs") or []:
        result = filter_items(ConfigItem.objects.all(), selector_query(selector), user=None)
        for item in result.queryset.order_by("pk")[:MAX_ITEMS_PER_SLOT + 1]:
            found.setdefault(item.pk, item)
    return list(found.values())


def _start_slot(playbook: Playbook, index: int, entry: Mapping[str, Any],
                due_at: datetime) -> int:
    fields = {"playbook_id": str(playbook.pk), "index": index, "due_at": due_at.isoformat()}
    targets: list[Any] = _slot_items(entry) if entry.get("configs") else [None]
    if len(targets) > MAX_ITEMS_PER_SLOT:
        log.warning("schedule matched too many items; starting the first ones",
                    extra={**fields, "limit": MAX_ITEMS_PER_SLOT})
        targets = targets[:MAX_ITEMS_PER_SLOT]
    schedule = {"cron": entry["cron"], "timezone": entry.get("timezone") or "UTC",
                "due_at": due_at.isoformat()}
    started = 0
    for item in targets:
        key = f"schedule:{playbook.pk}:{index}:{due_at.isoformat()}:{item.pk if item else '-'}"
        context = {"config": execution.item_context(item), "schedule": schedule}
        try:
            with transaction.atomic():
                if item is not None and not execution.applies_to(playbook, item):
                    continue  # the entry's selector is wider than the playbook's own
                execution.start(playbook, user=None, config=item,
                                params=render_params(entry.get("params") or {}, context),
                                trigger=PlaybookRun.Trigger.SCHEDULE, idempotency_key=key)
                started += 1
        except FlightdeckError as exc:
            # A missing required parameter, say: this run cannot start, the others still do.
            log.warning("scheduled run not started",
                        extra={**fields, "config_id": str(item.pk) if item else None,
                               "reason": str(exc)[:500]})
    if started:
        log.info("scheduled runs started", extra={**fields, "runs": started})
    return started
