"""Builders for realistic raw objects in health tests, with times relative to a fixed NOW."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
Obj = dict[str, Any]


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ago(**delta: float) -> str:
    """RFC 3339 text for NOW minus a timedelta(**delta)."""
    return rfc3339(NOW - timedelta(**delta))


def ahead(**delta: float) -> str:
    return rfc3339(NOW + timedelta(**delta))


def cond(kind: str, status: str, reason: str = "", message: str = "", since: str = "") -> Obj:
    condition: Obj = {"type": kind, "status": status}
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    condition["lastTransitionTime"] = since or ago(hours=3)
    return condition


def meta(name: str, namespace: str = "shop", created: str = "", **extra: Any) -> Obj:
    metadata: Obj = {
        "name": name,
        "namespace": namespace,
        "uid": f"00000000-0000-4000-8000-{zlib.crc32(name.encode()):012d}",
        "creationTimestamp": created or ago(days=3),
    }
    metadata.update(extra)
    return metadata


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


def custom(api_version: str, kind: str, spec: Obj | None = None, **status: Any) -> Obj:
    """Any object with a spec and a status, e.g. a CRD instance."""
    obj: Obj = {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": meta(kind.lower(), generation=status.pop("generation", 2)),
        "spec": spec or {},
    }
    if status:
        obj["status"] = status
    return obj
