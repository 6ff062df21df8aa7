"""Pod health: kubectl's STATUS column, container failures, restart windows and slow starts."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from catalog.health.objects import (
    ago,
    conditions,
    dig,
    duration,
    is_false,
    is_true,
    items,
    mapping,
    number,
    sentence,
    text,
    timestamp,
)
from catalog.health.verdict import HEALTHY, Health, severity, unhealthy, unknown, warning

# Restarts this soon after the pod started are boot noise (waiting for a database, say).
RESTART_GRACE = timedelta(minutes=15)
# A restart (after the grace period) this recent makes the pod unhealthy ...
RESTART_UNHEALTHY_WITHIN = timedelta(hours=1)
# ... and this recent a warning; older restarts are history.
RESTART_WARNING_WITHIN = timedelta(hours=24)
# Scheduling, image pulls, init containers and readiness probes: a couple of minutes is normal,
# ten minutes deserves a look, half an hour means the pod is not going to make it on its own.
STARTING_WARNING_AFTER = timedelta(minutes=10)
STARTING_UNHEALTHY_AFTER = timedelta(minutes=30)
# deletionTimestamp already includes the grace period, so this is time beyond it.
TERMINATING_WARNING_AFTER = timedelta(minutes=15)

# Waiting reasons that do not fix themselves by waiting (kubelet's images and kuberuntime errors).
FATAL_WAITING = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "ErrImageNeverPull",
        "InvalidImageName",
        "ImageInspectError",
        "RegistryUnavailable",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
        "PreStartHookError",
        "PostStartHookError",
        "ContainerCannotRun",
        "StartError",
    }
)
# The node removed the pod on its own. The pod object lingers only as a record, so it is
# reported like a deleted object: nothing to fix on the pod, and it never turns a parent amber.
EVICTION_REASONS = frozenset({"Evicted", "Shutdown", "Terminated", "NodeShutdown"})
NODE_LOST = "NodeLost"


def _fatal(reason: str) -> bool:
    """Unknown runtime errors follow kubelet's naming: Err*, *Error, *BackOff."""
    return (
        reason in FATAL_WAITING
        or reason.startswith("Err")
        or reason.endswith("Error")
        or reason.endswith("BackOff")
    )


def _sidecar_names(obj: Mapping[str, Any]) -> set[str]:
    """Restartable init containers (sidecars) keep running; they never finish initialising."""
    return {
        text(c.get("name"))
        for c in items(dig(obj, "spec.initContainers"))
        if text(c.get("restartPolicy")) == "Always"
    }


def _exit_reason(terminated: Mapping[str, Any], prefix: str = "") -> str:
    """kubectl falls back to Signal:N or ExitCode:N when the runtime gives no reason."""
    if reason := text(terminated.get("reason")):
        return prefix + reason
    if signal := number(terminated.get("signal")):
        return f"{prefix}Signal:{signal}"
    return f"{prefix}ExitCode:{number(terminated.get('exitCode'))}"


def kubectl_status(obj: Mapping[str, Any]) -> str:
    """The STATUS column of `kubectl get pods`, reproduced from kubectl's printPod."""
    status = mapping(obj.get("status"))
    phase = text(status.get("phase"))
    reason = text(status.get("reason")) or phase
    conds = conditions(obj)
    scheduled = conds.get("PodScheduled")
    if scheduled and text(scheduled.get("reason")) == "SchedulingGated":
        reason = "SchedulingGated"

    sidecars = _sidecar_names(obj)
    init_statuses = items(status.get("initContainerStatuses"))
    init_total = len(items(dig(obj, "spec.initContainers"))) or len(init_statuses)
    initializing = False
    for index, container in enumerate(init_statuses):
        state = mapping(container.get("state"))
        terminated = mapping(state.get("terminated"))
        waiting = mapping(state.get("waiting"))
        if terminated and number(terminated.get("exitCode")) == 0:
            continue
        if text(container.get("name")) in sidecars and container.get("started") is True:
            continue
        if terminated:
            reason = _exit_reason(terminated, "Init:")
        elif text(waiting.get("reason")) and text(waiting.get("reason")) != "PodInitializing":
            reason = "Init:" + text(waiting.get("reason"))
        else:
            reason = f"Init:{index}/{init_total}"
        initializing = True
        break

    if not initializing or is_true(conds.get("Initialized")):
        has_running = False
        for container in reversed(items(status.get("containerStatuses"))):
            state = mapping(container.get("state"))
            waiting = mapping(state.get("waiting"))
            terminated = mapping(state.get("terminated"))
            if text(waiting.get("reason")):
                reason = text(waiting.get("reason"))
            elif terminated:
                reason = _exit_reason(terminated)
            elif container.get("ready") is True and state.get("running") is not None:
                has_running = True
        if reason == "Completed" and has_running:
            reason = "Running" if "Ready" in conds and is_true(conds["Ready"]) else "NotReady"

    deleting = dig(obj, "metadata.deletionTimestamp") is not None
    if deleting and text(status.get("reason")) == NODE_LOST:
        return "Unknown"
    if deleting and phase not in ("Succeeded", "Failed"):
        return "Terminating"
    return reason or "Unknown"


def _restarts_text(count: int) -> str:
    return f"{count} restart" if count == 1 else f"{count} restarts"


def _waiting_message(container: Mapping[str, Any], reason: str, init: bool) -> str:
    """Say which container, what is wrong and, for crash loops, how it last died."""
    name = text(container.get("name"))
    label = f"init container {name}" if init else f"container {name}"
    detail = text(dig(container, "state.waiting.message"))
    if reason == "CrashLoopBackOff":
        last = mapping(dig(container, "lastState.terminated"))
        died = f"last terminated {_exit_reason(last)}" if last else ""
        if last and number(last.get("exitCode")):
            died += f" (exit code {number(last.get('exitCode'))})"
        restarts = _restarts_text(number(container.get("restartCount")))
        return sentence(f"{label} is crash-looping: " + ", ".join(p for p in (died, restarts) if p))
    return f"{label} cannot start: {reason}" + (f" ({detail})" if detail else "")


def _terminated_message(container: Mapping[str, Any], terminated: Mapping[str, Any]) -> str:
    name = text(container.get("name"))
    line = f"container {name} terminated: {_exit_reason(terminated)}"
    if code := number(terminated.get("exitCode")):
        line += f" (exit code {code})"
    if detail := text(terminated.get("message")).strip():
        line += f": {detail.splitlines()[0]}"
    return line


def _container_problem(obj: Mapping[str, Any], shown: str) -> Health | None:
    """A container that cannot start or has died outright; waiting will not help."""
    status = mapping(obj.get("status"))
    sidecars = _sidecar_names(obj)
    for container in items(status.get("initContainerStatuses")):
        state = mapping(container.get("state"))
        terminated = mapping(state.get("terminated"))
        reason = text(dig(state, "waiting.reason"))
        if terminated and number(terminated.get("exitCode")) != 0:
            message = "init " + _terminated_message(container, terminated)
            return unhealthy(shown, message)
        if reason and _fatal(reason):
            return unhealthy(shown, _waiting_message(container, reason, init=True))
        if text(container.get("name")) in sidecars or (terminated and not reason):
            continue
        break  # later init containers have not started yet
    for container in items(status.get("containerStatuses")):
        state = mapping(container.get("state"))
        reason = text(dig(state, "waiting.reason"))
        if reason and _fatal(reason):
            return unhealthy(shown, _waiting_message(container, reason, init=False))
        terminated = mapping(state.get("terminated"))
        if terminated and number(terminated.get("exitCode")) != 0:
            return unhealthy(shown, _terminated_message(container, terminated))
    return None


def _restart_verdict(obj: Mapping[str, Any], shown: str, now: datetime) -> Health | None:
    """The latest restart after the start-up grace period decides: last hour red, last day amber."""
    started = timestamp(dig(obj, "status.startTime")) or timestamp(
        dig(obj, "metadata.creationTimestamp")
    )
    latest: tuple[datetime, Mapping[str, Any], Mapping[str, Any]] | None = None
    for container in items(dig(obj, "status.containerStatuses")):
        if number(container.get("restartCount")) <= 0:
            continue
        last = mapping(dig(container, "lastState.terminated"))
        finished = timestamp(last.get("finishedAt"))
        if finished is None or (started is not None and finished - started < RESTART_GRACE):
            continue
        if latest is None or finished > latest[0]:
            latest = (finished, container, last)
    if latest is None:
        return None
    finished, container, last = latest
    age = now - finished
    if age > RESTART_WARNING_WITHIN:
        return None
    shown = _restart_status(container, last)
    restarts = _restarts_text(number(container.get("restartCount")))
    message = (
        f"container {text(container.get('name'))} terminated: {_exit_reason(last)} "
        f"({restarts}, last {ago(finished, now)})"
    )
    if age <= RESTART_UNHEALTHY_WITHIN:
        return unhealthy(shown, message)
    return warning(shown, message)


def _restart_status(container: Mapping[str, Any], last: Mapping[str, Any]) -> str:
    """Mission Control names a restarted pod by how it died: OOMKilled, or CrashedOnce for a
    single crash, else the runtime's reason for the last termination."""
    reason = _exit_reason(last)
    if reason == "OOMKilled":
        return reason
    if number(container.get("restartCount")) == 1:
        return "CrashedOnce"
    return reason


def _starting_message(obj: Mapping[str, Any], shown: str) -> str:
    """Why the pod is not ready yet, in the words the scheduler or kubelet used."""
    status = mapping(obj.get("status"))
    conds = conditions(obj)
    scheduled = conds.get("PodScheduled")
    if is_false(scheduled):
        return text(scheduled.get("message")) or text(scheduled.get("reason")) or "not scheduled"
    if shown.startswith("Init:"):
        for container in items(status.get("initContainerStatuses")):
            if number(dig(container, "state.terminated.exitCode"), -1) != 0:
                return f"waiting for init container {text(container.get('name'))}"
        return "initialising"
    for container in items(status.get("containerStatuses")):
        waiting = mapping(dig(container, "state.waiting"))
        if waiting:
            name, reason = text(container.get("name")), text(waiting.get("reason"))
            detail = text(waiting.get("message"))
            return f"container {name} {reason or 'waiting'}" + (f": {detail}" if detail else "")
    not_ready = [
        text(c.get("name"))
        for c in items(status.get("containerStatuses"))
        if c.get("ready") is not True
    ]
    if not_ready:
        noun = "container" if len(not_ready) == 1 else "containers"
        return f"{noun} {', '.join(not_ready)} not ready"
    return text(status.get("message")) or "waiting for containers"


def _starting_verdict(obj: Mapping[str, Any], shown: str, ready: bool, now: datetime) -> Health:
    """Not ready yet is fine for a few minutes, worth a look after ten, broken after thirty."""
    if ready:
        containers = items(dig(obj, "status.containerStatuses"))
        total = len(containers) or len(items(dig(obj, "spec.containers")))
        noun = "container" if total == 1 else "containers"
        return Health(HEALTHY, shown, True, f"{total}/{total} {noun} ready" if total else "ready")
    conds = conditions(obj)
    phase = text(dig(obj, "status.phase"))
    since = None
    if phase == "Running" and "Ready" in conds:
        since = timestamp(conds["Ready"].get("lastTransitionTime"))
    since = since or timestamp(dig(obj, "metadata.creationTimestamp"))
    since = since or timestamp(dig(obj, "status.startTime"))
    message = _starting_message(obj, shown)
    if since is None:
        return Health(HEALTHY, shown, False, message)
    age = now - since
    if age >= STARTING_UNHEALTHY_AFTER:
        return unhealthy(shown, f"{message} (for {duration(age)})")
    if age >= STARTING_WARNING_AFTER:
        return warning(shown, f"{message} (for {duration(age)})")
    return Health(HEALTHY, shown, False, message)


def assess_pod(obj: Mapping[str, Any], now: datetime) -> Health:
    """Phase, container failures, restart windows and slow starts; the status is kubectl's
    column, or the last termination reason when a restart is what matters."""
    status = mapping(obj.get("status"))
    phase = text(status.get("phase"))
    shown = kubectl_status(obj)
    ready = is_true(conditions(obj).get("Ready"))

    deleted = timestamp(dig(obj, "metadata.deletionTimestamp"))
    if deleted is not None and text(status.get("reason")) == NODE_LOST:
        return unknown("Unknown", "node is unreachable; the pod is being deleted")
    if deleted is not None and phase not in ("Succeeded", "Failed"):
        if now - deleted > TERMINATING_WARNING_AFTER:
            return warning("Terminating", f"stuck terminating for {duration(now - deleted)}")
        return unknown("Terminating", "pod is being deleted")

    if text(status.get("reason")) in EVICTION_REASONS and phase == "Failed":
        detail = text(status.get("message")) or "the node removed the pod"
        return unknown("Deleted", f"{text(status.get('reason')).lower()}: {detail}", ready=True)
    if phase == "Succeeded":
        return Health(
            HEALTHY, shown, True, text(status.get("message")) or "all containers exited 0"
        )
    if phase == "Failed":
        problem = _container_problem(obj, shown)
        message = text(status.get("message")) or (problem.message if problem else "pod failed")
        return unhealthy(shown, message, ready=True)

    if problem := _container_problem(obj, shown):
        return problem
    if phase == "Unknown" or not phase:
        return unknown(shown, text(status.get("message")) or "the node stopped reporting the pod")

    verdicts = [_starting_verdict(obj, shown, ready, now)]
    if phase == "Running" and (restarted := _restart_verdict(obj, shown, now)):
        verdicts.insert(0, restarted)
    chosen = max(verdicts, key=severity)
    return Health(chosen.health, chosen.status, ready, chosen.message)
