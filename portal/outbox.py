"""The event outbox and its dispatcher.

Events are rows written in the same transaction as the change that caused them, followed by
NOTIFY on `flightdeck_events` (delivered at commit). The dispatcher (`manage.py run_dispatcher`)
LISTENs and also polls every FLIGHTDECK_EVENT_POLL_SECONDS, because a notification can be missed
(the listener was reconnecting) while a row never is.

Each consumer (playbook triggers, notifications, ...) registers a handler from its app's ready()
and keeps one cursor: the id of the last event it saw. Handlers run inside the dispatcher's
transaction, each in a savepoint, so a handler that only writes rows (a run, a send) and the cursor
move commit together: delivery is exactly once for such handlers, at least once otherwise. Handlers
must be quick and must not talk to the network; they create rows and leave the slow part to a
Celery task. A failed event becomes an EventRetry row retried with exponential backoff up to
MAX_ATTEMPTS times; the cursor moves on, so one bad event never blocks the rest.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

import psycopg
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from portal.models import Event, EventCursor, EventRetry

log = logging.getLogger("flightdeck.outbox")

CHANNEL = "flightdeck_events"
BATCH = 500
MAX_ATTEMPTS = 5
BACKOFF_BASE = timedelta(seconds=10)
ERROR_MAX = 2000


@dataclass(frozen=True)
class Consumer:
    """`names` are fnmatch patterns of event names the consumer wants (all when empty)."""

    name: str
    handle: Callable[[Event], None] = field(compare=False)
    names: tuple[str, ...] = ()

    def wants(self, event_name: str) -> bool:
        return not self.names or any(fnmatchcase(event_name, p) for p in self.names)


_CONSUMERS: dict[str, Consumer] = {}


def register(consumer: Consumer) -> Consumer:
    _CONSUMERS[consumer.name] = consumer
    return consumer


def unregister(name: str) -> None:
    _CONSUMERS.pop(name, None)


def consumers() -> list[Consumer]:
    return list(_CONSUMERS.values())


def emit(name: str, object_type: str, object_id: Any, payload: dict[str, Any] | None = None,
         agent_id: Any = None) -> Event:
    """Write an outbox row in the caller's transaction and wake the dispatcher at commit."""
    fields: dict[str, Any] = {"name": name, "object_type": object_type, "object_id": object_id,
                              "payload": payload or {}}
    if agent_id is not None:
        fields["agent_id"] = agent_id
    event = Event.objects.create(**fields)
    notify()
    return event


def notify() -> None:
    with connection.cursor() as cur:
        cur.execute("SELECT pg_notify(%s, '')", [CHANNEL])


def _backoff(attempts: int) -> timedelta:
    return BACKOFF_BASE * (2 ** (attempts - 1))


def _cursor(consumer: Consumer) -> EventCursor | None:
    """The consumer's cursor, locked; None while another dispatcher holds it.

    A consumer seen for the first time starts after the newest event: it reacts to what happens
    from now on instead of replaying two weeks of history at its first start.
    """
    if not EventCursor.objects.filter(pk=consumer.name).exists():
        newest = Event.objects.aggregate(n=Max("id"))["n"] or 0
        EventCursor.objects.get_or_create(consumer=consumer.name,
                                          defaults={"last_event_id": newest})
    return EventCursor.objects.select_for_update(skip_locked=True).filter(
        pk=consumer.name).first()


def _handle(consumer: Consumer, event: Event) -> str | None:
    """Runs the handler in a savepoint; returns the error text when it failed."""
    try:
        with transaction.atomic():
            consumer.handle(event)
    except Exception as exc:  # a consumer's bug must not stop the dispatcher or other events
        log.exception("event consumer failed",
                      extra={"consumer": consumer.name, "event_id": event.pk})
        return f"{exc.__class__.__name__}: {exc}"[:ERROR_MAX]
    return None


def deliver(consumer: Consumer, now: datetime | None = None) -> int:
    """One batch of new events to one consumer; returns how many events the cursor passed."""
    now = now or timezone.now()
    with transaction.atomic():
        cursor = _cursor(consumer)
        if cursor is None:
            return 0
        events = list(Event.objects.filter(pk__gt=cursor.last_event_id).order_by("pk")[:BATCH])
        for event in events:
            if not consumer.wants(event.name):
                continue
            error = _handle(consumer, event)
            if error is not None:
                EventRetry.objects.get_or_create(
                    event=event, consumer=consumer.name,
                    defaults={"next_attempt_at": now + _backoff(1), "last_error": error})
        if events:
            cursor.last_event_id = events[-1].pk
            cursor.save(update_fields=["last_event_id", "updated_at"])
        return len(events)


def retry_due(consumer: Consumer, now: datetime | None = None) -> int:
    """Failed events whose backoff passed, once more; returns how many were tried."""
    now = now or timezone.now()
    tried = 0
    with transaction.atomic():
        due = list(EventRetry.objects.select_for_update(skip_locked=True)
                   .select_related("event")
                   .filter(consumer=consumer.name, gave_up_at__isnull=True,
                           next_attempt_at__lte=now)
                   .order_by("next_attempt_at")[:BATCH])
        for retry in due:
            tried += 1
            error = _handle(consumer, retry.event)
            if error is None:
                retry.delete()
                continue
            retry.attempts += 1
            retry.last_error = error
            if retry.attempts >= MAX_ATTEMPTS:
                retry.gave_up_at = now
                log.error("event consumer gave up", extra={"consumer": consumer.name,
                                                           "event_id": retry.event_id})
            else:
                retry.next_attempt_at = now + _backoff(retry.attempts)
            retry.save()
    return tried


def drain(selected: Iterable[Consumer] | None = None) -> int:
    """Deliver until every consumer is caught up, then run due retries."""
    total = 0
    for consumer in list(selected) if selected is not None else consumers():
        while passed := deliver(consumer):
            total += passed
        retry_due(consumer)
    return total


def prune(now: datetime | None = None) -> int:
    """Events older than the retention that every consumer has passed and none still retries."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.FLIGHTDECK_EVENT_RETENTION_DAYS)
    floor = EventCursor.objects.aggregate(n=Min("last_event_id"))["n"]
    old = Event.objects.filter(created_at__lt=cutoff).exclude(
        pk__in=EventRetry.objects.filter(gave_up_at__isnull=True).values("event_id"))
    if floor is not None:
        old = old.filter(pk__lte=floor)
    deleted, _ = old.delete()
    return deleted


def _listen_connection() -> psycopg.Connection:
    db = settings.DATABASES["default"]
    conn = psycopg.connect(
        dbname=db["NAME"], user=db.get("USER") or None, password=db.get("PASSWORD") or None,
        host=db.get("HOST") or None, port=db.get("PORT") or None, autocommit=True,
        connect_timeout=5)
    conn.execute(f"LISTEN {CHANNEL}")
    return conn


def _wait(listener: psycopg.Connection, poll: float, stop: threading.Event) -> None:
    """Until the first NOTIFY (several at once are drained together) or the poll interval; in
    slices of a second so a stop request is honoured promptly."""
    deadline = time.monotonic() + poll
    while not stop.is_set() and (remaining := deadline - time.monotonic()) > 0:
        if any(True for _ in listener.notifies(timeout=min(remaining, 1.0), stop_after=1)):
            return


def run(stop: threading.Event, poll_seconds: float | None = None) -> None:
    """The dispatcher loop: drain, then wait for a NOTIFY or the poll interval, until stopped."""
    poll = poll_seconds if poll_seconds is not None else settings.FLIGHTDECK_EVENT_POLL_SECONDS
    listener: psycopg.Connection | None = None
    while not stop.is_set():
        try:
            if listener is None or listener.closed:
                listener = _listen_connection()
            drain()
            _wait(listener, poll, stop)
        except (psycopg.Error, DatabaseError):
            # The database is restarting: the poll interval is the reconnect backoff.
            log.warning("dispatcher lost its database connection; reconnecting")
            if listener is not None:
                listener.close()
            listener = None
            connection.close()
            stop.wait(poll)
        except Exception:
            log.exception("dispatcher round failed")
            connection.close()
            stop.wait(poll)
    if listener is not None:
        listener.close()
    connection.close()
