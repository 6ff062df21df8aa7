"""One run machinery for every long job: a row claimed by a conditional update, a lease kept by a
heartbeat thread, fenced writes, a reaper, log lines and a queue per workload.

Celery delivers at least once and, when a whole worker dies, may redeliver its message only much
later (its unacked messages wait for the broker's visibility timeout). So the truth lives in
PostgreSQL: a Celery message only says "look at run <id> now", and the row says who holds it.

    lease = runs.claim(SCRAPE, run_id)        # None: someone else has it, or it is not queued
    if lease is None:
        return
    with lease:                               # the heartbeat renews the lease until the block ends
        with transaction.atomic():
            lease.hold()                      # raises LeaseLost if the reaper took the run
            ...write results...
        lease.log("done")

Fencing: each claim draws a fresh token. `hold()` locks the run row (FOR NO KEY UPDATE) and checks
the token inside the caller's transaction, so a worker that lost its lease (paused, partitioned,
reaped) can never write results, log lines or a final status over the run someone else now holds;
and the reaper, which takes expired rows with SKIP LOCKED, never takes a run whose holder is in
the middle of committing.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, models, transaction
from django.db.models import F, Max
from django.utils import timezone

log = logging.getLogger("flightdeck.runs")

QUEUED = "queued"
RUNNING = "running"
FAILED = "failed"

LOG_LINE_MAX = 4000


class LeaseLost(Exception):
    """The run is no longer ours: its lease expired and the reaper took it."""

    def __init__(self, kind: RunKind, run_id: Any) -> None:
        super().__init__(f"{kind.name} run {run_id}: lease lost, another worker or the reaper "
                         f"owns it now")
        self.run_id = run_id


@dataclass(frozen=True)
class RunKind:
    """What the machinery needs to know about one kind of run.

    `model` has the fields of `portal.models.RunFields`; `log_model` those of `RunLogLine` with a
    foreign key named `run`. `task` is the dotted name of the Celery task that takes the run id;
    its queue comes from CELERY_TASK_ROUTES, so each workload has its own workers.
    `max_attempts` counts claims: a run whose worker died is queued again until it has been
    claimed that many times, then failed. Only idempotent work should allow more than one.
    `on_lost(run_id, message)` runs inside the reaper's transaction when a run is failed, for
    kind-specific bookkeeping (counters, an outbox event).
    """

    name: str
    model: type[models.Model]
    log_model: type[models.Model]
    task: str
    max_attempts: int = 1
    on_lost: Callable[[Any, str], None] | None = field(default=None, compare=False)
    # The kind's own words for the three states the machinery moves rows between.
    queued: str = QUEUED
    running: str = RUNNING
    failed: str = FAILED


_KINDS: dict[str, RunKind] = {}


def register(kind: RunKind) -> RunKind:
    """Called from an app's ready(); the reaper walks every registered kind."""
    _KINDS[kind.name] = kind
    return kind


def kinds() -> list[RunKind]:
    return list(_KINDS.values())


def lease_duration() -> timedelta:
    return timedelta(seconds=settings.FLIGHTDECK_RUN_LEASE_SECONDS)


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def dispatch(kind: RunKind, run_id: Any) -> None:
    """Ring the doorbell after the transaction that created or re-queued the row commits."""
    from portal.celery import app

    transaction.on_commit(lambda: app.send_task(kind.task, args=[str(run_id)]))


def claim(kind: RunKind, run_id: Any) -> Lease | None:
    """Exactly one caller wins a queued run, however many copies of its message arrive."""
    token = uuid.uuid4()
    now = timezone.now()
    holder = holder_name()
    won = kind.model.objects.filter(pk=run_id, status=kind.queued).update(
        status=kind.running, started_at=now, attempt=F("attempt") + 1, lease_token=token,
        lease_holder=holder, lease_expires_at=now + lease_duration(), heartbeat_at=now,
        hostname=socket.gethostname(), worker_id=holder,
    )
    if not won:
        return None
    return Lease(kind, run_id, token)


class Lease:
    """A claimed run. Enter it to keep the lease alive; every write goes through hold()."""

    def __init__(self, kind: RunKind, run_id: Any, token: uuid.UUID) -> None:
        self.kind = kind
        self.run_id = run_id
        self.token = token
        self._stop = threading.Event()
        self._suspect = threading.Event()
        self._thread: threading.Thread | None = None

    def _ours(self) -> models.QuerySet:
        return self.kind.model.objects.filter(pk=self.run_id, lease_token=self.token,
                                              status=self.kind.running)

    # -- heartbeat -----------------------------------------------------------------------------

    def __enter__(self) -> Lease:
        self._thread = threading.Thread(target=self._beat, name=f"lease-{self.run_id}",
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=settings.FLIGHTDECK_RUN_HEARTBEAT_SECONDS + 5)

    def _beat(self) -> None:
        """Renews on a clock of its own, so a slow clone or LIST never loses the lease."""
        interval = settings.FLIGHTDECK_RUN_HEARTBEAT_SECONDS
        try:
            while not self._stop.wait(interval):
                now = timezone.now()
                try:
                    renewed = self._ours().update(lease_expires_at=now + lease_duration(),
                                                  heartbeat_at=now)
                except DatabaseError:
                    # The database may be restarting; the next beat tries on a new connection.
                    log.warning("lease renewal failed", extra={"run_id": str(self.run_id)})
                    close_old_connections()
                    connection.close()
                    continue
                if not renewed:
                    # Only a hint: this thread's connection may not see an uncommitted claim.
                    # hold() decides, on the caller's own connection.
                    self._suspect.set()
                    return
        finally:
            connection.close()

    # -- fenced writes -------------------------------------------------------------------------

    def hold(self) -> None:
        """Inside a transaction: lock our run row and prove the lease is still ours."""
        if not connection.in_atomic_block:
            raise RuntimeError("Lease.hold() must run inside transaction.atomic()")
        if not self._ours().select_for_update(no_key=True).values_list("pk", flat=True):
            raise LeaseLost(self.kind, self.run_id)

    def check(self) -> None:
        """Between steps: cheap unless the heartbeat saw the lease go."""
        if self._suspect.is_set() and not self._ours().exists():
            raise LeaseLost(self.kind, self.run_id)

    def log(self, line: str, level: str = "info", **extra: Any) -> None:
        """A log line, fenced like every other write of the run; `extra` fills kind-specific
        columns of the log model (a playbook line's action and stream)."""
        with transaction.atomic():
            self.hold()
            append_log(self.kind, self.run_id, line, level, **extra)

    def update(self, **fields: Any) -> None:
        """A fenced update of the run row (counters, progress, the final status)."""
        with transaction.atomic():
            self.hold()
            self.kind.model.objects.filter(pk=self.run_id).update(**fields)


def append_log(kind: RunKind, run_id: Any, line: str, level: str = "info", **extra: Any) -> None:
    """Callers hold the run row lock (hold() or the reaper), so seq cannot collide.

    Lines are masked before they are stored: an error message may quote a resolved secret.
    """
    from connections.redact import REDACTOR

    seq = kind.log_model.objects.filter(run_id=run_id).aggregate(n=Max("seq"))["n"] or 0
    kind.log_model.objects.create(run_id=run_id, seq=seq + 1, level=level,
                                  line=REDACTOR.mask(line)[:LOG_LINE_MAX], **extra)


@dataclass
class Reaped:
    requeued: int = 0
    failed: int = 0
    redelivered: int = 0


def reap(now: datetime | None = None) -> Reaped:
    """Beat calls this often: expired leases are retried or failed; lost messages are resent."""
    now = now or timezone.now()
    result = Reaped()
    for kind in kinds():
        _reap_kind(kind, now, result)
    return result


def _reap_kind(kind: RunKind, now: datetime, result: Reaped) -> None:
    manager = kind.model.objects
    with transaction.atomic():
        # SKIP LOCKED: a holder committing right now is alive; look again next time.
        expired = list(
            manager.select_for_update(skip_locked=True, no_key=True)
            .filter(status=kind.running, lease_expires_at__lt=now)
            .values_list("pk", "attempt", "lease_holder")
        )
        for run_id, attempt, holder in expired:
            if attempt < kind.max_attempts:
                manager.filter(pk=run_id).update(
                    status=kind.queued, queued_at=now, lease_token=None, lease_holder="",
                    lease_expires_at=None)
                append_log(kind, run_id, f"lease of {holder or 'a worker'} expired: queued "
                           f"again (attempt {attempt} of {kind.max_attempts})", "warning")
                dispatch(kind, run_id)
                result.requeued += 1
            else:
                message = f"worker lost: lease of {holder or 'a worker'} expired"
                manager.filter(pk=run_id).update(
                    status=kind.failed, finished_at=now, lease_token=None, lease_expires_at=None)
                append_log(kind, run_id, message, "error")
                if kind.on_lost is not None:
                    kind.on_lost(run_id, message)
                result.failed += 1
    # A queued run nobody claimed for a while: its message was lost (broker restart, flush).
    stale = now - timedelta(seconds=settings.FLIGHTDECK_RUN_REDELIVER_AFTER_SECONDS)
    from portal.celery import app

    for run_id in manager.filter(status=kind.queued, queued_at__lt=stale).values_list("pk",
                                                                                   flat=True):
        # The new queued_at spaces out resends of a run that stays unclaimed (no worker up).
        if manager.filter(pk=run_id, status=kind.queued).update(queued_at=now):
            app.send_task(kind.task, args=[str(run_id)])
            result.redelivered += 1
