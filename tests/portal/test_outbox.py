"""The event dispatcher (portal/outbox.py) on real PostgreSQL: LISTEN, poll, cursors, retries."""

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from portal import outbox
from portal.models import Event, EventCursor, EventRetry
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)
OBJECT = "00000000-0000-0000-0000-00000000beef"


class Recorder:
    """A consumer that records what it saw; `fail` names events it refuses, `gate` holds it."""

    def __init__(self) -> None:
        self.seen: list[int] = []
        self.fail: set[str] = set()
        self.gate: threading.Event | None = None
        self.entered = threading.Event()

    def __call__(self, event: Event) -> None:
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(10)
        # A write inside the handler: it must vanish with the savepoint when the handler fails.
        EventCursor.objects.create(consumer=f"side-effect-{event.pk}")
        if event.name in self.fail:
            raise RuntimeError(f"cannot handle {event.name}")
        self.seen.append(event.pk)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder()
    outbox.register(outbox.Consumer("test-recorder", rec, names=("config.*",)))
    yield rec
    outbox.unregister("test-recorder")


@pytest.fixture
def dispatcher(recorder: Recorder) -> Iterator[callable]:
    threads: list[tuple[threading.Thread, threading.Event]] = []

    def start(poll_seconds: float) -> None:
        stop = threading.Event()
        thread = threading.Thread(target=outbox.run, args=(stop, poll_seconds), daemon=True)
        thread.start()
        threads.append((thread, stop))

    yield start
    for thread, stop in threads:
        stop.set()
        thread.join(timeout=10)
        assert not thread.is_alive()


def emit(name: str = "config.unhealthy") -> Event:
    with transaction.atomic():
        return outbox.emit(name, "config", OBJECT, {"current": {"health": "unhealthy"}})


def test_a_notify_wakes_the_dispatcher_long_before_its_poll(recorder, dispatcher):
    outbox.drain()  # the cursor starts after the newest event
    dispatcher(poll_seconds=60)
    wait_for(lambda: EventCursor.objects.filter(consumer="test-recorder").exists(),
             message="the dispatcher's first round")

    event = emit()

    wait_for(lambda: event.pk in recorder.seen, timeout=5, message="delivery by NOTIFY")


def test_the_poll_delivers_an_event_whose_notify_was_missed(recorder, dispatcher):
    outbox.drain()
    dispatcher(poll_seconds=0.5)
    event = Event.objects.create(name="config.healthy", object_type="config", object_id=OBJECT)

    wait_for(lambda: event.pk in recorder.seen, timeout=5, message="delivery by poll")


def test_a_new_consumer_starts_after_the_newest_event(recorder):
    old = emit()

    outbox.drain()
    new = emit()
    outbox.drain()

    assert recorder.seen == [new.pk]
    assert old.pk < new.pk


def test_a_failed_event_is_retried_with_backoff_and_does_not_block_the_rest(recorder):
    outbox.drain()
    recorder.fail = {"config.warning"}
    bad, good = emit("config.warning"), emit("config.healthy")
    ignored = emit("check.failed")  # not a config.* event: this consumer never sees it

    outbox.drain()

    assert recorder.seen == [good.pk]
    assert EventCursor.objects.get(consumer="test-recorder").last_event_id == ignored.pk
    retry = EventRetry.objects.get(event=bad, consumer="test-recorder")
    assert retry.attempts == 1 and retry.last_error == "RuntimeError: cannot handle config.warning"
    # The handler's own write was rolled back with its savepoint; the good one's stayed.
    assert not EventCursor.objects.filter(consumer=f"side-effect-{bad.pk}").exists()
    assert EventCursor.objects.filter(consumer=f"side-effect-{good.pk}").exists()

    consumer = outbox._CONSUMERS["test-recorder"]
    assert outbox.retry_due(consumer) == 0  # not due yet
    now = timezone.now()
    for attempt in range(2, outbox.MAX_ATTEMPTS + 1):
        now += timedelta(hours=1)
        assert outbox.retry_due(consumer, now=now) == 1
        retry.refresh_from_db()
        assert retry.attempts == attempt
    assert retry.gave_up_at is not None
    assert outbox.retry_due(consumer, now=now + timedelta(days=1)) == 0

    recorder.fail = set()
    other = emit("config.warning")
    # An operator revives the given-up retry once the consumer is fixed.
    EventRetry.objects.filter(pk=retry.pk).update(gave_up_at=None, attempts=1,
                                                  next_attempt_at=timezone.now())
    outbox.drain()
    assert recorder.seen == [good.pk, other.pk, bad.pk]
    assert not EventRetry.objects.exists()


def test_two_dispatchers_never_deliver_the_same_event_twice(recorder):
    outbox.drain()
    event = emit()
    recorder.gate = threading.Event()
    consumer = outbox._CONSUMERS["test-recorder"]
    first = threading.Thread(target=lambda: (outbox.deliver(consumer), connection.close()))
    first.start()
    assert recorder.entered.wait(5)

    passed_by_second = outbox.deliver(consumer)  # the cursor is locked: skipped, not waited for
    recorder.gate.set()
    first.join(10)

    assert passed_by_second == 0
    assert recorder.seen == [event.pk]
    assert outbox.deliver(consumer) == 0


def test_old_events_are_pruned_once_every_consumer_passed_them(recorder):
    outbox.drain()
    passed, pending = emit(), emit("config.warning")
    EventCursor.objects.filter(consumer="test-recorder").update(last_event_id=passed.pk)
    retried = emit("config.healthy")
    EventRetry.objects.create(event=retried, consumer="other",
                              next_attempt_at=timezone.now())
    Event.objects.update(created_at=timezone.now() - timedelta(days=30))
    EventCursor.objects.exclude(consumer="test-recorder").delete()

    assert outbox.prune() == 1

    assert set(Event.objects.values_list("pk", flat=True)) == {pending.pk, retried.pk}


def test_run_dispatcher_once_delivers_and_says_to_whom(recorder, capsys):
    outbox.drain()
    event = emit()

    call_command("run_dispatcher", "--once")

    out = capsys.readouterr().out
    # Other consumers (playbook triggers) are told too; the count is per consumer.
    assert out.startswith("delivered ") and "test-recorder" in out.split("events to: ")[1]
    assert recorder.seen == [event.pk]
