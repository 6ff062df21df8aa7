"""Controllers that own pods: Deployment, StatefulSet, DaemonSet, ReplicaSet, Job and CronJob."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from catalog.health.objects import (
    ago,
    conditions,
    dig,
    duration,
    generation_lag,
    is_false,
    is_true,
    items,
    mapping,
    number,
    sentence,
    text,
    timestamp,
)
from catalog.health.verdict import (
    Health,
    healthy,
    progressing,
    unhealthy,
    unknown,
    warning,
)

# Deployment Progressing reasons that mean a rollout or scale-up is under way.
ROLLING_REASONS = frozenset({"ReplicaSetUpdated", "NewReplicaSetCreated", "FoundNewReplicaSet"})


def _replicas(obj: Mapping[str, Any], default: int = 1) -> int:
    """spec.replicas defaults to 1 when omitted, as the API server does."""
    return number(dig(obj, "spec.replicas"), default)


def _counts(ready: int, desired: int, noun: str = "replicas") -> str:
    return f"{ready}/{desired} {noun} ready"


def assess_deployment(obj: Mapping[str, Any], now: datetime) -> Health:
    """Replica counts plus the Progressing condition, as `kubectl rollout status` reads them."""
    status = mapping(obj.get("status"))
    conds = conditions(obj)
    desired = _replicas(obj)
    current = number(status.get("replicas"))
    updated = number(status.get("updatedReplicas"))
    ready = number(status.get("readyReplicas"))
    available = number(status.get("availableReplicas"))
    progress = conds.get("Progressing")
    reason = text(progress.get("reason")) if progress else ""

    failure = conds.get("ReplicaFailure")
    if is_true(failure):
        # The controller cannot create pods (quota, admission); it will not get further alone.
        message = text(failure.get("message")) or "cannot create pods"
        return unhealthy("Failed Create", message, ready=True)
    if is_false(progress) and reason == "ProgressDeadlineExceeded":
        message = text(progress.get("message")) or "rollout exceeded its progress deadline"
        return unhealthy("Rollout Failed", sentence(message, _counts(ready, desired)))

    complete = (
        updated >= desired and current == desired and available >= desired and ready >= desired
    )
    if dig(obj, "spec.paused") is True:
        verdict = healthy if available >= desired else warning
        return verdict("Suspended", f"rollout paused; {_counts(ready, desired)}", ready=False)
    if desired == 0:
        if current == 0:
            return healthy("Scaled to Zero", "0 replicas desired")
        return progressing("Scaling Down", f"{current} replicas left to stop")
    if generation_lag(obj):
        return progressing("Rolling Out", "waiting for the controller to observe the new spec")
    if complete:
        return healthy("Running", _counts(ready, desired))
    if current > desired and updated >= current:
        return progressing("Scaling Down", f"{current - desired} replicas left to stop")
    if updated < desired or current > updated:
        message = f"{updated}/{desired} replicas updated, {available} available"
        if current > updated:
            message += f", {current - updated} old replicas pending termination"
        return progressing("Rolling Out", message)
    if reason in ROLLING_REASONS and is_true(progress):
        return progressing("Scaling Up", _counts(ready, desired))
    if available == 0:
        return unhealthy("Unavailable", f"0/{desired} replicas available")
    return warning("Degraded", f"{available}/{desired} replicas available")


def assess_statefulset(obj: Mapping[str, Any], now: datetime) -> Health:
    """Ready versus desired, and current versus update revision for rolling updates."""
    status = mapping(obj.get("status"))
    desired = _replicas(obj)
    current = number(status.get("replicas"))
    ready = number(status.get("readyReplicas"))
    updated = number(status.get("updatedReplicas"))
    strategy = mapping(dig(obj, "spec.updateStrategy"))
    on_delete = text(strategy.get("type")) == "OnDelete"
    partition = number(dig(strategy, "rollingUpdate.partition"))

    if desired == 0:
        if current == 0:
            return healthy("Scaled to Zero", "0 replicas desired")
        return progressing("Scaling Down", f"{current} replicas left to stop")
    if generation_lag(obj):
        return progressing("Rolling Out", "waiting for the controller to observe the new spec")
    if current < desired:
        return progressing("Scaling Up", _counts(ready, desired))
    revision, target = text(status.get("currentRevision")), text(status.get("updateRevision"))
    rolling = not on_delete and (
        updated < desired - partition or (partition == 0 and target and revision != target)
    )
    if ready < desired:
        if rolling:
            return progressing("Rolling Out", f"{updated}/{desired} pods updated to {target}")
        if ready == 0:
            return unhealthy("Unavailable", _counts(ready, desired))
        return warning("Degraded", _counts(ready, desired))
    if rolling:
        return progressing("Rolling Out", f"{updated}/{desired} pods updated to {target}")
    if current > desired:
        return progressing("Scaling Down", f"{current - desired} replicas left to stop")
    message = _counts(ready, desired)
    if on_delete and target and revision != target:
        message += f"; {desired - updated} pods wait for manual deletion to update (OnDelete)"
    return healthy("Running", message)


def assess_daemonset(obj: Mapping[str, Any], now: datetime) -> Health:
    """Pods desired on matching nodes versus updated, ready and available; stray pods warn."""
    status = mapping(obj.get("status"))
    desired = number(status.get("desiredNumberScheduled"))
    scheduled = number(status.get("currentNumberScheduled"))
    ready = number(status.get("numberReady"))
    updated = number(status.get("updatedNumberScheduled"))
    available = number(status.get("numberAvailable"))
    misscheduled = number(status.get("numberMisscheduled"))
    rolling_update = text(dig(obj, "spec.updateStrategy.type")) != "OnDelete"

    if generation_lag(obj):
        return progressing("Rolling Out", "waiting for the controller to observe the new spec")
    if misscheduled:
        noun = "pod runs" if misscheduled == 1 else "pods run"
        return warning("Misscheduled", f"{misscheduled} {noun} on nodes that should not have them")
    if desired == 0:
        return healthy("No Nodes", "no node matches the DaemonSet's node selector")
    if rolling_update and updated < desired:
        return progressing(
            "Rolling Out", f"{updated}/{desired} pods updated, {available} available"
        )
    if scheduled < desired:
        return progressing("Scheduling", f"{scheduled}/{desired} pods scheduled")
    if available < desired or ready < desired:
        missing = number(status.get("numberUnavailable"), desired - available)
        noun = "replica" if missing == 1 else "replicas"
        message = (
            f"DaemonSet not fully available: {missing} unavailable {noun} "
            f"({available}/{desired} available, {ready}/{desired} ready)"
        )
        if available == 0 and ready == 0:
            return unhealthy("Unavailable", message)
        return warning("PartiallyAvailable", message)
    return healthy("Running", _counts(ready, desired, "pods"))


def assess_replicaset(obj: Mapping[str, Any], now: datetime) -> Health:
    """Ready versus desired; the owning Deployment judges rollouts, so only failures are red."""
    status = mapping(obj.get("status"))
    failure = conditions(obj).get("ReplicaFailure")
    desired = _replicas(obj)
    current = number(status.get("replicas"))
    ready = number(status.get("readyReplicas"))
    if is_true(failure):
        message = text(failure.get("message")) or "cannot create pods"
        return unhealthy("Failed Create", message, ready=True)
    if desired == 0:
        if current == 0:
            return healthy("Scaled to Zero", "old replica set kept for rollback")
        return progressing("Scaling Down", f"{current} replicas left to stop")
    if ready < desired:
        return progressing("Scaling Up", _counts(ready, desired))
    if current > desired:
        return progressing("Scaling Down", f"{current - desired} replicas left to stop")
    return healthy("Running", _counts(ready, desired))


def assess_job(obj: Mapping[str, Any], now: datetime) -> Health:
    """Complete is green and final; a failed condition is red and final; active is converging."""
    status = mapping(obj.get("status"))
    conds = conditions(obj)
    active = number(status.get("active"))
    succeeded = number(status.get("succeeded"))
    failed = number(status.get("failed"))
    completions = number(dig(obj, "spec.completions"), 1)

    failed_condition = conds.get("Failed")
    if is_true(failed_condition):
        reason = text(failed_condition.get("reason"))
        detail = text(failed_condition.get("message")) or "job failed"
        return unhealthy("Failed", f"{reason}: {detail}" if reason else detail, ready=True)
    complete = conds.get("Complete") or conds.get("SuccessCriteriaMet")
    if is_true(complete):
        started = timestamp(status.get("startTime"))
        finished = timestamp(status.get("completionTime"))
        took = f" in {duration(finished - started)}" if started and finished else ""
        return healthy("Completed", f"{succeeded}/{completions} completions{took}")
    target = conds.get("FailureTarget")
    if is_true(target):
        return unhealthy("Failing", text(target.get("message")) or "job is being terminated")
    if dig(obj, "spec.suspend") is True or is_true(conds.get("Suspended")):
        return unknown("Suspended", "job is suspended", ready=True)
    progress = f"{active} active, {succeeded}/{completions} succeeded"
    if failed:
        limit = number(dig(obj, "spec.backoffLimit"), 6)
        pods = "pod" if failed == 1 else "pods"
        return warning("Running", f"{progress}; {failed} {pods} failed (backoff limit {limit})")
    if active:
        return progressing("Running", progress)
    return progressing("Pending", "waiting for the job's pods to start")


def _schedule(obj: Mapping[str, Any]) -> tuple[str, ZoneInfo | None]:
    """spec.timeZone, or a CRON_TZ=/TZ= prefix in the schedule, names the clock."""
    schedule = text(dig(obj, "spec.schedule")).strip()
    zone_name = text(dig(obj, "spec.timeZone"))
    for prefix in ("CRON_TZ=", "TZ="):
        if schedule.startswith(prefix):
            zone_name, _, schedule = schedule[len(prefix) :].partition(" ")
    zone = None
    if zone_name:
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            zone = None
    return schedule.strip(), zone


def last_scheduled(obj: Mapping[str, Any], now: datetime) -> tuple[datetime, timedelta] | None:
    """The most recent time the schedule fired before `now`, and the period before it."""
    schedule, zone = _schedule(obj)
    if not schedule or not croniter.is_valid(schedule):
        return None
    local = now.astimezone(zone) if zone else now.astimezone(UTC)
    iterator = croniter(schedule, local)
    latest = iterator.get_prev(datetime)
    previous = iterator.get_prev(datetime)
    return latest.astimezone(UTC), latest - previous


def assess_cronjob(obj: Mapping[str, Any], now: datetime) -> Health:
    """Late if the last success is more than one period older than the last scheduled run."""
    status = mapping(obj.get("status"))
    active = items(status.get("active"))
    last_schedule = timestamp(status.get("lastScheduleTime"))
    last_success = timestamp(status.get("lastSuccessfulTime"))

    if dig(obj, "spec.suspend") is True:
        return unknown("Suspended", "cron job is suspended", ready=True)
    fired = last_scheduled(obj, now)
    if fired is None:
        return unknown("Unknown", f"cannot read schedule {text(dig(obj, 'spec.schedule'))!r}")
    expected, period = fired
    if last_schedule is None and not active:
        return unknown("Never Scheduled", "no job has been scheduled yet")
    if last_schedule is not None and last_schedule > expected:
        expected = last_schedule
    reference = last_success or timestamp(dig(obj, "metadata.creationTimestamp"))
    late = reference is not None and expected - reference > period
    if late:
        if last_success is None:
            message = f"no successful run since it was created {ago(reference, now)}"
        else:
            message = f"last successful run {ago(last_success, now)}"
        if last_schedule is not None:
            message += f"; last scheduled {ago(last_schedule, now)}"
        return warning("Running" if active else "Late", message, ready=not active)
    if active:
        jobs = "job" if len(active) == 1 else "jobs"
        return progressing("Running", f"{len(active)} active {jobs}")
    if last_success is not None:
        return healthy("Scheduled", f"last successful run {ago(last_success, now)}")
    return healthy("Scheduled", f"last scheduled {ago(last_schedule or expected, now)}")
