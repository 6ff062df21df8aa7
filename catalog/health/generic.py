"""Fallback for kinds without a handler: conditions, then a status word, else unknown."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from catalog.health.objects import conditions, dig, generation_lag, is_false, is_true, mapping, text
from catalog.health.verdict import (
    HEALTHY,
    UNHEALTHY,
    UNKNOWN,
    WARNING,
    Health,
    unhealthy,
    unknown,
)

# Conditions that carry the verdict, in order of preference.
DECIDING = ("Ready", "Available", "Healthy")
# Reasons that say "not there yet" rather than "broken" (Flux, Crossplane, CAPI, operators).
_PROGRESSING_HINTS = (
    "progress",
    "pending",
    "reconcil",
    "creating",
    "provision",
    "initializ",
    "waiting",
    "updating",
    "starting",
    "installing",
    "upgrading",
    "scaling",
    "deploying",
    "dependencynotready",
    "inprogress",
)
_FAILURE_HINTS = (
    "fail",
    "error",
    "exceeded",
    "timeout",
    "timedout",
    "stalled",
    "invalid",
    "denied",
)
# Progressing=True with these reasons is a finished rollout (Deployments, Argo Rollouts).
_DONE_HINTS = ("complete", "available", "succeeded", "done", "healthy")

# Status words and what they mean, as (health, ready), in Mission Control's reading: work that
# has started but not reached a state (creating, pending, deleting) is unknown, changes to a
# running thing (updating, scaling) are healthy but not ready, and paused things are amber.
VOCABULARY: dict[str, tuple[str, bool]] = {}
for _word in (
    "active activated available bound complete completed deployed enabled established green"
    " healthy inservice issued normal ok online operational passed provisioned ready running"
    " succeeded success successful synced up valid"
).split():
    VOCABULARY[_word] = (HEALTHY, True)
for _word in (
    "migrating modifying rebooting resizing restarting scaling updating upgrading"
).split():
    VOCABULARY[_word] = (HEALTHY, False)
for _word in (
    "building creating deploying initializing initialising inprogress installing pending"
    " progressing provisioning queued reconciling starting waiting"
).split():
    VOCABULARY[_word] = (UNKNOWN, False)
for _word in (
    "broken crashloopbackoff critical down error errored failed failure invalid lost offline"
    " red rejected"
).split():
    VOCABULARY[_word] = (UNHEALTHY, True)
for _word in "degraded unavailable unhealthy".split():
    VOCABULARY[_word] = (UNHEALTHY, False)
for _word in "impaired paused suspended warn warning yellow".split():
    VOCABULARY[_word] = (WARNING, True)
for _word in "maintenance restoring".split():
    VOCABULARY[_word] = (WARNING, False)
for _word in "deallocated deleted disabled hibernated inactive stopped terminated".split():
    VOCABULARY[_word] = (UNKNOWN, True)
for _word in "deallocating deleting stopping terminating".split():
    VOCABULARY[_word] = (UNKNOWN, False)


def _flat(word: str) -> str:
    return re.sub(r"[^a-z0-9]", "", word.lower())


def _tokens(word: str) -> list[str]:
    """`CREATE_FAILED`, `healthCheckFailed` and `in-progress` split into lower-case words."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", word)
    return [t for t in re.split(r"[^a-zA-Z0-9]+", spaced.lower()) if t]


def is_progressing_reason(reason: str) -> bool:
    """Whether a condition reason says the object is on its way rather than broken."""
    flat = _flat(reason)
    if not flat or any(hint in flat for hint in _FAILURE_HINTS):
        return False
    return any(hint in flat for hint in _PROGRESSING_HINTS)


def word_verdict(word: str) -> tuple[str, bool] | None:
    """Map a status word through the vocabulary; compound words go by their telling part."""
    flat = _flat(word)
    if not flat:
        return None
    if flat in VOCABULARY:
        return VOCABULARY[flat]
    known = [VOCABULARY[t] for t in _tokens(word) if t in VOCABULARY]
    if not known:
        return None
    for verdict in known:
        if verdict[0] == UNHEALTHY:
            return verdict
    return known[-1]


def _converging(obj: Mapping[str, Any], conds: dict[str, Mapping[str, Any]]) -> str:
    """Why the object is not ready yet although its verdict may be fine; empty if it is."""
    reconciling = conds.get("Reconciling")
    if is_true(reconciling):
        return text(reconciling.get("message")) or "reconciling"
    progress = conds.get("Progressing")
    if is_true(progress) and not any(h in _flat(text(progress.get("reason"))) for h in _DONE_HINTS):
        return text(progress.get("message")) or "progressing"
    if generation_lag(obj):
        return "waiting for the controller to observe the new spec"
    generation = dig(obj, "metadata.generation")
    for name in DECIDING:
        condition = conds.get(name)
        observed = condition.get("observedGeneration") if condition else None
        if isinstance(observed, int) and isinstance(generation, int) and observed < generation:
            return "the latest spec has not been reconciled yet"
    return ""


def conditions_verdict(obj: Mapping[str, Any]) -> Health | None:
    """Ready (else Available, Healthy) decides and its reason is the status, as Mission Control
    shows it; Stalled is red, work in progress is unknown, Synced=False or Degraded is amber."""
    conds = conditions(obj)
    if not conds:
        return None
    decider_name = next((name for name in DECIDING if name in conds), None)
    decider = conds.get(decider_name) if decider_name else None
    reason = text(decider.get("reason")) if decider else ""
    message = text(decider.get("message")) if decider else ""
    stalled = conds.get("Stalled")
    if is_true(stalled):
        shown = (reason if is_false(decider) else "") or text(stalled.get("reason")) or "Stalled"
        return unhealthy(shown, text(stalled.get("message")) or message or "reconciliation stalled")
    waiting = _converging(obj, conds)
    if decider is None:
        if waiting:
            return Health(UNKNOWN, "Reconciling", False, waiting)
        return None
    if is_true(decider):
        synced = conds.get("Synced")
        if is_false(synced):
            detail = text(synced.get("message")) or "last reconcile failed"
            return Health(WARNING, text(synced.get("reason")) or "Not Synced", not waiting, detail)
        degraded = conds.get("Degraded")
        if is_true(degraded):
            detail = text(degraded.get("message")) or "the object reports it is degraded"
            return Health(WARNING, text(degraded.get("reason")) or "Degraded", not waiting, detail)
        if waiting:
            shown = "Reconciling" if is_true(conds.get("Reconciling")) else reason or decider_name
            return Health(HEALTHY, shown, False, waiting)
        detail = message or (f"{decider_name} ({reason})" if reason else decider_name)
        return Health(HEALTHY, reason or decider_name, True, detail)
    if is_false(decider):
        if is_progressing_reason(reason):
            return Health(UNKNOWN, reason, False, message or f"{decider_name} is False ({reason})")
        detail = message or f"{decider_name} is False" + (f" ({reason})" if reason else "")
        return Health(UNHEALTHY, reason or f"Not {decider_name}", False, detail)
    detail = message or waiting or f"{decider_name} is not known yet"
    return Health(UNKNOWN, reason or "Progressing", False, detail)


def _word(value: Any) -> str:
    """A status may be a bare word or an object naming it ({"Name": "running"}, {"code": ...})."""
    if isinstance(value, Mapping):
        for key in ("name", "Name", "code", "Code", "status", "Status", "value", "Value"):
            if isinstance(value.get(key), str):
                return value[key]
        return ""
    return value if isinstance(value, str) else ""


def _candidates(obj: Mapping[str, Any]) -> list[str]:
    """Status-like string fields, most specific first: inside `status`, then at the top."""
    found: list[str] = []
    status = obj.get("status")
    scopes = [mapping(status), obj] if isinstance(status, Mapping) else [obj]
    for scope in scopes:
        lowered = {k.lower(): k for k in scope if isinstance(k, str)}
        for name in ("phase", "state", "status", "health"):
            if name in lowered and (word := _word(scope[lowered[name]])):
                found.append(word)
        for key in scope:
            if isinstance(key, str) and key.lower().endswith("status") and key.lower() != "status":
                if word := _word(scope[key]):
                    found.append(word)
    return found


def status_word_verdict(obj: Mapping[str, Any]) -> Health | None:
    """The first status word the vocabulary knows, kept as the status."""
    words = _candidates(obj)
    for word in words:
        verdict = word_verdict(word)
        if verdict is not None:
            health, ready = verdict
            message = text(dig(obj, "status.message")) or text(obj.get("message"))
            return Health(health, word, ready, message or f"status is {word}")
    if words:
        return unknown(words[0], f"status word {words[0]!r} is not in the vocabulary")
    return None


def assess_generic(obj: Mapping[str, Any], now: datetime) -> Health:
    """Any kind at all: conditions first, then a status word, else unknown."""
    return (
        conditions_verdict(obj)
        or status_word_verdict(obj)
        or unknown("Unknown", "no conditions or status field to judge by")
    )
