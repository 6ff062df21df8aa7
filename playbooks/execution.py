"""Starting, running and cancelling playbook runs on the shared run machinery (portal/runs.py).

A run is one Celery task holding the run's lease: the actions run in order inside it, each
attempt a PlaybookRunAction row, every write fenced by the lease. A worker that dies mid-run
leaves an expired lease; the reaper fails the run and its running action ("worker lost")
instead of running side effects twice.
"""

from __future__ import annotations

import logging
import random
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from playbooks import approvals, parameters
from playbooks.actions import KIND_NAMES, ActionContext, ActionError, kind
from playbooks.models import Playbook, PlaybookLogLine, PlaybookRun, PlaybookRunAction
from playbooks.spec import IF_DECLARATIONS, if_source, selector_query
from portal import expressions, outbox, runs, templating
from portal.durations import parse_duration
from portal.errors import ExpressionError, FlightdeckError, TemplateError

log = logging.getLogger("flightdeck.playbooks")

Status = PlaybookRun.Status
ActionStatus = PlaybookRunAction.Status
CANCEL_POLL_SECONDS = 1.0


class NotApplicable(FlightdeckError):
    """The playbook cannot run against this target (or needs one)."""


def _lost(run_id: Any, message: str) -> None:
    PlaybookRunAction.objects.filter(run_id=run_id, status=ActionStatus.RUNNING).update(
        status=ActionStatus.FAILED, error=message, finished_at=timezone.now())
    PlaybookRun.objects.filter(pk=run_id).update(error=message)
    outbox.emit("playbook.run.failed", "playbook_run", run_id,
                {"run_id": str(run_id), "status": "failed", "error": message})


# Side effects are not idempotent (a pull request, a restart), so a run whose worker died is
# failed, never run again behind the person's back.
PLAYBOOK_RUNS = runs.RunKind(name="playbook", model=PlaybookRun, log_model=PlaybookLogLine,
                             task="playbooks.tasks.run_playbook", max_attempts=1,
                             on_lost=_lost, queued=Status.SCHEDULED)


def item_context(item: Any) -> dict[str, Any] | None:
    """The target item as templates and CEL see it."""
    if item is None:
        return None
    return {"id": str(item.pk), "type": item.type, "name": item.name,
            "namespace": item.namespace, "labels": item.labels or {}, "tags": item.tags or {},
            "health": item.health, "status": item.status, "ready": item.ready,
            "message": item.message, "config": item.config or {}}


def applies_to(playbook: Playbook, item: Any) -> bool:
    """Whether the playbook's selectors and filters take this item (None: an untargeted run)."""
    from catalog.models import ConfigItem
    from catalog.search import filter_items

    selectors = playbook.spec.get("configs") or []
    if item is None:
        return not selectors
    if not selectors:
        return False
    one = ConfigItem.objects.filter(pk=item.pk)
    if not any(filter_items(one, selector_query(s), user=None).queryset.exists()
               for s in selectors):
        return False
    context = {"config": item_context(item)}
    for source in playbook.spec.get("filters") or []:
        try:
            if expressions.evaluate_source(source, context, {"config": "dyn"}) is not True:
                return False
        except ExpressionError:
            return False
    return True


def start(playbook: Playbook, *, user: Any, config: Any = None,
          params: Mapping[str, Any] | None = None, trigger: str = "manual",
          dry_run: bool = False, event: Any = None, request: Mapping[str, Any] | None = None,
          idempotency_key: str | None = None, parent: PlaybookRun | None = None,
          send: bool = True) -> PlaybookRun:
    """Check the target and parameters, write the run row, ring the doorbell after commit.

    Raises NotApplicable or ParameterError (which names each bad parameter). A second start
    with the same idempotency key returns the first run.
    """
    if not applies_to(playbook, config):
        raise NotApplicable(
            f"playbook {playbook.ref} does not apply to {config.name if config else 'no item'}"
            + ("" if config else "; choose a catalog item it applies to"))
    context = {"config": item_context(config), "user": user_context(user)}
    values = parameters.resolve(playbook.spec, params, context=context, user=user,
                                namespace=playbook.namespace)
    timeout = parse_duration(playbook.spec.get("timeout") or "30m")
    # A run that needs approval waits without a message to any worker; approvals.decide()
    # sends it once its rule is met.
    waits = approvals.required(playbook.spec, trigger=trigger, user=user)
    try:
        with transaction.atomic():
            run = PlaybookRun.objects.create(
                playbook=playbook, spec=playbook.spec, trigger=trigger, config=config,
                parameters=values, request=dict(request) if request else None,
                created_by=user if getattr(user, "is_authenticated", False) else None,
                dry_run=dry_run, event=event, parent_run=parent,
                idempotency_key=idempotency_key, timeout_at=timezone.now() + timeout,
                status=Status.PENDING_APPROVAL if waits else Status.SCHEDULED)
            outbox.emit(f"playbook.run.{run.status}", "playbook_run", run.pk,
                        {"run_id": str(run.pk), "playbook": playbook.ref, "status": run.status})
            if send and not waits:
                runs.dispatch(PLAYBOOK_RUNS, run.pk)
    except IntegrityError:
        if idempotency_key and (first := PlaybookRun.objects.filter(
                idempotency_key=idempotency_key).first()):
            return first
        raise
    return run


def cancel(run: PlaybookRun, user: Any) -> PlaybookRun:
    """Not started yet: cancelled at once. Running: the engine stops the current action."""
    now = timezone.now()
    with transaction.atomic():
        stopped = PlaybookRun.objects.filter(
            pk=run.pk, status__in=[Status.SCHEDULED, Status.PENDING_APPROVAL]).update(
            status=Status.CANCELLED, finished_at=now, cancel_requested_at=now,
            error=f"cancelled by {getattr(user, 'email', 'the system')}")
        if stopped:
            outbox.emit("playbook.run.cancelled", "playbook_run", run.pk,
                        {"run_id": str(run.pk), "status": "cancelled"})
        else:
            PlaybookRun.objects.filter(pk=run.pk, status=Status.RUNNING,
                                       cancel_requested_at__isnull=True).update(
                cancel_requested_at=now)
    run.refresh_from_db()
    return run


def execute(run_id: Any) -> PlaybookRun | None:
    """The Celery task's body: None when another worker has the run or it is not scheduled."""
    lease = runs.claim(PLAYBOOK_RUNS, run_id)
    if lease is None:
        return None
    with lease:
        _Engine(lease).run()
    return PlaybookRun.objects.get(pk=run_id)


def user_context(user: Any) -> dict[str, Any] | None:
    """The person as templates see them (`user`)."""
    if not getattr(user, "is_authenticated", False):
        return None
    return {"id": str(user.pk), "email": user.email, "name": getattr(user, "name", "") or "",
            "teams": list(user.groups.values_list("name", flat=True))}


class _Stop(Exception):
    """Cancelled or out of time: the engine unwinds and records why."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Engine:
    def __init__(self, lease: runs.Lease) -> None:
        self.lease = lease
        self.run_row = PlaybookRun.objects.select_related("playbook", "config", "created_by") \
            .get(pk=lease.run_id)
        self.results: dict[str, dict[str, Any]] = {}
        self.failed = False
        self._cancel_checked = 0.0
        self._cancelled = False
        # Secret parameters may be echoed by a script: the log and results mask them.
        from connections.redact import REDACTOR

        declared = {p["name"]: p for p in self.run_row.spec.get("parameters") or []}
        for name, value in parameters.reveal(self.run_row.parameters).items():
            if declared.get(name, {}).get("type") == "secret":
                REDACTOR.add(value)

    # -- small helpers -----------------------------------------------------------------------

    def say(self, line: str, level: str = "info", action: PlaybookRunAction | None = None,
            stream: str = "system") -> None:
        self.lease.log(line, level, action=action, stream=stream)

    def cancelled(self) -> bool:
        """Polled by actions; one cheap query a second at most."""
        if self._cancelled:
            return True
        now = time.monotonic()
        if now - self._cancel_checked >= CANCEL_POLL_SECONDS:
            self._cancel_checked = now
            self._cancelled = PlaybookRun.objects.filter(
                pk=self.run_row.pk, cancel_requested_at__isnull=False).exists()
        return self._cancelled

    def remaining(self) -> float:
        return (self.run_row.timeout_at - timezone.now()).total_seconds()

    def checkpoint(self) -> None:
        self.lease.check()
        if self.cancelled():
            raise _Stop(Status.CANCELLED, "cancelled")
        if self.remaining() <= 0:
            raise _Stop(Status.TIMED_OUT, "the run exceeded its timeout of "
                        f"{self.run_row.spec.get('timeout') or '30m'}")

    def pause(self, seconds: float) -> None:
        """Sleep for a delay or a backoff, still answering cancel and the run's timeout."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.checkpoint()
            time.sleep(min(left, 0.25))

    def context(self) -> dict[str, Any]:
        run = self.run_row
        return {
            "config": item_context(run.config),
            # Secrets are "***" in templates; exec scripts get them as PARAM_* variables.
            "params": parameters.shown(run.parameters),
            "env": self.env,
            "user": user_context(run.created_by),
            "run": {"id": str(run.pk), "status": run.status, "trigger": run.trigger,
                    "created_at": run.created_at.isoformat(), "url": run.get_absolute_url(),
                    "dry_run": run.dry_run},
            "request": run.request or {},
            "actions": self.results,
        }

    # -- the run -----------------------------------------------------------------------------

    def run(self) -> None:
        run = self.run_row
        spec = run.spec
        self.env = {e["name"]: str(e.get("value", "")) for e in spec.get("env") or []
                    if isinstance(e, Mapping) and "name" in e}
        self.say(f"run of {run.playbook.ref} started ({run.trigger}"
                 f"{', dry run' if run.dry_run else ''})")
        outbox.emit("playbook.run.started", "playbook_run", run.pk,
                    {"run_id": str(run.pk), "status": "running"})
        status, error = Status.COMPLETED, ""
        try:
            for position, action in enumerate(spec.get("actions") or []):
                self.checkpoint()
                self.action(position, action)
            if self.failed:
                status = Status.FAILED
                error = next((r["error"] for r in self.results.values()
                              if r.get("status") in ("failed", "timed_out")), "")
        except _Stop as stop:
            status, error = stop.status, str(stop)
            self._close_open_actions(stop.status)
        self.finish(status, error)

    def _close_open_actions(self, status: str) -> None:
        action_status = (ActionStatus.CANCELLED if status == Status.CANCELLED
                         else ActionStatus.TIMED_OUT)
        with transaction.atomic():
            self.lease.hold()
            PlaybookRunAction.objects.filter(
                run=self.run_row, status__in=[ActionStatus.RUNNING, ActionStatus.SLEEPING,
                                              ActionStatus.RETRYING, ActionStatus.SCHEDULED]
            ).update(status=action_status, finished_at=timezone.now())
            # Later actions are shown as cancelled too, so the page says they never started.
            done = set(PlaybookRunAction.objects.filter(run=self.run_row)
                       .values_list("position", flat=True))
            for position, action in enumerate(self.run_row.spec.get("actions") or []):
                if position not in done:
                    PlaybookRunAction.objects.create(
                        run=self.run_row, name=action["name"], kind=_kind_of(action),
                        position=position, status=ActionStatus.CANCELLED,
                        finished_at=timezone.now())

    def finish(self, status: str, error: str) -> None:
        run = self.run_row
        now = timezone.now()
        with transaction.atomic():
            self.lease.hold()
            PlaybookRun.objects.filter(pk=run.pk).update(
                status=status, finished_at=now, error=error[:4000], lease_expires_at=None,
                duration_ms=int((now - (run.started_at or now)).total_seconds() * 1000))
            name = {Status.COMPLETED: "completed", Status.FAILED: "failed",
                    Status.CANCELLED: "cancelled", Status.TIMED_OUT: "timed_out"}[status]
            outbox.emit(f"playbook.run.{name}", "playbook_run", run.pk,
                        {"run_id": str(run.pk), "playbook": run.playbook.ref, "status": status,
                         "error": error[:500]})
            runs.append_log(PLAYBOOK_RUNS, run.pk, f"run {status}" + (f": {error}" if error
                                                                        else ""),
                            "error" if status != Status.COMPLETED else "info")

    def should_run(self, action: Mapping[str, Any]) -> bool:
        source = if_source(action.get("if"))
        context = self.context() | {"fd_success": not self.failed, "fd_failure": self.failed}
        value = expressions.evaluate_source(source, context, IF_DECLARATIONS)
        return value is True

    def action(self, position: int, action: Mapping[str, Any]) -> None:
        name, key = action["name"], _kind_of(action)
        try:
            wanted = self.should_run(action)
        except ExpressionError as exc:
            self._record_once(position, action, ActionStatus.FAILED, f"if: {exc}")
            return
        if not wanted:
            self._record_once(position, action, ActionStatus.SKIPPED, "")
            return
        if action.get("delay"):
            self.say(f"{name}: waiting {action['delay']}")
            self.pause(parse_duration(action["delay"]).total_seconds())
        retry = action.get("retry") or {}
        attempts = int(retry.get("limit") or 0) + 1
        backoff = parse_duration(retry.get("backoff") or "10s").total_seconds()
        ceiling = parse_duration(retry.get("maxBackoff") or "10m").total_seconds()
        for attempt in range(1, attempts + 1):
            self.checkpoint()
            outcome = self.attempt(position, action, key, attempt)
            if outcome == ActionStatus.COMPLETED or outcome == "final":
                return
            if attempt < attempts:
                wait = min(backoff * (float(retry.get("multiplier") or 2) ** (attempt - 1)),
                           ceiling)
                wait *= 1 + random.uniform(0, int(retry.get("jitter") or 0) / 100)
                self.say(f"{name}: attempt {attempt} failed; retrying in {wait:.1f}s",
                         "warning")
                self.pause(wait)
        self.failed = True

    def _record_once(self, position: int, action: Mapping[str, Any], status: str,
                     error: str) -> None:
        with transaction.atomic():
            self.lease.hold()
            PlaybookRunAction.objects.create(
                run=self.run_row, name=action["name"], kind=_kind_of(action), position=position,
                status=status, error=error, finished_at=timezone.now())
        self.results[action["name"]] = {"status": status, "result": {}, "error": error}
        if status == ActionStatus.FAILED:
            self.failed = True
            self.say(f"{action['name']}: {error}", "error")
        else:
            self.say(f"{action['name']}: skipped")

    def attempt(self, position: int, action: Mapping[str, Any], key: str, attempt: int) -> str:
        name = action["name"]
        with transaction.atomic():
            self.lease.hold()
            row = PlaybookRunAction.objects.create(
                run=self.run_row, name=name, kind=key, position=position, attempt=attempt,
                status=ActionStatus.RUNNING, started_at=timezone.now())
        self.say(f"{name}: started ({key}, attempt {attempt})", action=row)
        limit = min(self.remaining(),
                    parse_duration(action["timeout"]).total_seconds() if action.get("timeout")
                    else self.remaining())
        workdir = Path(tempfile.mkdtemp(prefix=f"flightdeck-{str(self.run_row.pk)[:8]}-"))
        status, result, error, final = ActionStatus.COMPLETED, {}, "", False
        started = time.monotonic()
        try:
            try:
                block = templating.render_tree(action[key], self.context())
            except TemplateError as exc:
                # The same template fails the same way on every attempt.
                raise ActionError(f"template: {exc}") from None
            ctx = ActionContext(
                run_id=self.run_row.pk, action_name=name, namespace=self.run_row.playbook.namespace,
                spec=block, params=parameters.reveal(self.run_row.parameters), env=self.env,
                config=item_context(self.run_row.config), timeout=max(limit, 0.1),
                dry_run=self.run_row.dry_run, workdir=workdir,
                log=lambda line, stream="system": self.say(
                    line, "error" if stream == "stderr" else "info", action=row, stream=stream),
                cancelled=self.cancelled, actor=self.run_row.created_by)
            result = kind(key).run(ctx) or {}
        except runs.LeaseLost:
            raise
        except ActionError as exc:
            status, result, error = ActionStatus.FAILED, exc.result, str(exc)
            final = str(exc).startswith("template: ")
        except Exception as exc:  # a bug in a kind fails the action, never the worker
            log.exception("action crashed", extra={"run_id": str(self.run_row.pk),
                                                   "action": name})
            status, error = ActionStatus.FAILED, f"{exc.__class__.__name__}: {exc}"
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        if status == ActionStatus.FAILED:
            if self.cancelled():
                status, error = ActionStatus.CANCELLED, error or "cancelled"
            elif time.monotonic() - started >= limit - 0.05:
                status, error = ActionStatus.TIMED_OUT, (
                    f"timed out after {limit:.0f}s" + (f": {error}" if error else ""))
        from connections.redact import REDACTOR

        result = REDACTOR.mask_data(result)
        with transaction.atomic():
            self.lease.hold()
            PlaybookRunAction.objects.filter(pk=row.pk).update(
                status=status, result=result, error=REDACTOR.mask(error)[:4000],
                finished_at=timezone.now())
        self.results[name] = {"status": status, "result": result, "error": error}
        if status == ActionStatus.COMPLETED:
            self.say(f"{name}: completed", action=row)
            return ActionStatus.COMPLETED
        self.say(f"{name}: {status}: {error}", "error", action=row)
        if status == ActionStatus.CANCELLED:
            raise _Stop(Status.CANCELLED, "cancelled")
        if self.remaining() <= 0:
            raise _Stop(Status.TIMED_OUT, f"the run exceeded its timeout: {error}")
        return "final" if final else status


def _kind_of(action: Mapping[str, Any]) -> str:
    return next(key for key in action if key in KIND_NAMES)


def register() -> None:
    runs.register(PLAYBOOK_RUNS)


def since(run: PlaybookRun, after_seq: int) -> list[PlaybookLogLine]:
    """Log lines after a cursor, for the live log."""
    return list(run.log_lines.filter(seq__gt=after_seq).order_by("seq")[:500])

