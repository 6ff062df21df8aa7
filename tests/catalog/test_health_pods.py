"""Pod verdicts: kubectl's status column, restart windows, slow starts."""

from __future__ import annotations

from typing import Any

import pytest

from catalog.health import assess
from catalog.health.pods import kubectl_status
from tests.catalog.health_builders import NOW, Obj, ago, case, cond, meta


def last_terminated(reason: str, exit_code: int, finished: str, started: str = "") -> Obj:
    return {
        "terminated": {
            "reason": reason,
            "exitCode": exit_code,
            "startedAt": started or finished,
            "finishedAt": finished,
            "containerID": "containerd://4f1c",
        }
    }


def running(
    name: str = "api",
    ready: bool = True,
    restarts: int = 0,
    last: Obj | None = None,
    started: str = "",
) -> Obj:
    return {
        "name": name,
        "image": f"ghcr.io/acme/{name}:1.4.2",
        "imageID": f"ghcr.io/acme/{name}@sha256:9b1e",
        "ready": ready,
        "started": True,
        "restartCount": restarts,
        "state": {"running": {"startedAt": started or ago(hours=2)}},
        "lastState": last or {},
    }


def waiting(
    name: str, reason: str, message: str = "", restarts: int = 0, last: Obj | None = None
) -> Obj:
    state: Obj = {"reason": reason}
    if message:
        state["message"] = message
    return {
        "name": name,
        "image": f"ghcr.io/acme/{name}:1.4.2",
        "ready": False,
        "started": False,
        "restartCount": restarts,
        "state": {"waiting": state},
        "lastState": last or {},
    }


def terminated(name: str, reason: str, exit_code: int, message: str = "") -> Obj:
    state: Obj = {
        "reason": reason,
        "exitCode": exit_code,
        "startedAt": ago(minutes=20),
        "finishedAt": ago(minutes=5),
    }
    if message:
        state["message"] = message
    return {
        "name": name,
        "image": f"ghcr.io/acme/{name}:1.4.2",
        "ready": False,
        "started": False,
        "restartCount": 0,
        "state": {"terminated": state},
        "lastState": {},
    }


def pod(
    containers: list[Obj] | None = None,
    phase: str = "Running",
    ready: bool | None = None,
    init: list[Obj] | None = None,
    init_spec: list[Obj] | None = None,
    created: str = "",
    started: str = "",
    conditions: list[Obj] | None = None,
    restart_policy: str = "Always",
    **status: Any,
) -> Obj:
    """A pod shaped like `kubectl get pod -o json` output."""
    containers = containers if containers is not None else [running()]
    created = created or ago(hours=2)
    if ready is None:
        ready = phase == "Running" and all(c.get("ready") for c in containers)
    if conditions is None:
        conditions = [
            cond("PodReadyToStartContainers", "True", since=created),
            cond("Initialized", "True" if not init else "False", since=created),
            cond("Ready", "True" if ready else "False", since=started or created),
            cond("ContainersReady", "True" if ready else "False", since=started or created),
            cond("PodScheduled", "True", since=created),
        ]
    spec_containers = [{"name": c["name"], "image": c.get("image", "x")} for c in containers]
    obj: Obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta("api-7d9f8b6c5-x2k4q", created=created),
        "spec": {
            "containers": spec_containers,
            "restartPolicy": restart_policy,
            "nodeName": "ip-10-0-1-17.eu-west-1.compute.internal",
        },
        "status": {
            "phase": phase,
            "conditions": conditions,
            "hostIP": "10.0.1.17",
            "podIP": "10.0.1.45",
            "startTime": started or created,
            "containerStatuses": containers,
            "qosClass": "Burstable",
            **status,
        },
    }
    if init is not None:
        obj["status"]["initContainerStatuses"] = init
        obj["spec"]["initContainers"] = init_spec or [
            {"name": c["name"], "image": "x"} for c in init
        ]
    return obj


OOM_RECENT = last_terminated("OOMKilled", 137, ago(minutes=12), ago(minutes=40))

CASES = [
    case(pod(), "healthy", "Running", True, "1/1 container ready", id="pod-running"),
    case(
        pod(
            [terminated("report", "Completed", 0)],
            phase="Succeeded",
            ready=False,
            restart_policy="Never",
        ),
        "healthy",
        "Completed",
        True,
        "all containers exited 0",
        id="pod-succeeded",
    ),
    case(
        pod(
            [
                waiting(
                    "api",
                    "CrashLoopBackOff",
                    "back-off 5m0s restarting failed container=api pod=api-7d9f8b6c5-x2k4q",
                    restarts=5,
                    last=OOM_RECENT,
                )
            ]
        ),
        "unhealthy",
        "CrashLoopBackOff",
        False,
        "container api is crash-looping: last terminated OOMKilled (exit code 137), 5 restarts",
        id="pod-crashloop-oom",
    ),
    case(
        pod(
            [waiting("api", "ImagePullBackOff", 'Back-off pulling image "ghcr.io/acme/api:1.4.3"')]
        ),
        "unhealthy",
        "ImagePullBackOff",
        False,
        'container api cannot start: ImagePullBackOff (Back-off pulling image "ghcr.io/acme/api',
        id="pod-image-pull-backoff",
    ),
    case(
        pod([waiting("api", "ErrImagePull", "rpc error: code = NotFound desc = not found")]),
        "unhealthy",
        "ErrImagePull",
        False,
        "cannot start: ErrImagePull",
        id="pod-err-image-pull",
    ),
    case(
        pod([waiting("api", "CreateContainerConfigError", 'secret "api-db" not found')]),
        "unhealthy",
        "CreateContainerConfigError",
        False,
        'secret "api-db" not found',
        id="pod-config-error",
    ),
    case(
        pod(
            [waiting("api", "PodInitializing")],
            phase="Pending",
            init=[
                waiting(
                    "migrate",
                    "CrashLoopBackOff",
                    restarts=4,
                    last=last_terminated("Error", 1, ago(minutes=2)),
                )
            ],
        ),
        "unhealthy",
        "Init:CrashLoopBackOff",
        False,
        "init container migrate is crash-looping: last terminated Error (exit code 1), 4 restarts",
        id="pod-init-crashloop",
    ),
    case(
        pod(
            [waiting("api", "PodInitializing")],
            phase="Pending",
            init=[terminated("migrate", "Error", 2, 'relation "orders" does not exist')],
        ),
        "unhealthy",
        "Init:Error",
        False,
        'init container migrate terminated: Error (exit code 2): relation "orders"',
        id="pod-init-error",
    ),
    case(
        pod(
            [waiting("api", "PodInitializing")],
            phase="Pending",
            created=ago(minutes=1),
            init=[
                {**running("wait-for-db", ready=False), "started": True},
                waiting("migrate", "PodInitializing"),
            ],
        ),
        "healthy",
        "Init:0/2",
        False,
        "waiting for init container wait-for-db",
        id="pod-init-in-progress",
    ),
    case(
        pod(
            [],
            phase="Pending",
            created=ago(minutes=2),
            conditions=[
                cond(
                    "PodScheduled",
                    "False",
                    "Unschedulable",
                    "0/3 nodes are available: 3 Insufficient cpu.",
                    since=ago(minutes=2),
                )
            ],
        ),
        "healthy",
        "Pending",
        False,
        "0/3 nodes are available: 3 Insufficient cpu.",
        id="pod-unschedulable-2m",
    ),
    case(
        pod(
            [],
            phase="Pending",
            created=ago(minutes=15),
            conditions=[
                cond(
                    "PodScheduled",
                    "False",
                    "Unschedulable",
                    "0/3 nodes are available: 3 Insufficient cpu.",
                )
            ],
        ),
        "warning",
        "Pending",
        False,
        "Insufficient cpu. (for 15m)",
        id="pod-unschedulable-15m",
    ),
    case(
        pod(
            [],
            phase="Pending",
            created=ago(minutes=45),
            conditions=[cond("PodScheduled", "False", "Unschedulable", "0/3 nodes are available")],
        ),
        "unhealthy",
        "Pending",
        False,
        "(for 45m)",
        id="pod-unschedulable-45m",
    ),
    case(
        pod([waiting("api", "ContainerCreating")], phase="Pending", created=ago(minutes=2)),
        "healthy",
        "ContainerCreating",
        False,
        "container api ContainerCreating",
        id="pod-container-creating-2m",
    ),
    case(
        pod([waiting("api", "ContainerCreating")], phase="Pending", created=ago(minutes=30)),
        "unhealthy",
        "ContainerCreating",
        False,
        "(for 30m)",
        id="pod-container-creating-30m",
    ),
    case(
        pod([running(restarts=3, last=OOM_RECENT, started=ago(minutes=12))], created=ago(hours=3)),
        "unhealthy",
        "OOMKilled",
        True,
        "container api terminated: OOMKilled (3 restarts, last 12m ago)",
        id="pod-restart-last-hour",
    ),
    case(
        pod(
            [running(restarts=1, last=last_terminated("Error", 1, ago(hours=5)))],
            created=ago(days=2),
        ),
        "warning",
        "CrashedOnce",
        True,
        "container api terminated: Error (1 restart, last 5h ago)",
        id="pod-restart-last-day",
    ),
    case(
        pod(
            [running(restarts=2, last=last_terminated("Error", 1, ago(days=2)))],
            created=ago(days=9),
        ),
        "healthy",
        "Running",
        True,
        "1/1 container ready",
        id="pod-restart-days-ago",
    ),
    case(
        pod(
            [running(restarts=2, last=last_terminated("Error", 1, ago(minutes=15)))],
            created=ago(minutes=20),
        ),
        "healthy",
        "Running",
        True,
        "1/1 container ready",
        id="pod-restart-during-startup-grace",
    ),
    case(
        pod(
            [running(ready=False)],
            created=ago(hours=5),
            started=ago(minutes=3),
        ),
        "healthy",
        "Running",
        False,
        "container api not ready",
        id="pod-not-ready-3m",
    ),
    case(
        pod([running(ready=False)], created=ago(hours=5), started=ago(minutes=40)),
        "unhealthy",
        "Running",
        False,
        "container api not ready (for 40m)",
        id="pod-not-ready-40m",
    ),
    case(
        {
            **pod(),
            "metadata": meta(
                "api-1", deletionTimestamp=ago(seconds=10), deletionGracePeriodSeconds=30
            ),
        },
        "unknown",
        "Terminating",
        False,
        "pod is being deleted",
        id="pod-terminating",
    ),
    case(
        {**pod(), "metadata": meta("api-1", deletionTimestamp=ago(minutes=20))},
        "warning",
        "Terminating",
        False,
        "stuck terminating for 20m",
        id="pod-stuck-terminating",
    ),
    case(
        pod(
            [],
            phase="Failed",
            reason="Evicted",
            message="The node was low on resource: memory. Threshold quantity: 100Mi.",
        ),
        "unknown",
        "Deleted",
        True,
        "The node was low on resource: memory",
        id="pod-evicted",
    ),
    case(
        pod([terminated("main", "Error", 1)], phase="Failed", restart_policy="Never"),
        "unhealthy",
        "Error",
        True,
        "container main terminated: Error (exit code 1)",
        id="pod-failed-error",
    ),
    case(
        pod(
            [],
            phase="Failed",
            reason="DeadlineExceeded",
            message="Pod was active on the node longer than the specified deadline",
        ),
        "unhealthy",
        "DeadlineExceeded",
        True,
        "longer than the specified deadline",
        id="pod-failed-deadline",
    ),
    case(
        {
            **pod(phase="Running", reason="NodeLost"),
            "metadata": meta("api-1", deletionTimestamp=ago(minutes=1)),
        },
        "unknown",
        "Unknown",
        False,
        "node is unreachable",
        id="pod-node-lost",
    ),
    case(
        pod([running(ready=False)], phase="Unknown", ready=False),
        "unknown",
        "Unknown",
        False,
        "node stopped reporting",
        id="pod-phase-unknown",
    ),
    case(
        pod(
            [running("api"), running("istio-proxy")],
            init=[{**running("log-shipper"), "started": True}],
            init_spec=[{"name": "log-shipper", "image": "x", "restartPolicy": "Always"}],
            conditions=[cond("Initialized", "True"), cond("Ready", "True")],
        ),
        "healthy",
        "Running",
        True,
        "2/2 containers ready",
        id="pod-native-sidecar",
    ),
    case(
        pod([running("api"), waiting("worker", "CrashLoopBackOff", restarts=7)]),
        "unhealthy",
        "CrashLoopBackOff",
        False,
        "container worker is crash-looping: 7 restarts",
        id="pod-second-container-crashloop",
    ),
]


@pytest.mark.parametrize(("obj", "type_name", "health", "status", "ready", "message"), CASES)
def test_builtin_verdict(
    obj: Obj, type_name: str | None, health: str, status: str, ready: bool, message: str
) -> None:
    verdict = assess(obj, type_name, now=NOW)

    assert (verdict.health, verdict.status, verdict.ready) == (health, status, ready)
    assert message in verdict.message


def test_kubectl_status_shows_scheduling_gates() -> None:
    gated = pod(
        [],
        phase="Pending",
        conditions=[
            cond(
                "PodScheduled",
                "False",
                "SchedulingGated",
                "Scheduling is blocked due to non-empty scheduling gates",
            ),
        ],
    )

    assert kubectl_status(gated) == "SchedulingGated"


def test_kubectl_status_names_init_container_signals() -> None:
    killed = terminated("migrate", "", 137)
    killed["state"]["terminated"]["signal"] = 9

    assert (
        kubectl_status(pod([waiting("api", "PodInitializing")], phase="Pending", init=[killed]))
        == "Init:Signal:9"
    )


def test_kubectl_status_completed_with_running_container_is_running() -> None:
    mixed = pod([running("api"), terminated("setup", "Completed", 0)], ready=True)

    assert kubectl_status(mixed) == "Running"
