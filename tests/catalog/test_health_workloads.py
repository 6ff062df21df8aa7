"""Built-in verdicts for pod controllers at a fixed NOW.

Deployment, StatefulSet, DaemonSet, ReplicaSet, Job and CronJob; each case asserts health,
status, ready and a substring of the message.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from catalog.health import assess
from tests.catalog.health_builders import NOW, Obj, ago, case, cond, meta


def deployment(
    desired: int = 3,
    replicas: int | None = None,
    updated: int | None = None,
    ready: int | None = None,
    available: int | None = None,
    progressing: Obj | None = None,
    extra_conditions: list[Obj] | None = None,
    generation: int = 7,
    observed: int = 7,
    paused: bool = False,
) -> Obj:
    replicas = desired if replicas is None else replicas
    updated = replicas if updated is None else updated
    ready = replicas if ready is None else ready
    available = ready if available is None else available
    progress = progressing or cond(
        "Progressing",
        "True",
        "NewReplicaSetAvailable",
        'ReplicaSet "api-7d9f8b6c5" has successfully progressed.',
    )
    available_condition = cond(
        "Available",
        "True" if available >= desired - 1 else "False",
        "MinimumReplicasAvailable" if available >= desired - 1 else "MinimumReplicasUnavailable",
    )
    status: Obj = {
        "observedGeneration": observed,
        "replicas": replicas,
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": available,
        "conditions": [available_condition, progress, *(extra_conditions or [])],
    }
    if replicas - available:
        status["unavailableReplicas"] = replicas - available
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta("api", generation=generation),
        "spec": {
            "replicas": desired,
            "paused": paused,
            "progressDeadlineSeconds": 600,
            "selector": {"matchLabels": {"app": "api"}},
            "strategy": {"type": "RollingUpdate"},
        },
        "status": status,
    }


ROLLING = cond(
    "Progressing", "True", "ReplicaSetUpdated", 'ReplicaSet "api-5f6d7c8b9" is progressing.'
)

DEPLOYMENT_CASES = [
    case(deployment(), "healthy", "Running", True, "3/3 replicas ready", id="deploy-running"),
    case(
        deployment(replicas=4, updated=2, ready=3, available=3, progressing=ROLLING),
        "healthy",
        "Rolling Out",
        False,
        "2/3 replicas updated, 3 available, 2 old replicas pending termination",
        id="deploy-rolling-out",
    ),
    case(
        deployment(
            replicas=4,
            updated=1,
            ready=3,
            available=3,
            progressing=cond(
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                'ReplicaSet "api-5f6d7c8b9" has timed out progressing.',
            ),
        ),
        "unhealthy",
        "Rollout Failed",
        False,
        "has timed out progressing; 3/3 replicas ready",
        id="deploy-deadline-exceeded",
    ),
    case(
        deployment(replicas=3, updated=1, ready=3, paused=True, progressing=ROLLING),
        "healthy",
        "Suspended",
        False,
        "rollout paused; 3/3 replicas ready",
        id="deploy-paused",
    ),
    case(
        deployment(desired=0, replicas=0),
        "healthy",
        "Scaled to Zero",
        True,
        "0 replicas desired",
        id="deploy-scaled-to-zero",
    ),
    case(
        deployment(desired=0, replicas=2, ready=2),
        "healthy",
        "Scaling Down",
        False,
        "2 replicas left to stop",
        id="deploy-scaling-to-zero",
    ),
    case(
        deployment(generation=8, observed=7),
        "healthy",
        "Rolling Out",
        False,
        "observe the new spec",
        id="deploy-generation-lag",
    ),
    case(
        deployment(ready=2),
        "warning",
        "Degraded",
        False,
        "2/3 replicas available",
        id="deploy-degraded",
    ),
    case(
        deployment(ready=0),
        "unhealthy",
        "Unavailable",
        False,
        "0/3 replicas available",
        id="deploy-unavailable",
    ),
    case(
        deployment(
            desired=5,
            replicas=3,
            updated=3,
            ready=3,
            extra_conditions=[
                cond(
                    "ReplicaFailure",
                    "True",
                    "FailedCreate",
                    'pods "api-5f6d7c8b9-abcde" is forbidden: exceeded quota: compute',
                )
            ],
        ),
        "unhealthy",
        "Failed Create",
        True,
        "exceeded quota: compute",
        id="deploy-replica-failure",
    ),
    case(
        deployment(desired=5, replicas=5, updated=5, ready=3, progressing=ROLLING),
        "healthy",
        "Scaling Up",
        False,
        "3/5 replicas ready",
        id="deploy-scaling-up",
    ),
]


def statefulset(desired: int = 3, **status: Any) -> Obj:
    body = {
        "observedGeneration": 4,
        "replicas": desired,
        "readyReplicas": desired,
        "currentReplicas": desired,
        "updatedReplicas": desired,
        "availableReplicas": desired,
        "currentRevision": "postgres-6b9d5f",
        "updateRevision": "postgres-6b9d5f",
        "collisionCount": 0,
    }
    body.update(status)
    strategy = body.pop("strategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": meta("postgres", generation=4),
        "spec": {"replicas": desired, "serviceName": "postgres", "updateStrategy": strategy},
        "status": body,
    }


STATEFULSET_CASES = [
    case(statefulset(), "healthy", "Running", True, "3/3 replicas ready", id="sts-running"),
    case(
        statefulset(
            updatedReplicas=1, readyReplicas=2, currentReplicas=2, updateRevision="postgres-7c4e21"
        ),
        "healthy",
        "Rolling Out",
        False,
        "1/3 pods updated to postgres-7c4e21",
        id="sts-rolling",
    ),
    case(
        statefulset(replicas=1, readyReplicas=1),
        "healthy",
        "Scaling Up",
        False,
        "1/3 replicas ready",
        id="sts-scaling-up",
    ),
    case(
        statefulset(readyReplicas=2),
        "warning",
        "Degraded",
        False,
        "2/3 replicas ready",
        id="sts-degraded",
    ),
    case(
        statefulset(readyReplicas=0),
        "unhealthy",
        "Unavailable",
        False,
        "0/3 replicas ready",
        id="sts-unavailable",
    ),
    case(
        statefulset(
            updatedReplicas=0, updateRevision="postgres-7c4e21", strategy={"type": "OnDelete"}
        ),
        "healthy",
        "Running",
        True,
        "3 pods wait for manual deletion",
        id="sts-on-delete-pending",
    ),
    case(
        statefulset(desired=0, replicas=0, readyReplicas=0),
        "healthy",
        "Scaled to Zero",
        True,
        "0 replicas desired",
        id="sts-scaled-to-zero",
    ),
]


def daemonset(desired: int = 5, **status: Any) -> Obj:
    body = {
        "observedGeneration": 2,
        "desiredNumberScheduled": desired,
        "currentNumberScheduled": desired,
        "numberReady": desired,
        "updatedNumberScheduled": desired,
        "numberAvailable": desired,
        "numberMisscheduled": 0,
    }
    body.update(status)
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": meta("node-exporter", "monitoring", generation=2),
        "spec": {"updateStrategy": {"type": "RollingUpdate"}},
        "status": body,
    }


DAEMONSET_CASES = [
    case(daemonset(), "healthy", "Running", True, "5/5 pods ready", id="ds-running"),
    case(
        daemonset(updatedNumberScheduled=2, numberAvailable=4),
        "healthy",
        "Rolling Out",
        False,
        "2/5 pods updated, 4 available",
        id="ds-rolling",
    ),
    case(
        daemonset(numberMisscheduled=1),
        "warning",
        "Misscheduled",
        False,
        "1 pod runs on nodes that should not have them",
        id="ds-misscheduled",
    ),
    case(
        daemonset(numberAvailable=3, numberReady=3, numberUnavailable=2),
        "warning",
        "PartiallyAvailable",
        False,
        "DaemonSet not fully available: 2 unavailable replicas (3/5 available, 3/5 ready)",
        id="ds-degraded",
    ),
    case(
        daemonset(numberAvailable=0, numberReady=0),
        "unhealthy",
        "Unavailable",
        False,
        "DaemonSet not fully available: 5 unavailable replicas (0/5 available, 0/5 ready)",
        id="ds-unavailable",
    ),
    case(
        daemonset(desired=0),
        "healthy",
        "No Nodes",
        True,
        "no node matches",
        id="ds-no-nodes",
    ),
]


def replicaset(desired: int, replicas: int, ready: int, conditions: list[Obj] | None = None):
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": meta("api-7d9f8b6c5", ownerReferences=[{"kind": "Deployment", "name": "api"}]),
        "spec": {"replicas": desired},
        "status": {
            "replicas": replicas,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "fullyLabeledReplicas": replicas,
            "observedGeneration": 3,
            **({"conditions": conditions} if conditions else {}),
        },
    }


REPLICASET_CASES = [
    case(replicaset(3, 3, 3), "healthy", "Running", True, "3/3 replicas ready", id="rs-running"),
    case(
        replicaset(0, 0, 0),
        "healthy",
        "Scaled to Zero",
        True,
        "kept for rollback",
        id="rs-old",
    ),
    case(
        replicaset(
            3,
            1,
            1,
            [
                cond(
                    "ReplicaFailure",
                    "True",
                    "FailedCreate",
                    'pods "api-x" is forbidden: exceeded quota: compute',
                )
            ],
        ),
        "unhealthy",
        "Failed Create",
        True,
        "exceeded quota",
        id="rs-replica-failure",
    ),
    case(
        replicaset(3, 3, 1), "healthy", "Scaling Up", False, "1/3 replicas ready", id="rs-scaling"
    ),
]


def job(conditions: list[Obj] | None = None, spec: Obj | None = None, **status: Any) -> Obj:
    body: Obj = {"startTime": ago(minutes=10), **status}
    if conditions:
        body["conditions"] = conditions
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta("nightly-report-28571520", "reports"),
        "spec": {"completions": 1, "parallelism": 1, "backoffLimit": 4, **(spec or {})},
        "status": body,
    }


JOB_CASES = [
    case(
        job(
            [cond("SuccessCriteriaMet", "True"), cond("Complete", "True")],
            succeeded=1,
            completionTime=ago(minutes=9, seconds=25),
        ),
        "healthy",
        "Completed",
        True,
        "1/1 completions in 35s",
        id="job-complete",
    ),
    case(
        job(
            [
                cond("FailureTarget", "True", "BackoffLimitExceeded"),
                cond(
                    "Failed",
                    "True",
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit",
                ),
            ],
            failed=5,
        ),
        "unhealthy",
        "Failed",
        True,
        "BackoffLimitExceeded: Job has reached the specified backoff limit",
        id="job-failed",
    ),
    case(
        job(
            [
                cond(
                    "Failed",
                    "True",
                    "DeadlineExceeded",
                    "Job was active longer than specified deadline",
                )
            ],
            failed=1,
        ),
        "unhealthy",
        "Failed",
        True,
        "DeadlineExceeded: Job was active longer",
        id="job-deadline",
    ),
    case(job(active=1), "healthy", "Running", False, "1 active, 0/1 succeeded", id="job-running"),
    case(
        job(active=1, failed=2),
        "warning",
        "Running",
        False,
        "2 pods failed (backoff limit 4)",
        id="job-retrying",
    ),
    case(
        job([cond("Suspended", "True", "JobSuspended", "Job suspended")], spec={"suspend": True}),
        "unknown",
        "Suspended",
        True,
        "job is suspended",
        id="job-suspended",
    ),
    case(
        job(
            [cond("FailureTarget", "True", "PodFailurePolicy", "Container main exited 42")],
            active=1,
        ),
        "unhealthy",
        "Failing",
        False,
        "Container main exited 42",
        id="job-failure-target",
    ),
    case(job(), "healthy", "Pending", False, "waiting for the job's pods", id="job-pending"),
]


def cronjob(schedule: str = "*/15 * * * *", spec: Obj | None = None, **status: Any) -> Obj:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": meta("sync-prices", "shop", created=ago(days=20)),
        "spec": {"schedule": schedule, "suspend": False, **(spec or {})},
        "status": status,
    }


CRONJOB_CASES = [
    case(
        cronjob(lastScheduleTime=ago(minutes=15), lastSuccessfulTime=ago(minutes=14)),
        "healthy",
        "Scheduled",
        True,
        "last successful run 14m ago",
        id="cron-healthy",
    ),
    case(
        cronjob(lastScheduleTime=ago(minutes=15), lastSuccessfulTime=ago(hours=2)),
        "warning",
        "Late",
        True,
        "last successful run 2h ago; last scheduled 15m ago",
        id="cron-late",
    ),
    case(
        cronjob(
            active=[{"kind": "Job", "name": "sync-prices-28571520", "namespace": "shop"}],
            lastScheduleTime=ago(minutes=0),
            lastSuccessfulTime=ago(minutes=14),
        ),
        "healthy",
        "Running",
        False,
        "1 active job",
        id="cron-running",
    ),
    case(
        cronjob(
            spec={"suspend": True}, lastScheduleTime=ago(days=3), lastSuccessfulTime=ago(days=3)
        ),
        "unknown",
        "Suspended",
        True,
        "cron job is suspended",
        id="cron-suspended",
    ),
    case(
        cronjob(),
        "unknown",
        "Never Scheduled",
        False,
        "no job has been scheduled",
        id="cron-never-scheduled",
    ),
    case(
        cronjob(
            "0 3 * * *",
            spec={"timeZone": "Europe/Berlin"},
            lastScheduleTime=ago(hours=11),
            lastSuccessfulTime=ago(hours=10, minutes=50),
        ),
        "healthy",
        "Scheduled",
        True,
        "last successful run 10h ago",
        id="cron-daily-timezone",
    ),
    case(
        cronjob(
            "0 3 * * *",
            spec={"timeZone": "Europe/Berlin"},
            lastScheduleTime=ago(hours=11),
            lastSuccessfulTime=ago(days=2, hours=10),
        ),
        "warning",
        "Late",
        True,
        "last successful run 2d10h ago",
        id="cron-daily-missed-one",
    ),
    case(
        cronjob("every tuesday"),
        "unknown",
        "Unknown",
        False,
        "cannot read schedule",
        id="cron-bad-schedule",
    ),
]


CASES = [
    *DEPLOYMENT_CASES,
    *STATEFULSET_CASES,
    *DAEMONSET_CASES,
    *REPLICASET_CASES,
    *JOB_CASES,
    *CRONJOB_CASES,
]


@pytest.mark.parametrize(("obj", "type_name", "health", "status", "ready", "message"), CASES)
def test_builtin_verdict(
    obj: Obj, type_name: str | None, health: str, status: str, ready: bool, message: str
) -> None:
    verdict = assess(obj, type_name, now=NOW)

    assert (verdict.health, verdict.status, verdict.ready) == (health, status, ready)
    assert message in verdict.message


def test_cronjob_verdict_changes_with_the_clock_alone() -> None:
    job = cronjob(lastScheduleTime=ago(minutes=15), lastSuccessfulTime=ago(minutes=14))

    later = assess(job, now=NOW + timedelta(minutes=40))

    assert (assess(job, now=NOW).health, later.health) == ("healthy", "warning")
