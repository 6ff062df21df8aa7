"""Cloud resources judged by status-word tables, extensible with YAML files and no code.

Tables come from the bundled `cloud_states.yaml`, then every file named in the environment
variable FLIGHTDECK_HEALTH_STATE_FILES (colon-separated paths, read on each lookup so a process
started with the variable picks the files up), then tables given to `register_state_table()`.
Later sources are merged over earlier ones type by type, field by field, word by word.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from catalog.health.objects import dig, humanize, items, mapping, number, text
from catalog.health.verdict import (
    HEALTH_VALUES,
    HEALTHY,
    UNHEALTHY,
    Health,
    severity,
    unknown,
    warning,
)
from portal.errors import FlightdeckError

BUNDLED_TABLE = Path(__file__).with_name("cloud_states.yaml")
STATE_FILES_ENV = "FLIGHTDECK_HEALTH_STATE_FILES"
# "No opinion": the word is known but says nothing about health (ECS healthStatus UNKNOWN).
SKIP = None


@dataclass(frozen=True)
class StateVerdict:
    """What one state word means."""

    health: str
    ready: bool = True
    status: str = ""


@dataclass(frozen=True)
class StateEntry:
    """One type's table: where messages live and which fields carry state words."""

    message_paths: tuple[str, ...]
    fields: dict[str, dict[str, StateVerdict | None]]


# Tables added in code, and a counter that changes with them so memoised merges stay correct.
_registered: list[dict[str, StateEntry]] = []
_generation = 0


def _word_key(word: Any) -> str:
    """YAML turns `true:` into a bool key; compare everything as lower-case text."""
    return text(word).strip().lower()


def _parse_verdict(raw: Any, where: str) -> StateVerdict | None:
    if raw is None:
        return SKIP
    if isinstance(raw, str):
        raw = {"health": raw}
    if not isinstance(raw, Mapping) or raw.get("health") not in HEALTH_VALUES:
        raise FlightdeckError(f"{where}: a verdict needs health one of {', '.join(HEALTH_VALUES)}")
    ready = raw.get("ready", True)
    if not isinstance(ready, bool):
        raise FlightdeckError(f"{where}: ready must be true or false")
    return StateVerdict(raw["health"], ready, text(raw.get("status")))


def parse_state_table(table: Any, source: str = "state table") -> dict[str, StateEntry]:
    """Validate a table up front so a typo fails at load time with its location."""
    if not isinstance(table, Mapping):
        raise FlightdeckError(f"{source}: expected a mapping of type -> entry")
    parsed: dict[str, StateEntry] = {}
    for type_name, entry in table.items():
        if not isinstance(type_name, str) or type_name.startswith("_"):
            continue
        where = f"{source}: {type_name}"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("fields"), Mapping):
            raise FlightdeckError(f"{where}: needs a 'fields' mapping")
        messages = entry.get("message") or []
        if isinstance(messages, str):
            messages = [messages]
        if not isinstance(messages, list) or not all(isinstance(m, str) for m in messages):
            raise FlightdeckError(f"{where}: 'message' must be a list of field paths")
        fields: dict[str, dict[str, StateVerdict | None]] = {}
        for path, words in entry["fields"].items():
            if not isinstance(words, Mapping):
                raise FlightdeckError(f"{where}.{path}: expected a mapping of word -> verdict")
            fields[str(path)] = {
                _word_key(word): _parse_verdict(raw, f"{where}.{path}.{word}")
                for word, raw in words.items()
            }
        parsed[type_name] = StateEntry(tuple(messages), fields)
    return parsed


@lru_cache(maxsize=32)
def _load_file(path: str, mtime_ns: int) -> dict[str, StateEntry]:
    """Parsed tables memoised by path and modification time, so edits are picked up."""
    try:
        with open(path, encoding="utf-8") as handle:
            raw = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as exc:
        raise FlightdeckError(f"cannot read health state table {path}: {exc}") from exc
    return parse_state_table(raw or {}, path)


def _file_keys() -> tuple[tuple[str, int], ...]:
    """The table files in precedence order, each with its modification time."""
    paths = [str(BUNDLED_TABLE)]
    paths += [p for p in os.environ.get(STATE_FILES_ENV, "").split(":") if p.strip()]
    keys = []
    for path in paths:
        try:
            keys.append((path, os.stat(path).st_mtime_ns))
        except OSError as exc:
            raise FlightdeckError(f"cannot read health state table {path}: {exc}") from exc
    return tuple(keys)


def register_state_table(table: Mapping[str, Any], source: str = "registered table") -> None:
    """Add a table in code (tests, plugins of the scraper kind); it wins over the files."""
    global _generation
    _registered.append(parse_state_table(table, source))
    _generation += 1


def unregister_state_tables() -> None:
    """Drop tables added with register_state_table (tests use this to stay independent)."""
    global _generation
    _registered.clear()
    _generation += 1


def _merge(entries: list[StateEntry]) -> StateEntry:
    messages: tuple[str, ...] = ()
    fields: dict[str, dict[str, StateVerdict | None]] = {}
    for entry in entries:
        messages = entry.message_paths or messages
        for path, words in entry.fields.items():
            fields.setdefault(path, {}).update(words)
    return StateEntry(messages, fields)


@lru_cache(maxsize=512)
def _merged_entry(
    type_name: str, files: tuple[tuple[str, int], ...], generation: int
) -> StateEntry | None:
    """Memoised on everything it reads: file versions and the registration generation."""
    tables = [*(_load_file(path, mtime) for path, mtime in files), *_registered]
    exact = [t[type_name] for t in tables if type_name in t]
    if exact:
        return _merge(exact)
    globbed = [
        entry
        for table in tables
        for pattern, entry in table.items()
        if any(c in pattern for c in "*?[") and fnmatch.fnmatchcase(type_name, pattern)
    ]
    return _merge(globbed) if globbed else None


def state_entry(type_name: str) -> StateEntry | None:
    """The merged table for a type: exact names beat globs, later sources beat earlier ones."""
    return _merged_entry(type_name, _file_keys(), _generation)


def _lookup(words: dict[str, StateVerdict | None], word: str) -> tuple[str, StateVerdict | None]:
    """(matched word, verdict); `PowerState/running` also matches, and shows as, `running`."""
    for candidate in (word.strip(), word.strip().rsplit("/", 1)[-1]):
        if candidate.lower() in words:
            return candidate, words[candidate.lower()]
    return "", None


def _field_word(value: Any) -> str:
    if isinstance(value, Mapping):
        for key in ("name", "Name", "code", "Code", "value", "Value"):
            if key in value:
                return text(value[key])
        return ""
    return text(value)


def table_verdict(entry: StateEntry, obj: Mapping[str, Any]) -> Health | None:
    """Every field that resolves votes; the most telling vote is the verdict."""
    votes: list[tuple[Health, str]] = []
    unmapped: list[str] = []
    for path, words in entry.fields.items():
        word = _field_word(dig(obj, path, ignore_case=True))
        if not word:
            continue
        matched, verdict = _lookup(words, word)
        if not matched:
            unmapped.append(word)
            continue
        if verdict is SKIP:
            continue
        vote = Health(verdict.health, verdict.status or humanize(matched), verdict.ready, "")
        votes.append((vote, f"{path} is {word}"))
    message = ""
    for path in entry.message_paths:
        if message := text(dig(obj, path, ignore_case=True)).strip():
            break
    if not votes:
        if unmapped:
            shown = humanize(unmapped[0])
            return unknown(shown, message or f"state {unmapped[0]!r} is not in the table")
        return None
    chosen, why = max(votes, key=lambda vote: severity(vote[0]))
    ready = all(vote.ready for vote, _ in votes)
    message = message or why
    return Health(chosen.health, chosen.status, ready, message)


def _ecs_service(obj: Mapping[str, Any], verdict: Health) -> Health:
    """Task counts matter once no deployment is rolling: none running is red, fewer is amber."""
    desired = number(dig(obj, "desiredCount", ignore_case=True))
    running = number(dig(obj, "runningCount", ignore_case=True))
    rollout = text(dig(obj, "deployments[0].rolloutState", ignore_case=True)).upper()
    counts = f"{running}/{desired} tasks running"
    if verdict.health != HEALTHY or rollout == "IN_PROGRESS":
        return Health(verdict.health, verdict.status, verdict.ready, verdict.message or counts)
    if running < desired:
        if running == 0:
            return Health(UNHEALTHY, verdict.status, False, counts)
        return warning(verdict.status, counts)
    return Health(verdict.health, verdict.status, verdict.ready, counts)


def _ecs_task(obj: Mapping[str, Any], verdict: Health) -> Health:
    """A stopped task is fine if its essential containers exited 0, red if any failed."""
    if text(dig(obj, "lastStatus", ignore_case=True)).upper() != "STOPPED":
        return verdict
    if text(dig(obj, "stopCode", ignore_case=True)) == "TaskFailedToStart":
        return Health(UNHEALTHY, verdict.status, True, verdict.message or "task failed to start")
    containers = items(dig(obj, "containers", ignore_case=True))
    for container in containers:
        code = dig(container, "exitCode", ignore_case=True)
        if code is not None and number(code, 0) != 0:
            name = text(dig(container, "name", ignore_case=True))
            reason = text(dig(container, "reason", ignore_case=True))
            detail = f"container {name} exited with code {number(code)}"
            return Health(UNHEALTHY, verdict.status, True, f"{detail}: {reason}".rstrip(": "))
    if containers and all(dig(c, "exitCode", ignore_case=True) == 0 for c in containers):
        return Health(HEALTHY, verdict.status, True, "all containers exited 0")
    return verdict


def _eks_cluster(obj: Mapping[str, Any], verdict: Health) -> Health:
    """EKS reports control-plane problems as health issues while the cluster stays ACTIVE."""
    issues = items(dig(obj, "health.issues", ignore_case=True))
    if issues and verdict.health == HEALTHY:
        first = issues[0]
        code = text(dig(first, "code", ignore_case=True))
        detail = text(dig(first, "message", ignore_case=True))
        return warning(verdict.status, f"{code}: {detail}".strip(": "), ready=verdict.ready)
    return verdict


def _cloud_sql(obj: Mapping[str, Any], verdict: Health) -> Health:
    """A Cloud SQL instance is recognised by its engine and disk size."""
    version = text(dig(obj, "databaseVersion", ignore_case=True))
    disk = text(dig(obj, "settings.dataDiskSizeGb", ignore_case=True))
    details = f"{version} ({disk} GB)" if version and disk else version or (disk and f"{disk} GB")
    message = verdict.message if verdict.health != HEALTHY and verdict.message else details
    return Health(verdict.health, verdict.status, verdict.ready, message)


def _gcp_disk(obj: Mapping[str, Any], verdict: Health) -> Health:
    """A disk is recognised by its size."""
    size = text(dig(obj, "sizeGb", ignore_case=True))
    message = verdict.message if verdict.health != HEALTHY and verdict.message else ""
    message = message or (f"{size} GB" if size else "")
    return Health(verdict.health, verdict.status, verdict.ready, message)


# Rules a word table cannot express: counts and per-container exit codes.
REFINEMENTS: dict[str, Callable[[Mapping[str, Any], Health], Health]] = {
    "AWS::ECS::Service": _ecs_service,
    "AWS::ECS::Task": _ecs_task,
    "AWS::EKS::Cluster": _eks_cluster,
    "GCP::Sqladmin::Instance": _cloud_sql,
    "GCP::SQL::Instance": _cloud_sql,
    "GCP::Compute::Disk": _gcp_disk,
}


def assess_table(type_name: str, obj: Mapping[str, Any], now: datetime) -> Health | None:
    """The table verdict for `type_name`, or None when no table covers it or no field resolves."""
    entry = state_entry(type_name)
    if entry is None:
        return None
    verdict = table_verdict(entry, mapping(obj))
    if verdict is None:
        return None
    refine = REFINEMENTS.get(type_name)
    return refine(obj, verdict) if refine else verdict
